"""The first cell of every lab: in Colab it installs lapenna_labs and changes nothing else.

The cell comes from ``autograder/build_labs.py`` (``shared_cells``). In Colab it runs
``pip install`` on the package from the repository. Colab's own libraries must survive it: a
requirement that needs a newer NumPy than Colab's makes pip replace NumPy, and with it whatever
was built against it. The old cell installed ``lapenna_labs[offline]``, whose mlxtend >= 0.24
requires NumPy >= 2.3.5; on a Colab without mlxtend (or with an older one) that replaced NumPy
2.0, pandas, scikit-learn and matplotlib.

The slow test rebuilds the part of Colab that the install can touch: a fresh virtual
environment with Colab's versions of the package's dependencies and of what mlxtend would pull
(NumPy, matplotlib and its dependencies, tqdm, pandas, SciPy, scikit-learn, joblib ...). It
then runs the cell's own pip command with ``--dry-run --report`` on a wheel of this checkout
and asserts that pip would install no package that is already there at another version.

Colab's versions: ``pip-freeze.gpu.txt`` of Google's googlecolab/backend-info repository (the
``pip freeze`` of Colab's GPU runtime), at commit 03a89033b7dd, read on 2026-12-02; its newest
pins date from June 2026 (astropy-iers-data 0.2026.6.1). Colab runs Python 3.12 there; this
test uses the Python that runs pytest, and skips if Colab's wheels do not exist for it.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import types
import urllib.request
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder import build_labs  # noqa: E402

# Colab's pins (pip-freeze.gpu.txt, see the module docstring) of what the install can touch:
# the package's dependencies and theirs, and what mlxtend (the offline extra) would pull.
COLAB_PIP = "24.1.2"
COLAB_PINS = {
    "numpy": "2.0.2",
    "matplotlib": "3.10.0",
    "contourpy": "1.3.3",
    "cycler": "0.12.1",
    "fonttools": "4.63.0",
    "kiwisolver": "1.5.0",
    "packaging": "26.2",
    "pillow": "11.3.0",
    "pyparsing": "3.3.2",
    "python-dateutil": "2.9.0.post0",
    "six": "1.17.0",
    "tqdm": "4.67.3",
    "pandas": "2.2.2",
    "pytz": "2025.2",
    "tzdata": "2026.2",
    "scipy": "1.16.3",
    "scikit-learn": "1.6.1",
    "joblib": "1.5.3",
    "threadpoolctl": "3.6.0",
}
COLAB_MLXTEND = "0.23.4"
_FIND_SPEC = importlib.util.find_spec  # the cell's check for the package, before any test fakes it


def _first_cell() -> str:
    url, branch = build_labs.repository(REPO / "_config.yml")
    _, setup, _ = build_labs.shared_cells(url, branch, "lab01")
    return setup.source


def _run_first_cell(monkeypatch, *, in_colab: bool, installed: bool) -> list[list[str]]:
    """Execute the cell with Colab faked or not; return the commands it ran."""
    ran: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda argv, **kwargs: ran.append(list(argv)))
    if in_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)

    def find_spec(name, *args):
        if name == "lapenna_labs" and not installed:
            return None
        return _FIND_SPEC(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    exec(compile(_first_cell(), "<colab_setup>", "exec"), {})
    return ran


def _repository_requirement() -> str:
    url, branch = build_labs.repository(REPO / "_config.yml")
    assert url.startswith("https://github.com/")
    return build_labs.colab_requirement(build_labs.repository_source(url, branch))


def test_in_colab_the_cell_installs_the_package_from_the_repository_without_extras(monkeypatch):
    (argv,) = _run_first_cell(monkeypatch, in_colab=True, installed=False)
    assert argv[:3] == [sys.executable, "-m", "pip"]
    assert argv[-1] == _repository_requirement()
    assert "[" not in argv[-1].split("@")[0], "an extra would pull packages Colab already has"


def test_outside_colab_the_cell_prints_one_install_command_from_the_repository_url(
    monkeypatch, capsys
):
    assert _run_first_cell(monkeypatch, in_colab=False, installed=False) == []
    commands = [line for line in capsys.readouterr().out.splitlines() if "pip install" in line]
    assert commands == [f'%pip install "{_repository_requirement()}"']
    assert _run_first_cell(monkeypatch, in_colab=False, installed=True) == []
    assert capsys.readouterr().out == "", "nothing to say when the package is installed"


# --------------------------------------------------------------------------------------------
# The install itself, in a fresh environment with Colab's versions (needs PyPI)


def _pypi_reachable() -> bool:
    try:
        with urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=10):
            return True
    except OSError:
        return False


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _installed(python: Path) -> dict[str, str]:
    listing = _pip(python, "list", "--format=json")
    assert listing.returncode == 0, listing.stderr
    return {_canonical(p["name"]): p["version"] for p in json.loads(listing.stdout)}


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _replaced_by(python: Path, pip_arguments: list[str]) -> dict[str, str]:
    """What pip would replace: ``{name: "old -> new"}`` for every installed package it would
    install at another version (``--dry-run --report``: nothing is changed)."""
    before = _installed(python)
    result = _pip(python, *pip_arguments, "--dry-run", "--report", "-")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    return {
        name: f"{before[name]} -> {item['metadata']['version']}"
        for item in report["install"]
        if (name := _canonical(item["metadata"]["name"])) in before
        and before[name] != item["metadata"]["version"]
    }


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    """(python of a fresh environment with Colab's pins but no mlxtend, wheel of this checkout)."""
    if not _pypi_reachable():
        pytest.skip("PyPI is unreachable: cannot build an environment with Colab's versions")
    work = tmp_path_factory.mktemp("colab")
    venv.create(work / "env", with_pip=True)
    python = work / "env" / "bin" / "python"
    pins = [f"{name}=={version}" for name, version in COLAB_PINS.items()]
    installed = _pip(python, "install", "-q", f"pip=={COLAB_PIP}", "--only-binary=:all:", *pins)
    if installed.returncode != 0:
        pytest.skip(
            f"Colab's pinned wheels do not install on Python {sys.version.split()[0]}: "
            + installed.stderr.strip().splitlines()[-1]
        )
    # A wheel of this checkout, built from a copy (setuptools writes build/ beside its sources).
    source = work / "source"
    shutil.copytree(
        REPO / "lapenna_labs", source / "lapenna_labs", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(work / "dist"), str(source)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("lapenna_labs-*.whl")
    installed = _installed(python)
    assert {name: installed.get(name) for name in COLAB_PINS} == COLAB_PINS
    return python, wheel


def _the_cells_pip_arguments(wheel: Path) -> list[str]:
    """The first cell's pip arguments in Colab, with the repository replaced by the wheel."""
    with pytest.MonkeyPatch.context() as patch:
        (argv,) = _run_first_cell(patch, in_colab=True, installed=False)
    assert argv[-1] == _repository_requirement()
    return [*argv[3:-1], build_labs.colab_requirement(wheel.as_uri())]


@pytest.mark.slow
def test_the_first_cell_changes_none_of_colabs_packages(colab):
    python, wheel = colab
    arguments = _the_cells_pip_arguments(wheel)
    # A Colab without mlxtend (the case that broke), then Colab as published, with mlxtend 0.23.
    assert _replaced_by(python, arguments) == {}
    added = _pip(python, "install", "-q", "--no-deps", f"mlxtend=={COLAB_MLXTEND}")
    assert added.returncode == 0, added.stderr
    assert _replaced_by(python, arguments) == {}
    assert _pip(python, "uninstall", "-y", "-q", "mlxtend").returncode == 0


@pytest.mark.slow
def test_the_check_sees_the_old_cell_replace_colabs_numpy(colab):
    # The old cell installed the offline extra: on a Colab without mlxtend, pip would pull the
    # newest mlxtend and replace NumPy (and more) to satisfy it. The check above must see that.
    python, wheel = colab
    arguments = _the_cells_pip_arguments(wheel)
    old = [*arguments[:-1], f"lapenna_labs[offline] @ {wheel.as_uri()}"]
    assert "numpy" in _replaced_by(python, old)
