"""ConvexGANSampler beside imbalanced-learn's SMOTE and RandomOverSampler on scikit-learn's
bundled digits, made long-tailed, each in the same imblearn Pipeline with the same classifier.

Per seed: 60 images of each class are held out as a balanced test set; of the rest, class c keeps
floor(n_max * ratio^(-c/9)) images (the seed shuffles which). Balanced accuracy and the geometric
mean of the per-class recalls (imblearn's geometric_mean_score) on the test set, mean ± std over
the seeds, as a Markdown table (RESULTS.md has the measured one).

    python3 python/examples/digits_longtail.py [--seeds 0,1,2] [--ratio 20]
"""

import argparse
import time

import numpy as np
from imblearn.metrics import geometric_mean_score
from imblearn.over_sampling import SMOTE, RandomOverSampler
from imblearn.pipeline import Pipeline
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.preprocessing import StandardScaler

from convexgan import ConvexGANSampler


def long_tailed(seed, ratio, test_per_class=60):
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    train, test = [], []
    n_max = min(np.bincount(y)) - test_per_class
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        test.extend(idx[:test_per_class])
        train.extend(idx[test_per_class : test_per_class + int(n_max * ratio ** (-c / 9))])
    train, test = np.array(train), np.array(test)
    return X[train], y[train], X[test], y[test]


def samplers(seed, smallest):
    k = min(5, smallest - 1)
    return {
        "none": None,
        "RandomOverSampler": RandomOverSampler(random_state=seed),
        f"SMOTE (k={k})": SMOTE(k_neighbors=k, random_state=seed),
        "ConvexGANSampler": ConvexGANSampler(random_state=seed),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--ratio", type=float, default=20.0)
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    scores = {}
    for seed in seeds:
        Xtr, ytr, Xte, yte = long_tailed(seed, args.ratio)
        counts = np.bincount(ytr)
        for name, sampler in samplers(seed, counts.min()).items():
            steps = [("scale", StandardScaler())]
            if sampler is not None:
                steps.append(("over", sampler))
            steps.append(("clf", LogisticRegression(max_iter=5000)))
            t = time.perf_counter()
            pred = Pipeline(steps).fit(Xtr, ytr).predict(Xte)
            took = time.perf_counter() - t
            s = scores.setdefault(name, {"bacc": [], "gm": [], "time": []})
            s["bacc"].append(balanced_accuracy_score(yte, pred))
            s["gm"].append(geometric_mean_score(yte, pred))
            s["time"].append(took)
    print(
        f"digits, long-tailed (ratio {args.ratio:g}, training counts {counts.tolist()} for the "
        f"last seed), balanced test set of 600; seeds {seeds}; LogisticRegression after StandardScaler\n"
    )
    print("| over-sampler | balanced accuracy | geometric mean | fit time (s) |")
    print("|---|---|---|---|")
    for name, s in scores.items():
        b, g, t = (np.array(s[k]) for k in ("bacc", "gm", "time"))
        print(f"| {name} | {b.mean():.3f} ± {b.std():.3f} | {g.mean():.3f} ± {g.std():.3f} | {t.mean():.1f} |")


if __name__ == "__main__":
    main()
