"""The autograder's seams, without nbgrader runs or sandboxes: the one student listing, the
one result type and CSV writer, the ledger, intake's copying, the nbgrader command.

The slow end-to-end tests are ``test_hostile_submissions.py`` (the parallel grader on a hostile
class), ``test_sandbox.py`` (the sandbox and the guard) and ``test_labs_pipeline.py``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder import course, grade, intake, labs, report  # noqa: E402
from autograder.gradebook import Grade, Ledger  # noqa: E402


def test_students_lists_every_submission_folder_even_an_empty_one(tmp_path):
    for student, files in {"zoe": ["lab01.ipynb"], "ada": ["notes.txt"], "bob": []}.items():
        folder = tmp_path / "submitted" / student / "lab01"
        folder.mkdir(parents=True)
        for name in files:
            (folder / name).write_text("{}")
    (tmp_path / "submitted" / "cy" / "lab02").mkdir(parents=True)  # another lab only
    (tmp_path / "submitted" / "README").write_text("not a student")
    assert course.students(tmp_path, "lab01") == ["ada", "bob", "zoe"]
    assert course.students(tmp_path, "lab03") == []
    assert course.students(tmp_path / "nowhere", "lab01") == []


def test_the_csv_has_one_row_per_grade_and_survives_commas_and_quotes(tmp_path):
    reasons = ['test_f: AssertionError: f(1, 2) should be "3"', "g: timeout"]
    grades = [Grade("ada", "lab01", 10.0, 10.0), Grade("bob", "lab01", 7.5, 10.0, reasons)]
    path = tmp_path / "out" / "grades.csv"
    report.write_csv(grades, path)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(report.CSV_COLUMNS)
    assert rows == [
        {"student": "ada", "lab": "lab01", "score": "10", "max_score": "10", "reason": ""},
        {
            "student": "bob",
            "lab": "lab01",
            "score": "7.5",
            "max_score": "10",
            "reason": 'test_f: AssertionError: f(1, 2) should be "3"; g: timeout',
        },
    ]


def test_a_grade_states_each_reason_once_in_order():
    grade = Grade("ada", "lab01", 0.0, 4.0, ["b", "a", "b"], "refused")
    assert grade.reason == "b; a"
    with pytest.raises(AttributeError):
        grade.score = 4.0  # a result is never edited after the fact


def test_the_ledger_skips_only_an_unchanged_submission(tmp_path):
    ledger = Ledger.of(tmp_path, "lab01")
    ledger.record(Grade("ada", "lab01", 3.0, 4.0, ["x: ValueError"], seconds=2.0), "hash-1")
    again = Ledger.of(tmp_path, "lab01")  # read back from disk
    assert again.unchanged("ada", "lab01", "hash-1") == Grade(
        "ada", "lab01", 3.0, 4.0, ["x: ValueError"], "skipped"
    )
    assert again.unchanged("ada", "lab01", "hash-2") is None
    assert again.unchanged("bob", "lab01", "hash-1") is None
    again.record_run(jobs=2, graded=3, seconds=30.0, sandboxed=True)
    assert Ledger.of(tmp_path, "lab01").data["runs"][-1]["per_minute"] == 6.0


def test_a_damaged_ledger_only_costs_a_regrade(tmp_path):
    (tmp_path / ".grading_lab01.json").write_text("{not json")
    assert Ledger.of(tmp_path, "lab01").unchanged("ada", "lab01", "hash-1") is None


def test_copy_submission_takes_regular_files_only(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    (src / "data").mkdir(parents=True)
    (src / "lab01.ipynb").write_text("{}")
    (src / "data" / "x.csv").write_text("1,2")
    (src / "link").symlink_to(tmp_path / "secret")
    with (src / "huge.bin").open("wb") as handle:  # sparse: takes no disk
        handle.truncate(intake.MAX_COPIED_FILE + 1)
    intake.copy_submission(src, dest)
    copied = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert copied == ["data/x.csv", "lab01.ipynb"]


def test_a_failing_nbgrader_command_says_what_failed(tmp_path):
    with pytest.raises(SystemExit, match="generate_assignment nolab` failed") as raised:
        course.run_nbgrader(tmp_path, "generate_assignment", "nolab", capture=True)
    assert "No notebooks were matched" in str(raised.value)  # nbgrader's own words, kept


def test_the_labs_are_the_manifests(tmp_path):
    from lapenna_labs import course as manifest

    declared = manifest.load()
    assert labs.lab_ids() == sorted([declared.template_lab, *declared.labs])
    (tmp_path / "lab01.py").write_text("")
    with pytest.raises(FileNotFoundError, match="has no source for them"):
        labs.lab_ids(tmp_path)


def test_make_grade_refuses_a_lab_the_course_does_not_have(capsys):
    with pytest.raises(SystemExit) as info:
        grade.main(["lab13"])
    assert info.value.code == 2
    assert "lab13 is not a lab of the course (course.yml): lab00, lab01" in capsys.readouterr().err
