"""The labs' grading pipeline, end to end: real nbgrader commands on the real notebooks.

One temporary copy of the course is built from ``autograder/notebooks`` (which also checks
that the committed ``labs/`` and ``autograder/source/`` are not stale), then *one*
``nbgrader autograde`` call grades, for every lab (the template lab00 too), the master with its
solutions and the untouched student version, plus the five demo submissions of lab01 and one
lab03 submission that calls the reference in two ways (to check what a blocked call costs);
one ``nbgrader generate_feedback`` call writes the feedback. The tests then read the gradebook,
the autograded notebooks (outputs, and the execution times of the masters' cells against the
time budget of ``autograder/notebooks/README.md``) and the student-facing files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
AUTOGRADER = REPO / "autograder"
sys.path.insert(0, str(REPO))

from autograder import build_labs, grade, labs, make_demo  # noqa: E402
from lapenna_labs import course as course_manifest  # noqa: E402

pytestmark = [pytest.mark.grading, pytest.mark.slow]

LABS = labs.lab_ids()  # course.yml's labs: every written week's and the template
TEMPLATE_LAB = course_manifest.load().template_lab  # not a week's lab
CELL_TIMEOUT = 30  # seconds; the demo's endless loop costs this once
# The time budget of a lab's master, graded on the 2-core CPU machine (see the authoring guide):
# the grader stops a cell at 60 s and a notebook at 240 s; a master stays well inside both.
CELL_BUDGET_S = 20.0
LAB_BUDGET_S = 180.0

# A lab03 submission, filled with the solutions, whose dense_forward wraps the reference (Part 3
# scores zero; Part 6, which reuses dense_forward, must not pay again) and whose sigmoid_grad
# calls the reference sigmoid itself (Part 1b scores zero; Part 1a, its own sigmoid, does not).
REUSE_STUDENT = "reuses_a_wrapper"
REUSE_CHANGES = [
    (
        "dense_forward",
        "    out = x @ W + b\n    return out, (x, W, b)",
        "    from lapenna_labs.layers import dense_forward as library_dense\n\n"
        "    return library_dense(x, W, b)",
    ),
    (
        "activations",
        "    s = sigmoid(z)\n    return s * (1 - s)",
        "    from lapenna_labs.activations import sigmoid as library_sigmoid\n\n"
        "    s = library_sigmoid(z)\n    return s * (1 - s)",
    ),
]
REUSE_ZEROED = {"test_dense_forward", "test_activation_grads"}


def _normalised(path: Path) -> dict:
    """A notebook without what may vary between runs (outputs, execution counts)."""
    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        cells.append(
            {"type": cell.cell_type, "source": cell.source, "metadata": dict(cell.metadata)}
        )
    return {"metadata": dict(nb.metadata), "cells": cells}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A graded copy of the course: returns (root, labs_dir, demo_expected)."""
    work = tmp_path_factory.mktemp("course")
    root = work / "autograder"
    root.mkdir()
    for name in grade.COURSE_FILES:
        shutil.copy2(AUTOGRADER / name, root / name)
    shutil.copytree(AUTOGRADER / "notebooks", root / "notebooks")
    labs_dir = work / "labs"
    build_labs.build(root, labs_dir, [], REPO / "_config.yml")
    demo_dir = work / "demo"
    expected = make_demo.build(
        demo_dir, root / "source" / "lab01" / "lab01.ipynb", labs_dir / "lab01.ipynb"
    )
    submitted = root / "submitted"
    for lab in LABS:
        master = submitted / "master" / lab
        master.mkdir(parents=True)
        shutil.copy2(root / "source" / lab / f"{lab}.ipynb", master / f"{lab}.ipynb")
        untouched = submitted / "untouched" / lab
        untouched.mkdir(parents=True)
        shutil.copy2(labs_dir / f"{lab}.ipynb", untouched / f"{lab}.ipynb")
    for student in expected["scores"]:
        shutil.copytree(demo_dir / student, submitted / student)
    lab03 = [nbformat.read(p, 4) for p in (labs_dir / "lab03.ipynb", master_of(root, "lab03"))]
    reused = make_demo.mutate(make_demo.filled_notebook(*lab03), REUSE_CHANGES)
    (submitted / REUSE_STUDENT / "lab03").mkdir(parents=True)
    nbformat.write(reused, submitted / REUSE_STUDENT / "lab03" / "lab03.ipynb")
    timeout = [f"--Execute.timeout={CELL_TIMEOUT}", f"--LapennaExecute.timeout={CELL_TIMEOUT}"]
    grade.run_nbgrader(root, "autograde", "lab*", "--force", *timeout, log_level="ERROR")
    grade.run_nbgrader(root, "generate_feedback", "lab*", "--force", log_level="ERROR")
    return root, labs_dir, expected, demo_dir


