"""Small numerical helpers the worked examples share: sigmoid, activations, softmax, parameters,
and the names of a network's numbers (its weight matrices' entries, its units' values).

Self-contained NumPy (float64) on purpose: the examples do not use the package's reference
implementations, so the tests that compare the two compare independent code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    # Split by sign so that exp never overflows.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


_ACTIVATIONS = {
    "sigmoid": (_sigmoid, lambda z, a: a * (1.0 - a)),
    "tanh": (np.tanh, lambda z, a: 1.0 - a * a),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z, a: (z > 0).astype(np.float64)),
    "identity": (lambda z: np.asarray(z, dtype=np.float64), lambda z, a: np.ones_like(a)),
}


def _activation(name: str, func: str):
    if name not in _ACTIVATIONS:
        valid = ", ".join(sorted(_ACTIVATIONS))
        raise ValueError(f"{func}: unknown activation {name!r}; valid names are {valid}")
    return _ACTIVATIONS[name]


def _softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def _params(params: Mapping[str, Any], defaults: Mapping[str, Any], func: str) -> dict:
    """Merge ``params`` over ``defaults``, rejecting unknown keys and non-finite numbers."""
    unknown = set(params) - set(defaults)
    if unknown:
        raise ValueError(f"{func}: unknown parameter(s) {sorted(unknown)}")
    merged = dict(defaults)
    merged.update(params)
    for key, value in merged.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(f"{func}: {key} must be finite, got {value}")
    return merged


# A layout is a table of names of a weight matrix's shape: layout[i][j] names the weight from
# unit i of one layer to unit j of the next. The matrix is built from it and its gradient named
# back by it, so that the two cannot disagree on which entry is which weight.
_Layout = Sequence[Sequence[str]]


def _matrix(layout: _Layout, p: Mapping[str, Any]) -> np.ndarray:
    """The matrix whose entry (i, j) is ``p[layout[i][j]]``."""
    return np.array([[p[name] for name in row] for row in layout], dtype=np.float64)


def _by_name(layout: _Layout, matrix: np.ndarray) -> dict[str, float]:
    """The entries of ``matrix`` (a gradient, say) by the names ``layout`` gives them."""
    return {name: float(matrix[i, j]) for i, row in enumerate(layout) for j, name in enumerate(row)}


def _by_unit(vectors: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Every entry of each vector, named by its unit, counted from 1 as on the slides.

    ``{0}`` in a name stands for the unit: ``{"out_h{0}": [a, b]}`` gives ``out_h1 = a`` and
    ``out_h2 = b``, and ``{"dout_h{0}/dnet_h{0}": ...}`` ``dout_h1/dnet_h1``, ``dout_h2/dnet_h2``.
    """
    return {
        name.format(unit): float(value)
        for name, vector in vectors.items()
        for unit, value in enumerate(vector, start=1)
    }
