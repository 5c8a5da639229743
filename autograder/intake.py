"""Intake: what is checked, and put right, before a submission's code runs.

For each ``submitted/<student>/<lab>/`` folder the grader calls :func:`inspect_submission`:

* a missing notebook, an empty file, a file that is not JSON or not a notebook, or one over
  :data:`MAX_COPIED_FILE` is **refused**: zero, with the reason, and nothing is run;
* otherwise :func:`restore_layout` puts deleted or reordered nbgrader cells back in the
  master's layout (a deleted answer cell comes back as the empty stub, so that part scores
  zero; a deleted test or locked cell comes back from the master) and reports edited locked or
  test cells, which nbgrader replaces with the master's when it grades.

:func:`copy_submission` copies what may go into the grading scratch folder (regular files,
none huge, no symlinks).

Examples
--------
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "hw00.ipynb").write_text("{not json")
>>> inspect_submission(folder, "hw00", release=None)[2]
'not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2'
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import nbformat

MAX_COPIED_FILE = 50 * 1024**2  # a notebook, or any file of a submission, larger is not copied


def release_notebook(course: Path, lab: str) -> Any:
    """The student version of ``lab`` that nbgrader released in the course at ``course``."""
    return nbformat.read(course / "release" / lab / f"{lab}.ipynb", as_version=4)


def grade_id(cell: Any) -> str | None:
    """The nbgrader ``grade_id`` of a cell (None for a cell nbgrader does not track)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def restore_layout(nb: Any, release: Any) -> list[str]:
    """Put deleted graded/locked cells back and restore the master's order, in place.

    Returns notes for the reasons. A submission whose nbgrader cells are all present in the
    master's order is left untouched (so its score is exactly nbgrader's)."""
    master_cells = {grade_id(c): c for c in release.cells if grade_id(c)}
    order = [g for g in (grade_id(c) for c in release.cells) if g]
    notes = []
    for cell in nb.cells:
        gid = grade_id(cell)
        master = master_cells.get(gid)
        meta = master.metadata.get("nbgrader", {}) if master else {}
        if master is not None and meta.get("locked") and not meta.get("solution"):
            if cell.get("source", "").strip() != master.source.strip():
                kind = "test" if meta.get("grade") else "locked"
                notes.append(f"edited {kind} cell {gid}: the master's version was graded")
    present = [grade_id(c) for c in nb.cells if grade_id(c) in master_cells]
    missing = [g for g in order if g not in present]
    seen_order = list(dict.fromkeys(present))
    if not missing and seen_order == [g for g in order if g in seen_order]:
        return notes
    leading: list[Any] = []
    after: dict[str, list[Any]] = {}
    own: dict[str, Any] = {}
    current: str | None = None
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid in master_cells and gid not in own:
            own[gid] = cell
            current = gid
            after.setdefault(gid, [])
        elif current is None:
            leading.append(cell)
        else:
            after[current].append(cell)
    cells = list(leading)
    for gid in order:
        if gid in own:
            cells.append(own[gid])
        else:
            restored = copy.deepcopy(master_cells[gid])
            meta = restored.metadata.get("nbgrader", {})
            if meta.get("solution"):
                notes.append(f"answer cell {gid} was deleted: the empty stub was graded (zero)")
            elif meta.get("grade"):
                notes.append(f"test cell {gid} was deleted: restored from the master")
            else:
                notes.append(f"locked cell {gid} was deleted: restored from the master")
            cells.append(restored)
        cells.extend(after.get(gid, []))
    if seen_order != [g for g in order if g in seen_order]:
        notes.append("cells were reordered: graded in the master's order")
    nb.cells = cells
    return notes


def inspect_submission(folder: Path, lab: str, release: Any) -> tuple[Any, list[str], str | None]:
    """Check one submission folder before anything of it runs.

    Parameters
    ----------
    folder : Path
        ``submitted/<student>/<lab>/``.
    lab : str
        The lab id; the notebook must be ``<lab>.ipynb``.
    release : nbformat.NotebookNode
        The student version (:func:`release_notebook`), whose layout is restored.

    Returns
    -------
    notebook : nbformat.NotebookNode or None
        The notebook to grade, in the master's layout; None when refused.
    notes : list of str
        What was put right (deleted, reordered or edited cells), for the reasons.
    refusal : str or None
        Why the submission is refused (it then scores zero), or None.
    """
    path = folder / f"{lab}.ipynb"
    if not path.is_file() or path.is_symlink():
        found = sorted(p.name for p in folder.iterdir())[:5] if folder.is_dir() else []
        return (
            None,
            [],
            f"missing notebook: no {lab}.ipynb" + (f" (found {found})" if found else ""),
        )
    size = path.stat().st_size
    if size == 0:
        return None, [], f"empty file: {lab}.ipynb has 0 bytes"
    if size > MAX_COPIED_FILE:
        return None, [], f"notebook too large ({size / 1024**2:.0f} MB)"
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, [], f"not valid JSON: not UTF-8 text ({exc.reason} at byte {exc.start})"
    except json.JSONDecodeError as exc:
        return None, [], f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several kinds
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return None, [], f"not a Jupyter notebook: {first}"
    notes = restore_layout(nb, release)
    return nb, notes, None


def copy_submission(src: Path, dest: Path) -> None:
    """Copy a submission folder: regular files only (no symlinks, nothing huge)."""
    for path in src.rglob("*"):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_COPIED_FILE:
            continue
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