def master_of(root: Path, lab: str) -> Path:
    return root / "source" / lab / f"{lab}.ipynb"


def _grades(root: Path, lab: str, students: list[str]) -> dict[str, grade.Grade]:
    return {g.student: g for g in grade.collect_grades(root, lab, students)}


def test_committed_student_versions_and_masters_are_not_stale(course):
    root, labs_dir, _, demo_dir = course
    for lab in LABS:
        committed = REPO / "labs" / f"{lab}.ipynb"
        assert committed.exists(), f"labs/{lab}.ipynb is missing: run `make labs`"
        assert _normalised(committed) == _normalised(labs_dir / f"{lab}.ipynb"), (
            f"labs/{lab}.ipynb is stale with respect to autograder/notebooks/{lab}.py: "
            "run `make labs`"
        )
        master = AUTOGRADER / "source" / lab / f"{lab}.ipynb"
        assert _normalised(master) == _normalised(root / "source" / lab / f"{lab}.ipynb"), (
            f"autograder/source/{lab} is stale: run `make labs`"
        )
    committed_expected = json.loads((AUTOGRADER / "demo" / "expected_scores.json").read_text())
    assert committed_expected == json.loads((demo_dir / "expected_scores.json").read_text())
    for student in committed_expected["scores"]:
        path = Path(student) / "lab01" / "lab01.ipynb"
        assert _normalised(AUTOGRADER / "demo" / path) == _normalised(demo_dir / path), (
            f"autograder/demo/{path} is stale: run `make labs`"
        )


@pytest.mark.parametrize("lab", LABS)
def test_master_with_solutions_gets_full_marks(course, lab):
    root = course[0]
    g = _grades(root, lab, ["master"])["master"]
    worth = 3 if lab == TEMPLATE_LAB else 8  # the template has two tiny parts
    assert g.max_score >= worth, f"{lab} is worth only {g.max_score} points"
    assert g.score == g.max_score, f"{lab}: the master scored {g.score} of {g.max_score}"


@pytest.mark.parametrize("lab", LABS)
def test_untouched_student_version_gets_zero_without_crashing(course, lab):
    root = course[0]
    g = _grades(root, lab, ["untouched"])["untouched"]
    assert g.score == 0, f"{lab}: an untouched student version scored {g.score}"
    assert (root / "autograded" / "untouched" / lab / f"{lab}.ipynb").exists()
    assert (root / "feedback" / "untouched" / lab / f"{lab}.html").exists()


def test_demo_submissions_get_their_expected_scores(course):
    root, _, expected, _ = course
    grades = _grades(root, "lab01", list(expected["scores"]))
    got = {student: g.score for student, g in grades.items()}
    assert got == expected["scores"]
    assert expected["scores"]["complete"] == expected["max_score"]


def test_endless_loop_is_cut_and_the_rest_of_the_notebook_grades(course):
    root = course[0]
    nb = nbformat.read(root / "autograded" / "loops_forever" / "lab01" / "lab01.ipynb", 4)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    errors = [o for o in by_id["test_roofline"].outputs if o.output_type == "error"]
    assert any(o.ename in ("CellTimeoutError", "KeyboardInterrupt") for o in errors)
    later = ["test_blocked_matmul", "test_blocked_intensity", "test_block_size"]
    for gid in later:  # executed after the loop, without errors
        assert by_id[gid].execution_count is not None
        assert not [o for o in by_id[gid].outputs if o.output_type == "error"], gid
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(root / "gradebook.db"), course_id="lapenna") as gb:
        for gid in later:
            grade_row = gb.find_grade(gid, "lab01", "lab01", "loops_forever")
            assert grade_row.score == grade_row.max_score, gid


