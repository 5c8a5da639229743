"""The sandbox that student kernels run in (``autograder/sandbox/``), tested on a real
IPython kernel started the way nbgrader starts it; the integrity fingerprint, in-process and in
a kernel; and the input checks of the parallel grader (``autograder/intake.py``).
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _grading_fixtures import master_notebook  # noqa: E402

from autograder import intake  # noqa: E402
from autograder.sandbox import fingerprint, guard, launcher  # noqa: E402
from autograder.sandbox.kernel_manager import SandboxedKernelManager  # noqa: E402
from autograder.sandbox.settings import ENV_REQUIRE, ENV_SETTINGS, SandboxSettings  # noqa: E402

pytestmark = pytest.mark.grading

needs_bwrap = pytest.mark.skipif(
    launcher.bwrap_problem() is not None,
    reason=f"bubblewrap unusable here: {launcher.bwrap_problem()}",
)


def run_in_kernel(
    cells: list[str], workdir: Path, settings: SandboxSettings, expression: str | None = None
) -> list[dict]:
    """Run ``cells`` one after the other in one sandboxed kernel; for each, return its stdout,
    its error name and (``value``) the value of ``expression`` after it, read back the way the
    guard reads the fingerprint (``ast.literal_eval`` of its repr)."""

    async def go() -> list[dict]:
        os.environ[ENV_SETTINGS] = settings.to_env()
        try:
            km = SandboxedKernelManager(kernel_name="python3")
        finally:
            os.environ.pop(ENV_SETTINGS, None)
        await km.start_kernel(cwd=str(workdir))
        kc = km.client()
        kc.start_channels()
        outs = []
        try:
            await kc.wait_for_ready(timeout=60)
            for code in cells:
                expressions = {"r": expression} if expression else {}
                msg_id = kc.execute(code, user_expressions=expressions)
                out = {"stdout": "", "error": None, "value": None}
                while True:
                    msg = await kc.get_iopub_msg(timeout=120)
                    if msg["parent_header"].get("msg_id") != msg_id:
                        continue
                    if msg["msg_type"] == "stream":
                        out["stdout"] += msg["content"]["text"]
                    elif msg["msg_type"] == "error":
                        out["error"] = msg["content"]["ename"]
                    elif (
                        msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
                    ):
                        break
                reply = await kc.get_shell_msg(timeout=60)
                while reply["parent_header"].get("msg_id") != msg_id:
                    reply = await kc.get_shell_msg(timeout=60)
                value = reply["content"].get("user_expressions", {}).get("r", {})
                if value.get("status") == "ok":
                    out["value"] = ast.literal_eval(ast.literal_eval(value["data"]["text/plain"]))
                outs.append(out)
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)
        outs[-1]["rundir_removed"] = not Path(km.sandbox_rundir).exists()
        return outs

    return asyncio.run(go())


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """One sandboxed kernel that tries everything it should not be able to do."""
    if launcher.bwrap_problem() is not None:
        pytest.skip(f"bubblewrap unusable here: {launcher.bwrap_problem()}")
    workdir = tmp_path_factory.mktemp("work")
    secret = tmp_path_factory.mktemp("secret") / "gradebook.db"
    secret.write_text("grades")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    settings = SandboxSettings(
        cpu_seconds=77,
        memory_bytes=1536 * 1024**2,
        max_processes=64,
        file_size_bytes=1024**2,
        uid_base=64000,  # apart from any grader running at the same time
    )
    code = f"""
import os, resource, socket
def attempt(label, fn):
    try:
        fn()
        print(label, "ALLOWED")
    except BaseException as exc:
        print(label, "denied", type(exc).__name__)
