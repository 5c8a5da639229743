"""Grading on SLURM: the class as a job array of shards, against the local parallel grader.

The class is ``--copies`` copies (default 4) of each bundled demo submission of lab01
(``autograder/demo/<kind>/``), so 20 submissions by default, in two identical course copies:

* **slurm**: ``autograder.slurm.grade_all`` with ``--shards`` shards (default 2) of
  ``--jobs`` workers each (default 1), as ``make grade EXECUTOR=slurm`` runs it: one
  ``sbatch --array``, each shard grading its part with the sandboxed pool on its node, every
  result merged by this process into the one gradebook;
* **local**: ``autograder.scheduling.grade_all`` with ``shards x jobs`` workers on this
  machine (``--skip-local`` leaves it out).

Wall time is from the call to the last merged grade (both include ``generate_assignment``
of the master and the sandbox start per submission; the SLURM run also the queue, each
shard's start-up and the polling). Reported: shards, arrays, wall time, submissions per
minute, the time to the first merged result, and whether both give every submission the
score ``autograder/demo/expected_scores.json`` expects.

Without a SLURM cluster (``sinfo`` fails), ``--local-cluster`` (the default when run as root
with the Debian packages installed) starts a one-node SLURM on this machine
(``slurm.local_cluster``), which then shares the machine's cores with the grading.

Usage (from the repository root)::

    .venv/bin/python bench/bench_grading_slurm.py                  # ~5 min on 2 cores
    .venv/bin/python bench/bench_grading_slurm.py --copies 1 --skip-local   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common

sys.path.insert(0, str(_common.REPO))

from autograder import course, scheduling, slurm
from autograder.sandbox.launcher import sandbox_status
from autograder.sandbox.settings import SandboxSettings

AUTOGRADER = _common.REPO / "autograder"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--copies", type=int, default=4, help="copies of each demo submission")
    p.add_argument("--shards", type=int, default=2, help="array tasks")
    p.add_argument("--jobs", type=int, default=1, help="workers per shard")
    p.add_argument("--max-running", type=int, default=0, help="cap on shards at once (%%T)")
    p.add_argument("--cell-timeout", type=int, default=10, help="seconds per cell")
    p.add_argument("--skip-local", action="store_true", help="only the SLURM run")
    p.add_argument(
        "--local-cluster",
        choices=("auto", "yes", "no"),
        default="auto",
        help="start a one-node SLURM here (auto: when sinfo finds no cluster)",
    )
    p.add_argument("--workdir", type=Path, help="where the course copies go (default: temp)")
    p.add_argument("--out", default=str(_common.RESULTS / "grading_slurm.json"))
    args = p.parse_args(argv)
    if args.copies < 1 or args.shards < 1 or args.jobs < 1:
        p.error("--copies, --shards and --jobs must be positive")
    return args


def make_class(dest: Path, copies: int) -> tuple[str, dict[str, float]]:
    """A course copy at ``dest`` with ``copies`` copies of every demo submission, the master
    registered; returns the lab and ``{student: expected score}``."""
    expected = json.loads((AUTOGRADER / "demo" / "expected_scores.json").read_text())
    lab = expected["lab"]
    root = course.copy_course(AUTOGRADER, dest, [lab])
    wanted = {}
    for kind, score in expected["scores"].items():
        for i in range(copies):
            student = f"{kind}_{i:02d}"
            shutil.copytree(AUTOGRADER / "demo" / kind, root / "submitted" / student)
            wanted[student] = float(score)
    return lab, wanted


def _options(jobs: int, cell_timeout: int) -> scheduling.Options:
    threads = max(1, course.usable_cores() // max(1, jobs))
    return scheduling.Options(
        jobs=jobs,
        cell_timeout=cell_timeout,
        force=True,
        progress=False,
        settings=SandboxSettings(threads=threads),
    )


def run_slurm(root: Path, lab: str, args: argparse.Namespace) -> dict[str, Any]:
    opts = slurm.SlurmOptions(
        shards=args.shards, max_running=args.max_running, poll_seconds=0.5, queue_seconds=2
    )
    stderr = io.StringIO()
    t0 = time.perf_counter()
    course.run_nbgrader(root, "generate_assignment", lab, "--force", log_level="ERROR")
    with contextlib.redirect_stderr(stderr):
        results = slurm.grade_all(root, lab, _options(args.jobs, args.cell_timeout), opts)
    seconds = time.perf_counter() - t0
    (run,) = sorted((root / ".slurm").glob(f"{lab}-*"))
    arrays = json.loads((run / "jobs.json").read_text())
    log = (root / f"grading_{lab}.log").read_text().splitlines()
    stamps = [
        time.mktime(time.strptime(" ".join(line.split()[:2]), "%Y-%m-%d %H:%M:%S")) for line in log
    ]
    ledger = json.loads((root / f".grading_{lab}.json").read_text())
    return {
        "seconds": seconds,
        "shards": args.shards,
        "jobs_per_shard": args.jobs,
        "max_running": args.max_running,
        "arrays": [{"offset": a["offset"], "count": a["count"]} for a in arrays],
        "scores": {r.student: r.score for r in results},
        "statuses": {r.student: r.status for r in results if r.status != "graded"},
        "merge_span_s": (max(stamps) - min(stamps)) if stamps else None,
        "sandboxed": ledger["runs"][-1]["sandboxed"],
        "what": (
            f"slurm.grade_all: sbatch --array of {args.shards} shards x JOBS={args.jobs}, "
            "each shard scheduling.grade_all on its node, results merged here"
        ),
        "log_tail": stderr.getvalue()[-1500:],
    }


def run_local(root: Path, lab: str, args: argparse.Namespace) -> dict[str, Any]:
    jobs = args.shards * args.jobs
    stderr = io.StringIO()
    t0 = time.perf_counter()
    course.run_nbgrader(root, "generate_assignment", lab, "--force", log_level="ERROR")
    with contextlib.redirect_stderr(stderr):
        results = scheduling.grade_all(root, lab, _options(jobs, args.cell_timeout))
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "jobs": jobs,
        "scores": {r.student: r.score for r in results},
        "sandboxed": sandbox_status()[0],
        "what": f"scheduling.grade_all(jobs={jobs}) on this machine",
        "log_tail": stderr.getvalue()[-1500:],
    }


def _cluster(args: argparse.Namespace, work: Path) -> Any:
    found = subprocess.run(["sinfo", "-h"], capture_output=True, text=True, check=False)
    if args.local_cluster == "yes" or (args.local_cluster == "auto" and found.returncode != 0):
        return slurm.local_cluster(work / "slurm")
    return contextlib.nullcontext()


def run(args: argparse.Namespace) -> dict[str, Any]:
    problem = slurm.slurm_problem()
    if problem:
        raise SystemExit(f"bench_grading_slurm: {problem}")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="lapenna-grading-slurm-bench-"))
    load_before = _common.load()
    runs: dict[str, Any] = {}
    local_cluster = False
    try:
        lab, expected = make_class(work / "slurm" / "autograder", args.copies)
        if not args.skip_local:
            make_class(work / "local" / "autograder", args.copies)
        with _cluster(args, work) as conf:
            local_cluster = conf is not None
            cluster = subprocess.run(
                ["sinfo", "-h", "-N", "-o", "%N %c %T"], capture_output=True, text=True
            ).stdout.strip()
            version = subprocess.run(
                ["sinfo", "--version"], capture_output=True, text=True
            ).stdout.strip()
            runs["slurm"] = run_slurm(work / "slurm" / "autograder", lab, args)
            print("slurm done", file=sys.stderr, flush=True)
            if not args.skip_local:  # the daemons idle: the same machine, as for SLURM
                runs["local"] = run_local(work / "local" / "autograder", lab, args)
                print("local done", file=sys.stderr, flush=True)
    finally:
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
    if "local" in runs:
        s, loc = runs["slurm"], runs["local"]
        comparison = {
            "slurm_over_local_seconds": s["seconds"] / loc["seconds"],
            "identical_scores": s["scores"] == loc["scores"],
        }
    return {
        "benchmark": "grading_slurm",
        "date_utc": _common.now(),
        "command": _common.command(),
        "lab": lab,
        "copies_per_demo": args.copies,
        "demo_kinds": sorted({s.rsplit("_", 1)[0] for s in expected}),
        "cell_timeout_s": args.cell_timeout,
        "cluster": cluster,
        "local_cluster": local_cluster,
        "slurm_version": version,
        "slurm": runs.get("slurm"),
        "local": runs.get("local"),
        "comparison": comparison,
        "machine": _common.machine(),
        "load_before": load_before,
        "load_after": load_after,
    }


def _rows(p: dict[str, Any]) -> list[list[Any]]:
    rows = []
    s = p.get("slurm")
    if s:
        rows.append(
            [
                f"SLURM, {s['shards']} shards x JOBS={s['jobs_per_shard']}"
                f" ({len(s['arrays'])} array{'s' if len(s['arrays']) > 1 else ''})",
                s["submissions"], f"{s['seconds']:.1f}", f"{s['submissions_per_minute']:.1f}",
                "yes" if s["sandboxed"] else "no", "yes" if s["scores_as_expected"] else "NO",
            ]
        )  # fmt: skip
    loc = p.get("local")
    if loc:
        rows.append(
            [
                f"local, JOBS={loc['jobs']}",
                loc["submissions"], f"{loc['seconds']:.1f}", f"{loc['submissions_per_minute']:.1f}",
                "yes" if loc["sandboxed"] else "no", "yes" if loc["scores_as_expected"] else "NO",
            ]
        )  # fmt: skip
    return rows


HEADER = ["executor", "submissions", "wall s", "submissions/min", "sandboxed", "expected scores"]


def section(p: dict[str, Any]) -> str:
    """This benchmark's part of ``bench/README.md`` (``bench/report.py``)."""
    where = (
        "a one-node SLURM started on this machine (`slurm.local_cluster`: the daemons share "
        "its cores with the grading)"
        if p.get("local_cluster")
        else "the cluster `sinfo` found"
    )
    text = [
        "## 8. Grading on SLURM",
        "",
        f"{p['copies_per_demo']} copies of each demo submission of {p['lab']} "
        f"({', '.join(p['demo_kinds'])}), cell timeout {p['cell_timeout_s']} s, on {where}: "
        f"{p['slurm_version']}, nodes `{p['cluster']}`.",
        "",
        _common.table(_rows(p), HEADER),
        "",
        "Wall time runs from the call to the last merged grade; both include `nbgrader "
        "generate_assignment` and no feedback. The SLURM run also pays the queue, each "
        "shard's start-up (a job, Python and nbgrader imported, the master generated in the "
        "node-local course) and the polling of the results directory: on one node that is "
        "pure overhead; across nodes it is what buys the parallelism.",
    ]
    s = p.get("slurm") or {}
    if s.get("merge_span_s") is not None:
        text += [
            "",
            f"The first to the last merged result: {s['merge_span_s']:.0f} s.",
        ]
    c = p.get("comparison")
    if c:
        text += [
            "",
            f"SLURM / local wall time: {c['slurm_over_local_seconds']:.2f}; identical scores: "
            f"**{'yes' if c['identical_scores'] else 'NO'}**.",
        ]
    m = p["machine"]
    text += [
        "",
        f"Machine: {m['cpu_model']}, {m['usable_cpus']} usable CPUs. Load average (1 min) "
        f"{p['load_before']['loadavg_1m']:.2f} before, {p['load_after']['loadavg_1m']:.2f} "
        f"after. Date {p['date_utc']}, commit {m.get('git')}.",
        "",
        f"Command: `{p['command']}`",
    ]
    return "\n".join(text)


def print_table(payload: dict[str, Any]) -> None:
    print(
        f"\nGrading {payload['lab']} on SLURM: {payload['copies_per_demo']} copies of each of "
        f"{len(payload['demo_kinds'])} demo submissions, cell timeout "
        f"{payload['cell_timeout_s']} s ({payload['slurm_version']}; {payload['cluster']})"
    )
    print(_common.table(_rows(payload), HEADER))
    c = payload["comparison"]
    if c:
        print(
            f"SLURM / local wall time {c['slurm_over_local_seconds']:.2f}; "
            f"identical scores: {c['identical_scores']}"
        )
    _common.print_load(payload)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    payload = _common.run_and_write(args, run, print_table)
    ok = all(r["scores_as_expected"] for k in ("slurm", "local") if (r := payload.get(k)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
