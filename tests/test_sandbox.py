"""The sandbox that student kernels run in (``autograder/sandbox.py``), tested on a real
IPython kernel started the way nbgrader starts it, and the input checks of the parallel grader.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "autograder"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import parallel  # noqa: E402
import sandbox  # noqa: E402
from _grading_fixtures import master_notebook  # noqa: E402

pytestmark = pytest.mark.grading

needs_bwrap = pytest.mark.skipif(
    sandbox.bwrap_problem() is not None,
    reason=f"bubblewrap unusable here: {sandbox.bwrap_problem()}",
)


def run_in_kernel(code: str, workdir: Path, settings: sandbox.SandboxSettings) -> dict:
    """Run ``code`` in a sandboxed kernel; return its stdout and error name."""

    async def go() -> dict:
        os.environ[sandbox.ENV_SETTINGS] = settings.to_env()
        try:
            km = sandbox.SandboxedKernelManager(kernel_name="python3")
        finally:
            os.environ.pop(sandbox.ENV_SETTINGS, None)
        await km.start_kernel(cwd=str(workdir))
        kc = km.client()
        kc.start_channels()
        out = {"stdout": "", "error": None}
        try:
            await kc.wait_for_ready(timeout=60)
            msg_id = kc.execute(code)
            while True:
                msg = await kc.get_iopub_msg(timeout=60)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "stream":
                    out["stdout"] += msg["content"]["text"]
                elif msg["msg_type"] == "error":
                    out["error"] = msg["content"]["ename"]
                elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    break
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)
        out["rundir_removed"] = not Path(km.sandbox_rundir).exists()
        return out

    return asyncio.run(go())


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """One sandboxed kernel that tries everything it should not be able to do."""
    if sandbox.bwrap_problem() is not None:
        pytest.skip(f"bubblewrap unusable here: {sandbox.bwrap_problem()}")
    workdir = tmp_path_factory.mktemp("work")
    secret = tmp_path_factory.mktemp("secret") / "gradebook.db"
    secret.write_text("grades")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    settings = sandbox.SandboxSettings(
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
    result = run_in_kernel(code, workdir, settings)
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
    assert "status 3" in sandbox.describe_exit(3)
    assert "SIGSEGV" in sandbox.describe_exit(128 + 11)
    assert "SIGXCPU" in sandbox.describe_exit(-24)
    assert "responding" in sandbox.describe_exit(None)


def test_missing_bubblewrap_is_loud_and_can_be_required(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox.bwrap_problem.cache_clear()
    try:
        sandboxed, text = sandbox.sandbox_status(sandbox.SandboxSettings())
        assert not sandboxed
        assert text.startswith("NOT SANDBOXED") and "apt-get install bubblewrap" in text
        monkeypatch.setenv(sandbox.ENV_SETTINGS, sandbox.SandboxSettings().to_env())
        monkeypatch.setenv(sandbox.ENV_REQUIRE, "1")
        with pytest.raises(RuntimeError, match="sandbox required"):
            sandbox.SandboxedKernelManager(kernel_name="python3")
    finally:
        sandbox.bwrap_problem.cache_clear()


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
    assert parallel.restore_layout(nb, release) == []
    assert nbformat.writes(nb) == before


def test_restore_layout_restores_deleted_and_reordered_cells():
    release = _release()
    nb = _release()
    extra = nbformat.v4.new_code_cell("helper = 1")
    nb.cells.insert(3, extra)  # a student's own cell after the "add" answer
    nb.cells = [c for c in nb.cells if _ids([c])[0] != "test_mean_sq"]
    i, j = _ids(nb).index("add"), _ids(nb).index("test_add")
    nb.cells[i], nb.cells[j] = nb.cells[j], nb.cells[i]
    notes = parallel.restore_layout(nb, release)
    assert [x for x in _ids(nb) if x] == [x for x in _ids(release) if x]
    assert any("test cell test_mean_sq was deleted" in n for n in notes)
    assert any("reordered" in n for n in notes)
    assert extra in nb.cells  # the student's own cells are kept


def test_restore_layout_reports_an_edited_test_cell():
    release = _release()
    nb = _release()
    next(c for c in nb.cells if _ids([c])[0] == "test_relu").source = "pass"
    assert parallel.restore_layout(nb, release) == [
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
    nb, _notes, refusal = parallel.inspect_submission(folder, "hw00", _release())
    assert nb is None
    assert refusal is not None and refusal.startswith(reason)
