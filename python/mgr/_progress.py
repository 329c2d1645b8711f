"""Progress of :func:`mgr.finetune` and :func:`mgr.evaluate` to a tqdm bar or a callable.

The extension reports to an object with any of ``begin(what, total)``, ``advance(n)``,
``note(line)`` and ``end()``; these adapters are such objects.
"""

_METHODS = ("begin", "advance", "note", "end")


class _Callback:
    """Calls ``f(stage, done, total)`` at the start of each stage and after every step."""

    def __init__(self, f):
        self._f = f
        self._stage = ""
        self._done = 0
        self._total = 0

    def begin(self, what, total):
        self._stage, self._done, self._total = what, 0, total
        self._f(what, 0, total)

    def advance(self, n):
        self._done += n
        self._f(self._stage, self._done, self._total)


class _Tqdm:
    """One tqdm bar per stage; notes are written above the bars."""

    def __init__(self):
        try:
            from tqdm.auto import tqdm
        except ImportError as e:
            raise ImportError("progress=True needs tqdm (pip install tqdm)") from e
        self._tqdm = tqdm
        self._bar = None

    def begin(self, what, total):
        self.end()
        self._bar = self._tqdm(total=total, desc=what)

    def advance(self, n):
        if self._bar is not None:
            self._bar.update(n)

    def note(self, line):
        self._tqdm.write(line)

    def end(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def progress_target(progress):
    """The object the extension reports to for a ``progress=`` argument."""
    if progress is None or progress is False:
        return None
    if progress is True:
        return _Tqdm()
    if any(hasattr(progress, m) for m in _METHODS):
        return progress
    if callable(progress):
        return _Callback(progress)
    raise TypeError(
        "progress: expected None, True, a callable f(stage, done, total) or an object with "
        f"begin/advance/note/end methods, got {type(progress).__name__}"
    )
