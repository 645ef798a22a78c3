"""Type stubs of the Rust extension (python/src/lib.rs)."""

from os import PathLike
from typing import List, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

class ConvexGANError(ValueError):
    """An error of the convexgan crate, with its message."""

class FittedSampler:
    @property
    def labels(self) -> List[int]: ...
    @property
    def counts(self) -> List[int]: ...
    @property
    def ns(self) -> int: ...
    @property
    def n_features(self) -> int: ...
    @property
    def options_json(self) -> str: ...
    @property
    def logs_json(self) -> str: ...
    def generate(
        self, plan: Sequence[Tuple[int, int]], device: str = "cpu"
    ) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.uint32]]: ...
    def sample(
        self, label: int, n: int, seed: int, device: str = "cpu"
    ) -> npt.NDArray[np.float32]: ...
    def save(self, path: Union[str, PathLike[str]]) -> None: ...
    @staticmethod
    def load(path: Union[str, PathLike[str]]) -> "FittedSampler": ...

def fit(
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.uint32],
    options_json: str,
    device: str = "cpu",
    progress: bool = False,
) -> FittedSampler: ...
def default_options_json() -> str: ...
