"""nbgrader plug-ins for the LAPENNA course (loaded by ``nbgrader_config.py``).

* :class:`LapennaExecute`: nbgrader's ``Execute`` with a time limit for the whole notebook
  on top of the per-cell ``c.Execute.timeout``. Once the notebook's budget is spent, every
  remaining cell gets one second, so a student's infinite loop costs at most one cell
  timeout and cannot stall the class's grading; cells after it still run and still grade.
* :class:`HideHiddenTests`: a ``GenerateFeedback`` preprocessor. nbgrader's feedback is the
  autograded notebook rendered to HTML, and the autograded notebook holds the *instructor's*
  test cells, hidden tests included. This removes every ``### BEGIN HIDDEN TESTS`` region
  from the feedback, drops rich outputs of those cells (a last expression could show an
  expected value), and cuts their tracebacks down to the frames outside the test cell
  (the student's own code) plus the final ``Error: message`` line, because IPython tracebacks
  quote the source lines around the failing line of the test.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, Unicode

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class LapennaExecute(Execute):
    """Execute with a per-notebook time limit (``LapennaExecute.notebook_timeout``, seconds)."""

    notebook_timeout = Integer(
        240,
        help="Seconds for the whole notebook; after that each remaining cell gets 1 s. "
        "0 or less: no notebook limit (the per-cell timeout still applies).",
    ).tag(config=True)

    _deadline: float | None = None

    def preprocess(self, nb: Any, resources: Any = None, km: Any = None) -> Any:
        self._deadline = time.monotonic() + self.notebook_timeout
        return super().preprocess(nb, resources, km)

    def _get_timeout(self, cell: Any) -> int | None:
        per_cell = super()._get_timeout(cell)
        if self.notebook_timeout <= 0 or self._deadline is None:
            return per_cell
        remaining = max(1, math.ceil(self._deadline - time.monotonic()))
        return remaining if per_cell is None else min(per_cell, remaining)


class HideHiddenTests(Preprocessor):
    """Remove hidden-test code and anything that could quote it from a feedback notebook."""

    enabled = Bool(True).tag(config=True)  # nbconvert preprocessors are off by default
    begin_delimiter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_delimiter = Unicode("END HIDDEN TESTS").tag(config=True)
    placeholder = Unicode("# (hidden tests: run by the grader, not shown)").tag(config=True)

    def _strip(self, source: str) -> tuple[str, bool]:
        kept: list[str] = []
        inside = removed = False
        for line in source.split("\n"):
            if self.begin_delimiter in line:
                inside = removed = True
                indent = line[: len(line) - len(line.lstrip())]
                kept.append(indent + self.placeholder)
            elif self.end_delimiter in line:
                inside = False
            elif not inside:
                kept.append(line)
        return "\n".join(kept), removed

    def preprocess_cell(self, cell: Any, resources: Any, index: int) -> tuple[Any, Any]:
        if cell.cell_type != "code":
            return cell, resources
        source, removed = self._strip(cell.source)
        if not removed and not utils.is_grade(cell):
            return cell, resources
        cell.source = source
        if not removed:
            return cell, resources
        marker = f"Cell In[{cell.get('execution_count')}]"
        outputs = []
        for output in cell.get("outputs", []):
            if output.output_type in ("execute_result", "display_data"):
                continue
            if output.output_type == "error":
                frames = [
                    frame
                    for frame in output.get("traceback", [])[:-1]
                    if marker not in _ANSI.sub("", frame)
                    and "Traceback (most recent call last)" not in _ANSI.sub("", frame)
                    and not set(_ANSI.sub("", frame).strip()) <= {"-"}
                ]
                last = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                note = "(traceback lines inside the hidden tests are not shown)"
                output.traceback = [note, *frames, last]
            outputs.append(output)
        cell.outputs = outputs
        return cell, resources
