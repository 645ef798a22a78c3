"""ConvexGANSampler: the imbalanced-learn over-sampler over the Rust core."""

from __future__ import annotations

import json
import numbers
from typing import Optional

import numpy as np
from imblearn.over_sampling.base import BaseOverSampler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from . import _convexgan


class ConvexGANSampler(BaseOverSampler):
    """Over-samples minority classes with convex combinations of each class's own rows, weighted
    by a generator trained in a three-player game with a discriminator and a classifier (Park,
    Song and Kang, IEEE Access 2022). Works on any feature vectors (for images: a network's
    features); every synthetic row lies in the convex hull of its class's rows.

    Parameters
    ----------
    sampling_strategy : float, str, dict or callable, default='auto'
        imbalanced-learn's meaning (see ``imblearn.over_sampling.SMOTE``).
    random_state : int, RandomState instance or None, default=None
        Seeds the fit (weights, batches, noise) and the draw.
    device : {'cpu', 'cuda', 'cuda:N'}, default='cpu'
        Where the networks train.
    ns : int or None, default=None
        Rows combined per synthetic row; None = 30, or the smallest class's count when lower.
    iterations : int or None, default=None
        Phase 2 iterations; None = ten passes over the data, between 300 and 1000.
    shape_columns : int or None, default=None
        None: one stream (the whole vector). k: the last k columns are a second stream with its
        own convex weights (the paper's texture and shape streams).
    dict_precision : {'f32', 'bf16', 'f16'}, default='f32'
        Storage precision of the per-class dictionaries.
    q_epochs : int, default=10
        Epochs of the classifier's training on the real rows before the game.
    batch_size : int, default=256
    verbose : bool, default=False
        Progress bars on stderr.

    Attributes
    ----------
    sampling_strategy_ : dict
        Rows generated per class.
    fitted_ : convexgan.FittedSampler
        The fitted generator and dictionaries (``save`` it; ``ConvexGANSampler.load`` reads it).
    classes_ : ndarray
        The class labels, in the order of the fitted classes.
    """

    _parameter_constraints: dict = {
        **BaseOverSampler._parameter_constraints,
        "device": [str],
        "ns": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "iterations": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "shape_columns": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "dict_precision": [StrOptions({"f32", "bf16", "f16"})],
        "q_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "verbose": ["boolean"],
    }

    def __init__(
        self,
        *,
        sampling_strategy="auto",
        random_state=None,
        device: str = "cpu",
        ns: Optional[int] = None,
        iterations: Optional[int] = None,
        shape_columns: Optional[int] = None,
        dict_precision: str = "f32",
        q_epochs: int = 10,
        batch_size: int = 256,
        verbose: bool = False,
    ):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state = random_state
        self.device = device
        self.ns = ns
        self.iterations = iterations
        self.shape_columns = shape_columns
        self.dict_precision = dict_precision
        self.q_epochs = q_epochs
        self.batch_size = batch_size
        self.verbose = verbose

    def _options_json(self, seed: int) -> str:
        options = json.loads(_convexgan.default_options_json())
        options.update(
            seed=int(seed),
            ns=None if self.ns is None else int(self.ns),
            iterations=None if self.iterations is None else int(self.iterations),
            shape_columns=None if self.shape_columns is None else int(self.shape_columns),
            precision=self.dict_precision,
            q_epochs=int(self.q_epochs),
            batch=int(self.batch_size),
        )
        return json.dumps(options)

    def _fit_resample(self, X, y):
        if hasattr(X, "toarray"):
            raise TypeError("ConvexGANSampler needs dense features; got a sparse matrix")
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        self.classes_ = np.unique(y)
        # Labels that are non-negative 32-bit integers go to the core as they are (and so into a
        # saved sampler); any others (strings, negative numbers) as their codes in `classes_`.
        self._codes_are_labels = bool(
            np.issubdtype(self.classes_.dtype, np.integer)
            and self.classes_[0] >= 0
            and self.classes_[-1] <= np.iinfo(np.uint32).max
        )
        codes = self._to_core(y)
        # Read in place when X already is C-contiguous float32; converted once otherwise.
        x32 = np.ascontiguousarray(X, dtype=np.float32)
        self.fitted_ = _convexgan.fit(
            x32, codes, self._options_json(seed), self.device, bool(self.verbose)
        )
        plan = [
            (int(self._to_core(np.asarray([label]))[0]), int(n))
            for label, n in self.sampling_strategy_.items()
        ]
        x_new, y_new = self.fitted_.generate(plan, self.device)
        X_res = np.vstack([X, x_new.astype(X.dtype, copy=False)])
        y_res = np.hstack([y, self._from_core(y_new)])
        return X_res, y_res

    def _to_core(self, labels) -> np.ndarray:
        if self._codes_are_labels:
            return np.asarray(labels).astype(np.uint32)
        return np.searchsorted(self.classes_, labels).astype(np.uint32)

    def _from_core(self, codes) -> np.ndarray:
        if self._codes_are_labels:
            return np.asarray(codes).astype(self.classes_.dtype)
        return self.classes_[codes]

    def sample(self, label, n: int, random_state=None) -> np.ndarray:
        """``n`` new rows of class ``label`` from the fitted generator (no refit)."""
        fitted = self._fitted()
        if label not in set(self.classes_.tolist()):
            raise _convexgan.ConvexGANError(
                f"class: {label!r} is not among the fitted classes {self.classes_.tolist()}"
            )
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        code = int(self._to_core(np.asarray([label]))[0])
        return fitted.sample(code, int(n), int(seed), self.device)

    def save(self, path) -> None:
        """Writes the fitted sampler (generator, dictionaries, class labels) to ``path``, the
        format ``convexgan sample --sampler`` reads. Needs non-negative integer labels."""
        fitted = self._fitted()
        if not self._codes_are_labels:
            raise _convexgan.ConvexGANError(
                f"save: class labels {self.classes_.tolist()!r} are not non-negative integers, "
                "which is all a sampler file stores"
            )
        fitted.save(str(path))

    @classmethod
    def load(cls, path, **params) -> "ConvexGANSampler":
        """A sampler saved by ``save``, ready to ``sample`` (``params`` as in the constructor)."""
        sampler = cls(**params)
        sampler.fitted_ = _convexgan.FittedSampler.load(str(path))
        sampler.classes_ = np.asarray(sampler.fitted_.labels, dtype=np.int64)
        sampler._codes_are_labels = True
        return sampler

    def _fitted(self):
        if not hasattr(self, "fitted_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("ConvexGANSampler is not fitted yet; call fit_resample first")
        return self.fitted_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags
