"""Lab 10's checks refuse the classic mistakes: RNN steps, BPTT, the LSTM, attention, training.

Each case runs lab10's answer cells (the master's solutions, with one edit that makes a classic
mistake) and one test cell, visible and hidden checks together, in this process (no nbgrader:
``tests/test_labs_pipeline.py`` grades the whole lab). The unedited solutions must pass every
test cell; every edit must be refused, with a message that names the mistake where the lab
diagnoses it. An answer that calls the package, PyTorch's attention or one of its recurrent or
attention layers passes the visible checks and is refused by the hidden ones, in its own part
only. Part 6's trainings (PyTorch, a few seconds each) are marked slow.
"""

from __future__ import annotations

import re

import pytest
from test_labs_pipeline import _lab_cells, _run_cells

from lapenna_labs.grading import ReferenceBlockedError

pytestmark = pytest.mark.lab10

LAB = "lab10"
ANSWERS = ["imports", "rnn_step", "rnn_sequence", "lstm_step", "attention", "multihead_attention"]
TEST_CELLS = [
    "test_rnn_step_forward",
    "test_rnn_step_backward",
    "test_rnn_forward",
    "test_rnn_backward",
    "test_lstm_step_forward",
    "test_attention_forward",
    "test_attention_backward",
    "test_multihead_attention",
]
# Part 6: the locked data and model cell, then the answers (the test of train_step needs no
# training; that of train_char_model needs the visible training, the lab's one free code cell).
TRAINING_ANSWERS = ["imports", "char_model", "training"]

TORCH_ATTENTION = """    import torch

    # (no nested helper: a blocked call is charged to the innermost student function)
    allowed = None if mask is None else torch.from_numpy(np.ascontiguousarray(mask))
    q_t, k_t = torch.from_numpy(np.ascontiguousarray(q)), torch.from_numpy(np.ascontiguousarray(k))
    v_t = torch.from_numpy(np.ascontiguousarray(v))
    out = torch.nn.functional.scaled_dot_product_attention(q_t, k_t, v_t, attn_mask=allowed)
    return out.numpy(), (q, k, v, weights)
"""

# (answer cell, [(old, new), ...] edits, test cell, what the refusal says)
MISTAKES = [
    # Part 1a: rnn_step_forward
    (
        "rnn_step",
        [("h = np.tanh(x @ Wx + h_prev @ Wh + b)", "h = np.tanh(x @ Wx + h_prev @ Wh.T + b)")],
        "test_rnn_step_forward",
        "Wh transposed",
    ),
    (
        "rnn_step",
        [("h = np.tanh(x @ Wx + h_prev @ Wh + b)", "h = x @ Wx + h_prev @ Wh + b")],
        "test_rnn_step_forward",
        "no tanh",
    ),
    (
        "rnn_step",
        [("h = np.tanh(x @ Wx + h_prev @ Wh + b)", "h = np.tanh(x @ Wx + h_prev @ Wh)")],
        "test_rnn_step_forward",
        "the bias is missing",
    ),
    (
        "rnn_step",
        [("return h, (x, h_prev, Wx, Wh, b, h)", "return h, (h_prev, x, Wx, Wh, b, h)")],
        "test_rnn_step_forward",
        "in this order",
    ),
    (
        # right values from the package: only the hidden test can refuse it
        "rnn_step",
        [
            (
                "    h = np.tanh(x @ Wx + h_prev @ Wh + b)\n",
                "    from lapenna_labs.rnn import rnn_step_forward as library_step\n\n"
                "    h = library_step(x, h_prev, Wx, Wh, b)[0]\n",
            )
        ],
        "test_rnn_step_forward",
        "blocked",
    ),
    (
        # right values from PyTorch: PyTorch is blocked in Parts 1 to 5
        "rnn_step",
        [
            (
                "    h = np.tanh(x @ Wx + h_prev @ Wh + b)\n",
                "    import torch\n\n"
                "    h = torch.tanh(torch.from_numpy(x @ Wx + h_prev @ Wh + b)).numpy()\n",
            )
        ],
        "test_rnn_step_forward",
        "blocked",
    ),
    # Part 1b: rnn_step_backward
    (
        "rnn_step",
        [("da = dh * (1 - h * h)", "da = dh")],
        "test_rnn_step_backward",
        "the tanh's derivative is missing",
    ),
    (
        "rnn_step",
        [("da = dh * (1 - h * h)", "da = dh * (1 - np.tanh(h) ** 2)")],
        "test_rnn_step_backward",
        "h is already tanh",
    ),
    (
        "rnn_step",
        [("da @ Wx.T, da @ Wh.T,", "da @ Wx.T, da @ Wh,")],
        "test_rnn_step_backward",
        "Wh not transposed",
    ),
    (
        "rnn_step",
        [("h_prev.T @ da, da.sum(axis=0)", "h.T @ da, da.sum(axis=0)")],
        "test_rnn_step_backward",
        "h \\(the output\\) instead of h_prev",
    ),
    (
        "rnn_step",
        [("da.sum(axis=0)\n", "da.mean(axis=0)\n")],
        "test_rnn_step_backward",
        "the mean over the batch",
    ),
    (
        "rnn_step",
        [
            (
                "    x, h_prev, Wx, Wh, b, h = cache\n",
                "    from lapenna_labs import rnn\n\n"
                "    x, h_prev, Wx, Wh, b, h = cache\n"
                "    _, step = rnn.rnn_step_forward(x, h_prev, Wx, Wh, b)\n"
                "    return rnn.rnn_step_backward(dh, step)\n",
            )
        ],
        "test_rnn_step_backward",
        "blocked",
    ),
    # Part 2a: rnn_forward
    (
        "rnn_sequence",
        [
            (
                "        h_prev, step_cache = rnn_step_forward(x[:, t], h_prev, Wx, Wh, b)\n"
                "        h[:, t] = h_prev\n",
                "        h[:, t] = h_prev\n"
                "        h_prev, step_cache = rnn_step_forward(x[:, t], h_prev, Wx, Wh, b)\n",
            )
        ],
        "test_rnn_forward",
        "the state before it",
    ),
    (
        "rnn_sequence",
        [("rnn_step_forward(x[:, t], h_prev, Wx,", "rnn_step_forward(x[:, t], h0, Wx,")],
        "test_rnn_forward",
        "the state is not carried",
    ),
    (
        "rnn_sequence",
        [("        cache.append(step_cache)\n", "        cache = step_cache\n")],
        "test_rnn_forward",
        "the list of the T step caches",
    ),
    (
        "rnn_sequence",
        [
            (
                "    return h, cache\n",
                "    from lapenna_labs.rnn import rnn_forward as library_forward\n\n"
                "    return library_forward(x, h0, Wx, Wh, b)[0], cache\n",
            )
        ],
        "test_rnn_forward",
        "blocked",
    ),
    # Part 2b: rnn_backward (BPTT)
    (
        "rnn_sequence",
        [("        dWh += dWh_t\n", "        dWh = dWh_t\n")],
        "test_rnn_backward",
        "not summed over the steps",
    ),
    (
        "rnn_sequence",
        [
            (
                "rnn_step_backward(dh[:, t] + dh_next, cache[t])",
                "rnn_step_backward(dh[:, t], cache[t])",
            )
        ],
        "test_rnn_backward",
        "no gradient flows back through time",
    ),
    (
        "rnn_sequence",
        [
            (
                "rnn_step_backward(dh[:, t] + dh_next, cache[t])",
                "rnn_step_backward((dh[:, t] if t == steps - 1 else 0) + dh_next, cache[t])",
            )
        ],
        "test_rnn_backward",
        "only the last step's upstream gradient",
    ),
    (
        "rnn_sequence",
        [("    for t in reversed(range(steps)):\n", "    for t in range(steps):\n")],
        "test_rnn_backward",
        "rnn_backward: dx",
    ),
    (
        "rnn_sequence",
        [
            (
                "    x0, _, Wx, Wh, b, _ = cache[0]\n",
                "    from lapenna_labs import rnn\n\n"
                "    x0, _, Wx, Wh, b, _ = cache[0]\n"
                "    x = np.stack([step[0] for step in cache], axis=1)\n"
                "    return rnn.rnn_backward(dh, rnn.rnn_forward(x, cache[0][1], Wx, Wh, b)[1])\n",
            )
        ],
        "test_rnn_backward",
        "blocked",
    ),
    # Part 3: lstm_step_forward
    (
        "lstm_step",
        [
            (
                "    g = np.tanh(a[:, 2 * hidden : 3 * hidden])\n"
                "    o = 1 / (1 + np.exp(-a[:, 3 * hidden :]))\n",
                "    o = 1 / (1 + np.exp(-a[:, 2 * hidden : 3 * hidden]))\n"
                "    g = np.tanh(a[:, 3 * hidden :])\n",
            )
        ],
        "test_lstm_step_forward",
        "cs231n's order",
    ),
    (
        "lstm_step",
        [
            (
                "    f = 1 / (1 + np.exp(-a[:, hidden : 2 * hidden]))\n"
                "    g = np.tanh(a[:, 2 * hidden : 3 * hidden])\n",
                "    f = 1 / (1 + np.exp(-a[:, 2 * hidden : 3 * hidden]))\n"
                "    g = np.tanh(a[:, hidden : 2 * hidden])\n",
            )
        ],
        "test_lstm_step_forward",
        "TensorFlow 1's order",
    ),
    (
        "lstm_step",
        [("    h = o * np.tanh(c)\n", "    h = o * c\n")],
        "test_lstm_step_forward",
        "h = o \\* c",
    ),
    (
        "lstm_step",
        [("    c = f * c_prev + i * g\n", "    c = c_prev + i * g\n")],
        "test_lstm_step_forward",
        "lstm_step_forward: c",
    ),
    (
        "lstm_step",
        [
            (
                "    c = f * c_prev + i * g\n    h = o * np.tanh(c)\n",
                "    from lapenna_labs.rnn import lstm_step_forward as library_lstm\n\n"
                "    h, c, _ = library_lstm(x, h_prev, c_prev, Wx, Wh, b)\n",
            )
        ],
        "test_lstm_step_forward",
        "blocked",
    ),
    # Part 4a: attention_forward
    (
        "attention",
        [
            (
                "scores = (q @ np.swapaxes(k, -1, -2)) * np.asarray(scale, dtype=q.dtype)",
                "scores = q @ np.swapaxes(k, -1, -2)",
            )
        ],
        "test_attention_forward",
        "the 1/sqrt\\(d\\) scale is missing",
    ),
    (
        "attention",
        [("scores = np.where(mask, scores, -np.inf)", "scores = np.where(~mask, scores, -np.inf)")],
        "test_attention_forward",
        "True means 'may attend'",
    ),
    (
        "attention",
        [("scores = np.where(mask, scores, -np.inf)", "scores = np.where(mask, scores, 0.0)")],
        "test_attention_forward",
        "set it to -inf",
    ),
    (
        "attention",
        [("    scores = scores - scores.max(axis=-1, keepdims=True)\n", "")],
        "test_attention_forward",
        "subtract each row's maximum",
    ),
    (
        "attention",
        [
            (
                "scores = scores - scores.max(axis=-1, keepdims=True)",
                "scores = scores - scores.max(axis=-2, keepdims=True)",
            ),
            (
                "weights /= weights.sum(axis=-1, keepdims=True)",
                "weights /= weights.sum(axis=-2, keepdims=True)",
            ),
        ],
        "test_attention_forward",
        "the softmax runs over the queries",
    ),
    (
        # right values from torch's fused attention: passes the visible checks, refused hidden
        "attention",
        [("    return weights @ v, (q, k, v, weights)\n", TORCH_ATTENTION)],
        "test_attention_forward",
        "blocked",
    ),
    (
        "attention",
        [
            (
                "    return weights @ v, (q, k, v, weights)\n",
                "    from lapenna_labs import attention\n\n"
                "    out = attention.attention_forward(q, k, v, mask=mask)[0]\n"
                "    return out, (q, k, v, weights)\n",
            )
        ],
        "test_attention_forward",
        "blocked",
    ),
    # Part 4b: attention_backward
    (
        "attention",
        [
            (
                "    dq = (dscores @ k) * scale\n"
                "    dk = (np.swapaxes(dscores, -1, -2) @ q) * scale\n",
                "    dq = dscores @ k\n    dk = np.swapaxes(dscores, -1, -2) @ q\n",
            )
        ],
        "test_attention_backward",
        "scale is missing from dq and dk",
    ),
    (
        "attention",
        [
            (
                "dscores = weights * (dweights - (dweights * weights).sum(axis=-1, keepdims=True))",
                "dscores = weights * dweights",
            )
        ],
        "test_attention_backward",
        "lacks the row-sum term",
    ),
    (
        "attention",
        [
            (
                "    q, k, v, weights = cache\n    scale",
                "    from lapenna_labs import attention\n\n"
                "    q, k, v, weights = cache\n"
                "    c = attention.AttentionCache(q, k, v, weights, 1 / np.sqrt(q.shape[-1]))\n"
                "    return attention.attention_backward(dout, c)\n    scale",
            )
        ],
        "test_attention_backward",
        "blocked",
    ),
    # Part 5: multihead_attention_forward
    (
        "multihead_attention",
        [('return merged @ params["Wo"] + params["bo"]', "return merged")],
        "test_multihead_attention",
        "the output projection Wo, bo is missing",
    ),
    (
        "multihead_attention",
        [
            (
                "return z.reshape(n, steps, num_heads, head).transpose(0, 2, 1, 3)",
                "return z.reshape(n, num_heads, steps, head)",
            ),
            (
                "merged = attended.transpose(0, 2, 1, 3).reshape(n, tq, d_model)",
                "merged = attended.reshape(n, tq, d_model)",
            ),
        ],
        "test_multihead_attention",
        "split by reshaping",
    ),
    (
        "multihead_attention",
        [
            (
                "return z.reshape(n, steps, num_heads, head).transpose(0, 2, 1, 3)",
                "return z.reshape(n, steps, head, num_heads).transpose(0, 3, 1, 2)",
            ),
            (
                "merged = attended.transpose(0, 2, 1, 3).reshape(n, tq, d_model)",
                "merged = attended.transpose(0, 2, 3, 1).reshape(n, tq, d_model)",
            ),
        ],
        "test_multihead_attention",
        "consecutive columns",
    ),
    (
        "multihead_attention",
        [
            (
                "heads_mask = None if mask is None else np.expand_dims(mask, -3)",
                "heads_mask = mask",
            )
        ],
        "test_multihead_attention",
        "broadcast against the heads",
    ),
    (
        "multihead_attention",
        [
            (
                "    n, tq, d_model = x_q.shape\n",
                "    from lapenna_labs import attention\n\n"
                "    m = None if mask is None else np.expand_dims(mask, -3)\n"
                "    f = attention.multihead_attention_forward\n"
                "    return f(x_q, x_kv, params, num_heads, m)[0]\n",
            )
        ],
        "test_multihead_attention",
        "blocked",
    ),
]

