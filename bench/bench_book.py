"""How long the book takes to build: cold (every chapter executed) and cached rebuilds.

A fresh copy of the repository (without ``.venv``, ``_build``, ``.git``) is built in a
temporary directory with the same command ``make book`` runs
(``jupyter-book build <copy> -W --keep-going``), three times:

1. **cold**: no ``_build`` and no jupyter cache, so every chapter's code runs;
2. **cached**: nothing changed, so no chapter runs again (myst-nb's ``execute_notebooks:
   cache`` finds every notebook in ``_build/.jupyter_cache``) and Sphinx has nothing to redo;
3. **prose edit**: one sentence appended to one chapter's prose (not its code): Sphinx
   re-renders that page, the cache still serves its outputs.

Each build must succeed (exit 0) and produce ``_build/html/index.html``; the per-chapter
execution times are read from the jupyter cache after the cold build.

Usage (from the repository root)::

    .venv/bin/python bench/bench_book.py            # 1.5 min here: it runs every chapter
    .venv/bin/python bench/bench_book.py --keep     # keep the temporary copy to inspect it
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common

IGNORE = (
    ".venv", "_build", ".git", ".pytest_cache", ".ruff_cache", ".hypothesis", "__pycache__",
    "*.egg-info", "results", "gradebook.db", "submitted", "autograded", "feedback",
)  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=_common.REPO, help="the repository to copy")
    p.add_argument("--workdir", type=Path, help="where to put the copy (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="do not delete the copy")
    p.add_argument("--edit-chapter", default=None, help="chapter .md for the prose edit")
    p.add_argument("--timeout", type=int, default=3600, help="seconds per build")
    p.add_argument("--out", default=str(_common.RESULTS / "book.json"))
    return p.parse_args(argv)


def jupyter_book() -> str:
    candidate = Path(sys.executable).with_name("jupyter-book")
    return str(candidate) if candidate.exists() else "jupyter-book"


def build(copy: Path, timeout: int) -> dict[str, Any]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    cmd = [jupyter_book(), "build", str(copy), "-W", "--keep-going"]
    t0 = time.perf_counter()
    result = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    ok = result.returncode == 0 and (copy / "_build" / "html" / "index.html").exists()
    executed = (result.stdout + result.stderr).count("Executing notebook")
    return {
        "seconds": seconds,
        "returncode": result.returncode,
        "ok": ok,
        "log_tail": None if ok else (result.stdout[-2000:] + result.stderr[-2000:]),
        "notebooks_executed": executed,
    }


def cache_records(copy: Path) -> list[dict[str, Any]]:
    """Per-notebook execution time as myst-nb stored it in the jupyter cache."""
    try:
        from jupyter_cache import get_cache
    except ImportError:
        return []
    path = copy / "_build" / ".jupyter_cache"
    if not path.exists():
        return []
    records = []
    for rec in get_cache(path).list_cache_records():
        uri = Path(rec.uri)
        try:
            uri = uri.relative_to(copy)
        except ValueError:
            pass
        records.append(
            {"notebook": str(uri), "execution_seconds": rec.data.get("execution_seconds")}
        )
    return sorted(records, key=lambda r: r["notebook"])


def chapters(copy: Path) -> list[Path]:
    return sorted((copy / "book").glob("week*.md")) or sorted((copy / "book").glob("*.md"))


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = args.root.resolve()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="lapenna-book-bench-"))
    copy = work / "repo"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns(*IGNORE), symlinks=True)
    load_before = _common.load()
    try:
        cold = build(copy, args.timeout)
        records = cache_records(copy)
        cached = build(copy, args.timeout)
        target = copy / "book" / args.edit_chapter if args.edit_chapter else chapters(copy)[0]
        with target.open("a", encoding="utf-8") as fh:
            fh.write("\nThis sentence was added by bench/bench_book.py to time a prose edit.\n")
        edited = build(copy, args.timeout)
        records_after = cache_records(copy)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    load_after = _common.load()
    return {
        "benchmark": "book_build",
        "date_utc": _common.now(),
        "command": _common.command(),
        "build_command": "`jupyter-book build <copy> -W --keep-going`, as `make book` runs it",
        "copy": str(copy) + ("" if args.keep else " (deleted)"),
        "cold": cold,
        "cached_rebuild": cached,
        "prose_edit_rebuild": {**edited, "edited": str(target.relative_to(copy))},
        "cached_over_cold": cached["seconds"] / cold["seconds"],
        "notebook_execution_seconds": records,
        "notebooks_in_cache_after_edit": len(records_after),
        "machine": _common.machine(),
        "load_before": load_before,
        "load_after": load_after,
    }


BUILD_HEADER = ["build", "seconds", "notebooks executed", "ok"]
CHAPTER_HEADER = ["chapter", "execution seconds (cold build)"]


def build_rows(payload: dict[str, Any]) -> list[list[Any]]:
    """The three builds, one row each (printed here and in bench/README.md)."""
    return [
        [
            name,
            f"{payload[key]['seconds']:.1f}",
            payload[key]["notebooks_executed"],
            "yes" if payload[key]["ok"] else "NO",
        ]
        for name, key in (
            ("cold: fresh copy, no cache", "cold"),
            ("cached rebuild, nothing changed", "cached_rebuild"),
            (
                f"after a prose edit of {payload['prose_edit_rebuild']['edited']}",
                "prose_edit_rebuild",
            ),
        )
    ]


def chapter_rows(payload: dict[str, Any]) -> list[list[Any]]:
    """Execution seconds of each chapter in the cold build."""
    return [
        [r["notebook"], "-" if r["execution_seconds"] is None else f"{r['execution_seconds']:.1f}"]
        for r in payload["notebook_execution_seconds"]
    ]


def print_table(payload: dict[str, Any]) -> None:
    print(
        f"\nBook build on {payload['machine']['cpu_model']} "
        f"({payload['machine']['usable_cpus']} CPUs)"
    )
    print(_common.table(build_rows(payload), BUILD_HEADER))
    if payload["notebook_execution_seconds"]:
        print(_common.table(chapter_rows(payload), CHAPTER_HEADER))
    _common.print_load(payload)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    payload = _common.run_and_write(args, run, print_table)
    ok = all(payload[k]["ok"] for k in ("cold", "cached_rebuild", "prose_edit_rebuild"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
