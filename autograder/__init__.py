"""The LAPENNA autograder: builds the labs and grades them with nbgrader, safely, in parallel.

This folder is two things at once. It is the **nbgrader course root** (``nbgrader_config.py``,
``lapenna_nbgrader.py``, and nbgrader's folders ``source/``, ``release/``, ``submitted/``,
``autograded/``, ``feedback/``), and it is this **Python package**, whose modules build the
labs and run the grading. The scripts run by path, as the Makefile calls them
(``python autograder/grade.py lab03``), or as modules (``python -m autograder.grade lab03``).

The map, in the order a lab meets it:

===================== =======================================================================
``labs``              which labs there are (:func:`~autograder.labs.lab_ids`: the one place
                      that discovers them) and how a lab is named
``build_labs``        script (``make labs``): ``notebooks/labNN.py`` -> the nbgrader master
                      ``source/labNN/`` -> ``nbgrader generate_assignment`` -> ``labs/labNN.ipynb``
``make_demo``         script (``make labs``): the five demo submissions in ``demo/``
``course``            the course on disk: its files, the one nbgrader command and environment
                      (``run_nbgrader``), the one student listing (``students``), course copies
``grade``             script (``make grade``, ``make grade-demo``): the whole workflow for one
                      lab (the parallel run or ``--serial``, feedback, leak check, CSV, report)
``intake``            before anything runs: refuse broken files, restore the master's layout
``scheduling``        the parallel run: ``JOBS`` workers, each a forked ``nbgrader autograde``
                      in a scratch course with a sandboxed kernel; kill on time-out; collect
``gradebook``         the one result type ``Grade``; merging a worker's grade into nbgrader's
                      gradebook; the ledger that makes re-runs idempotent
``report``            the one CSV writer, the one table, the run report, the final check that
                      every student has exactly one grade
``sandbox``           (a subpackage) the student kernel's sandbox and the grading guard:
                      settings, launcher (bubblewrap, limits, sandbox user), kernel manager,
                      guard (restarts, output cap, tampering check), and the ``fingerprint``
                      and ``reaper`` modules that run inside the kernel
``lapenna_nbgrader``  nbgrader plug-ins the course configuration loads: the per-notebook time
                      limit, and hidden tests removed from feedback
``nbgrader_config``   nbgrader's configuration of the course (read by nbgrader, not imported)
===================== =======================================================================

How a parallel grade flows: ``grade.grade_lab`` -> ``scheduling.grade_all`` (``course.students``;
``gradebook.Ledger`` skips unchanged submissions; ``intake.inspect_submission``) -> for each
submission a worker runs nbgrader, whose ``Execute`` is ``sandbox.guard``'s guarded class and
whose kernels ``sandbox.kernel_manager`` starts through ``sandbox.launcher`` -> the parent
merges each result (``gradebook.merge_submission``) -> ``report``.

The package imports nothing at import time: the sandbox's launcher imports
``autograder.sandbox.launcher`` under ``python -I -S``, with the standard library only.
"""
