"""ConvexGANSampler as imbalanced-learn and scikit-learn users meet it."""

import threading
import time

import numpy as np
import pytest
from imblearn.pipeline import Pipeline
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from convexgan import ConvexGANError, ConvexGANSampler

QUICK = dict(iterations=30, q_epochs=2, batch_size=64)


def data(weights=(0.75, 0.2, 0.05), n=800, seed=0):
    return make_classification(
        n_samples=n,
        n_features=12,
        n_informative=6,
        n_classes=len(weights),
        weights=list(weights),
        random_state=seed,
    )


def in_class_range(X, y, X_new, y_new, tol=1e-4):
    """Every synthetic row lies within its class's per-column range (as convex combinations of
    the class's rows do)."""
    for label in np.unique(y_new):
        rows = X[y == label]
        lo, hi = rows.min(axis=0), rows.max(axis=0)
        new = X_new[y_new == label]
        slack = tol * (1 + np.maximum(np.abs(lo), np.abs(hi)))
        assert np.all(new >= lo - slack) and np.all(new <= hi + slack), label


def test_fit_resample_balances_with_rows_inside_each_class():
    X, y = data()
    X_res, y_res = ConvexGANSampler(random_state=0, **QUICK).fit_resample(X, y)
    counts = np.bincount(y_res)
    assert counts.min() == counts.max() == np.bincount(y).max()
    np.testing.assert_array_equal(X_res[: len(X)], X)
    np.testing.assert_array_equal(y_res[: len(y)], y)
    assert X_res.dtype == X.dtype
    in_class_range(X, y, X_res[len(X) :], y_res[len(y) :])
    # Generated, not copied.
    originals = {row.tobytes() for row in X.astype(np.float32)}
    copies = sum(row.astype(np.float32).tobytes() in originals for row in X_res[len(X) :])
    assert copies < 0.1 * (len(X_res) - len(X))


def test_sampling_strategies_mean_what_they_mean_in_imblearn():
    X, y = data()
    n = np.bincount(y)
    _, y_min = ConvexGANSampler(sampling_strategy="minority", random_state=0, **QUICK).fit_resample(X, y)
    np.testing.assert_array_equal(np.bincount(y_min), [n[0], n[1], n[0]])
    _, y_dict = ConvexGANSampler(sampling_strategy={1: 300, 2: 100}, random_state=0, **QUICK).fit_resample(X, y)
    np.testing.assert_array_equal(np.bincount(y_dict), [n[0], 300, 100])
    Xb, yb = data(weights=(0.9, 0.1))
    _, y_ratio = ConvexGANSampler(sampling_strategy=0.5, random_state=0, **QUICK).fit_resample(Xb, yb)
    nb = np.bincount(yb)
    assert np.bincount(y_ratio)[1] == int(0.5 * nb[0])


def test_random_state_reproduces_and_string_labels_round_trip():
    X, y = data()
    a = ConvexGANSampler(random_state=3, **QUICK).fit_resample(X, y)
    b = ConvexGANSampler(random_state=3, **QUICK).fit_resample(X, y)
    c = ConvexGANSampler(random_state=4, **QUICK).fit_resample(X, y)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    names = np.array(["cat", "dog", "emu"])[y]
    X_res, y_res = ConvexGANSampler(random_state=3, **QUICK).fit_resample(X, names)
    assert set(y_res) == {"cat", "dog", "emu"}
    np.testing.assert_array_equal(X_res, a[0])


def test_params_follow_sklearn_conventions():
    s = ConvexGANSampler(ns=7, device="cpu", random_state=1)
    params = s.get_params()
    assert params["ns"] == 7 and params["random_state"] == 1
    c = clone(s).set_params(ns=5)
    assert c.get_params()["ns"] == 5 and s.ns == 7
    with pytest.raises(ValueError, match="ns"):
        ConvexGANSampler(ns=0).fit_resample(*data())


def test_in_an_imblearn_pipeline():
    X, y = data(n=600)
    pipe = Pipeline(
        [("over", ConvexGANSampler(random_state=0, **QUICK)), ("clf", LogisticRegression(max_iter=500))]
    )
    pipe.fit(X, y)
    assert pipe.predict(X).shape == y.shape
    assert pipe.score(X, y) > 0.5


def test_rust_errors_arrive_with_their_messages():
    X, y = data()
    with pytest.raises(ConvexGANError, match=r"N_s = 1000 exceeds the \d+ rows of class 2"):
        ConvexGANSampler(ns=1000, **QUICK).fit_resample(X, y)
    with pytest.raises(ConvexGANError, match="shape_columns"):
        ConvexGANSampler(shape_columns=12, **QUICK).fit_resample(X, y)
    with pytest.raises(ConvexGANError, match="device"):
        ConvexGANSampler(device="tpu", **QUICK).fit_resample(X, y)
    assert issubclass(ConvexGANError, ValueError)


def test_saved_sampler_samples_without_refitting(tmp_path):
    X, y = data()
    s = ConvexGANSampler(random_state=0, shape_columns=4, **QUICK)
    s.fit_resample(X, y)
    path = tmp_path / "sampler.safetensors"
    s.save(path)
    loaded = ConvexGANSampler.load(path)
    np.testing.assert_array_equal(loaded.classes_, [0, 1, 2])
    rows = loaded.sample(2, 50, random_state=0)
    assert rows.shape == (50, 12)
    np.testing.assert_array_equal(rows, s.sample(2, 50, random_state=0))
    in_class_range(X, y, rows, np.full(50, 2))
    with pytest.raises(ConvexGANError, match="not among the fitted classes"):
        loaded.sample(9, 1)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ConvexGANError, match="sampler.safetensors"):
        ConvexGANSampler.load(path)


def test_non_contiguous_and_float64_inputs_are_accepted():
    X, y = data()
    fortran = np.asfortranarray(X)
    a = ConvexGANSampler(random_state=0, **QUICK).fit_resample(fortran, y)[0]
    b = ConvexGANSampler(random_state=0, **QUICK).fit_resample(X.astype(np.float32), y)[0]
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_the_gil_is_released_while_fitting():
    X, y = data(n=2000)
    s = ConvexGANSampler(random_state=0, iterations=150, q_epochs=2)
    ticks = []
    worker = threading.Thread(target=lambda: s.fit_resample(X, y))
    start = time.perf_counter()
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
        time.sleep(0.01)
    worker.join()
    took = time.perf_counter() - start
    assert took > 0.5, f"the fit took {took:.2f}s, too short to tell"
    gaps = np.diff([start] + ticks)
    # With the GIL held, this thread would stall for the whole fit.
    assert gaps.max() < 0.25 * took, f"longest stall {gaps.max():.2f}s of {took:.2f}s"