def test_calling_the_reference_scores_zero_for_that_part(course):
    root = course[0]
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(root / "gradebook.db"), course_id="lapenna") as gb:
        row = gb.find_grade("test_blocked_matmul", "lab01", "lab01", "calls_reference")
        assert row.score == 0
    html = (root / "feedback" / "calls_reference" / "lab01" / "lab01.html").read_text()
    assert "ReferenceBlockedError" in html


def _cell_grades(root: Path, lab: str, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    master = nbformat.read(master_of(root, lab), 4)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in master.cells if _is_test(c)]
    with Gradebook("sqlite:///" + str(root / "gradebook.db"), course_id="lapenna") as gb:
        return {gid: gb.find_grade(gid, lab, lab, student).score for gid in ids}


def _is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def test_a_blocked_call_costs_only_the_part_whose_function_made_it(course):
    root = course[0]
    master = nbformat.read(master_of(root, "lab03"), 4)
    points = {
        c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
        for c in master.cells
        if _is_test(c)
    }
    got = _cell_grades(root, "lab03", REUSE_STUDENT)
    expected = {gid: 0 if gid in REUSE_ZEROED else pts for gid, pts in points.items()}
    assert got == expected
    html = (root / "feedback" / REUSE_STUDENT / "lab03" / "lab03.html").read_text()
    assert "ReferenceBlockedError" in html and "lapenna_labs.layers.dense_forward" in html


def _autograded_master(root: Path, lab: str):
    return nbformat.read(root / "autograded" / "master" / lab / f"{lab}.ipynb", 4)


@pytest.mark.parametrize("lab", LABS)
def test_every_visible_check_prints_the_success_line(course, lab):
    from lapenna_labs.grading import PASSED

    silent = [
        cell.metadata["nbgrader"]["grade_id"]
        for cell in _autograded_master(course[0], lab).cells
        if _is_test(cell)
        and PASSED
        not in "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    ]
    assert not silent, f"{lab}: these test cells do not print '...: {PASSED}.': {silent}"


def _seconds(cell) -> float | None:
    """How long a cell ran in the real autograde run (nbclient's execution timestamps)."""
    times = cell.metadata.get("execution", {})
    start, end = times.get("iopub.execute_input"), times.get("shell.execute_reply")
    if not (start and end):
        return None
    start, end = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (start, end))
    return (end - start).total_seconds()


@pytest.mark.parametrize("lab", LABS)
def test_the_master_grades_within_the_time_budget(course, lab):
    cells = [c for c in _autograded_master(course[0], lab).cells if c.cell_type == "code"]
    seconds = {
        c.metadata.get("nbgrader", {}).get("grade_id", c.get("id")): _seconds(c) for c in cells
    }
    assert None not in seconds.values(), f"{lab}: the autograded notebook has no cell timings"
    slow = {cell: round(s, 1) for cell, s in seconds.items() if s > CELL_BUDGET_S}
    assert not slow, f"{lab}: cells over the {CELL_BUDGET_S:.0f} s budget: {slow}"
    total = sum(seconds.values())
    slowest = max(seconds, key=seconds.get)
    print(f"{lab}: master {total:.1f} s in all, slowest cell {slowest} {seconds[slowest]:.1f} s")
    assert total <= LAB_BUDGET_S, f"{lab}: the master ran {total:.0f} s, over {LAB_BUDGET_S:.0f} s"


def _student_facing_files(root: Path) -> list[Path]:
    files = [REPO / "labs" / f"{lab}.ipynb" for lab in LABS]
    files += sorted((root / "feedback").glob("*/*/*.html"))
    return files


