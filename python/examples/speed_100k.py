"""Wall time of ConvexGANSampler.fit_resample on 100,000 x 512 features of 10 classes beside
imblearn's SMOTE on the same data, and what the default budget (Phase 2 capped at 1500 iterations)
costs in quality against ten full passes over the data: balanced accuracy and geometric mean of
a RidgeClassifier trained on each resampled set, on a balanced held-out test set.

    python3 python/examples/speed_100k.py [--full]   # --full adds the uncapped budget
"""

import argparse
import time

import numpy as np
from imblearn.metrics import geometric_mean_score
from imblearn.over_sampling import SMOTE
from sklearn.datasets import make_classification
from sklearn.linear_model import RidgeClassifier
from sklearn.metrics import balanced_accuracy_score

from convexgan import ConvexGANSampler


def data(seed=0):
    # Class c has a share proportional to 50^(-c/9): 100,000 training rows from ~34,000 to ~700.
    w = 50.0 ** (-np.arange(10) / 9)
    n_train = 100_000
    per = np.floor(n_train * w / w.sum()).astype(int)
    want = per + 1000  # and 1000 of each class for the test set
    X, y = make_classification(
        n_samples=int(want.sum()) + 100,
        n_features=512,
        n_informative=48,
        n_redundant=0,
        n_classes=10,
        n_clusters_per_class=1,
        class_sep=1.0,
        weights=list(want / want.sum()),
        flip_y=0.0,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        test.extend(idx[:1000])
        train.extend(idx[1000 : 1000 + per[c]])
    train, test = rng.permutation(train), np.array(test)
    return X[train].astype(np.float32), y[train], X[test].astype(np.float32), y[test]


def quality(X, y, Xte, yte):
    pred = RidgeClassifier().fit(X, y).predict(Xte)
    return balanced_accuracy_score(yte, pred), geometric_mean_score(yte, pred)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true")
    args = ap.parse_args()
    X, y, Xte, yte = data()
    print(f"training rows {len(y)}, counts {np.bincount(y).tolist()}; test 10 x 1000")
    runs = [("none", None), ("SMOTE (k=5)", SMOTE(random_state=0)), ("ConvexGANSampler (default budget)", ConvexGANSampler(random_state=0, verbose=True))]
    if args.full:
        n_iter = 10 * -(-len(y) // 256)
        runs.append((f"ConvexGANSampler ({n_iter} iterations)", ConvexGANSampler(random_state=0, iterations=n_iter, verbose=True)))
    print("| method | wall time (s) | balanced accuracy | geometric mean |")
    print("|---|---|---|---|")
    for name, sampler in runs:
        t = time.perf_counter()
        Xr, yr = (X, y) if sampler is None else sampler.fit_resample(X, y)
        took = time.perf_counter() - t
        b, g = quality(Xr, yr, Xte, yte)
        print(f"| {name} | {took:.1f} | {b:.3f} | {g:.3f} |", flush=True)


if __name__ == "__main__":
    main()
