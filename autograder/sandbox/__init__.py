"""Run a student's notebook kernel in a sandbox: bubblewrap, resource limits, no network.

nbgrader executes a submission by starting an IPython kernel and sending it the cells. This
package makes that kernel a sandboxed one, with existing mechanisms only:

* **bubblewrap** (``bwrap``, the sandbox Flatpak uses) gives the kernel its own network
  namespace (``--unshare-net``: no network at all, not even the host's loopback), its own PID
  namespace (it cannot see or signal the grader's processes; everything it forks dies with it),
  and its own view of the filesystem: the system (``/usr``, ``/etc``...), Python and the
  course's packages read-only, **its own working copy read-write**, a private ``/tmp``, and
  nothing else. Other students' submissions, the gradebook and the instructor's files are not
  mounted, so they do not exist inside the sandbox.
* **setrlimit**, applied by the kernel's launcher before it execs bubblewrap: CPU seconds
  (``RLIMIT_CPU``), address space (``RLIMIT_AS``), processes (``RLIMIT_NPROC``: fork bombs),
  file size (``RLIMIT_FSIZE``), open files, no core dumps.
* **an unprivileged user**: when the grader runs as root, bubblewrap runs as root (so it can
  mount what it needs) and, inside the sandbox, util-linux ``setpriv`` switches to a uid of the
  sandbox's own (a free one from ``SandboxSettings.uid_base`` up: no login, no home, no groups,
  no capabilities) before the kernel starts, so the process limit is per sandbox and root's
  powers never reach student code. A grader started by an ordinary user runs bubblewrap
  unprivileged (user namespaces) and the kernel as that user.
* **parent-death signals** (``setpriv --pdeathsig``): if the grader dies, even by ``kill -9``,
  the sandbox is killed, and with it (PID namespace) everything student code started.

The wall-clock limits are nbgrader's: ``c.Execute.timeout`` per cell and
``LapennaExecute.notebook_timeout`` per notebook (``autograder/nbgrader_config.py``); the
parallel grader (``autograder/scheduling.py``) adds a hard limit per submission on top.

The modules, in the order a kernel meets them:

================== ==========================================================================
``settings``       :class:`~autograder.sandbox.settings.SandboxSettings`, every limit; passed
                   from the grader to its workers as JSON in ``$LAPENNA_SANDBOX``
``processes``      sandbox users (``claim_uid``), finding and killing a uid's processes, the
                   parent-death prefix
``kernel_manager`` ``SandboxedKernelManager``: the ``jupyter_client`` kernel manager nbgrader
                   uses (IPC transport, private run directory, interrupt by message)
``launcher``       what that manager starts instead of the kernel: limits, sandbox user,
                   ``bwrap`` command line, clean environment; whether bubblewrap works here
``guard``          ``guarded_execute_class``: nbgrader's ``Execute`` with kernel restarts,
                   output caps, leftover-process reaping and the tampering check
``fingerprint``    run *in the kernel* (sent as source text): the identities of everything the
                   tests rely on, NumPy, ``lapenna_labs``, guarded frameworks, IPython
``reaper``         run *in the kernel* after a failed cell: ends the processes it left behind
================== ==========================================================================

If bubblewrap is missing or cannot create namespaces here, the kernel runs with the resource
limits only and a loud warning; ``LAPENNA_REQUIRE_SANDBOX=1`` (``--require-sandbox``) turns
that into an error.

Nothing is imported here: the launcher imports ``autograder.sandbox.launcher`` under
``python -I -S``, with the standard library only.
"""
