"""A tiny nbgrader assignment and the hostile/broken submissions of issue 5, built in a test's
temporary folder (nothing big is committed).

The assignment ``hw00`` has three parts, 4 points:

* ``add`` (1 point, ``test_add``),
* ``my_relu`` (2 points, ``test_relu``: the hidden test blocks ``lapenna_labs``' ``relu``),
* ``mean_sq`` (1 point, ``test_mean_sq``).

Each hostile submission is the master's solution with one answer cell (or the file) replaced;
:data:`EXPECTED` gives its exact score and a fragment of the reason the grader must report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder import course as autograder_course  # noqa: E402

AUTOGRADER = REPO / "autograder"
LAB = "hw00"


def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: int = 0) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
    }
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


SETUP = "import numpy as np\nfrom lapenna_labs import activations, grading"
ANSWERS = {
    "add": "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
    "my_relu": (
        "def my_relu(z):\n    ### BEGIN SOLUTION\n    return np.maximum(z, 0.0)\n"
        "    ### END SOLUTION"
    ),
    "mean_sq": (
        "def mean_sq(x):\n    ### BEGIN SOLUTION\n    return float(np.mean(np.asarray(x) ** 2))\n"
        "    ### END SOLUTION"
    ),
}
TESTS = {
    "test_add": (
        "assert add(1, 2) == 3, 'add(1, 2) should be 3'\n### BEGIN HIDDEN TESTS\n"
        "assert add(-1.5, 0.5) == -1.0\n### END HIDDEN TESTS"
    ),
    "test_relu": (
        "z = np.array([-1.0, 0.0, 2.0])\n"
        "got = grading.call_blocked(my_relu, z, block=(activations.relu,))\n"
        "assert np.allclose(got, [0.0, 0.0, 2.0]), 'my_relu is wrong on [-1, 0, 2]'\n"
        "### BEGIN HIDDEN TESTS\n"
        "z = np.random.default_rng(0).normal(size=(4, 5))\n"
        "got = grading.call_blocked(my_relu, z, block=(activations.relu,))\n"
        "assert np.allclose(got, activations.relu(z))\n### END HIDDEN TESTS"
    ),
    "test_mean_sq": (
        "assert abs(mean_sq([1, 2]) - 2.5) < 1e-12\n### BEGIN HIDDEN TESTS\n"
        "assert abs(mean_sq([3.0]) - 9.0) < 1e-12\n### END HIDDEN TESTS"
    ),
}
POINTS = {"test_add": 1, "test_relu": 2, "test_mean_sq": 1}
ORDER = ["add", "test_add", "my_relu", "test_relu", "mean_sq", "test_mean_sq"]


def master_notebook() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell("# hw00: a tiny assignment for the grader's tests"),
        new_code_cell(SETUP, metadata=_meta("setup", grade=False, solution=False, locked=True)),
    ]
    for name in ORDER:
        if name in ANSWERS:
            meta = _meta(name, grade=False, solution=True, locked=False)
            cells.append(new_code_cell(ANSWERS[name], metadata=meta))
        else:
            meta = _meta(name, grade=True, solution=False, locked=True, points=POINTS[name])
            cells.append(new_code_cell(TESTS[name], metadata=meta))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``nbgrader ARGS`` in ``course``, as the grader runs it; the result, failed or not."""
    return subprocess.run(
        [*autograder_course.nbgrader_command(), *args, "--log-level=ERROR"],
        cwd=course,
        env=autograder_course.nbgrader_env(),
        capture_output=True,
        text=True,
        check=False,
    )


def make_course(dest: Path) -> Path:
    """A course root with the project's nbgrader configuration and the ``hw00`` master,
    registered in its gradebook (``generate_assignment``)."""
    autograder_course.copy_course(AUTOGRADER, dest, labs=[])
    (dest / "source" / LAB).mkdir(parents=True)
    nbformat.write(master_notebook(), dest / "source" / LAB / f"{LAB}.ipynb")
    done = nbgrader(dest, "generate_assignment", LAB, "--force")
    assert done.returncode == 0, done.stderr
    return dest


def student_notebook(course: Path) -> nbformat.NotebookNode:
    return nbformat.read(course / "release" / LAB / f"{LAB}.ipynb", as_version=4)


def _cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def solved(course: Path, **answers: str) -> nbformat.NotebookNode:
    """The student version with the master's answers, some replaced by ``answers``."""
    nb = student_notebook(course)
    for name, source in ANSWERS.items():
        _cell(nb, name).source = answers.get(name, source.replace("### BEGIN SOLUTION\n", ""))
    return nb


def submit(course: Path, student: str, content: nbformat.NotebookNode | bytes | None) -> Path:
    folder = course / "submitted" / student / LAB
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{LAB}.ipynb"
    if content is None:
        (folder / "notes.txt").write_text("I forgot the notebook")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        nbformat.write(content, path)
    return folder


GOOD_RELU = "def my_relu(z):\n    return np.maximum(z, 0.0)"


