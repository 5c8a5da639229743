"""The lecture slides' worked examples as data, the functions that compute them, and the errata.

The module ``examples.py`` became this package; its pieces move out of ``week04`` next.
"""

from .week04 import *  # noqa: F403
from .week04 import __all__ as __all__
