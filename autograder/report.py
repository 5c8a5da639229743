"""What a grading run tells the instructor: the CSV, the table, the report, the final check.

* :func:`write_csv`: ``student,lab,score,max_score,reason``, one row per student, for an LMS;
* :func:`format_table`: the same as an aligned text table, printed at the end of a run;
* :func:`summary`: the report after ``make grade``: throughput (this run and the latest run per
  ``JOBS`` from the ledger), faults survived, bad inputs met, and
* :func:`verify_recorded`: that every student has exactly one grade in the gradebook.

Examples
--------
>>> from autograder.gradebook import Grade
>>> grades = [Grade("ada", "lab01", 10, 10), Grade("bob", "lab01", 8, 10, ["x: ValueError"])]
>>> print(format_table(grades))
student  lab    score  max  reason
ada      lab01     10   10
bob      lab01      8   10  x: ValueError
>>> bad_input_kind("answer cell f was deleted: the empty stub was graded (zero)")
'deleted cells'
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

from autograder.gradebook import Grade, Ledger, open_gradebook

CSV_COLUMNS = ("student", "lab", "score", "max_score", "reason")


def write_csv(grades: list[Grade], path: Path) -> None:
    """``student,lab,score,max_score,reason``: one row per student, for an LMS upload."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for r in grades:
            writer.writerow([r.student, r.lab, f"{r.score:g}", f"{r.max_score:g}", r.reason])


def verify_recorded(root: Path, lab: str, students: list[str]) -> tuple[int, list[str]]:
    """(students with exactly one recorded submission, students without one)."""
    from nbgrader.api import SubmittedAssignment

    with open_gradebook(root) as gb:
        rows = (
            gb.db.query(SubmittedAssignment)
            .filter(SubmittedAssignment.assignment.has(name=lab))
            .all()
        )
        counts = Counter(row.student.id for row in rows)
    missing = [s for s in students if counts.get(s, 0) != 1]
    return len(students) - len(missing), missing


def summary(root: Path, lab: str, results: list[Grade]) -> str:
    """The report printed after ``make grade``: load, faults, bad inputs, nothing lost."""
    ledger = Ledger.of(root, lab)
    runs = ledger.data.get("runs", [])
    lines = ["", f"== grading report: {lab} =="]
    graded = [r for r in results if r.status != "skipped"]
    skipped = len(results) - len(graded)
    lines.append(
        f"submissions: {len(results)} ({len(graded)} graded in this run, {skipped} unchanged "
        "and skipped)"
    )
    latest: dict[int, dict[str, Any]] = {}
    for run in runs:
        latest[run["jobs"]] = run
    if runs:
        last = runs[-1]
        if last["graded"] == len(graded) and graded:
            lines.append(
                f"throughput this run: {last['per_minute']:g} submissions/minute at "
                f"JOBS={last['jobs']} ({last['graded']} in {last['seconds']:g} s)"
            )
    rates = ", ".join(
        f"JOBS={j}: {r['per_minute']:g}/min ({r['graded']} subs, {r['at']})"
        for j, r in sorted(latest.items())
    )
    if rates:
        lines.append(f"throughput recorded (latest run per JOBS): {rates}")
    if 1 not in latest:
        lines.append("  (for the JOBS=1 figure: make grade LAB=... JOBS=1 FORCE=1)")
    faults: Counter[str] = Counter()
    for r in graded:
        for event in r.events:
            faults[event["kind"]] += 1
        if any("wall-clock limit per submission" in x for x in r.reasons):
            faults["submission wall-clock limit"] += 1
        if r.status == "failed":
            faults["grader failure (zero given)"] += 1
    lines.append(
        "faults survived: "
        + (", ".join(f"{k.replace('_', ' ')} x{v}" for k, v in sorted(faults.items())) or "none")
    )
    bad: Counter[str] = Counter()
    for r in graded:
        for kind in dict.fromkeys(filter(None, map(bad_input_kind, r.reasons))):
            bad[kind] += 1
    lines.append(
        "bad inputs met: " + (", ".join(f"{k} x{v}" for k, v in sorted(bad.items())) or "none")
    )
    ok, missing = verify_recorded(root, lab, [r.student for r in results])
    if missing:
        lines.append(f"LOST: no single recorded grade for {', '.join(missing)}")
    else:
        lines.append(
            f"nothing lost: {ok}/{len(results)} submissions have exactly one grade in the gradebook"
        )
    return "\n".join(lines)


BAD_INPUTS = (
    ("missing notebook", "missing notebook"),
    ("empty file", "empty file"),
    ("not valid JSON", "not valid JSON"),
    ("not a Jupyter notebook", "not a notebook"),
    ("notebook too large", "notebook too large"),
    ("was deleted", "deleted cells"),
    ("were reordered", "reordered cells"),
    ("edited test cell", "edited test cell"),
    ("edited locked cell", "edited locked cell"),
)


def bad_input_kind(reason: str) -> str | None:
    """The kind of bad input a reason reports, if any."""
    return next((kind for needle, kind in BAD_INPUTS if needle in reason), None)


def format_table(results: list[Grade]) -> str:
    """The grades as an aligned text table (long reasons cut at 110 characters)."""
    width = max([len("student"), *(len(r.student) for r in results)])
    rows = [f"{'student':<{width}}  lab    score  max  reason"]
    for r in results:
        reason = r.reason if len(r.reason) < 110 else r.reason[:107] + "..."
        row = f"{r.student:<{width}}  {r.lab}  {r.score:5g}  {r.max_score:3g}  {reason}"
        rows.append(row.rstrip())
    return "\n".join(rows)
