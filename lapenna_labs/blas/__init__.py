"""BLAS levels, computational intensity, honest GEMM timing on CPU and GPU, and tiling.

The module ``blas.py`` became this package; its pieces move out of ``timing`` next.
"""

from .timing import *  # noqa: F403
from .timing import __all__ as __all__
