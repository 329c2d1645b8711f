"""mgr: music genre recognition and music tagging for numpy.

The published networks — Jiménez & Serra's GTZAN CRNN (10 genres) and Choi's CRNN and FCN
taggers (50 Million Song Dataset tags) — with their weights inside, their reference
front-end (the log-mel the networks were trained on, librosa's numbers) and mgr's streaming
multi-core library pipeline. Arrays are float32 numpy arrays in and out.

>>> import mgr
>>> y = mgr.load("song.mp3")                    # mono float32 at 12 kHz
>>> S = mgr.logmel(y)                            # (96, 1 + len(y) // 256), dB
>>> model = mgr.Model("gtzan")
>>> scores = model.predict(mgr.frames(y)).mean(axis=0)
>>> for song in mgr.classify("Music/"):          # every core, GIL released
...     print(song["path"], song["label"])

Errors are Python exceptions with the command line's one-line messages: a missing file is a
``FileNotFoundError``, audio mgr cannot decode an :class:`mgr.DecodeError` (a ``ValueError``),
and so on (see :mod:`mgr._errors`).
"""

from ._errors import (
    ComputeError,
    DatasetError,
    DecodeError,
    DeviceError,
    Error,
    InternalError,
    ModelError,
    TrainingError,
)
from ._mgr import (
    BUILTIN_MODELS,
    CLIP_SAMPLES,
    N_FRAMES,
    N_MELS,
    SAMPLE_RATE,
    WEIGHT_LICENSES,
    Classification,
    Model,
    __version__,
    classify,
    frames,
    load,
    logmel,
    resample,
    train_defaults,
)
from ._mgr import evaluate as _evaluate
from ._mgr import finetune as _finetune
from ._progress import progress_target as _progress_target


def finetune(data, out, progress=None, on_epoch=None, resume=False, **options):
    """Learn the genres of GTZAN-style folders and write a model file (``mgr-cli finetune``).

    The data: ``genres/<genre>/<file>``, ``genres_original/<genre>/<file>`` or
    ``<genre>/<file>``; several folders are used together. The default recipe (``stack``)
    learns on top of the published GTZAN CRNN and, trained on every song, reports its own
    artist-grouped 5-fold cross-validation. The file loads with :class:`mgr.Model` and
    :func:`mgr.classify`.

    Args:
        data: a data folder or a list of them.
        out: the model file to write (safetensors).
        progress: where progress goes: ``None`` (nowhere; notes to the ``mgr`` logger),
            ``True`` (a tqdm bar per stage), a callable ``f(stage, done, total)``, or an
            object with any of ``begin(what, total)``, ``advance(n)``, ``note(line)``,
            ``end()``.
        on_epoch: called with each epoch's numbers (a dict) of the ``finetune`` strategy.
        resume: continue from the checkpoint ``<out>.ckpt``.
        **options: the command line's options by their long names, ``_`` for ``-``
            (:func:`train_defaults` lists them with their defaults).

    Returns:
        dict: the run's report (``out``, ``genres``, ``train_songs``, ``valid_songs``,
        ``validation_accuracy``, ``cross_validation``, ``seconds``, ...).

    Raises:
        FileNotFoundError: a data folder that does not exist.
        mgr.DatasetError: folders without genre sub-folders, an unusable split.
        mgr.TrainingError: options that do not go together, a checkpoint of another run.
        KeyboardInterrupt: Ctrl-C; the run stops at its next progress report.
    """
    return _finetune(
        data, out, progress=_progress_target(progress), on_epoch=on_epoch, resume=resume, **options
    )


def evaluate(data, split="kfold:5", train=None, baselines=(), progress=None, **options):
    """Measure a model on GTZAN-style folders (``mgr-cli eval gtzan``).

    Accuracy, per-genre precision, recall and F1, macro-F1 and the confusion matrix, at frame
    and song level; artist-grouped where Sturm's index is found beside the data.

    Args:
        data: a data folder or a list of them.
        split: ``kfold:K`` (artist-grouped K folds), ``kfold-random:K``, ``all``,
            ``fault-filtered`` or ``random``.
        train: a strategy to train on each fold's training part first (``stack``,
            ``features-softmax``, ``features-svm``, ``finetune``), or ``None`` to measure the
            model as it is.
        baselines: any of ``"mfcc"``, ``"published"``, measured on the same folds.
        progress: as for :func:`finetune`.
        **options: as for :func:`finetune` (``model`` is the model measured, or the base of
            the classifier trained per fold).

    Returns:
        dict: the report ``mgr-cli eval gtzan --json`` writes.
    """
    return _evaluate(
        data,
        split=split,
        train=train,
        baselines=list(baselines),
        progress=_progress_target(progress),
        **options,
    )


__all__ = [
    "BUILTIN_MODELS",
    "CLIP_SAMPLES",
    "N_FRAMES",
    "N_MELS",
    "SAMPLE_RATE",
    "WEIGHT_LICENSES",
    "Classification",
    "ComputeError",
    "DatasetError",
    "DecodeError",
    "DeviceError",
    "Error",
    "InternalError",
    "Model",
    "ModelError",
    "TrainingError",
    "__version__",
    "classify",
    "evaluate",
    "finetune",
    "frames",
    "load",
    "logmel",
    "resample",
    "train_defaults",
]
