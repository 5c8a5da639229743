"""Generate the demo submissions that ``make grade-demo`` grades (from the master, not by hand).

Five students hand in ``lab01``, each made from the student version ``labs/lab01.ipynb`` with
the answer cells filled in from the master's solutions, then changed:

=================  ================================================================  =====
student            what is wrong                                                     score
=================  ================================================================  =====
complete           nothing                                                           10
partly_wrong       GEMM bytes forget that C is read; the blocked intensity is n/N    8
raises             the timing answer cell raises a NameError at the top              8
loops_forever      ``bound`` has ``while`` for ``if``: an endless loop (later cells     9
                   still run and grade)
calls_reference    ``blocked_matmul`` returns ``lapenna_labs``' blocked_matmul       8
=================  ================================================================  =====

The expected scores are computed from the points in the master's cell metadata and written to
``autograder/demo/expected_scores.json``, which ``grade.py --demo`` and the pipeline tests
check. Usage: ``python autograder/make_demo.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import nbformat

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if __package__ in (None, ""):  # run as `python autograder/make_demo.py`: import the package
    sys.path[0] = str(REPO)

from autograder.intake import grade_id  # noqa: E402

LAB = "lab01"

# student -> (list of (answer grade_id, old text, new text), test grade_ids expected to fail)
MUTATIONS: dict[str, tuple[list[tuple[str, str, str]], list[str]]] = {
    "complete": ([], []),
    "partly_wrong": (
        [
            ("counts", "return 2 * n**3, 4 * n * n * size", "return 2 * n**3, 3 * n * n * size"),
            ("blocked", "return 2 * n**3 / ((2 * N + 2) * n**2)", "return n / N"),
        ],
        ["test_gemm_counts", "test_blocked_intensity"],
    ),
    "raises": (
        [("measure", "def time_median(", "print(timings_so_far)\n\n\ndef time_median(")],
        ["test_time_median", "test_measure_blas"],
    ),
    "loops_forever": (
        [
            (
                "roofline",
                'return "memory" if intensity < peak_gflops / bandwidth_gbs else "compute"',
                "ridge = peak_gflops / bandwidth_gbs\n"
                "    while intensity < ridge:  # meant to be an if\n"
                "        pass\n"
                '    return "compute"',
            )
        ],
        ["test_roofline"],
    ),
    "calls_reference": (
        [
            (
                "blocked",
                "def blocked_matmul(A, B, b):",
                "from lapenna_labs.blas import blocked_matmul as fast_matmul\n\n\n"
                "def blocked_matmul(A, B, b):\n    return fast_matmul(A, B, b)\n\n\n"
                "def _unused(A, B, b):",
            )
        ],
        ["test_blocked_matmul"],
    ),
}


def solution_text(source: str) -> str:
    """The master's answer cell as a student would hand it in: the solution, no markers."""
    lines = [
        line
        for line in source.split("\n")
        if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line
    ]
    return "\n".join(lines)


def filled_notebook(student_nb: Any, master_nb: Any) -> Any:
    """The student version with every answer cell replaced by the master's solution."""
    solutions = {
        grade_id(c): solution_text(c.source)
        for c in master_nb.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    nb = copy.deepcopy(student_nb)
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid in solutions:
            cell.source = solutions[gid]
    return nb


def mutate(nb: Any, changes: list[tuple[str, str, str]]) -> Any:
    """Apply text replacements to answer cells; each must match exactly once."""
    nb = copy.deepcopy(nb)
    for gid, old, new in changes:
        cell = next(c for c in nb.cells if grade_id(c) == gid)
        if cell.source.count(old) != 1:
            raise SystemExit(f"make_demo: {old!r} not found once in answer cell {gid!r}")
        cell.source = cell.source.replace(old, new)
    return nb


def points(master_nb: Any) -> dict[str, float]:
    """grade_id -> points of every graded cell of the master."""
    return {
        grade_id(c): float(c.metadata["nbgrader"].get("points", 0))
        for c in master_nb.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade")
    }


def build(out: Path, master: Path, student: Path) -> dict[str, Any]:
    """Write the demo submissions and expected scores into ``out``; return the expectations."""
    master_nb = nbformat.read(master, as_version=4)
    student_nb = nbformat.read(student, as_version=4)
    pts = points(master_nb)
    total = sum(pts.values())
    full = filled_notebook(student_nb, master_nb)
    scores = {}
    for name, (changes, failing) in MUTATIONS.items():
        unknown = set(failing) - set(pts)
        if unknown:
            raise SystemExit(f"make_demo: no graded cells {sorted(unknown)} in {master}")
        nb = mutate(full, changes)
        path = out / name / LAB / f"{LAB}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(nbformat.writes(nb) + "\n")
        scores[name] = total - sum(pts[g] for g in failing)
    expected = {"lab": LAB, "max_score": total, "scores": scores}
    (out / "expected_scores.json").write_text(json.dumps(expected, indent=2) + "\n")
    return expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the demo submissions.")
    parser.add_argument("--out", type=Path, default=HERE / "demo")
    parser.add_argument("--master", type=Path, default=HERE / "source" / LAB / f"{LAB}.ipynb")
    parser.add_argument("--student", type=Path, default=REPO / "labs" / f"{LAB}.ipynb")
    args = parser.parse_args(argv)
    expected = build(args.out, args.master, args.student)
    print(json.dumps(expected, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
