"""The kernel launcher: resource limits, an unprivileged user and bubblewrap around the kernel.

The kernel manager (``kernel_manager.py``) does not start the IPython kernel itself; it starts
this module (:func:`launcher_command`), which reads the spec file the manager wrote, hands the
kernel's working copy to the sandbox user, applies the ``setrlimit`` limits to itself, and
execs bubblewrap (:func:`bwrap_command`), which execs ``setpriv`` (the uid change, root only)
and finally the kernel. Limits set here are inherited by everything after the exec.

Here too: whether bubblewrap works on this machine (:func:`bwrap_problem`) and the one-line
description of the sandbox for the grader's banner (:func:`sandbox_status`).

The launcher runs as ``python -I -S`` (no site packages, nothing from the environment), so this
module and what it imports (``settings.py``, ``processes.py``) use the standard library only.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import asdict
from functools import cache
from pathlib import Path

from autograder.sandbox import cgroups
from autograder.sandbox.processes import parent_death_prefix, thread_count
from autograder.sandbox.settings import ENV_REQUIRE, ENV_SETTINGS, GiB, MiB, SandboxSettings

REPO = Path(__file__).resolve().parents[2]  # the folder that holds the autograder package

# ``python -I`` puts neither the script's folder nor $PYTHONPATH on sys.path: the launcher adds
# the repository itself, then imports this module.
_BOOTSTRAP = (
    f"import sys; sys.path.insert(0, {str(REPO)!r}); "
    "from autograder.sandbox.launcher import main; main(sys.argv[1:])"
)


def launcher_command(spec_file: str, kernel_cmd: list[str]) -> list[str]:
    """The command that starts ``kernel_cmd`` in the sandbox described by ``spec_file``."""
    return [sys.executable, "-I", "-S", "-c", _BOOTSTRAP, spec_file, "--", *kernel_cmd]


@cache
def bwrap_problem() -> str | None:
    """None if bubblewrap can create its namespaces here, else why not."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    cmd = [exe, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap failed to start: {exc}"
    if result.returncode != 0:
        return f"bubblewrap cannot create namespaces here: {result.stderr.strip()[:300]}"
    return None


def sandbox_status(settings: SandboxSettings | None = None) -> tuple[bool, str]:
    """(sandboxed?, a one-line description) for the grader's banner."""
    settings = settings or SandboxSettings.from_env()
    problem = bwrap_problem() if settings.use_bwrap else "disabled (use_bwrap=False)"
    who = f"a free uid from {settings.uid_base}" if os.geteuid() == 0 else f"uid {os.geteuid()}"
    limits = (
        f"cpu {settings.cpu_seconds} s, memory {settings.memory_bytes / GiB:g} GiB, "
        f"{settings.max_processes} processes, files {settings.file_size_bytes / MiB:g} MiB"
    )
    kind = limits_kind(settings)
    if kind == cgroups.RLIMIT:
        limits += "; limits per process only (setrlimit: no writable control groups)"
    else:
        limits += (
            f"; per submission ({kind}): memory {settings.group_memory / GiB:g} GiB and "
            f"{settings.max_processes} processes for all its processes together"
        )
    if problem is None:
        net = "network on" if settings.network else "no network"
        return True, f"bubblewrap sandbox ({net}, read-only system, private /tmp, {who}; {limits})"
    return False, f"NOT SANDBOXED: {problem}; resource limits only ({who}; {limits})"


def limits_kind(settings: SandboxSettings | None = None) -> str:
    """Which limits hold a submission here: ``"cgroup v2"``, ``"cgroup v1"`` (one group per
    submission, ``cgroups.py``, plus the per-process limits) or ``"rlimit"`` (per process
    only: no writable control groups, or ``use_cgroups=False``)."""
    settings = settings or SandboxSettings.from_env()
    return cgroups.limits_kind() if settings.use_cgroups else cgroups.RLIMIT


def group_processes(settings: SandboxSettings) -> int:
    """``pids.max`` of a submission's group: its processes plus bubblewrap's two and the
    launcher's ``setpriv``."""
    return settings.max_processes + 8


def _apply_limits(settings: SandboxSettings) -> None:
    nproc = settings.max_processes
    if settings.uid is None:
        # Not root: RLIMIT_NPROC counts all of this user's processes, so allow for them.
        nproc += thread_count(os.getuid())
    limits = {
        resource.RLIMIT_CPU: (settings.cpu_seconds, settings.cpu_seconds + 5),
        resource.RLIMIT_AS: (settings.memory_bytes, settings.memory_bytes),
        resource.RLIMIT_NPROC: (nproc, nproc),
        resource.RLIMIT_FSIZE: (settings.file_size_bytes, settings.file_size_bytes),
        resource.RLIMIT_NOFILE: (settings.open_files, settings.open_files),
        resource.RLIMIT_CORE: (0, 0),
    }
    for which, (soft, hard) in limits.items():
        _, old_hard = resource.getrlimit(which)
        if old_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, old_hard), min(hard, old_hard)
        resource.setrlimit(which, (soft, hard))


def python_roots() -> list[str]:
    """Read-only paths the kernel's Python needs: its prefixes and the course packages."""
    roots = {sys.base_prefix, sys.prefix, sys.exec_prefix}
    try:
        import lapenna_labs

        roots.add(str(Path(lapenna_labs.__file__).resolve().parent))
    except ImportError:
        pass
    return sorted(roots)