# Part 6a: train_step (the test trains nothing: one tiny model, a few steps)
TRAIN_STEP_MISTAKES = [
    ("    optimizer.zero_grad()\n", "", "after step 2 the weights differ"),
    (
        "    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)\n",
        "",
        "after step 1 the weights differ",
    ),
    (
        "    optimizer.zero_grad()\n    loss.backward()\n"
        "    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)\n",
        "    optimizer.zero_grad()\n"
        "    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)\n    loss.backward()\n",
        "after step 1 the weights differ",
    ),
    ("    return loss.item()\n", "    return loss\n", "Python float"),
    (
        "    loss = torch.nn.functional.cross_entropy(",
        "    loss = 2 * torch.nn.functional.cross_entropy(",
        "the loss of step 1",
    ),
    (
        # contrived: checks that the block reaches torch's attention layer in Part 6
        "    optimizer.step()\n",
        "    optimizer.step()\n"
        "    z = torch.zeros(1, 2, 4)\n"
        "    torch.nn.MultiheadAttention(4, 1, batch_first=True)(z, z, z)\n",
        "blocked",
    ),
    (
        "    optimizer.step()\n",
        "    optimizer.step()\n"
        "    z = torch.zeros(1, 2, 4)\n"
        "    torch.nn.functional.scaled_dot_product_attention(z, z, z)\n",
        "blocked",
    ),
    (
        "    optimizer.step()\n",
        "    optimizer.step()\n    torch.nn.LSTM(4, 3, batch_first=True)(torch.zeros(1, 2, 4))\n",
        "blocked",
    ),
]