def test_no_hidden_test_code_in_student_facing_files(course):
    root = course[0]
    assert len(list((root / "feedback").glob("*/*/*.html"))) == 2 * len(LABS) + 5 + 1
    for lab in LABS:
        hidden = grade.hidden_test_lines(root / "source" / lab / f"{lab}.ipynb")
        assert hidden, f"{lab} has no hidden tests"
        released = nbformat.read(labs_path := REPO / "labs" / f"{lab}.ipynb", as_version=4)
        visible = "\n".join(c.source for c in released.cells)
        for path in [labs_path, *sorted((root / "feedback").glob(f"*/{lab}/*.html"))]:
            text = path.read_text(encoding="utf-8")
            assert "BEGIN HIDDEN TESTS" not in text, path
            assert "BEGIN SOLUTION" not in text or "feedback" in str(path), path
            leaks = grade.leaked_lines(text, hidden, visible)
            assert not leaks, f"{path} shows hidden test code: {leaks[:2]}"


def test_no_hidden_expected_values_in_student_facing_files(course):
    root = course[0]
    # Values that only the hidden tests compute or contain: the multiple-choice answers of
    # lab02 and rates that its hidden gflops test expects.
    secrets = ["chr(99)", "chr(98)", f"{2 * 2000**3 / 0.2360849380493164 / 1e9:.6g}"]
    for path in _student_facing_files(root):
        text = path.read_text(encoding="utf-8")
        for secret in secrets:
            assert secret not in text, f"{path} reveals {secret!r}"
    # A wrong answer's message says how it is wrong, not what is right.
    html = (root / "feedback" / "partly_wrong" / "lab01" / "lab01.html").read_text()
    assert "crosses the bus twice" in html


def test_feedback_check_refuses_a_leaking_page(tmp_path):
    hidden = ["check_close(_got, blas.secret_reference(_n), name='x')"]
    page = "<pre>check_close(_got, blas.secret_reference(_n), name=&#39;x&#39;)</pre>"
    assert grade.leaked_lines(page, hidden) == hidden
    assert grade.leaked_lines("<pre>nothing here</pre>", hidden) == []


def test_make_grade_usage_error_without_lab():
    result = subprocess.run(
        [sys.executable, str(AUTOGRADER / "grade.py")], capture_output=True, text=True
    )
    assert result.returncode == 2 and "make grade LAB=lab03" in result.stderr


# --------------------------------------------------------------------------------------------
# Single cells of the lab sources, run in this process: what the visible and hidden checks of
# a part accept and refuse (no nbgrader; each test runs in seconds).


def _lab_cells(lab: str) -> dict[str, str]:
    import jupytext

    nb = jupytext.read(AUTOGRADER / "notebooks" / f"{lab}.py", fmt="py:percent")
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}


def _run_cells(lab: str, grade_ids: list[str], namespace: dict, changes=()) -> dict:
    """Execute the cells in order in ``namespace``; ``changes``: (grade_id, old, new) edits."""
    cells = _lab_cells(lab)
    for gid in grade_ids:
        source = cells[gid]
        for changed_id, old, new in changes:
            if changed_id == gid:
                assert source.count(old) == 1, f"{old!r} not once in {lab}'s cell {gid}"
                source = source.replace(old, new)
        exec(compile(source, f"<{lab} {gid}>", "exec"), namespace)
    return namespace


def _visible_part(lab: str, grade_id: str) -> str:
    return _lab_cells(lab)[grade_id].split("### BEGIN HIDDEN TESTS")[0]


def test_lab01_visible_count_checks_refuse_every_wrong_byte_count():
    # Not only the two named mistakes: one word too many or too few is refused too.
    for test_id, wrong in (
        ("test_gemv_counts", "return 2 * n * n, (n * n + n + 3 * n) * size"),
        ("test_gemm_counts", "return 2 * n**3, (4 * n * n + 1) * size"),
    ):
        right = {
            "test_gemv_counts": "return 2 * n * n, (n * n + n + 2 * n) * size",
            "test_gemm_counts": "return 2 * n**3, 4 * n * n * size",
        }[test_id]
        namespace = _run_cells("lab01", ["imports", "counts"], {}, [("counts", right, wrong)])
        with pytest.raises(AssertionError, match="bytes: wrong value"):
            exec(_visible_part("lab01", test_id), namespace)


