"""The run record: where a run's files live, its statuses and the :class:`Run` object."""


from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import RunError
from ..jsonio import read_json
from .fields import check_history

#: ``run.json`` schema version written by this genre-lab.
RUN_FORMAT = 1
RUN_FILE = "run.json"
STATUS_FILE = "status.json"
MODEL_DIR = "model"
TRACKS_FILE = "predictions_tracks.csv"
SEGMENTS_FILE = "predictions_segments.csv"
HISTORY_FILE = "history.json"
#: Backend name recorded for soft-voting runs over other runs.
VOTING_BACKEND = "voting"

#: Every status a listed run can have.
STATUSES = ("running", "complete", "failed", "cancelled", "crashed", "invalid")
#: Files that may appear in a run folder without being in the manifest.
IGNORED_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}
#: A tmp folder written on another host counts as crashed after this long without updates.
STALE_AFTER_S = 3600.0
#: Files a run folder holds by its layout (besides the manifest's and ``model/``).
LAYOUT_FILES = frozenset({RUN_FILE, STATUS_FILE, TRACKS_FILE, SEGMENTS_FILE, HISTORY_FILE})

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,119}$")
_TMP_RE = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)$")
_OLD_RE = re.compile(r"^\..+\.old-\d+$")


def read_status(folder: Path) -> dict | None:
    """The ``status.json`` a :class:`~genre_core.runs.RunWriter` keeps in a run's tmp folder, or ``None``
    when it is missing, unreadable or not an object."""
    try:
        st = read_json(Path(folder) / STATUS_FILE, STATUS_FILE)
    except RunError:
        return None
    return st if isinstance(st, dict) else None


def _field(value: Any, key: str) -> Any:
    """``value[key]`` for a record kept as a dict, the value itself when it is a plain string."""
    if isinstance(value, Mapping):
        return value.get(key)
    return value if isinstance(value, str) else None


# --------------------------------------------------------------------------- the Run


#: Serialises model loading (mostly imports and file reads, which hold the GIL anyway).
_MODEL_LOAD_LOCK = threading.RLock()