@pytest.fixture(scope="module")
def solved():
    """The master's answers to Parts 1 to 5, run once (the test cells only add names)."""
    return _run_cells(LAB, ANSWERS, {"DEVICE": "cpu"})


@pytest.mark.parametrize("test_cell", TEST_CELLS)
def test_the_solutions_pass_every_check(solved, test_cell):
    exec(_lab_cells(LAB)[test_cell], dict(solved))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # a softmax without its max overflows
@pytest.mark.parametrize(
    "answer, edits, test_cell, refusal",
    MISTAKES,
    ids=[f"{m[2]}-{i}" for i, m in enumerate(MISTAKES)],
)
def test_the_checks_refuse_a_classic_mistake(answer, edits, test_cell, refusal):
    changes = [(answer, old, new) for old, new in edits]
    namespace = _run_cells(LAB, ANSWERS, {"DEVICE": "cpu"}, changes)
    with pytest.raises((AssertionError, ReferenceBlockedError), match=refusal):
        exec(_lab_cells(LAB)[test_cell], namespace)


@pytest.mark.parametrize(
    "answer, old, new, visible_cell, later_cell",
    [
        # a step function that wraps the package costs Part 1a, not Part 2a that uses it
        (
            "rnn_step",
            "    h = np.tanh(x @ Wx + h_prev @ Wh + b)\n",
            "    from lapenna_labs.rnn import rnn_step_forward as library_step\n\n"
            "    h = library_step(x, h_prev, Wx, Wh, b)[0]\n",
            "test_rnn_step_forward",
            "test_rnn_forward",
        ),
        # torch's fused attention costs Part 4a, not Part 5 whose heads use it
        (
            "attention",
            "    return weights @ v, (q, k, v, weights)\n",
            TORCH_ATTENTION,
            "test_attention_forward",
            "test_multihead_attention",
        ),
    ],
    ids=["rnn_step_forward-in-rnn_forward", "sdpa-in-multihead"],
)
def test_a_blocked_call_passes_the_visible_checks_and_costs_its_own_part_only(
    answer, old, new, visible_cell, later_cell
):
    namespace = _run_cells(LAB, ANSWERS, {"DEVICE": "cpu"}, [(answer, old, new)])
    visible, _ = _lab_cells(LAB)[visible_cell].split("### BEGIN HIDDEN TESTS")
    exec(visible, dict(namespace))  # the right values
    with pytest.raises(ReferenceBlockedError, match="blocked"):
        exec(_lab_cells(LAB)[visible_cell], dict(namespace))
    exec(_lab_cells(LAB)[later_cell], dict(namespace))  # the later part keeps its points


