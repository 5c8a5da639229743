"""Which labs the course has, and how a lab is named: the one place that decides it.

A lab is ``labNN``; its source is ``autograder/notebooks/labNN.py`` (a jupytext percent
script with nbgrader metadata). :func:`lab_ids` is the only code that discovers labs and
:func:`lab_script` the only one that locates a lab's source, so that a course manifest can
replace the folder listing in one place.

Examples
--------
>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> for name in ("lab02.py", "lab01.py", "notes.py"):
...     _ = (folder / name).write_text("")
>>> lab_ids(folder)
['lab01', 'lab02']
>>> is_lab_id("lab03"), is_lab_id("lab3")
(True, False)
"""

from __future__ import annotations

import re
from pathlib import Path

LAB_ID = re.compile(r"lab\d\d")
NBGRADER_GLOB = "lab[0-9][0-9]"  # every lab at once, as an nbgrader assignment id


def lab_ids(notebooks_dir: Path) -> list[str]:
    """The labs whose source script (``lab*.py``) is in ``notebooks_dir``, sorted."""
    return sorted(p.stem for p in Path(notebooks_dir).glob("lab*.py"))


def lab_script(notebooks_dir: Path, lab: str) -> Path:
    """The source script of ``lab``."""
    return Path(notebooks_dir) / f"{lab}.py"


def is_lab_id(name: str) -> bool:
    """True if ``name`` is a lab id (``lab`` and two digits)."""
    return LAB_ID.fullmatch(name) is not None
