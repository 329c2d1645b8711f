"""The exceptions mgr raises. Each message is the CLI's one line.

A file that cannot be read is the builtin ``OSError`` of its cause (``FileNotFoundError``,
``PermissionError``, ``IsADirectoryError``); everything else mgr refuses is an ``mgr.Error``,
which also derives from the builtin a caller would expect (``ValueError`` for bad input,
``RuntimeError`` for a failure while running).
"""


class Error(Exception):
    """Base class of mgr's own exceptions."""


class DecodeError(Error, ValueError):
    """Audio mgr cannot decode or analyse: an unknown or damaged format, no samples,
    a sample rate below 8 kHz, non-finite samples, a file too large."""


class ModelError(Error, ValueError):
    """A model file that is not in the layout of the published networks, or a model that
    gave no scores."""


class DatasetError(Error, ValueError):
    """Data folders, artist index or split that training and evaluation cannot use."""


class DeviceError(Error, RuntimeError):
    """The compute device asked for is not available in this build or on this machine."""


class TrainingError(Error, RuntimeError):
    """Training or evaluation that cannot go on (a checkpoint of another run, options that
    do not go together, a model file that cannot be written)."""


class ComputeError(Error, RuntimeError):
    """A computation failed for a reason that is not the input's."""


class InternalError(Error, RuntimeError):
    """A bug in mgr (a Rust panic, caught at the boundary: the interpreter lives on)."""


__all__ = [
    "Error",
    "DecodeError",
    "ModelError",
    "DatasetError",
    "DeviceError",
    "TrainingError",
    "ComputeError",
    "InternalError",
]