@pytest.mark.slow  # imports torch and reads the text (a few seconds)
def test_train_step_passes_and_its_mistakes_are_refused(one_torch_thread):
    exec(_lab_cells(LAB)["test_train_step"], _run_cells(LAB, TRAINING_ANSWERS, {"DEVICE": "cpu"}))
    for old, new, refusal in TRAIN_STEP_MISTAKES:
        namespace = _run_cells(LAB, TRAINING_ANSWERS, {"DEVICE": "cpu"}, [("training", old, new)])
        with pytest.raises((AssertionError, ReferenceBlockedError), match=refusal):
            exec(_lab_cells(LAB)["test_train_step"], namespace)


def _visible_training(changes=()) -> dict:
    namespace = _run_cells(LAB, TRAINING_ANSWERS, {"DEVICE": "cpu"}, changes)
    free = _lab_cells(LAB)[None]  # the lab's one free code cell: the visible training
    assert "char_losses = train_char_model(" in free
    exec(free, namespace)
    return namespace


@pytest.mark.slow  # two trainings of the CPU task (seconds each)
def test_train_char_model_reaches_the_target_and_a_package_sampler_is_refused(one_torch_thread):
    exec(_lab_cells(LAB)["test_train_char_model"], _visible_training())
    # A loop that draws its windows with the package's sampler trains as well (the visible
    # check passes) and is refused when graded.
    sampler = [
        (
            "training",
            "        x, y = get_batch(train_ids, batch_size, block_size, rng, device)\n",
            "        from lapenna_labs.charlm import sample_batch\n\n"
            "        xb, yb = sample_batch(train_ids, batch_size, block_size, rng)\n"
            "        x, y = torch.from_numpy(xb).to(device), torch.from_numpy(yb).to(device)\n",
        )
    ]
    namespace = _visible_training(sampler)
    test = _lab_cells(LAB)["test_train_char_model"]
    exec(test.split("### BEGIN HIDDEN TESTS")[0], dict(namespace))
    with pytest.raises(ReferenceBlockedError, match="lapenna_labs"):
        exec(test, namespace)