def test_lab01_axpy_has_its_own_lengths_beyond_any_cache():
    import ast

    sweep = _lab_cells("lab01")["sweep"]
    (assign,) = [
        node
        for node in ast.parse(sweep).body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "SIZES"
    ]
    sizes = eval(ast.unparse(assign.value), {"GRADING": False})
    assert max(sizes["axpy"]) >= 10**7, "AXPY's vectors must leave the caches (about 1e7)"
    assert max(sizes["axpy"]) > max(sizes["gemv"]) ** 2 / 2, "AXPY needs its own, longer sizes"


def test_lab01_states_gemm_intensity_as_its_own_count_gives_it():
    import re

    from lapenna_labs import blas

    text = _lab_cells("lab01")["part4_intro"]
    (denominator,) = re.findall(r"GEMM's intensity \$n / (\d+)\$ flop/byte in float64", text)
    n = 1000
    assert n / int(denominator) == blas.gemm_intensity(n, n, n, "float64")


def test_lab_texts_keep_out_the_claims_found_wrong():
    wrong = {
        "lab01": ["a bit more than the compulsory"],
        "lab02": ["878,000", "48,000"],  # typed-in GPU figures (design notes: test_repository)
        "lab03": ["half a million"],
        "lab04": ["three matrix products", "three more matrix products"],
    }
    for lab, phrases in wrong.items():
        text = (AUTOGRADER / "notebooks" / f"{lab}.py").read_text()
        for phrase in phrases:
            assert phrase not in text, f"{lab} says {phrase!r} again"


def test_lab03_prints_the_forward_cost_of_a_batch_of_ten(course):
    nb = _autograded_master(course[0], "lab03")
    (cell,) = [
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "forward_cost"
    ]
    text = "".join(o.get("text", "") for o in cell.outputs)
    batch, layers = 10, (784, 16, 16, 10)
    flops = sum(2 * batch * d * m for d, m in zip(layers, layers[1:], strict=False))  # 2 N D M each
    assert f"= {flops:,} flops" in text


# Lab 2: the multiple-choice feedback, and the synchronisation check on a simulated GPU.


def test_lab02_choices_say_right_for_the_graded_answer_only():
    import re

    cells = _lab_cells("lab02")
    for number in (1, 2, 3):
        question = f"Q{number}"
        (graded,) = re.findall(r"== chr\((\d+)\)", cells[f"test_q{number}"])
        right = []
        for letter in "abcd":
            namespace = _run_cells("lab02", ["choice_feedback"], {question: f" {letter.upper()} "})
            try:
                exec(_visible_part("lab02", f"test_q{number}"), namespace)
                right.append(letter)
            except AssertionError as error:
                assert f"({letter}) is not the right answer." in str(error)
                assert len(str(error)) > 80, "a wrong answer is told why"
        assert right == [chr(int(graded))], question
        namespace = _run_cells("lab02", ["choice_feedback"], {question: "e"})
        with pytest.raises(AssertionError, match="one letter"):
            exec(_visible_part("lab02", f"test_q{number}"), namespace)


EVENT_TIMER = """def time_matmul(A, B, warmup=2, repeats=5, clock=time.perf_counter):
    import torch

    for _ in range(warmup):
        A @ B
    durations = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        A @ B
        end.record()
        end.synchronize()
        durations.append(start.elapsed_time(end) / 1e3)
    return float(np.median(durations))
"""


