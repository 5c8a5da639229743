"""nbgrader configuration of the LAPENNA course (the course root is this folder).

Run nbgrader from this folder, or through ``make labs`` / ``make grade`` (``autograder/grade.py``).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # for lapenna_nbgrader (the course's preprocessors)

from lapenna_nbgrader import HideHiddenTests, LapennaExecute  # noqa: E402
from nbconvert.preprocessors import (  # noqa: E402
    ClearMetadataPreprocessor,
    CSSHTMLHeaderPreprocessor,
)
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties,
    CheckCellMetadata,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)

# Grading is the same on every machine: GPU parts skip (lapenna_labs.grading.detect_device).
os.environ.setdefault("LAPENNA_FORCE_CPU", "1")
# Labs keep their timing sweeps small while graded (per-cell and notebook time limits below).
os.environ.setdefault("LAPENNA_GRADING", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

c = get_config()  # noqa: F821

c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = "lapenna"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")

# Each cell may run 60 s; a whole notebook 240 s (then remaining cells get 1 s each).
c.Execute.timeout = 60
c.LapennaExecute.timeout = 60
c.LapennaExecute.notebook_timeout = 240
c.Autograde.autograde_preprocessors = [
    LapennaExecute,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]

# Feedback must not reveal hidden tests (code, quoted traceback lines, expected values).
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]

c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
}