@dataclass
class Run:
    """One run folder: its record, and once loaded, its model.

    Attributes
    ----------
    path : Path
        The folder (a hidden ``.NAME.tmp-PID`` folder for running/crashed runs).
    name : str
        Folder name (without the tmp decoration).
    location : str
        ``"user"``, ``"shipped"`` or ``"path"``.
    info : dict
        ``run.json`` (for running/crashed runs: what ``status.json`` knows).
    status : str
        One of :data:`STATUSES`.
    progress : dict or None
        ``status.json`` of a running / crashed run.
    model : GenreModel or None
        Set by :func:`load_run` (``None`` for voting runs and listed runs).
    members : list of (Run, float)
        Loaded member runs and weights of a voting run.
    tables : dict
        What was read of the run's files, kept: ``"tracks"``, ``"segments"``
        and ``"history"`` (see :attr:`tracks`, :attr:`segments`,
        :meth:`history`); may be given up front (e.g. by tests).
    """

    path: Path
    name: str
    location: str
    info: dict = field(default_factory=dict)
    status: str = "complete"
    progress: dict | None = None
    model: Any = None
    members: list = field(default_factory=list)
    tables: dict = field(default_factory=dict, repr=False, compare=False)

    # ---- identity ----------------------------------------------------------
    @property
    def id(self) -> str:
        """``user/NAME``, ``shipped/NAME`` or the absolute folder path."""
        if self.location in ("user", "shipped"):
            return f"{self.location}/{self.name}"
        return str(Path(self.path).resolve())

    @property
    def backend(self) -> str | None:
        return self.info.get("backend")

    @property
    def is_voting(self) -> bool:
        return self.backend == VOTING_BACKEND

    @property
    def labels(self) -> list[str]:
        return [str(v) for v in self.info.get("labels") or []]

    @property
    def metrics(self) -> dict:
        return self.info.get("metrics") or {}

    @property
    def params(self) -> dict:
        return self.info.get("params") or {}

    @property
    def input_spec(self):
        """The :class:`~genre_core.inputs.InputSpec` (``None`` for voting runs)."""
        if self.model is not None:
            return self.model.input_spec
        d = self.info.get("input_spec")
        if not d:
            return None
        from ..inputs import InputSpec

        return InputSpec.from_dict(d)

    def __repr__(self) -> str:
        return f"Run({self.id!r}, backend={self.backend!r}, status={self.status!r})"

    # ---- summaries ---------------------------------------------------------
    def headline(self) -> dict:
        """The figures a listing shows (``None`` where unknown)."""
        m = self.metrics
        prog = self.progress or {}
        return {
            "id": self.id,
            "name": self.name,
            "location": self.location,
            "status": self.status,
            "backend": self.backend or prog.get("backend"),
            "dataset": _field(self.info.get("dataset"), "name") or prog.get("dataset"),
            "split": _field(self.info.get("split"), "protocol"),
            "evaluated_on": m.get("evaluated_on"),
            "n_tracks": m.get("n_tracks"),
            "track_accuracy": m.get("track_accuracy"),
            "track_accuracy_ci": m.get("track_accuracy_ci"),
            "balanced_accuracy": m.get("balanced_accuracy"),
            "macro_f1": m.get("macro_f1"),
            "segment_accuracy": m.get("segment_accuracy"),
            "size_bytes": self.info.get("size_bytes"),
            "created": self.info.get("created") or prog.get("started"),
            "error": self.info.get("error"),
            "stage": prog.get("stage") if self.status in ("running", "crashed") else None,
        }

    # ---- artifacts ---------------------------------------------------------
    def track_predictions(self):
        """Per-track test predictions as a DataFrame (``track_id, true, predicted, correct, confidence, p_<label>...``)."""
        return self._read_csv(TRACKS_FILE)

    def segment_predictions(self):
        """Per-segment test predictions (``track_id, segment, start, end, true, predicted, p_<label>...``)."""
        return self._read_csv(SEGMENTS_FILE)

    def _read_csv(self, fname: str):
        import pandas as pd

        p = Path(self.path) / fname
        if not p.is_file():
            raise RunError(f"{p}: this run has no {fname}.")
        return pd.read_csv(p, dtype={"track_id": str, "true": str, "predicted": str, "vote": str},
                           keep_default_na=False, na_values=[""])

    @property
    def tracks(self):
        """:meth:`track_predictions`, read once; an empty table when the run has none."""
        def empty():
            import pandas as pd

            return pd.DataFrame(columns=["track_id", "true", "predicted", "correct", "confidence"])

        return self._kept("tracks", self.track_predictions, empty)

    @property
    def segments(self):
        """:meth:`segment_predictions`, read once; ``None`` when the run has none (voting runs)."""
        return self._kept("segments", self.segment_predictions, lambda: None)

    def _kept(self, key: str, read, missing):
        if key not in self.tables:
            try:
                self.tables[key] = read()
            except RunError:
                self.tables[key] = missing()
        return self.tables[key]

    def track_correctness(self) -> dict[str, bool]:
        """``{track_id: predicted == true}`` on this run's test tracks (for McNemar; empty without tracks)."""
        t = self.tracks
        if t is None or t.empty:
            return {}
        return {str(k): bool(c) for k, c in zip(t["track_id"], t["true"].astype(str) == t["predicted"].astype(str))}

    def test_ids(self) -> frozenset:
        """The ids of the tracks this run was tested on (its prediction table's)."""
        t = self.tracks
        return frozenset(t["track_id"].astype(str)) if t is not None and len(t) else frozenset()

    def history(self) -> list[dict]:
        """Per-epoch history, read once (empty list when the backend has none)."""
        if "history" not in self.tables:
            p = Path(self.path) / HISTORY_FILE
            self.tables["history"] = check_history(read_json(p, "history"), str(p)) if p.is_file() else []
        return self.tables["history"]

    def load_model(self):
        """Load (once) and return the model; ``None`` for voting runs.

        Thread-safe: a second thread asking while the model loads waits for it
        (one load, one model object) instead of loading it again.
        """
        if self.model is None and not self.is_voting:
            with _MODEL_LOAD_LOCK:
                if self.model is None:
                    from .loading import _load_model
                    self.model = _load_model(self)
        return self.model


# --------------------------------------------------------------------------- writing


# --------------------------------------------------------------------------- listing


# --------------------------------------------------------------------------- loading


