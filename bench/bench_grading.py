"""Grading throughput: nbgrader's serial autograde vs the parallel sandboxed grader.

Both graders get the same class: ``--copies`` copies (default 20) of each bundled demo
submission (``autograder/demo/<kind>/``: complete, partly wrong, raising, looping forever,
calling the reference), so 100 submissions of lab01 by default, each in its own course copy:

* **serial**: ``nbgrader generate_assignment`` then one ``nbgrader autograde`` for the whole
  class (``autograder.grade.autograde``, what ``grade.py --serial`` runs), kernels
  unsandboxed;
* **parallel**: ``autograder.scheduling.grade_all`` with ``--jobs`` workers (default: all
  cores), each submission graded by nbgrader in a scratch course with its kernel in the
  bubblewrap sandbox (``autograder/sandbox/``), merged into the one gradebook.

Both use the same per-cell timeout (``--cell-timeout``, default 10 s: the looping submission
spends it once per copy in either grader). Reported: wall time, submissions per minute, the
speedup, and whether every submission got the same score from both (and the score
``autograder/demo/expected_scores.json`` expects). The scores are read back from each
course's gradebook.

Usage (from the repository root)::

    .venv/bin/python bench/bench_grading.py                       # ~15-20 min on 2 cores
    .venv/bin/python bench/bench_grading.py --copies 2 --jobs 2   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common

sys.path.insert(0, str(_common.REPO))

from autograder import course, gradebook, scheduling
from autograder.grade import autograde
from autograder.sandbox.launcher import sandbox_status
from autograder.sandbox.settings import SandboxSettings

AUTOGRADER = _common.REPO / "autograder"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--copies", type=int, default=20, help="copies of each demo submission")
    p.add_argument("--jobs", type=int, default=0, help="parallel workers (0: all cores)")
    p.add_argument("--cell-timeout", type=int, default=10, help="seconds per cell, both graders")
    p.add_argument("--order", choices=("serial-first", "parallel-first"), default="serial-first")
    p.add_argument("--skip-serial", action="store_true", help="only the parallel grader")
    p.add_argument("--workdir", type=Path, help="where the two course copies go (default: temp)")
    p.add_argument("--keep", action="store_true", help="do not delete the course copies")
    p.add_argument("--out", default=str(_common.RESULTS / "grading.json"))
    args = p.parse_args(argv)
    if args.copies < 1:
        p.error("--copies must be positive")
    args.jobs = args.jobs or course.usable_cores()
    return args


def make_class(dest: Path, copies: int) -> tuple[str, dict[str, float]]:
    """A course copy at ``dest`` with ``copies`` copies of every demo submission.

    Returns the lab and ``{student: expected score}``.
    """
    expected = json.loads((AUTOGRADER / "demo" / "expected_scores.json").read_text())
    lab = expected["lab"]
    root = course.copy_course(AUTOGRADER, dest)
    if (AUTOGRADER / "release").is_dir():
        shutil.copytree(AUTOGRADER / "release", root / "release", dirs_exist_ok=True)
    wanted = {}
    for kind, score in expected["scores"].items():
        for i in range(copies):
            student = f"{kind}_{i:02d}"
            shutil.copytree(
                AUTOGRADER / "demo" / kind, root / "submitted" / student, dirs_exist_ok=True
            )
            wanted[student] = float(score)
    return lab, wanted


def run_serial(root: Path, lab: str, cell_timeout: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    autograde(root, lab, cell_timeout)
    seconds = time.perf_counter() - t0
    grades = gradebook.collect_grades(root, lab, course.students(root, lab))
    return {
        "seconds": seconds,
        "scores": {g.student: g.score for g in grades},
        "what": "nbgrader generate_assignment + one `nbgrader autograde` for the class",
        "sandboxed": False,
    }


def run_parallel(root: Path, lab: str, cell_timeout: int, jobs: int) -> dict[str, Any]:
    sandboxed, description = sandbox_status()
    # as `make grade` sets them (grade.py main): the cores are shared among the JOBS kernels
    threads = max(1, course.usable_cores() // max(1, jobs))
    options = scheduling.Options(
        jobs=jobs,
        cell_timeout=cell_timeout,
        force=True,
        progress=False,
        settings=SandboxSettings(threads=threads),
    )
    stderr = io.StringIO()
    t0 = time.perf_counter()
    # the course gradebook must know the assignment before grades are merged into it
    course.run_nbgrader(root, "generate_assignment", lab, "--force")
    with contextlib.redirect_stderr(stderr):
        results = scheduling.grade_all(root, lab, options)
    seconds = time.perf_counter() - t0
    try:
        graded = gradebook.collect_grades(root, lab, course.students(root, lab))
        book = {g.student: g.score for g in graded}
    except Exception as exc:
        book = {"error": repr(exc)}
    return {
        "seconds": seconds,
        "jobs": jobs,
        "scores": {r.student: r.score for r in results},
        "gradebook_scores": book,
        "statuses": {r.student: r.status for r in results if r.status != "graded"},
        "stages_mean_s": stage_means(results),
        "reasons": {r.student: r.reason for r in results if r.reason},
        "sandbox": description,
        "kernel_blas_threads": threads,
        "sandboxed": sandboxed,
        "what": (
            f"nbgrader generate_assignment + scheduling.grade_all(jobs={jobs}): nbgrader "
            "autograde per submission in a scratch course, kernel sandboxed"
        ),
        "log_tail": stderr.getvalue()[-1500:],
    }


def stage_means(results: list[Any]) -> dict[str, float]:
    """Seconds per stage of one submission's grading, averaged over the class (``Grade.stages``,
    ``time.perf_counter`` spans: in the grader ``inspect``, ``scratch`` (the course copy),
    ``start_worker``, ``worker`` (nbgrader autograde, all of it), ``collect`` (the merge); in
    the worker ``kernel_start``, ``fingerprint`` (all the integrity checks), ``cells`` and
    ``execute`` (the whole Execute preprocessor, kernel shutdown included))."""
    keys = sorted({key for r in results for key in r.stages})
    timed = [r for r in results if r.stages]
    if not timed:
        return {}
    return {key: round(sum(r.stages.get(key, 0.0) for r in timed) / len(timed), 3) for key in keys}


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.workdir or tempfile.mkdtemp(prefix="lapenna-grading-bench-"))
    load_before = _common.load()
    try:
        lab, expected = make_class(work / "serial" / "autograder", args.copies)
        make_class(work / "parallel" / "autograder", args.copies)
        order = ["serial", "parallel"] if args.order == "serial-first" else ["parallel", "serial"]
        runs: dict[str, Any] = {}
        for which in order:
            root = work / which / "autograder"
            if which == "serial" and not args.skip_serial:
                runs["serial"] = run_serial(root, lab, args.cell_timeout)
            elif which == "parallel":
                runs["parallel"] = run_parallel(root, lab, args.cell_timeout, args.jobs)
            print(f"{which} done", file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    load_after = _common.load()

    n = len(expected)
    for r in runs.values():
        r["submissions"] = n
        r["submissions_per_minute"] = 60 * n / r["seconds"]
        r["scores_as_expected"] = all(
            abs(r["scores"].get(s, float("nan")) - v) < 1e-9 for s, v in expected.items()
        )
        r["unexpected"] = {
            s: r["scores"].get(s) for s, v in expected.items() if r["scores"].get(s) != v
        }
    comparison = None
    if "serial" in runs and "parallel" in runs:
        s, p = runs["serial"], runs["parallel"]
        differ = {
            st: {"serial": s["scores"].get(st), "parallel": p["scores"].get(st)}
            for st in expected
            if s["scores"].get(st) != p["scores"].get(st)
        }
        comparison = {
            "speedup": s["seconds"] / p["seconds"],
            "identical_scores": not differ,
            "differences": differ,
        }
    return {
        "benchmark": "grading_throughput",
        "date_utc": _common.now(),
        "command": _common.command(),
        "lab": lab,
        "copies_per_demo": args.copies,
        "demo_kinds": sorted({s.rsplit("_", 1)[0] for s in expected}),
        "cell_timeout_s": args.cell_timeout,
        "order": args.order,
        "workdir": str(work) + ("" if args.keep else " (deleted)"),
        "serial": runs.get("serial"),
        "parallel": runs.get("parallel"),
        "comparison": comparison,
        "machine": _common.machine(),
        "load_before": load_before,
        "load_after": load_after,
    }


def print_table(payload: dict[str, Any]) -> None:
    rows = []
    for key in ("serial", "parallel"):
        r = payload[key]
        if r is None:
            continue
        name = key if key == "serial" else f"parallel (JOBS={r['jobs']})"
        rows.append(
            [
                name,
                r["submissions"],
                f"{r['seconds']:.1f}",
                f"{r['submissions_per_minute']:.1f}",
                "yes" if r["sandboxed"] else "no",
                "yes" if r["scores_as_expected"] else "NO",
            ]
        )
    print(
        f"\nGrading {payload['lab']}: {payload['copies_per_demo']} copies of each of "
        f"{len(payload['demo_kinds'])} demo submissions, "
        f"cell timeout {payload['cell_timeout_s']} s, "
        f"on {payload['machine']['cpu_model']} ({payload['machine']['usable_cpus']} CPUs)"
    )
    header = ["grader", "subs", "seconds", "subs/min", "sandboxed", "expected scores"]
    print(_common.table(rows, header))
    c = payload["comparison"]
    if c:
        print(f"speedup {c['speedup']:.2f}x; identical scores: {c['identical_scores']}")
    _common.print_load(payload)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    payload = _common.run_and_write(args, run, print_table)
    c = payload["comparison"]
    return 0 if c is None or c["identical_scores"] else 1


if __name__ == "__main__":
    sys.exit(main())
