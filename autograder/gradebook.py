"""Where grades are kept: the result type, nbgrader's gradebook, and the grader's ledger.

* :class:`Grade` is one student's result for one lab, the one type every path of the grader
  returns (the parallel run, the serial ``--serial`` path, a skipped unchanged submission).
* The **gradebook** is nbgrader's ``<root>/gradebook.db``. In a parallel run each worker
  autogrades into a scratch gradebook of its own, and the parent copies the result into the
  course's with :func:`merge_submission`, one student at a time, committing each, so there is
  only ever one writer. :func:`collect_grades` reads scores back.
* The **ledger** ``<root>/.grading_<lab>.json`` (:class:`Ledger`) keeps, per student, the hash
  of what was graded (:func:`submission_hash`: the submitted files, the master, the
  configuration and the limits) and the result, so an unchanged submission is not graded again;
  and, per run, the throughput for the report.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

COURSE_ID = "lapenna"
# What nbgrader stores per graded and per commented cell; copied as is from a scratch gradebook.
GRADE_FIELDS = ("auto_score", "manual_score", "extra_credit", "needs_manual_grade")
COMMENT_FIELDS = ("auto_comment", "manual_comment")


@dataclass(frozen=True)
class Grade:
    """One student's result for one lab.

    ``status`` is ``graded``, ``refused`` (bad input, nothing run), ``failed`` (the grader
    failed: zero) or ``skipped`` (unchanged since the last run, whose grade stands).
    ``reasons`` say why points were lost or the submission refused; ``events`` are the guard's
    records (kernel deaths, timeouts, tampering, huge output); ``stages`` the seconds each
    stage of its grading took (``scheduling``'s profile: scratch copy, kernel start, cells...).

    Examples
    --------
    >>> g = Grade("ada", "lab01", 8.0, 10.0, ["a: ValueError", "b: timeout", "a: ValueError"])
    >>> g.reason
    'a: ValueError; b: timeout'
    """

    student: str
    lab: str
    score: float
    max_score: float
    reasons: list[str] = field(default_factory=list)
    status: str = "graded"
    seconds: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """The reasons, each once, in order, joined by ``"; "``."""
        return "; ".join(dict.fromkeys(self.reasons))


def open_gradebook(root: Path) -> Any:
    """nbgrader's ``Gradebook`` of the course at ``root`` (a context manager)."""
    from nbgrader.api import Gradebook

    return Gradebook("sqlite:///" + str(root / "gradebook.db"), course_id=COURSE_ID)


def merge_submission(gb: Any, scratch_gb: Any | None, lab: str, student: str) -> float:
    """Copy one student's autograde from the scratch gradebook into the course's (or zeros
    when ``scratch_gb`` is None); commit; return the score."""
    from nbgrader.api import MissingEntry

    # nbgrader's add_submission triggers harmless SQLAlchemy autoflush warnings.
    warnings.filterwarnings("ignore", message=".*not in session.*")
    gb.update_or_create_student(student)
    try:
        target = gb.find_submission(lab, student)
    except MissingEntry:
        target = gb.add_submission(lab, student)
    source = None
    if scratch_gb is not None:
        source = scratch_gb.find_submission(lab, student)
        target.timestamp = source.timestamp
        target.extension = source.extension
    for notebook in target.notebooks:
        src_nb = None
        if source is not None:
            src_nb = next((n for n in source.notebooks if n.name == notebook.name), None)
        if src_nb is not None:
            notebook.flagged = src_nb.flagged
            notebook.late_submission_penalty = src_nb.late_submission_penalty
        src_grades = {g.name: g for g in src_nb.grades} if src_nb else {}
        src_comments = {c.name: c for c in src_nb.comments} if src_nb else {}
        for grade in notebook.grades:
            if grade.name in src_grades:
                for name in GRADE_FIELDS:
                    setattr(grade, name, getattr(src_grades[grade.name], name))
            else:
                grade.auto_score, grade.manual_score, grade.extra_credit = 0.0, None, None
                grade.needs_manual_grade = False
        for comment in notebook.comments:
            if comment.name in src_comments:
                for name in COMMENT_FIELDS:
                    setattr(comment, name, getattr(src_comments[comment.name], name))
    gb.db.commit()
    return float(gb.find_submission(lab, student).score)


def collect_grades(root: Path, lab: str, students: list[str]) -> list[Grade]:
    """Scores from the gradebook; a student nbgrader did not grade gets 0, with the reason."""
    from nbgrader.api import MissingEntry

    grades = []
    with open_gradebook(root) as gb:
        max_score = float(gb.find_assignment(lab).max_score)
        for student in students:
            try:
                submission = gb.find_submission(lab, student)
            except MissingEntry:
                reason = "not graded: nbgrader recorded no submission (missing notebook?)"
                grades.append(Grade(student, lab, 0.0, max_score, [reason], "failed"))
                continue
            grades.append(Grade(student, lab, float(submission.score), max_score))
    return grades


def file_hash(*parts: bytes | Path) -> str:
    """SHA-256 of byte strings and files, each length-prefixed (so parts cannot run together).

    Examples
    --------
    >>> file_hash(b"ab", b"c") == file_hash(b"a", b"bc")
    False
    """
    digest = hashlib.sha256()
    for part in parts:
        data = part.read_bytes() if isinstance(part, Path) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def submission_hash(folder: Path, context: str) -> str:
    """Hash of the submitted files (names and bytes) plus the grading context."""
    parts: list[bytes | Path] = [context.encode()]
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                parts += [str(path.relative_to(folder)).encode(), path]
    return file_hash(*parts)


class Ledger:
    """``<root>/.grading_<lab>.json``: per student the hash graded and the result; per run the
    throughput. Rewritten atomically after every merged grade."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"students": {}, "runs": []}
        if path.exists():
            try:
                self.data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                pass  # a damaged ledger only costs a re-grade

    @classmethod
    def of(cls, root: Path, lab: str) -> Ledger:
        """The ledger of ``lab`` in the course at ``root``."""
        return cls(root / f".grading_{lab}.json")

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.path)

    def record(self, grade: Grade, digest: str) -> None:
        """Store ``grade`` as the result for ``digest`` (the submission's hash); save."""
        entry = asdict(grade)
        entry.pop("events", None)
        entry.pop("stages", None)
        entry["hash"] = digest
        entry["graded_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
        self.data["students"][grade.student] = entry
        self.save()

    def record_run(self, jobs: int, graded: int, seconds: float, sandboxed: bool) -> None:
        """Add a run's throughput (``report.summary`` shows the latest per ``JOBS``); save."""
        self.data.setdefault("runs", []).append(
            {
                "jobs": jobs,
                "graded": graded,
                "seconds": round(seconds, 1),
                "per_minute": round(60 * graded / seconds, 2),
                "sandboxed": sandboxed,
                "at": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
        self.save()

    def unchanged(self, student: str, lab: str, digest: str) -> Grade | None:
        """The recorded grade if ``student`` was last graded on ``digest``, else None."""
        entry = self.data["students"].get(student)
        if not entry or entry.get("hash") != digest:
            return None
        return Grade(
            student, lab, entry["score"], entry["max_score"], entry.get("reasons", []), "skipped"
        )