@pytest.mark.parametrize(
    "timer, old, new, refusal",
    [
        ("solution", None, None, None),  # torch.cuda.synchronize() around each product
        ("events", None, None, None),  # CUDA events, waiting for the end event
        ("solution", "torch.cuda.synchronize()", "pass  # torch.cuda.synchronize()", "launch"),
        ("solution", "torch.cuda.synchronize()", 'print("torch.cuda.synchronize")', "launch"),
        ("events", "end.synchronize()", "pass", "device not ready"),
        ("events", "/ 1e3)", ")", "milliseconds"),
    ],
)
def test_lab02_sync_check_runs_the_timer_on_a_simulated_gpu(timer, old, new, refusal):
    # The check must see the call, not its name: a comment or a string that mentions
    # synchronize is refused, and so is a timer that reads CUDA events without waiting.
    master = _timer_source()
    source = master if timer == "solution" else EVENT_TIMER
    if old is not None:
        assert old in source
        source = source.replace(old, new)
    changes = [("timing", master, source)]
    namespace = _run_cells("lab02", ["imports", "timing"], {"DEVICE": "cpu"}, changes)
    cell = _lab_cells("lab02")["test_time_matmul_sync"]
    if refusal is None:
        exec(cell, namespace)
    else:
        with pytest.raises((AssertionError, RuntimeError), match=refusal):
            exec(cell, namespace)


def _timer_source() -> str:
    """The master's time_matmul, up to (not including) gflops."""
    timing = _lab_cells("lab02")["timing"]
    return timing[: timing.index("def gflops(")]


# Lab 4, Part 1b: your own autodiff.


@pytest.mark.parametrize(
    "old, new, refusal",
    [
        (None, None, None),
        ("parent.grad += local * node.grad", "parent.grad = local * node.grad", "must add up"),
        ("        node.grad = 0.0\n", "        pass\n", "set every .grad to 0 first"),
        ("return (1.0 - node.data**2,)", "return (1.0 - node.data,)", r"local_gradients \(tanh\)"),
        ("visited.add(id(node))", "pass", "exactly once"),
    ],
)
def test_lab04_autodiff_checks(old, new, refusal):
    changes = [("autodiff", old, new)] if old else []
    namespace = _run_cells("lab04", ["imports", "node_class", "autodiff"], {}, changes)
    cell = _lab_cells("lab04")["test_autodiff"]
    if refusal is None:
        exec(cell, namespace)
    else:
        with pytest.raises(AssertionError, match=refusal):
            exec(cell, namespace)


# Lab 5: the convolution's checks refuse the classic mistakes, visible and hidden.

LAB05_ANSWERS = [
    "imports",
    "conv_output_size",
    "conv2d_forward_naive",
    "im2col",
    "max_pool2d_forward",
]


@pytest.mark.parametrize(
    "answer, old, new, test_cell, refusal, more_edits",
    [
        (None, None, None, "test_conv2d_naive_valid", None, []),
        (None, None, None, "test_conv2d_gemm", None, []),
        (
            "conv2d_forward_naive",
            "np.sum(window * w[f])",
            "np.sum(window * w[f, :, ::-1, ::-1])",
            "test_conv2d_naive_valid",
            "kernel flipped",
            [],
        ),
        ("conv2d_forward_naive", " + b[f]", "", "test_conv2d_naive_valid", "no bias", []),
        (
            "conv2d_forward_naive",
            "i * stride : i * stride + kh, j * stride : j * stride + kw",
            "i : i + kh, j : j + kw",
            "test_conv2d_naive_stride_padding",
            "stride 2, padding 0: wrong values",
            [],
        ),
        (
            "im2col",
            "windows = np.empty((n_images, oh, ow, channels, kh, kw), dtype=x.dtype)",
            "windows = np.empty((n_images, oh, ow, channels, kh, kw))",
            "test_im2col",
            "float32",
            [],
        ),
        (
            "im2col",
            "return windows.reshape(n_images * oh * ow, channels * kh * kw)",
            "return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n_images * oh * ow, -1)",
            "test_im2col",
            r"\(u, v, c\) order",
            [],
        ),
        (
            "im2col",
            "return out.reshape(n_images, oh, ow, n_filters).transpose(0, 3, 1, 2)",
            "return out.reshape(n_images, n_filters, oh, ow)",
            "test_conv2d_gemm",
            "mixing pixels and filters",
            [],
        ),
        (
            # Right values, from the package's own conv: only the hidden test can refuse it.
            "im2col",
            "    cols = im2col(x, kh, kw, stride, padding)\n",
            "    from lapenna_labs.conv import conv2d_forward\n\n"
            "    return conv2d_forward(x, w, b, stride=stride, padding=padding)[0]\n",
            "test_conv2d_gemm",
            "blocked",
            [],
        ),
        (
            "max_pool2d_forward",
            "-np.inf, dtype=x.dtype)",
            "0.0, dtype=x.dtype)",
            "test_max_pool2d_forward",
            "the average",
            [
                (
                    "out = np.maximum(out, taps)",
                    "out = out + taps / kernel_size**2",
                )
            ],
        ),
    ],
)
def test_lab05_checks_refuse_the_classic_conv_mistakes(
    answer, old, new, test_cell, refusal, more_edits
):
    from lapenna_labs.grading import ReferenceBlockedError

    changes = [(answer, old, new)] if answer else []
    changes += [(answer, more_old, more_new) for more_old, more_new in more_edits]
    namespace = _run_cells("lab05", LAB05_ANSWERS, {}, changes)
    cell = _lab_cells("lab05")[test_cell]
    if refusal is None:
        exec(cell, namespace)
    else:
        with pytest.raises((AssertionError, ReferenceBlockedError), match=refusal):
            exec(cell, namespace)