@pytest.mark.slow  # one training of the CPU task
def test_a_training_that_does_not_learn_misses_the_target(one_torch_thread):
    namespace = _visible_training(
        [
            (
                "training",
                "torch.optim.AdamW(model.parameters(), lr=lr)",
                "torch.optim.AdamW(model.parameters(), lr=1e-5)",
            )
        ]
    )
    test = _lab_cells(LAB)["test_train_char_model"]
    with pytest.raises(AssertionError, match="not below the target"):
        exec(test.split("### BEGIN HIDDEN TESTS")[0], namespace)


def test_every_mistake_edits_the_master_exactly_once():
    # An edit that no longer matches the master would silently test nothing.
    cells = _lab_cells(LAB)
    for answer, edits, _, _ in MISTAKES:
        for old, _ in edits:
            assert cells[answer].count(old) == 1, (answer, old)
    for old, _, _ in TRAIN_STEP_MISTAKES:
        assert cells["training"].count(old) == 1, old


def test_every_test_cell_is_covered_by_a_mistake():
    refused_in = {m[2] for m in MISTAKES}
    assert refused_in == set(TEST_CELLS), sorted(set(TEST_CELLS) - refused_in)
    for _, _, _, refusal in MISTAKES:
        re.compile(refusal)


def test_the_parts_points_add_up_to_ten_and_match_the_title_table():
    import jupytext
    from test_labs_pipeline import AUTOGRADER

    nb = jupytext.read(AUTOGRADER / "notebooks" / f"{LAB}.py", fmt="py:percent")
    points = [
        c.metadata["nbgrader"]["points"]
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    ]
    assert sum(points) == 10
    title = _lab_cells(LAB)["title"]
    table = [float(p) for p in re.findall(r"^\| \d \| .* \| ([\d.]+) \|$", title, re.M)]
    assert sum(table) == 10 and len(table) == 6
