"""convexgan: minority over-sampling in feature space with a convex-combination GAN over per-class
feature dictionaries (Park, Song and Kang, IEEE Access 2022), as an imbalanced-learn sampler.

>>> from convexgan import ConvexGANSampler
>>> X_res, y_res = ConvexGANSampler(random_state=0).fit_resample(X, y)  # doctest: +SKIP
"""

from ._convexgan import ConvexGANError, FittedSampler
from .sampler import ConvexGANSampler

__all__ = ["ConvexGANSampler", "ConvexGANError", "FittedSampler"]
