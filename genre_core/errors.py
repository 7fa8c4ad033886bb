"""One exception family for everything a user can get wrong.

Every error a person can cause (a bad file, a bad dataset folder, a broken run
folder) raises a subclass of :class:`GenreLabError` whose message is a full
sentence naming the thing and the cause. The CLI prints ``str(err)`` on one
line and exits non-zero; the Streamlit pages show it with ``st.error``. Any
other exception is a bug in genre-lab.
"""

from __future__ import annotations


class GenreLabError(Exception):
    """Base class: a problem with the user's input, explained in plain words."""


class AudioError(GenreLabError):
    """An audio file could not be used.

    Parameters
    ----------
    source : str
        The file name (or ``"<upload>"``) the error is about.
    reason : str
        One of ``"empty"``, ``"not_audio"``, ``"corrupt"``, ``"truncated"``,
        ``"silent"``, ``"too_short"``, ``"too_long"``, ``"missing"``,
        ``"unsupported"``: a stable code tests and the UI can switch on.
    detail : str
        The sentence shown to a person (cause and what to do).
    """

    def __init__(self, source: str, reason: str, detail: str):
        self.source = str(source)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{self.source}: {detail}")


class DatasetError(GenreLabError):
    """A dataset folder or feature table cannot be used as asked."""


class SplitLeakError(DatasetError):
    """A split puts segments of one track (or artist) on two sides."""


class RunError(GenreLabError):
    """A run folder is missing, incomplete, tampered with or incompatible."""



class RunExistsError(RunError):
    """A complete run already has that name (replace it only on purpose: ``overwrite``)."""

class TrainingCancelled(GenreLabError):
    """Training was stopped on request; the run is recorded as cancelled."""
