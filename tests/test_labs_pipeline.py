"""The labs' grading pipeline, end to end: real nbgrader commands on the real notebooks.

One temporary copy of the course is built from ``autograder/notebooks`` (which also checks
that the committed ``labs/`` and ``autograder/source/`` are not stale), then *one*
``nbgrader autograde`` call grades, for every lab, the master with its solutions and the
untouched student version, plus the five demo submissions of lab01; one
``nbgrader generate_feedback`` call writes the feedback. The tests then read the gradebook and
the student-facing files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
AUTOGRADER = REPO / "autograder"
sys.path.insert(0, str(REPO))

from autograder import build_labs, grade, make_demo  # noqa: E402

pytestmark = [pytest.mark.grading, pytest.mark.slow]

LABS = sorted(p.stem for p in (AUTOGRADER / "notebooks").glob("lab*.py"))
CELL_TIMEOUT = 30  # seconds; the demo's endless loop costs this once


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
    timeout = [f"--Execute.timeout={CELL_TIMEOUT}", f"--LapennaExecute.timeout={CELL_TIMEOUT}"]
    grade.run_nbgrader(root, "autograde", "lab*", "--force", *timeout, log_level="ERROR")
    grade.run_nbgrader(root, "generate_feedback", "lab*", "--force", log_level="ERROR")
    return root, labs_dir, expected, demo_dir


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
    assert g.max_score >= 8, f"{lab} is worth only {g.max_score} points"
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


def _student_facing_files(root: Path) -> list[Path]:
    files = [REPO / "labs" / f"{lab}.ipynb" for lab in LABS]
    files += sorted((root / "feedback").glob("*/*/*.html"))
    return files


def test_no_hidden_test_code_in_student_facing_files(course):
    root = course[0]
    assert len(list((root / "feedback").glob("*/*/*.html"))) == 2 * len(LABS) + 5
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
