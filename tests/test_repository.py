"""Repository hygiene that no other test covers: the licence, and links to files that exist."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / line for line in out.splitlines() if (ROOT / line).is_file()]


def test_the_license_file_matches_pyproject():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^license = "MIT"$', pyproject, flags=re.MULTILINE)
    assert re.search(r'^license-files = \["LICENSE"\]$', pyproject, flags=re.MULTILINE)
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text


def test_no_file_points_to_the_design_notes_outside_the_repository():
    # The team's design notes live outside the repository (shared/DESIGN.md): a reader of the
    # repository cannot follow such a reference, so sources must state their facts themselves.
    offenders = []
    for path in tracked_files():
        if path.suffix not in {".py", ".md", ".yml", ".toml", ".cfg", ".txt", ""}:
            continue
        if path == Path(__file__).resolve():  # this test names what it looks for
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if "DESIGN.md" in text or "DESIGN notes" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], f"references to the design notes outside the repository: {offenders}"


_no_caches = shutil.ignore_patterns("__pycache__", "*.pyc")


def test_the_wheel_ships_every_file_of_the_package(tmp_path):
    # Colab installs the package from the repository as a wheel; a subpackage missing from the
    # packaging configuration would import here (editable install) and fail there.
    # Build from a copy: setuptools writes build/ and *.egg-info/ beside the sources it builds.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "lapenna_labs", source / "lapenna_labs", ignore=_no_caches)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(tmp_path / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("lapenna_labs-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    sources = {
        path.relative_to(ROOT).as_posix()
        for path in tracked_files()
        if path.relative_to(ROOT).parts[0] == "lapenna_labs"
    }
    assert sources, "no package sources found"
    assert sources - shipped == set()


@pytest.mark.parametrize(
    ("stamp", "touch_after", "kept"),
    [
        (True, None, True),  # nothing changed since the last build
        (True, "lapenna_labs/layers.py", False),
        (True, "lapenna_labs/measurements/run.json", False),  # package data too
        (False, None, False),  # a cache of unknown age (e.g. a build the tests started)
    ],
)
def test_book_cache_dropped_when_the_package_may_have_changed(tmp_path, stamp, touch_after, kept):
    """`make book-cache`: the cache keys on a chapter's own cells, not on lapenna_labs."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for relative in ("lapenna_labs/layers.py", "lapenna_labs/measurements/run.json"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("")
    cache = tmp_path / "_build" / ".jupyter_cache"
    cache.mkdir(parents=True)
    past = time.time() - 60
    for path in tmp_path.rglob("*"):
        os.utime(path, (past, past))
    if stamp:
        built = tmp_path / "_build" / ".package-executed"
        built.touch()
        os.utime(built, (past + 30, past + 30))  # after the sources, before any touch below
    if touch_after:
        (tmp_path / touch_after).touch()
    subprocess.run(["make", "-s", "book-cache"], cwd=tmp_path, check=True, capture_output=True)
    assert cache.exists() == kept