def bwrap_command(
    settings: SandboxSettings, workdir: str, rundir: str, home: str, python_roots: list[str]
) -> list[str]:
    """The bubblewrap command line (up to and including ``--``)."""
    cmd = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
    cmd += ["--die-with-parent", "--new-session", "--hostname", "grader"]
    uid = settings.uid
    if uid is not None:
        # bubblewrap runs as root (no user namespace): the sandbox's own setpriv needs these two
        # capabilities to become the sandbox user, then drops every capability.
        cmd += ["--cap-add", "CAP_SETUID,CAP_SETGID"]
    if not settings.network:
        cmd.append("--unshare-net")
    for top in ("/usr", "/etc", "/opt", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        path = Path(top)
        if path.is_symlink():
            cmd += ["--symlink", os.readlink(top), top]
        elif path.exists():
            cmd += ["--ro-bind", top, top]
    made: set[str] = set()

    def parents(path: str) -> list[str]:
        # bubblewrap would create missing parents of a mount point as 0700 root directories,
        # which the sandbox user could not traverse.
        out = []
        for parent in reversed(Path(path).parents):
            text = str(parent)
            if text != "/" and text not in made and not text.startswith(("/usr", "/etc")):
                made.add(text)
                out += ["--perms", "0755", "--dir", text]
        return out

    if Path("/sys").exists():
        cmd += ["--ro-bind", "/sys", "/sys"]  # CPU topology for BLAS and torch
    cmd += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm"]
    # The private /tmp comes before the Python binds: a checkout (and its .venv) under /tmp,
    # as in a CI clone, must stay visible on top of the empty tmpfs.
    cmd += ["--perms", "1777", "--size", str(settings.tmp_bytes), "--tmpfs", "/tmp"]
    made.add("/tmp")
    for root in [*python_roots, *settings.extra_ro_binds]:
        if Path(root).exists():
            cmd += [*parents(root), "--ro-bind", root, root]
    for path in (rundir, home, workdir):
        cmd += [*parents(path), "--bind", path, path]
    cmd += ["--chdir", workdir, "--"]
    if uid is not None:
        cmd += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        cmd += ["--inh-caps=-all", "--bounding-set=-all", "--"]
    return cmd


def kernel_environment(settings: SandboxSettings, home: str) -> dict[str, str]:
    """A clean environment for the kernel: no grader secrets, quiet TensorFlow, few threads."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "TERM", "PYTHONHASHSEED")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("LAPENNA_")}
    env.pop(ENV_SETTINGS, None)
    env.pop(ENV_REQUIRE, None)
    threads = str(max(1, settings.threads))
    env.update(
        HOME=home,
        TMPDIR="/tmp",
        MPLCONFIGDIR=os.path.join(home, ".config", "matplotlib"),
        IPYTHONDIR=os.path.join(home, ".ipython"),
        JUPYTER_RUNTIME_DIR=os.path.join(home, ".runtime"),
        TF_CPP_MIN_LOG_LEVEL="3",
        TF_ENABLE_ONEDNN_OPTS="0",
        OMP_NUM_THREADS=threads,
        OPENBLAS_NUM_THREADS=threads,
        MKL_NUM_THREADS=threads,
        PYTHONDONTWRITEBYTECODE="1",
        LAPENNA_SANDBOXED="1",
    )
    return env


def _chown_tree(path: str, uid: int, gid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(path):
        os.lchown(dirpath, uid, gid)
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def write_spec(
    path: str, settings: SandboxSettings, workdir: str, rundir: str, home: str, use_bwrap: bool
) -> None:
    """The spec file :func:`launch` reads: the settings and the folders of one kernel."""
    spec = {
        "settings": asdict(settings),
        "workdir": workdir,
        "rundir": rundir,
        "home": home,
        "use_bwrap": use_bwrap,
        "python_roots": python_roots(),
    }
    Path(path).write_text(json.dumps(spec))


def launch(spec_file: str, kernel_cmd: list[str]) -> None:
    """Hand the working copy to the sandbox user, set the limits, exec bubblewrap (which
    drops privileges and execs ``kernel_cmd``); never returns."""
    spec = json.loads(Path(spec_file).read_text())
    settings = SandboxSettings(**spec["settings"])
    workdir, rundir, home = spec["workdir"], spec["rundir"], spec["home"]
    uid = settings.uid
    if uid is not None:
        for path in (workdir, rundir, home):
            _chown_tree(path, uid, uid)
    env = kernel_environment(settings, home)
    use_bwrap = spec["use_bwrap"]
    sandbox = bwrap_command(settings, workdir, rundir, home, spec["python_roots"])
    argv = (sandbox if use_bwrap else []) + kernel_cmd
    if settings.cgroup:  # the submission's control group: bubblewrap and the kernel are born in it
        try:
            cgroups.enter(settings.cgroup)
        except OSError as exc:
            warning = f"LAPENNA WARNING: not in the submission's control group ({exc})"
            print(warning, file=sys.stderr)
    _apply_limits(settings)
    if not use_bwrap:
        print("LAPENNA WARNING: this kernel is NOT sandboxed (limits only)", file=sys.stderr)
    argv = parent_death_prefix() + argv
    os.chdir(workdir)
    os.umask(0o022)  # bubblewrap creates the mount points' parents with it
    exe = shutil.which(argv[0]) or argv[0]
    os.execve(exe, argv, env)


def main(argv: list[str]) -> None:
    """``SPEC -- KERNEL...`` (the arguments :func:`launcher_command` passes)."""
    sep = argv.index("--")
    launch(argv[0], argv[sep + 1 :])
