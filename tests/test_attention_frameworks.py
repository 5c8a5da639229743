"""lapenna_labs.attention against PyTorch (SDPA, nn.MultiheadAttention, a torch transformer block)
and Keras (layers.MultiHeadAttention, differentiated with tf.GradientTape).

Weights are injected through the converters; no test depends on a framework's random stream.
"""

from __future__ import annotations

import numpy as np
import pytest
from _frameworks import torch_value_and_grads

import lapenna_labs.attention as A

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.lab10, pytest.mark.usefixtures("one_torch_thread")]


def _close(ours, theirs, dtype, factor=10):
    tol = {np.float32: (2e-4, 2e-5), np.float64: (1e-10, 1e-12)}[dtype]
    np.testing.assert_allclose(ours, theirs, rtol=tol[0] * factor, atol=tol[1] * factor)


# --------------------------------------------------------------------------------------------
# scaled dot-product attention against torch.nn.functional.scaled_dot_product_attention
# --------------------------------------------------------------------------------------------

SDPA_SHAPES = {
    "2d": ((5, 4), (5, 4), (5, 3)),
    "batched_heads": ((2, 3, 6, 4), (2, 3, 6, 4), (2, 3, 6, 5)),
    "tq_ne_tk": ((2, 3, 4, 8), (2, 3, 7, 8), (2, 3, 7, 2)),
    "tq_gt_tk": ((2, 6, 4), (2, 3, 4), (2, 3, 4)),
}


@pytest.mark.parametrize("mode", ["none", "causal", "mask", "mask_and_causal"])
@pytest.mark.parametrize("shapes", list(SDPA_SHAPES.values()), ids=list(SDPA_SHAPES))
def test_attention_matches_torch_sdpa(shapes, mode, dtype, rng):
    qs, ks, vs = shapes
    q, k, v = (rng.standard_normal(s).astype(dtype) for s in (qs, ks, vs))
    tq, tk = qs[-2], ks[-2]
    mask = None
    if "mask" in mode:
        mask = rng.random((tq, tk)) < 0.6
        mask[:, 0] = True
    causal = "causal" in mode
    out, cache = A.attention_forward(q, k, v, mask=mask, causal=causal)
    dout = rng.standard_normal(out.shape).astype(dtype)

    def sdpa(q, k, v):
        attn_mask = None if mask is None else torch.from_numpy(mask)
        if attn_mask is not None and causal:
            # SDPA refuses attn_mask with is_causal: build the same "and" by hand.
            tri = torch.ones(tq, tk, dtype=torch.bool).tril()
            return torch.nn.functional.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_mask & tri
            )
        return torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, is_causal=causal
        )

    expected, grads = torch_value_and_grads(sdpa, [q, k, v], upstream=dout)
    assert out.dtype == dtype
    _close(out, expected, dtype)
    for ours, theirs in zip(A.attention_backward(dout, cache), grads, strict=True):
        assert ours.dtype == dtype
        _close(ours, theirs, dtype)
