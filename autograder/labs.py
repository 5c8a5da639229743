"""Which labs the course has, and how a lab is named: the one place that decides it.

A lab is ``labNN``; its source is ``autograder/notebooks/labNN.py`` (a jupytext percent
script with nbgrader metadata). The labs are those the course manifest ``course.yml`` declares:
the lab of every written week, plus the template lab (``lab00``) that shows how a lab is
written. :func:`lab_ids` is the only code that lists labs and :func:`lab_script` the only one
that locates a lab's source; ``make labs``, ``make grade`` and the pipeline tests use them.

Examples
--------
>>> lab_ids()[:2]
['lab00', 'lab01']
>>> is_lab_id("lab03"), is_lab_id("lab3")
(True, False)
"""

from __future__ import annotations

import re
from pathlib import Path

from lapenna_labs import course as course_manifest

LAB_ID = re.compile(r"lab\d\d")
NBGRADER_GLOB = "lab[0-9][0-9]"  # every lab at once, as an nbgrader assignment id
NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


def lab_ids(notebooks_dir: Path = NOTEBOOKS) -> list[str]:
    """The course's labs (course.yml: the template and each written week's), sorted.

    Parameters
    ----------
    notebooks_dir : Path
        Where the lab sources are (a scratch copy of the course may live elsewhere).

    Raises
    ------
    FileNotFoundError
        If the manifest declares a lab whose source is not in ``notebooks_dir``.
    """
    manifest = course_manifest.load()
    declared = sorted([manifest.template_lab, *manifest.labs])
    missing = [lab for lab in declared if not lab_script(notebooks_dir, lab).is_file()]
    if missing:
        raise FileNotFoundError(
            f"course.yml declares the labs {missing}, but {notebooks_dir} has no source for them"
        )
    return declared


def lab_script(notebooks_dir: Path, lab: str) -> Path:
    """The source script of ``lab``."""
    return Path(notebooks_dir) / f"{lab}.py"


def is_lab_id(name: str) -> bool:
    """True if ``name`` is a lab id (``lab`` and two digits)."""
    return LAB_ID.fullmatch(name) is not None