def hostile_submissions(
    course: Path, host_port: int
) -> dict[str, nbformat.NotebookNode | bytes | None]:
    """Every hostile or broken case of issue 5 (plus two honest ones), by student name."""
    root = str(course)
    subs: dict[str, nbformat.NotebookNode | bytes | None] = {
        "alice_complete": solved(course),
        "bob_partly_wrong": solved(course, mean_sq="def mean_sq(x):\n    return 0.0"),
        "infinite_loop": solved(course, my_relu="while True:\n    pass\n" + GOOD_RELU),
        "fork_bomb": solved(
            course,
            my_relu="import os\nwhile True:\n    try:\n        os.fork()\n"
            "    except OSError:\n        pass\n" + GOOD_RELU,
        ),
        "memory_bomb": solved(
            course,
            my_relu="blocks = []\nwhile True:\n    blocks.append(bytearray(200 * 1024**2))\n"
            + GOOD_RELU,
        ),
        "os_exit": solved(course, my_relu="import os\nos._exit(3)\n" + GOOD_RELU),
        "segfault": solved(
            course, my_relu="import faulthandler\nfaulthandler._sigsegv()\n" + GOOD_RELU
        ),
        "snoop": solved(
            course,
            my_relu=(
                f"stolen = open({root!r} + '/submitted/alice_complete/hw00/hw00.ipynb').read()\n"
                + GOOD_RELU
            ),
            mean_sq=(
                f"open({root!r} + '/gradebook.db', 'w').write('')\n"
                "def mean_sq(x):\n    return float(np.mean(np.asarray(x) ** 2))"
            ),
        ),
        "network": solved(
            course,
            my_relu=(
                "import socket\n"
                f"socket.create_connection(('127.0.0.1', {host_port}), timeout=3).sendall(b'hi')\n"
                + GOOD_RELU
            ),
            mean_sq=(
                "import urllib.request\nurllib.request.urlopen('http://pypi.org', timeout=3)\n"
                "def mean_sq(x):\n    return float(np.mean(np.asarray(x) ** 2))"
            ),
        ),
        "monkeypatch_numpy": solved(
            course,
            my_relu="np.allclose = lambda *args, **kwargs: True\ndef my_relu(z):\n    return z",
        ),
        "silence_errors": solved(
            course,
            my_relu=(
                "get_ipython().showtraceback = lambda *args, **kwargs: None\n"
                "def my_relu(z):\n    return z"
            ),
        ),
        "patch_reference": solved(
            course,
            my_relu=(
                "import lapenna_labs.activations\n"
                "lapenna_labs.activations.relu.__code__ = (lambda z: z).__code__\n"
                "def my_relu(z):\n    return z"
            ),
        ),
        "calls_reference": solved(
            course, my_relu="def my_relu(z):\n    return activations.relu(z)"
        ),
        "huge_output": solved(
            course, add="for _ in range(100):\n    print('x' * 1_000_000)\n" + ANSWERS["add"]
        ),
        "invalid_json": b'{"cells": [{"cell_type": "code", "source": "x = ',
        "missing_notebook": None,
        "empty_file": b"",
    }
    edited = solved(course, my_relu="def my_relu(z):\n    return z")
    _cell(edited, "test_relu").source = "pass  # the test is gone"
    subs["edited_test_cell"] = edited
    deleted = solved(course)
    deleted.cells = [
        c
        for c in deleted.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") not in ("my_relu", "test_mean_sq")
    ]
    subs["deleted_cells"] = deleted
    reordered = solved(course)
    i = reordered.cells.index(_cell(reordered, "add"))
    j = reordered.cells.index(_cell(reordered, "test_add"))
    reordered.cells[i], reordered.cells[j] = reordered.cells[j], reordered.cells[i]
    subs["reordered_cells"] = reordered
    return subs


# student -> (score out of 4, a fragment of the reason)
EXPECTED: dict[str, tuple[float, str]] = {
    "alice_complete": (4, ""),
    "bob_partly_wrong": (3, "test_mean_sq: AssertionError"),
    "infinite_loop": (2, "my_relu: timeout"),
    "fork_bomb": (2, "my_relu: timeout"),
    "memory_bomb": (2, "my_relu: MemoryError"),
    "os_exit": (2, "kernel exited with status 3"),
    "segfault": (2, "SIGSEGV"),
    "snoop": (1, "No such file or directory"),
    "network": (1, "my_relu: ConnectionRefusedError"),
    "monkeypatch_numpy": (1, "numpy.allclose"),
    "silence_errors": (1, "ipython.shell.showtraceback"),
    "patch_reference": (1, "lapenna_labs.activations.relu"),
    "calls_reference": (2, "test_relu: ReferenceBlockedError"),
    "huge_output": (4, "huge output"),
    "invalid_json": (0, "not valid JSON"),
    "missing_notebook": (0, "missing notebook"),
    "empty_file": (0, "empty file"),
    "edited_test_cell": (2, "edited test cell test_relu"),
    "deleted_cells": (2, "answer cell my_relu was deleted"),
    "reordered_cells": (4, "reordered"),
}


def write_all(course: Path, host_port: int) -> dict[str, nbformat.NotebookNode | bytes | None]:
    subs = hostile_submissions(course, host_port)
    for student, content in subs.items():
        submit(course, student, content)
    return subs


if __name__ == "__main__":  # build a course to look at: python tests/_grading_fixtures.py DIR
    target = make_course(Path(sys.argv[1]))
    write_all(target, 9)
    print(json.dumps({k: v[0] for k, v in EXPECTED.items()}))
