"""Type stubs of the mgr package (the extension module mgr._mgr and its Python wrappers)."""

import os
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any, Callable, Literal, Optional, Union

import numpy as np
import numpy.typing as npt

from ._errors import (
    ComputeError as ComputeError,
    DatasetError as DatasetError,
    DecodeError as DecodeError,
    DeviceError as DeviceError,
    Error as Error,
    InternalError as InternalError,
    ModelError as ModelError,
    TrainingError as TrainingError,
)

_Path = Union[str, os.PathLike[str]]
_Paths = Union[_Path, Sequence[_Path]]
_Signal = npt.ArrayLike
_F32 = npt.NDArray[np.float32]
_Resampler = Literal["reference", "fast"]
_Progress = Union[None, bool, Callable[[str, int, int], Any], Any]

__version__: str
SAMPLE_RATE: int
"""12000: the rate of mgr's front-end and networks."""
N_MELS: int
"""96 mel bands."""
N_FRAMES: int
"""1366 frames: one network input (29.12 s)."""
CLIP_SAMPLES: int
"""349440 samples: one network input at 12 kHz."""
BUILTIN_MODELS: list[str]
"""``["gtzan", "crnn", "fcn"]``."""
WEIGHT_LICENSES: dict[str, str]
"""The licence notice of each built-in model's weights."""

def load(path: _Path, sr: int = 12000, resampler: _Resampler = "reference") -> _F32:
    """Decode an audio file to a mono float32 signal at 12 kHz, shape ``(samples,)``."""

def resample(
    y: _Signal, orig_sr: int, target_sr: int = 12000, resampler: _Resampler = "reference"
) -> _F32:
    """Resample a mono signal to 12 kHz: ``ceil(len(y) * 12000 / orig_sr)`` samples."""

def logmel(y: _Signal, sr: int = 12000) -> _F32:
    """The reference log-mel of a 12 kHz signal, shape ``(96, 1 + len(y) // 256)``, in dB."""

def frames(y: _Signal, sr: int = 12000) -> _F32:
    """The network inputs of a song as ``classify`` cuts it, shape ``(frames, 96, 1366)``."""

class Model:
    """A genre or tag model: ``"gtzan"``, ``"crnn"``, ``"fcn"`` or a model file."""

    def __init__(self, name_or_path: _Path = "gtzan", device: str = "cpu") -> None: ...
    @property
    def labels(self) -> list[str]:
        """The outputs' labels, in output order."""
    @property
    def name(self) -> str:
        """The model's short name from its metadata."""
    @property
    def architecture(self) -> Literal["crnn", "fcn"]:
        """The network's architecture."""
    @property
    def provenance(self) -> Optional[dict[str, Any]]:
        """Where a trained model came from; ``None`` for the published networks."""
    def predict(self, mels: npt.ArrayLike, batch: Optional[int] = None) -> _F32:
        """Scores of ``(n, 96, 1366)`` log-mels, shape ``(n, len(labels))``."""
    def embed(
        self,
        mels: npt.ArrayLike,
        layer: Literal["features", "penultimate", "pooled", "logits", "stack"] = "features",
        batch: Optional[int] = None,
    ) -> _F32:
        """Activations of ``(n, 96, 1366)`` log-mels, shape ``(n, width of the layer)``."""

class Classification(Iterator[dict[str, Any]]):
    """The songs of a running :func:`classify`, as they finish."""

    def __iter__(self) -> "Classification": ...
    def __next__(self) -> dict[str, Any]: ...
    def close(self) -> None:
        """Stop the run; the iterator ends."""
    def __enter__(self) -> "Classification": ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

def classify(
    paths_or_folder: _Paths,
    model: Union[_Path, Model] = "gtzan",
    threads: Optional[int] = None,
    batch: Optional[int] = None,
    timeline: Union[bool, float] = False,
    resampler: _Resampler = "reference",
    per_frame: bool = False,
    device: str = "cpu",
) -> Classification:
    """Genre (or tags) of every song in files and folders, on every core, as songs finish:
    the objects ``mgr-cli classify --json`` prints."""

def finetune(
    data: _Paths,
    out: _Path,
    progress: _Progress = None,
    on_epoch: Optional[Callable[[dict[str, Any]], Any]] = None,
    resume: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Learn the genres of GTZAN-style folders and write a model file; the run's report."""

def evaluate(
    data: _Paths,
    split: str = "kfold:5",
    train: Optional[str] = None,
    baselines: Sequence[Literal["mfcc", "published"]] = (),
    progress: _Progress = None,
    **options: Any,
) -> dict[str, Any]:
    """Measure a model on GTZAN-style folders or a tagged library; the report of ``mgr-cli eval gtzan --json``."""

def train_defaults() -> dict[str, Any]:
    """The keyword options of :func:`finetune` and :func:`evaluate` with their defaults."""
