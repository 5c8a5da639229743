"""What the labs' tests share: blocking forbidden calls, comparing, feedback, the device.

The labs (``labs/labNN.ipynb``) are graded by nbgrader. Their test cells use this package to

* compare an answer with the reference on fresh random inputs across dtypes and shapes,
  with the part's forbidden calls blocked (:func:`check_against_reference`), the loop every
  hidden test needs; :func:`normal_inputs`, :func:`arrays_and_options`, :func:`random_examples`,
  :func:`random_like` and :class:`FakeClock` make inputs for it;
* run a student's function while what the part forbids is *blocked* (:func:`call_blocked`,
  :func:`reference_blocked`): ``lapenna_labs``' own implementation of what is graded (its
  private kernels included), other libraries' versions of it (``torch.nn.functional.conv2d``,
  ``tf.nn.conv2d``, ``scipy.signal.correlate2d``) or whole libraries (:data:`OTHER_LIBRARIES`),
  under every alias and every copy; a blocked call costs the part whose answer made it;
* say *how* an answer is wrong (shape, dtype, NaN, sign, a constant factor, transposed, a known
  mistake) without revealing the expected value (:func:`check_close`), and print the one
  success line of every visible check (:func:`passed`);
* find the GPU, if any, with a clear message and a CPU fallback (:func:`detect_device`), and
  grade GPU-only code on a CPU by reading it (:func:`source_mentions`) or by running a timer
  on a simulated GPU (:class:`SimulatedGpu`, :func:`simulated_cuda`: asynchronous launches, a
  clock, CUDA events, synchronize).

Modules
-------
blocking  :func:`call_blocked`, :func:`reference_blocked`, :data:`GUARDED_MODULES`
feedback  :func:`check_close`, :func:`passed`, :func:`default_tolerances`
compare   :func:`check_against_reference`, :func:`normal_inputs`, :func:`arrays_and_options`,
          :func:`random_examples`, :func:`random_like`, :class:`FakeClock`
device    :func:`detect_device`, :func:`in_colab`, :func:`source_mentions`
simulated_gpu  :class:`SimulatedGpu`, :class:`SimulatedEvent`, :class:`SimulatedCudaTensor`,
          :func:`simulated_cuda`

How a lab uses them is in ``autograder/notebooks/README.md`` (the lab authoring guide).

Examples
--------
>>> import numpy as np
>>> from lapenna_labs import grading
>>> def reference(x):
...     return 2 * x
>>> grading.call_blocked(lambda x: x + x, 1.5, block=reference)
3.0
>>> grading.check_close(np.array([1.0, 2.0]), np.array([1.0, 2.0]), name="demo")
"""

from lapenna_labs.grading.blocking import (
    GUARDED_MODULES,
    OTHER_LIBRARIES,
    ReferenceBlockedError,
    call_blocked,
    reference_blocked,
)
from lapenna_labs.grading.compare import (
    FakeClock,
    arrays_and_options,
    check_against_reference,
    normal_inputs,
    random_examples,
    random_like,
)
from lapenna_labs.grading.device import detect_device, in_colab, source_mentions
from lapenna_labs.grading.feedback import PASSED, check_close, default_tolerances, passed
from lapenna_labs.grading.simulated_gpu import (
    SimulatedCudaTensor,
    SimulatedEvent,
    SimulatedGpu,
    simulated_cuda,
)

__all__ = [
    "GUARDED_MODULES",
    "OTHER_LIBRARIES",
    "PASSED",
    "FakeClock",
    "ReferenceBlockedError",
    "SimulatedCudaTensor",
    "SimulatedEvent",
    "SimulatedGpu",
    "call_blocked",
    "check_against_reference",
    "check_close",
    "default_tolerances",
    "detect_device",
    "in_colab",
    "arrays_and_options",
    "normal_inputs",
    "passed",
    "random_examples",
    "random_like",
    "reference_blocked",
    "simulated_cuda",
    "source_mentions",
]
