"""Shared fixtures and settings for the test suite."""

from __future__ import annotations

import os

# TensorFlow's C++ start-up log lines are noise in test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np
import pytest

from lapenna_labs import course


def pytest_configure(config: pytest.Config) -> None:
    """Register one marker per week of the course manifest: ``lab1`` ... ``lab12``.

    ``pytest -m lab3`` runs the tests of week 3's modules. The markers come from course.yml, so
    a new week needs no edit here (``--strict-markers`` rejects a marker of no week).
    """
    for week in course.load().weeks:
        config.addinivalue_line("markers", f"{week.marker}: {week.title} (week {week.number})")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, so every random test input is reproducible."""
    return np.random.default_rng(20220127)


# Tolerances for comparing our float results with PyTorch/TensorFlow, by dtype.
TOLERANCES = {
    np.float32: {"rtol": 1e-4, "atol": 1e-5},
    np.float64: {"rtol": 1e-10, "atol": 1e-12},
}


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    """Run a test once in float32 and once in float64."""
    return request.param


@pytest.fixture
def tol(dtype):
    """The comparison tolerances for the current dtype."""
    return TOLERANCES[dtype]


@pytest.fixture(autouse=True)
def _restore_numpy_print_options():
    """Undo any ``np.set_printoptions`` a test makes (a lab's imports cell sets precision=4).

    The doctests of ``lapenna_labs`` run later in the same process and print arrays with
    NumPy's default precision; a test that changed it would make them fail by test order.
    """
    with np.printoptions():
        yield


@pytest.fixture(autouse=True, scope="module")
def _restore_numpy_print_options_per_module():
    """The same for a module-scoped fixture that runs a lab's imports cell once per module.

    Autouse fixtures are set up first within their scope, so this one encloses them.
    """
    with np.printoptions():
        yield


@pytest.fixture
def one_torch_thread():
    """Run a PyTorch training on one thread, and restore the thread count afterwards.

    Two torch threads per process oversubscribe the shared 2-core machine (and pytest-xdist's
    workers): a training step ran several times slower than on one thread.
    """
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
