"""Unit tests of lapenna_labs.grading: blocking (aliases, copies, libraries, the hook, the cost
rule, lifting the block), the comparison loop, and feedback that reveals no expected value.

The "answers" below are functions of this file, so they count as student code (not library
code) for the rule that charges a blocked call to the function that made it.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest

from lapenna_labs import activations, grading
from lapenna_labs.grading import (
    GUARDED_MODULES,
    OTHER_LIBRARIES,
    ReferenceBlockedError,
    call_blocked,
    check_close,
    reference_blocked,
)

pytestmark = pytest.mark.grading


def reference(x, scale=2.0):
    """A stand-in for a lapenna_labs reference function."""
    return x * scale


def make_closure(k):
    def inner(x):
        return x * k

    return inner


class Model:
    def predict(self, x):
        return x + 1

    @staticmethod
    def helper(x):
        return x - 1


def assert_lifted():
    """No hook of ours is left: not in this thread, not for new threads."""
    assert sys.getprofile() is None
    assert threading.getprofile() is None


# ---------------------------------------------------------------------------------------------
# Python references: aliases, classes, restoring


def test_blocking_catches_every_alias_and_restores():
    alias = reference
    in_list = [reference]
    in_dict = {"f": reference}
    partial = functools.partial(reference, scale=3.0)

    def default_argument(x, f=reference):
        return f(x)

    calls = [alias, in_list[0], in_dict["f"], partial, default_argument, reference]
    with reference_blocked(reference) as attempts:
        for call in calls:
            with pytest.raises(ReferenceBlockedError, match="reference"):
                call(1.0)
    assert len(attempts) == len(calls)
    assert reference(1.0) == 2.0 and reference(1.0, scale=5.0) == 5.0  # defaults restored
    assert partial(1.0) == 3.0
    assert_lifted()


def test_blocking_a_lapenna_labs_function_by_alias_import():
    from lapenna_labs import blas
    from lapenna_labs.blas import axpy_flops as renamed

    with reference_blocked(blas.axpy_flops), pytest.raises(ReferenceBlockedError):
        renamed(10)
    assert renamed(10) == 20


def test_closures_methods_and_classes_can_be_blocked():
    closure = make_closure(3)
    model = Model()
    bound = model.predict
    with reference_blocked(closure, Model):
        for call in (lambda: closure(1), lambda: bound(1), lambda: Model.helper(1)):
            with pytest.raises(ReferenceBlockedError):
                call()
    assert closure(2) == 6 and bound(1) == 2 and Model.helper(1) == 0


def test_call_blocked_fails_an_answer_that_swallows_the_error():
    def sneaky(x):
        try:
            return reference(x)
        except Exception:
            return x * 2.0

    def fails_later(x):
        try:
            return reference(x)
        except Exception:
            raise ValueError("something else") from None

    for answer in (sneaky, fails_later):
        with pytest.raises(ReferenceBlockedError):
            call_blocked(answer, 1.0, block=reference)
    assert call_blocked(lambda x: x * 2.0, 1.0, block=reference) == 2.0
    assert reference(1.0) == 2.0


def test_blocking_rejects_what_it_cannot_block():
    with pytest.raises(TypeError, match="can only block"), reference_blocked(42):
        pass
    with pytest.raises(ValueError, match="names no"), reference_blocked("numpy.no_such_thing"):
        pass
    with reference_blocked("a_library_that_is_not_installed.f"):  # skipped: nothing to call
        pass
    assert_lifted()


def test_guarded_modules_and_other_libraries_are_module_names():
    assert set(OTHER_LIBRARIES) <= set(GUARDED_MODULES)
    assert {"lapenna_labs", "numpy", "torch", "tensorflow", "scipy"} <= set(GUARDED_MODULES)
    assert grading.GUARDED_MODULES is GUARDED_MODULES
    assert all(isinstance(name, str) and "." not in name for name in GUARDED_MODULES)


# ---------------------------------------------------------------------------------------------
# Copies: a module loaded again, exec of its file, a saved code object


def _fresh_copy_with_importlib():
    spec = importlib.util.spec_from_file_location("copied_activations", activations.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.relu


def _fresh_copy_with_exec(filename):
    namespace = {"__name__": "copied"}
    source = Path(activations.__file__).read_text()
    exec(compile("\n\n" + source, filename, "exec"), namespace)  # shifted by two lines
    return namespace["relu"]


def test_copies_of_the_reference_are_blocked_by_their_code():
    saved_code = activations.relu.__code__
    saved_twin = types.FunctionType(saved_code, activations.relu.__globals__)
    copies = {
        "importlib": _fresh_copy_with_importlib(),
        "exec, real file name": _fresh_copy_with_exec(activations.__file__),
        "exec, another file name": _fresh_copy_with_exec("<not the real file>"),
        "function made from the saved code before the test": saved_twin,
    }
    z = np.array([-1.0, 2.0])
    for how, copy in copies.items():
        assert copy(z).tolist() == [0.0, 2.0], how  # the copies work...
        with pytest.raises(ReferenceBlockedError, match="relu"):  # ...but not while blocked
            call_blocked(copy, z, block=activations.relu)

    def rebuilt_during_the_call(z):  # the code object saved before the test, wrapped again
        return types.FunctionType(saved_code, activations.__dict__)(z)

    with pytest.raises(ReferenceBlockedError):
        call_blocked(rebuilt_during_the_call, z, block=activations.relu)
    assert activations.relu.__code__ is saved_code
    assert_lifted()


def test_a_different_function_is_not_taken_for_a_copy():
    def my_relu(z):
        return np.maximum(z, 0)

    z = np.array([-1.0, 2.0])
    assert call_blocked(my_relu, z, block=activations.relu).tolist() == [0.0, 2.0]


# ---------------------------------------------------------------------------------------------
# The call hook: switched off, replaced, threads


def test_switching_the_hook_off_counts_as_a_blocked_call():
    twin = types.FunctionType(reference.__code__, globals(), None, reference.__defaults__)

    def switches_off(x):
        sys.setprofile(None)
        return twin(x)

    def switches_off_for_threads(x):
        threading.setprofile(None)
        return x * 2.0

    def switches_off_unseen(x):  # map() calls setprofile from C, which the hook cannot see
        list(map(sys.setprofile, [None]))
        return twin(x)

    for answer in (switches_off, switches_off_for_threads, switches_off_unseen):
        with pytest.raises(ReferenceBlockedError, match="call hook"):
            call_blocked(answer, 1.0, block=reference)
        assert_lifted()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_thread_started_by_the_answer_is_hooked():
    torch = pytest.importorskip("torch")
    conv2d = torch.nn.functional.conv2d  # alias made before the block: only the hook sees it
    saved_twin = types.FunctionType(reference.__code__, globals(), None, reference.__defaults__)

    def in_a_thread(target, *args):
        def answer():
            thread = threading.Thread(target=target, args=args)
            thread.start()
            thread.join()
            return 0

        return answer

    x, w = torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2)
    for target, args in ((conv2d, (x, w)), (saved_twin, (1.0,))):
        with pytest.raises(ReferenceBlockedError):
            call_blocked(in_a_thread(target, *args), block=(conv2d, reference))
        assert_lifted()


def test_nested_blocks_add_up_and_lift_in_order():
    other = make_closure(5)
    with reference_blocked(reference):
        with reference_blocked(other):
            for blocked in (reference, other):
                with pytest.raises(ReferenceBlockedError):
                    blocked(1.0)
        assert other(1.0) == 5.0
        with pytest.raises(ReferenceBlockedError):
            reference(1.0)
        assert sys.getprofile() is not None  # the outer block still hooks
    assert reference(1.0) == 2.0
    assert_lifted()


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt, ReferenceBlockedError])
def test_the_block_is_lifted_whatever_the_answer_did(error):
    torch = pytest.importorskip("torch")
    conv2d = torch.nn.functional.conv2d
    relu_code = activations.relu.__code__

    def answer():
        raise error("the answer stopped")

    with pytest.raises(error):
        call_blocked(answer, block=(activations.relu, "torch.nn.functional.conv2d"))
    assert torch.nn.functional.conv2d is conv2d and torch.conv2d is conv2d
    assert activations.relu.__code__ is relu_code
    assert torch._C._len_torch_function_stack() == 0
    assert_lifted()


# ---------------------------------------------------------------------------------------------
# Other libraries: torch, TensorFlow, SciPy, whole modules


def test_torch_conv2d_is_blocked_under_every_name():
    torch = pytest.importorskip("torch")
    from torch.nn.functional import conv2d as aliased

    original = torch.nn.functional.conv2d
    kept = {"f": aliased}
    partial = functools.partial(aliased, stride=1)
    x, w = torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3)
    answers = {
        "attribute": lambda: torch.nn.functional.conv2d(x, w),
        "torch.conv2d": lambda: torch.conv2d(x, w),
        "alias made before": lambda: aliased(x, w),
        "in a dict": lambda: kept["f"](x, w),
        "partial made before": lambda: partial(x, w),
        "map": lambda: list(map(aliased, [x], [w])),
        "_VariableFunctions": lambda: torch._C._VariableFunctions.conv2d(x, w),
        "torch.ops.aten": lambda: torch.ops.aten.conv2d(x, w),
        "nn.Conv2d": lambda: torch.nn.Conv2d(2, 3, 3)(x),
    }
    for how, answer in answers.items():
        with pytest.raises(ReferenceBlockedError, match="conv2d"):
            call_blocked(answer, block="torch.nn.functional.conv2d")
        assert torch.nn.functional.conv2d is original, how
        assert_lifted()
    assert call_blocked(lambda: torch.relu(x), block=original).shape == x.shape  # others run
    assert torch.allclose(aliased(x, w), original(x, w))


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def test_tensorflow_conv2d_is_blocked_by_name_and_as_a_library(tf):
    aliased = tf.nn.conv2d
    x, w = tf.ones((1, 4, 4, 1)), tf.ones((2, 2, 1, 1))
    answers = {
        "attribute": lambda: tf.nn.conv2d(x, w, 1, "VALID"),
        "alias made before": lambda: aliased(x, w, 1, "VALID"),
        "in a list": lambda: [aliased][0](x, w, 1, "VALID"),
    }
    for how, answer in answers.items():
        for block in ("tensorflow.nn.conv2d", tf.nn.conv2d, "tensorflow"):
            with pytest.raises(ReferenceBlockedError):
                call_blocked(answer, block=block)
            assert tf.nn.conv2d is aliased, how
    assert tuple(call_blocked(lambda: tf.nn.relu(x), block=aliased).shape) == (1, 4, 4, 1)
    assert_lifted()


def test_scipy_correlate2d_is_blocked_by_name_and_as_a_library():
    signal = pytest.importorskip("scipy.signal")
    from scipy.signal import correlate2d as aliased

    original = signal.correlate2d
    a, k = np.ones((4, 4)), np.ones((2, 2))
    for block in (original, "scipy.signal.correlate2d", "scipy.signal", OTHER_LIBRARIES):
        for answer in (lambda: signal.correlate2d(a, k), lambda: aliased(a, k)):
            with pytest.raises(ReferenceBlockedError):
                call_blocked(answer, block=block)
    special = pytest.importorskip("scipy.special")
    with pytest.raises(ReferenceBlockedError, match="scipy"):  # a ufunc, by its module name
        call_blocked(lambda: special.expit(a), block=OTHER_LIBRARIES)
    assert signal.correlate2d is original
    assert call_blocked(lambda: np.convolve(a[0], k[0]), block=OTHER_LIBRARIES).shape == (5,)
    assert_lifted()


# Module-level aliases, bound by the tests below before they block: the student's notebook
# namespace holds such names (``from pycocotools.mask import iou as coco_iou``).
coco_iou = None
murmurhash = None


def test_a_cython_function_of_an_unguarded_library_is_blocked_under_every_name():
    global coco_iou
    mask = pytest.importorskip("pycocotools.mask")
    import pycocotools.mask as m  # the library's own module, imported under another name

    assert "pycocotools" not in GUARDED_MODULES  # the call hook does not see Cython calls
    original = mask.iou
    coco_iou = mask.iou  # bound before the block, like an alias made in an earlier cell
    local_alias = mask.iou
    boxes = np.array([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]])

    def default_argument(b, f=mask.iou):
        return f(b, b, [0, 0])

    def keyword_default(b, *, f=mask.iou):
        return f(b, b, [0, 0])

    answers = {
        "attribute": lambda: mask.iou(boxes, boxes, [0, 0]),
        "import ... as m": lambda: m.iou(boxes, boxes, [0, 0]),
        "module-level alias made before": lambda: coco_iou(boxes, boxes, [0, 0]),
        "closure alias made before": lambda: local_alias(boxes, boxes, [0, 0]),
        "default argument": lambda: default_argument(boxes),
        "keyword-only default": lambda: keyword_default(boxes),
    }
    expected = original(boxes, boxes, [0, 0])
    for block in ("pycocotools", "pycocotools.mask", "pycocotools.mask.iou", original):
        for how, answer in answers.items():
            with pytest.raises(ReferenceBlockedError, match="iou"):
                call_blocked(answer, block=block)
            assert mask.iou is original and coco_iou is original, how
            assert default_argument.__defaults__ == (original,), how
            assert_lifted()
    for how, answer in answers.items():  # the block is lifted: every name runs again
        np.testing.assert_array_equal(answer(), expected, err_msg=how)
    got = call_blocked(lambda: np.array([1.0]) + 1, block="pycocotools")  # NumPy still runs
    np.testing.assert_array_equal(got, [2.0])


def test_a_cython_function_of_another_library_and_numpys_re_exports():
    global murmurhash
    utils = pytest.importorskip("sklearn.utils")
    pytest.importorskip("scipy.signal")  # SciPy's modules re-export NumPy's C functions

    original = murmurhash = utils.murmurhash3_32
    for block in ("sklearn", "sklearn.utils.murmurhash3_32"):
        with pytest.raises(ReferenceBlockedError, match="murmurhash"):
            call_blocked(lambda: murmurhash(5), block=block)
        assert murmurhash is original
    assert call_blocked(lambda: murmurhash(5), block="scipy") == original(5)
    # a blocked library's re-export of NumPy's array stays NumPy's, allowed
    got = call_blocked(lambda: np.array([1.0, 2.0]).sum(), block=OTHER_LIBRARIES)
    assert got == 3.0
    assert_lifted()


def test_a_blocked_module_that_is_not_imported_yet(tmp_path, monkeypatch):
    package = tmp_path / "not_imported_yet"
    package.mkdir()
    (package / "__init__.py").write_text("def solve(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def answer(x):
        import not_imported_yet

        return not_imported_yet.solve(x)

    with pytest.raises(ReferenceBlockedError, match="not_imported_yet"):
        call_blocked(answer, 1.0, block="not_imported_yet")
    sys.modules.pop("not_imported_yet", None)
    assert call_blocked(answer, 1.0, block="numpy.linalg") == 2.0


# ---------------------------------------------------------------------------------------------
# What a blocked call costs: the function that made it


def earlier_answer(x):  # graded in an earlier part; wraps the reference
    return reference(x)


def later_answer_reusing_it(x):
    return earlier_answer(x) + 1


def later_answer_calling_the_reference(x):
    return reference(x) + 1


def later_answer_through_a_lambda(x):
    return apply_to(lambda v: reference(v), x)


def apply_to(f, x):  # graded in an earlier part; calls what it is given
    return f(x)


def test_a_blocked_call_costs_the_function_that_made_it():
    kwargs = {"block": reference, "graded_elsewhere": (earlier_answer, apply_to)}
    assert call_blocked(later_answer_reusing_it, 1.0, **kwargs) == 3.0
    for answer in (later_answer_calling_the_reference, later_answer_through_a_lambda):
        with pytest.raises(ReferenceBlockedError):
            call_blocked(answer, 1.0, **kwargs)
    with pytest.raises(ReferenceBlockedError):  # without the exemption, the later part pays
        call_blocked(later_answer_reusing_it, 1.0, block=reference)
    assert_lifted()


def test_allowed_code_runs_inside_a_blocked_library():
    from lapenna_labs import layers

    z = np.array([-1.0, 2.0])
    allow = {"block": "lapenna_labs", "allow": "lapenna_labs.activations"}
    # relu is allowed, and so is what it calls in lapenna_labs (its input checks)
    assert call_blocked(lambda: activations.relu(z), **allow).tolist() == [0.0, 2.0]
    with pytest.raises(ReferenceBlockedError, match="lapenna_labs"):
        call_blocked(lambda: layers.dense_forward(z[None], np.eye(2), z), **allow)
    torch = pytest.importorskip("torch")
    t = torch.tensor([-1.0, 2.0])
    assert call_blocked(lambda: torch.relu(t), block="torch", allow=torch.relu).tolist() == [0, 2]
    with pytest.raises(ReferenceBlockedError, match="torch"):
        call_blocked(lambda: torch.sigmoid(t), block="torch", allow=torch.relu)
    # a named torch function, with all of lapenna_labs blocked: the rest of torch runs
    blocked = ("torch.nn.functional.conv2d", "lapenna_labs")
    assert call_blocked(lambda: torch.relu(t), block=blocked).tolist() == [0, 2]
    assert_lifted()


# ---------------------------------------------------------------------------------------------
# Private kernels: a lapenna_labs reference brings the private functions it computes with


def _dense_inputs():
    rng = np.random.default_rng(3)
    return rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)


def _kernel_calls():
    """The reference blocked -> an answer that calls a private kernel behind it."""
    from lapenna_labs import layers, losses, mlp

    x, W, b = _dense_inputs()
    z = np.array([-1.0, 2.0])
    logits, labels = np.array([[1.0, 2.0, 0.5], [0.1, 0.2, 3.0]]), np.array([1, 2])
    return {
        "dense_forward": (layers.dense_forward, lambda: layers._dense_forward(x, W, b)),
        "relu": (activations.relu, lambda: activations._relu(z)),
        # a kernel in another module, reached through layers._KERNELS
        "activation_forward": (layers.activation_forward, lambda: activations._relu(z)),
        "softmax_cross_entropy": (
            losses.softmax_cross_entropy,
            lambda: losses._softmax_cross_entropy_with_grad(logits, labels),
        ),
        # a class: its methods' kernels, through self._forward
        "MLP": (mlp.MLP, lambda: layers._dense_forward(x, W, b)),
    }


@pytest.mark.parametrize("blocked_name", list(_kernel_calls()))
def test_a_blocked_reference_blocks_its_private_kernels(blocked_name):
    from lapenna_labs import layers

    blocked, answer = _kernel_calls()[blocked_name]
    with pytest.raises(ReferenceBlockedError, match=r"_\w+ \(which .* computes with\)"):
        call_blocked(answer, block=blocked)
    assert_lifted()
    answer()  # the kernel runs again once the block is lifted
    x, W, b = _dense_inputs()
    np.testing.assert_allclose(layers._dense_forward(x, W, b), x @ W + b)
    assert activations._relu(np.array([-1.0, 2.0])).tolist() == [0.0, 2.0]


def test_allowed_code_keeps_the_kernels_it_needs():
    from lapenna_labs import layers

    z = np.array([-1.0, 2.0])
    # a whole module allowed: its public functions and its kernels run, the sibling's do not
    allow_module = {"block": layers.activation_forward, "allow": "lapenna_labs.activations"}
    assert call_blocked(lambda: activations.relu(z), **allow_module).tolist() == [0.0, 2.0]
    assert call_blocked(lambda: activations._relu(z), **allow_module).tolist() == [0.0, 2.0]
    assert call_blocked(lambda: activations.relu_grad(z), **allow_module).tolist() == [0.0, 1.0]
    with pytest.raises(ReferenceBlockedError, match="_activation_forward"):
        call_blocked(lambda: layers._activation_forward(z, "relu"), **allow_module)
    # one function allowed: it runs, kernel included; the kernel called directly does not
    allow_relu = {"block": layers.activation_forward, "allow": activations.relu}
    assert call_blocked(lambda: activations.relu(z), **allow_relu).tolist() == [0.0, 2.0]
    with pytest.raises(ReferenceBlockedError, match="_relu"):
        call_blocked(lambda: activations._relu(z), **allow_relu)
    # with all of lapenna_labs blocked, as in lab04's Part 7
    allow_in_library = {**allow_module, "block": (layers.activation_forward, "lapenna_labs")}
    assert call_blocked(lambda: activations.relu(z), **allow_in_library).tolist() == [0.0, 2.0]
    assert_lifted()


def honest_relu(z, out=None):  # the kernel's very bytecode, written by a student
    return np.maximum(z, 0, out=out)


def test_a_kernel_is_matched_by_identity_not_by_content():
    from lapenna_labs.grading import blocking

    assert blocking._content_key(honest_relu.__code__) == blocking._content_key(
        activations._relu.__code__
    )
    z = np.array([-1.0, 2.0])
    assert call_blocked(honest_relu, z, block=activations.relu).tolist() == [0.0, 2.0]


def dense_answer(x, W, b):  # graded in an earlier part; calls the kernel behind the reference
    from lapenna_labs import layers

    return layers._dense_forward(x, W, b)


def two_layer_answer_reusing_it(x, W, b):
    return dense_answer(dense_answer(x, W, b), np.eye(4), np.zeros(4))


def two_layer_answer_calling_the_kernel(x, W, b):
    from lapenna_labs import layers

    return layers._dense_forward(dense_answer(x, W, b), np.eye(4), np.zeros(4))


def test_a_blocked_kernel_call_costs_the_function_that_made_it():
    from lapenna_labs import layers

    x, W, b = _dense_inputs()
    kwargs = {"block": layers.dense_forward, "graded_elsewhere": dense_answer}
    np.testing.assert_allclose(
        call_blocked(two_layer_answer_reusing_it, x, W, b, **kwargs), x @ W + b
    )
    with pytest.raises(ReferenceBlockedError, match="_dense_forward"):
        call_blocked(two_layer_answer_calling_the_kernel, x, W, b, **kwargs)
    with pytest.raises(ReferenceBlockedError, match="_dense_forward"):  # its own part pays
        call_blocked(dense_answer, x, W, b, block=layers.dense_forward)
    assert_lifted()


# ---------------------------------------------------------------------------------------------
# The comparison loop


def test_check_against_reference_runs_every_case_blocked():
    def make_inputs(rng, shape, dtype):
        return (rng.normal(size=shape).astype(dtype),)

    def answer(z):
        return np.where(z > 0, z, 0).astype(z.dtype)

    common = {"make_inputs": make_inputs, "cases": [(3,), (2, 4)], "block": activations.relu}
    seen = []

    def counting(z):
        seen.append((z.shape, z.dtype))
        return answer(z)

    grading.check_against_reference(counting, activations.relu, name="relu", **common)
    assert seen == [
        ((3,), np.float32),
        ((2, 4), np.float32),
        ((3,), np.float64),
        ((2, 4), np.float64),
    ]
    with pytest.raises(ReferenceBlockedError):
        grading.check_against_reference(activations.relu, activations.relu, name="r", **common)
    with pytest.raises(AssertionError, match=r"relu \[\(3,\), float32\]: wrong sign"):
        grading.check_against_reference(lambda z: -answer(z), answer, name="relu", **common)

    def in_place(z):
        z[:] = 0
        return z

    with pytest.raises(AssertionError, match="changed its input"):
        grading.check_against_reference(
            in_place, lambda z: z * 0, name="zero", unchanged=True, **common
        )


def test_arrays_and_options_draws_each_shape_and_passes_the_options_through():
    make = grading.arrays_and_options(3, scale=2.0)
    x, w, b, stride, padding = make(
        np.random.default_rng(0), ((2, 3, 5, 5), (4, 3, 3, 3), (4,), 2, 1), np.float32
    )
    assert [a.shape for a in (x, w, b)] == [(2, 3, 5, 5), (4, 3, 3, 3), (4,)]
    assert {a.dtype for a in (x, w, b)} == {np.dtype(np.float32)}
    assert (stride, padding) == (2, 1)
    # scale 2: the sample standard deviation of 270 normal draws is far from 1
    assert 1.6 < np.concatenate([x.ravel(), w.ravel()]).std() < 2.4
    with pytest.raises(ValueError, match="fewer than 3 shapes"):
        make(np.random.default_rng(0), ((2, 3),), np.float64)
    with pytest.raises(ValueError, match="count must be >= 1"):
        grading.arrays_and_options(0)


def test_random_like_and_fake_clock():
    example = {"w1": 0.15, "w2": 0.2, "target_class": 1}
    fresh = grading.random_like(example, np.random.default_rng(0), low=2.0, high=3.0)
    assert fresh["target_class"] == 1 and all(2.0 <= fresh[k] <= 3.0 for k in ("w1", "w2"))
    clock = grading.FakeClock([1.0, 4.0])
    clock.work()
    clock.work()
    assert (clock(), clock.calls) == (5.0, 2)


# ---------------------------------------------------------------------------------------------
# Feedback


@pytest.mark.parametrize(
    ("got", "expected", "message"),
    [
        (None, np.ones(3), "returned None"),
        ("text", np.ones(3), "returned a str"),
        (np.ones(4), np.ones(3), r"wrong shape \(4,\), expected \(3,\)"),
        (np.ones((3, 2)), np.ones((2, 3)), "transposed"),
        (np.ones(6), np.ones((2, 3)), "same number of entries"),
        (np.ones(3, np.float64), np.ones(3, np.float32), "dtype float64, expected float32"),
        (np.ones(3, int), np.ones(3), "returned integers"),
        (np.array([1.0, np.nan, 2.0]), np.ones(3), "1 NaN"),
        (-np.arange(1.0, 4.0), np.arange(1.0, 4.0), "wrong sign"),
        (2 * np.arange(1.0, 4.0), np.arange(1.0, 4.0), "every value is 2 times the right"),
        (np.arange(1.0, 4.0) + 0.5, np.arange(1.0, 4.0), "off by a constant"),
        (np.array([1.0, 2.0, 7.0]), np.array([1.0, 2.0, 3.0]), "1 of 3 entries are off"),
        ((1.0,), (np.ones(2), np.ones(2)), "should return 2 items"),
        ({"a": 1.0}, {"a": 1.0, "b": 2.0}, r"no key\(s\) \['b'\]"),
        ({"a": 1.0, "b": 3.0}, {"a": 1.0, "b": 2.0}, r"f\['b'\]: wrong value"),
        (-0.25, 1.0, "wrong value: off by a relative error of the order of 1e\\+00, with the"),
    ],
)
def test_check_close_diagnoses(got, expected, message):
    with pytest.raises(AssertionError, match=message) as info:
        check_close(got, expected, name="f")
    assert str(info.value).startswith("f")


def test_check_close_names_a_common_mistake_and_the_callers_hint():
    z = np.linspace(-2, 2, 5)
    sig = 1 / (1 + np.exp(-z))
    with pytest.raises(AssertionError, match="the function itself"):
        check_close(sig, sig * (1 - sig), name="g", common_mistakes={"the function itself": sig})
    with pytest.raises(AssertionError, match=r"is 3 times the right one \(a missing 1/N\?\)"):
        check_close(3 * sig, sig, name="g", factor_hint="a missing 1/N?")
    with pytest.raises(AssertionError) as info:
        check_close(3 * sig, sig, name="g")
    assert "learning rate" not in str(info.value)


def _numbers_in(text: str) -> list[str]:
    return re.findall(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?:/\d+)?", text)


def test_no_message_reveals_an_expected_scalar():
    rng = np.random.default_rng(7)
    for _ in range(300):
        expected = float(rng.choice([-1, 1]) * 10 ** rng.uniform(-3, 3))
        for got in (
            expected * float(rng.choice([2, -1, 0.5, -0.25, 3, 0.75])),  # a simple factor
            expected * float(rng.uniform(-5, 5)),  # another factor
            expected + float(rng.normal()),  # an offset
            float(rng.normal()),  # anything
        ):
            if np.isclose(got, expected, rtol=1e-6, atol=1e-9):
                continue
            with pytest.raises(AssertionError) as info:
                check_close(got, expected, name="f")
            text = str(info.value)
            # Only orders of magnitude: no factor, no offset, no value, no precise error.
            assert all(re.fullmatch(r"1e[-+]\d+", n) for n in _numbers_in(text)), text
            assert "factor" not in text and "times" not in text and "shifted" not in text


def test_no_message_reveals_an_expected_array():
    rng = np.random.default_rng(8)
    for _ in range(200):
        size = int(rng.integers(2, 8))
        expected = rng.normal(size=size) * 10 ** rng.uniform(-2, 2)
        constant = np.full(size, expected[0])  # equal entries: no factor diagnosis
        for exp, got in (
            (expected, expected * float(rng.uniform(-5, 5))),
            (expected, expected + float(rng.normal())),
            (expected, rng.normal(size=size)),
            (constant, constant * 2),
        ):
            if np.allclose(got, exp, rtol=1e-6, atol=1e-9):
                continue
            with pytest.raises(AssertionError) as info:
                check_close(got, exp, name="f")
            text = str(info.value)
            # Counts, indices, simple factors and orders of magnitude only: no value.
            assert all(re.fullmatch(r"-?\d+(/\d+)?|1e[-+]\d+", n) for n in _numbers_in(text))
            ratio = got / exp
            if np.allclose(ratio, ratio[0]) and not _simple(ratio[0]):
                assert "times" not in text or "same constant" in text, text
            if exp is constant:
                assert "factor" not in text, text


def _simple(x: float) -> bool:
    return any(round(x * q) != 0 and np.isclose(x, round(x * q) / q) for q in range(1, 11))


def test_check_close_accepts_right_answers_within_dtype_tolerance():
    x = np.linspace(0, 1, 7, dtype=np.float32)
    check_close(x * (1 + 1e-6), x, name="f")
    check_close(np.float32(2.0), np.float32(2.0), name="scalar")
    check_close([1.0, 2.0], np.array([1.0, 2.0]), name="list")
    check_close((np.ones(2), 3.0), (np.ones(2), 3.0), name="tuple")
    check_close({"a": np.ones(2)}, {"a": np.ones(2)}, name="dict")
    with pytest.raises(AssertionError):
        check_close(x * (1 + 1e-2), x, name="f")


def test_passed_prints_the_one_success_line(capsys):
    grading.passed("sigmoid")
    assert capsys.readouterr().out == f"sigmoid: {grading.PASSED}.\n"


# ---------------------------------------------------------------------------------------------
# Device


def test_detect_device_honours_force_cpu(monkeypatch, capsys):
    monkeypatch.setenv("LAPENNA_FORCE_CPU", "1")
    assert grading.detect_device() == "cpu"
    assert "CPU" in capsys.readouterr().out
    assert grading.in_colab() is False


def test_source_mentions_ignores_comments():
    def timer():
        # torch.cuda.synchronize() would go here
        return 1

    def synced():
        import torch  # noqa: F401

        return "torch.cuda.synchronize"

    assert grading.source_mentions(timer, "synchronize") == []
    assert grading.source_mentions(synced, "synchronize") == ["synchronize"]