# Lab 6: the backward passes' checks refuse the classic mistakes, visible and hidden.

LAB06_ANSWERS = [
    "imports",
    "conv2d_forward_given",
    "conv2d_backward",
    "max_pool2d_forward_given",
    "max_pool2d_backward",
    "batchnorm_forward_given",
    "batchnorm_backward",
]


@pytest.mark.parametrize(
    "answer, old, new, test_cell, refusal",
    [
        (None, None, None, "test_conv2d_backward", None),
        (None, None, None, "test_max_pool2d_backward_ties", None),
        (None, None, None, "test_batchnorm_backward", None),
        (
            "conv2d_backward",
            "db = dout.sum(axis=(0, 2, 3))",
            "db = dout.mean(axis=(0, 2, 3))",
            "test_conv2d_backward",
            "db",
        ),
        (
            "conv2d_backward",
            "dxp[:, :, rows, cols] +=",
            "dxp[:, :, rows, cols] =",
            "test_conv2d_backward",
            "dx",
        ),
        (
            # the last maximum of a window instead of the first
            "max_pool2d_backward",
            "first_max = windows.reshape(*dout.shape, k * k).argmax(axis=-1)",
            "first_max = k * k - 1 - windows.reshape(*dout.shape, k * k)[..., ::-1].argmax(-1)",
            "test_max_pool2d_backward_ties",
            "max_pool2d_backward",
        ),
        (
            "batchnorm_backward",
            "        - dxhat.sum(axis=axes, keepdims=True)  # through the mean\n",
            "",
            "test_batchnorm_backward",
            "dx",
        ),
        (
            # right values from the package's own backward: only the hidden test refuses it
            "conv2d_backward",
            "    x, w, b, stride, padding = cache\n",
            "    x, w, b, stride, padding = cache\n"
            "    from lapenna_labs import conv as _conv\n\n"
            "    _, package_cache = _conv.conv2d_forward(x, w, b, stride=stride, padding=padding)\n"
            "    return _conv.conv2d_backward(dout, package_cache)\n",
            "test_conv2d_backward",
            "blocked",
        ),
    ],
)
def test_lab06_checks_refuse_the_classic_backward_mistakes(answer, old, new, test_cell, refusal):
    from lapenna_labs.grading import ReferenceBlockedError

    changes = [(answer, old, new)] if answer else []
    namespace = _run_cells("lab06", LAB06_ANSWERS, {}, changes)
    cell = _lab_cells("lab06")[test_cell]
    if refusal is None:
        exec(cell, namespace)
    else:
        with pytest.raises((AssertionError, ReferenceBlockedError), match=refusal):
            exec(cell, namespace)