attempt("read_secret", lambda: open({str(secret)!r}).read())
attempt("write_secret", lambda: open({str(secret)!r}, "w").write("x"))
attempt("list_repo_autograder", lambda: os.listdir({str(REPO / "autograder")!r}))
attempt("write_usr", lambda: open("/usr/evil", "w"))
attempt("write_venv", lambda: open({sys.prefix!r} + "/evil", "w"))
attempt("connect_host", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=3))
attempt("dns", lambda: socket.getaddrinfo("pypi.org", 443))
attempt("write_workdir", lambda: open("mine.txt", "w").write("ok"))
attempt("write_tmp", lambda: open("/tmp/scratch.txt", "w").write("ok"))
attempt("big_file", lambda: open("big.bin", "wb").write(b"0" * (2 * 1024**2)))
attempt("alloc_2gib", lambda: bytearray(2 * 1024**3))
print("uid", os.getuid())
print("pids_visible", len([p for p in os.listdir("/proc") if p.isdigit()]))
for name in ("CPU", "AS", "NPROC", "FSIZE"):
    print("limit", name, resource.getrlimit(getattr(resource, "RLIMIT_" + name))[0])
"""
    result = run_in_kernel([code], workdir, settings)[0]
    try:
        conn, _ = listener.accept()
        conn.close()
        result["host_got_connection"] = True
    except OSError:
        result["host_got_connection"] = False
    listener.close()
    result["secret"] = secret.read_text()
    result["workdir"] = workdir
    result["lines"] = dict(
        line.split(" ", 1) for line in result["stdout"].splitlines() if " " in line
    )
    return result


@needs_bwrap
@pytest.mark.parametrize(
    "attempt",
    [
        "read_secret",
        "write_secret",
        "list_repo_autograder",
        "write_usr",
        "write_venv",
        "connect_host",
        "dns",
        "big_file",
        "alloc_2gib",
    ],
)
def test_sandbox_denies(probe, attempt):
    assert probe["lines"][attempt].startswith("denied"), probe["stdout"]


@needs_bwrap
def test_sandbox_allows_its_own_working_copy_and_a_private_tmp(probe):
    assert probe["lines"]["write_workdir"] == "ALLOWED"
    assert probe["lines"]["write_tmp"] == "ALLOWED"
    assert (probe["workdir"] / "mine.txt").read_text() == "ok"
    assert not Path("/tmp/scratch.txt").exists()  # its /tmp is not the host's


@needs_bwrap
def test_sandbox_leaves_host_files_and_network_alone(probe):
    assert probe["secret"] == "grades"
    assert probe["host_got_connection"] is False


@needs_bwrap
def test_sandbox_limits_and_user(probe):
    lines = probe["lines"]
    limits = {
        line.split()[1]: int(line.split()[2])
        for line in probe["stdout"].splitlines()
        if line.startswith("limit ")
    }
    assert limits == {"CPU": 77, "AS": 1536 * 1024**2, "NPROC": 64, "FSIZE": 1024**2}
    if os.geteuid() == 0:
        assert int(lines["uid"]) >= 64000  # a claimed sandbox uid, not root
    assert int(lines["pids_visible"]) <= 3  # its own PID namespace: bwrap's init and itself
    assert probe["rundir_removed"]


def test_describe_exit_names_the_cause():
    assert "status 3" in guard.describe_exit(3)
    assert "SIGSEGV" in guard.describe_exit(128 + 11)
    assert "SIGXCPU" in guard.describe_exit(-24)
    assert "responding" in guard.describe_exit(None)


def test_missing_bubblewrap_is_loud_and_can_be_required(monkeypatch):
    monkeypatch.setattr(launcher.shutil, "which", lambda name: None)
    launcher.bwrap_problem.cache_clear()
    try:
        sandboxed, text = launcher.sandbox_status(SandboxSettings())
        assert not sandboxed
        assert text.startswith("NOT SANDBOXED") and "apt-get install bubblewrap" in text
        monkeypatch.setenv(ENV_SETTINGS, SandboxSettings().to_env())
        monkeypatch.setenv(ENV_REQUIRE, "1")
        with pytest.raises(RuntimeError, match="sandbox required"):
            SandboxedKernelManager(kernel_name="python3")
    finally:
        launcher.bwrap_problem.cache_clear()


def _release() -> nbformat.NotebookNode:
    """The student version of the tiny assignment, as nbgrader would make it (close enough
    for the layout checks: the same cells and metadata)."""
    return master_notebook()


def _ids(nb: nbformat.NotebookNode | list) -> list[str | None]:
    cells = nb if isinstance(nb, list) else nb.cells
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in cells]


def test_restore_layout_leaves_an_intact_notebook_untouched():
    release = _release()
    nb = _release()
    before = nbformat.writes(nb)
    assert intake.restore_layout(nb, release) == []
    assert nbformat.writes(nb) == before


def test_restore_layout_restores_deleted_and_reordered_cells():
    release = _release()
    nb = _release()
    extra = nbformat.v4.new_code_cell("helper = 1")
    nb.cells.insert(3, extra)  # a student's own cell after the "add" answer
    nb.cells = [c for c in nb.cells if _ids([c])[0] != "test_mean_sq"]
    i, j = _ids(nb).index("add"), _ids(nb).index("test_add")
    nb.cells[i], nb.cells[j] = nb.cells[j], nb.cells[i]
    notes = intake.restore_layout(nb, release)
    assert [x for x in _ids(nb) if x] == [x for x in _ids(release) if x]
    assert any("test cell test_mean_sq was deleted" in n for n in notes)
    assert any("reordered" in n for n in notes)
    assert extra in nb.cells  # the student's own cells are kept


def test_restore_layout_reports_an_edited_test_cell():
    release = _release()
    nb = _release()
    next(c for c in nb.cells if _ids([c])[0] == "test_relu").source = "pass"
    assert intake.restore_layout(nb, release) == [
        "edited test cell test_relu: the master's version was graded"
    ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "missing notebook"),
        (b"", "empty file"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b'{"cells": 3}', "not a Jupyter notebook"),
    ],
)
def test_inspect_submission_refuses_broken_files(tmp_path, content, reason):
    folder = tmp_path / "hw00"
    folder.mkdir()
    if content is not None:
        (folder / "hw00.ipynb").write_bytes(content)
    nb, _notes, refusal = intake.inspect_submission(folder, "hw00", _release())
    assert nb is None
    assert refusal is not None and refusal.startswith(reason)


# --------------------------------------------------------------------------- the fingerprint

GUARDED = ("torch",)  # and its submodules, as in lapenna_labs.grading.GUARDED_MODULES


def _notebook_function():
    """A function defined the way a notebook cell defines one (``__module__ == "__main__"``)."""
    cell = {"__name__": "__main__"}
    exec("def conv2d(*args, **kwargs):\n    return None", cell)
    return cell["conv2d"]


def test_fingerprint_in_process_names_a_replaced_numpy_function():
    import numpy as np

    fingerprint.fingerprint(guarded=())  # the first call imports the watched modules
    baseline = fingerprint.fingerprint(guarded=())
    saved, np.allclose = np.allclose, lambda *args, **kwargs: True
    try:
        changed, _ = guard.integrity_changes(baseline, fingerprint.fingerprint(guarded=()))
    finally:
        np.allclose = saved
    assert changed == ["numpy.allclose", "numpy.allclose._implementation"]
    assert guard.integrity_changes(baseline, fingerprint.fingerprint(guarded=()))[0] == []


def test_fingerprint_guards_torch_imported_before_the_baseline():
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    baseline = fingerprint.fingerprint(guarded=GUARDED)
    assert baseline["sys.modules[torch.nn.functional]"] == "loaded"
    functional.relu(torch.ones(2))  # honest use changes nothing
    assert guard.integrity_changes(baseline, fingerprint.fingerprint(guarded=GUARDED))[0] == []
    saved, functional.conv2d = functional.conv2d, _notebook_function()
    try:
        planted, _ = guard.integrity_changes(baseline, fingerprint.fingerprint(guarded=GUARDED))
        functional.conv2d = functional.conv1d  # genuine, but not what the tests rely on
        swapped, _ = guard.integrity_changes(baseline, fingerprint.fingerprint(guarded=GUARDED))
    finally:
        functional.conv2d = saved
    assert planted == ["torch.nn.functional.conv2d"]
    assert swapped == ["torch.nn.functional.<attributes>"]


def test_fingerprint_adopts_a_guarded_module_first_seen_later_unless_patched():
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    # The baseline of a kernel that had not imported torch yet: no guarded module is loaded.
    baseline = fingerprint.fingerprint(guarded=())
    changed, adopted = guard.integrity_changes(baseline, fingerprint.fingerprint(guarded=GUARDED))
    assert changed == []
    assert adopted["sys.modules[torch.nn.functional]"] == "loaded"
    assert "torch.nn.functional.<attributes>" in adopted
    saved, functional.conv2d = functional.conv2d, _notebook_function()
    try:  # imported and patched in the same cell
        changed, adopted = guard.integrity_changes(
            baseline, fingerprint.fingerprint(guarded=GUARDED)
        )
    finally:
        functional.conv2d = saved
    assert changed == ["torch.nn.functional.conv2d"]
    assert "torch.nn.functional.<attributes>" not in adopted  # a tampered module is not adopted


def test_fingerprint_reads_the_guarded_modules_and_never_imports_them(monkeypatch):
    from lapenna_labs import grading

    importlib.import_module("json.decoder")
    assert "json.tool" not in sys.modules  # a submodule nothing here imports
    monkeypatch.setattr(grading, "GUARDED_MODULES", ("json",), raising=False)
    listing = fingerprint.fingerprint()
    assert "json.tool" not in sys.modules and "sys.modules[json.tool]" not in listing
    for name in ("json", "json.decoder"):  # the module and its imported submodules
        assert listing[f"sys.modules[{name}]"] == "loaded"
        assert listing[f"{name}.<foreign callables>"] == "[]"
        assert len(listing[f"{name}.<attributes>"]) == 40  # a SHA-1 digest


def test_kernel_call_leaves_the_student_namespace_alone():
    namespace = {"__name__": "__main__", "fingerprint": "the student's", "sys": 42}
    exec(guard.FINGERPRINT_CODE, namespace)
    listing = ast.literal_eval(namespace.pop(guard.FINGERPRINT_RESULT))
    assert "numpy.allclose" in listing
    assert {k: v for k, v in namespace.items() if k != "__builtins__"} == {
        "__name__": "__main__",
        "fingerprint": "the student's",
        "sys": 42,
    }


def test_reaper_ends_the_processes_a_cell_left_behind():
    code = (
        f"import subprocess, sys; sys.path.insert(0, {str(REPO)!r})\n"
        "children = [subprocess.Popen(['sleep', '60']) for _ in range(2)]\n"
        "from autograder.sandbox.reaper import reap\n"
        "print(reap(), [child.wait(timeout=10) for child in children])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["2", "[-9,", "-9]"], done.stderr


@needs_bwrap
def test_guard_catches_a_patched_torch_in_a_sandboxed_kernel(tmp_path):
    """The guard's own kernel code, in a real kernel: torch imported and patched in the same
    cell, then (torch now in the baseline) patched again in a later cell."""
    setup = (  # the hidden-test toolkit's list, or the two names if it has none yet
        "import lapenna_labs.grading as _grading\n"
        f"_grading.GUARDED_MODULES = getattr(_grading, 'GUARDED_MODULES', None) or {GUARDED!r}"
    )
    cells = [
        setup,
        guard.FINGERPRINT_CODE,
        "import torch\nimport torch.nn.functional as F\n_saved = F.conv2d\n"
        "def fake_conv2d(*args, **kwargs):\n    return None\nF.conv2d = fake_conv2d",
        guard.FINGERPRINT_CODE,
        "F.conv2d = _saved\nF.relu(torch.ones(2))",
        guard.FINGERPRINT_CODE,
        "F.conv2d = lambda *args, **kwargs: None",
        guard.FINGERPRINT_CODE,
        "print(sorted(name for name in globals() if name.startswith('__lapenna')))",
    ]
    outs = run_in_kernel(cells, tmp_path, SandboxSettings(), expression=guard.FINGERPRINT_RESULT)
    assert [out["error"] for out in outs] == [None] * len(cells), outs
    baseline, same_cell, restored, later = (outs[i]["value"] for i in (1, 3, 5, 7))
    assert "sys.modules[torch]" not in baseline
    assert "torch.nn.functional.conv2d" in guard.integrity_changes(baseline, same_cell)[0]
    changed, baseline = guard.integrity_changes(baseline, restored)
    assert changed == [] and "torch.nn.functional.<attributes>" in baseline
    assert "torch.nn.functional.conv2d" in guard.integrity_changes(baseline, later)[0]
    assert outs[-1]["stdout"].strip() == repr([guard.FINGERPRINT_RESULT])


class _InProcessGuard(guard.GradingGuardMixin):
    """The guard's fingerprint protocol with this process standing in for the kernel: the code
    the guard would send runs here, and its result is read back the way ``_silent`` reads it."""

    class log:  # nbgrader's logger, as the guard uses it
        warning = staticmethod(lambda *args: None)

    def __init__(self, guarded: tuple[str, ...]) -> None:
        self._guard_reset()
        self.guarded, self.sent = guarded, []

    def _silent(self, code, expression=None, timeout=60):
        code = code.replace("module.fingerprint(", f"module.fingerprint(guarded={self.guarded!r}, ")
        namespace = {"__name__": "__main__"}
        exec(code, namespace)
        self.sent.append(ast.literal_eval(namespace[expression]))
        return ast.literal_eval(namespace[expression])


def test_guard_relists_only_changed_guarded_modules_and_still_names_a_replacement():
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    checker = _InProcessGuard(GUARDED)
    baseline = checker._fingerprint()
    assert "torch.nn.functional.<attributes>" in checker.sent[-1]
    again = checker._fingerprint()
    # Unchanged modules came back without their listing (the quick digest matched) ...
    assert "torch.nn.functional.<attributes>" not in checker.sent[-1]
    # ... and the guard filled it in: the same fingerprint as a full one.
    assert guard.integrity_changes(baseline, again)[0] == []
    assert again["torch.nn.functional.<attributes>"] == baseline["torch.nn.functional.<attributes>"]
    saved, functional.conv2d = functional.conv2d, _notebook_function()
    try:
        planted = checker._fingerprint()
        assert "torch.nn.functional.<attributes>" in checker.sent[-1]  # relisted
        functional.conv2d = functional.conv1d
        swapped = checker._fingerprint()
    finally:
        functional.conv2d = saved
    assert guard.integrity_changes(baseline, planted)[0] == ["torch.nn.functional.conv2d"]
    assert guard.integrity_changes(baseline, swapped)[0] == ["torch.nn.functional.<attributes>"]
    assert guard.integrity_changes(baseline, checker._fingerprint())[0] == []


def test_guard_relists_a_guarded_function_whose_code_was_swapped(monkeypatch):
    from lapenna_labs import activations

    checker = _InProcessGuard(("lapenna_labs",))
    baseline = checker._fingerprint()
    checker._fingerprint()
    monkeypatch.setattr(activations.relu, "__code__", (lambda x: x).__code__)
    changed, _ = guard.integrity_changes(baseline, checker._fingerprint())
    assert "lapenna_labs.activations.relu" in changed
    assert "lapenna_labs.activations.<attributes>" in checker.sent[-1]  # the quick digest saw it


def test_guard_refuses_a_listing_skipped_without_being_asked():
    checker = _InProcessGuard(("json",))
    checker._fingerprint()
    checker._quick = {}  # the kernel claims to skip a module the guard holds no listing of
    checker._silent = lambda code, expression=None, timeout=60: {
        "json.<quick>": "0" * 40,
        "sys.modules[json]": "loaded",
    }
    assert checker._fingerprint() is None  # "the integrity check itself" then
