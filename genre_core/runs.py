"""The runs registry: trained models with everything needed to trust them.

A *run* is one folder holding a trained model and its record::

    <name>/
        run.json                  what, how, on what, how well (see below)
        model/                    written by GenreModel.save (absent for voting runs)
        predictions_tracks.csv    test predictions per track (drill-down)
        predictions_segments.csv  test predictions per segment
        history.json              per-epoch history (loss / accuracy, train and valid)

Runs live in two places: **user runs** in :func:`~genre_core.config.user_runs_dir`
(``models/user/``, git-ignored, what ``train`` writes) and **shipped runs** in
:func:`~genre_core.config.shipped_runs_dir` (``models/shipped/``, committed).
A run is named by its folder name and can be referred to as ``NAME`` (when the
name exists in only one place), ``user/NAME``, ``shipped/NAME`` or a path to
the folder. Its *id* is ``user/NAME`` or ``shipped/NAME`` (the absolute path
for a folder outside the registry).

``run.json`` records: ``name``, ``backend``, ``params``, ``input_spec``,
``labels``, ``dataset`` (name, roots as given, kind, fingerprint), ``split``
(protocol, seed, track ids per side), ``seed``, ``versions`` (numpy, torch,
tensorflow, keras, xgboost, librosa, sklearn, genre_core), ``metrics`` (see
:func:`genre_core.evaluation.evaluate_predictions`), ``timings``
(``extraction_s``, ``training_s``, ``inference_s_per_track``), ``size_bytes``
and ``model_size_bytes``, ``status``, ``error``, ``created`` / ``finished``
(ISO 8601, UTC) and ``files``: the SHA-256 of every other file in the folder.
Voting-ensemble runs (``backend == "voting"``) have no ``model/`` but
``members``: ``[{"id", "weight", "run_json_sha256"}]``.

Atomic writing
--------------
:class:`RunWriter` writes into a hidden sibling folder ``.<name>.tmp-<pid>``
and only renames it to ``<name>`` once everything, ``run.json`` last, is on
disk. While it works, ``status.json`` in that folder holds the current stage
and progress (``{"stage", "done", "total", "pid", "host", "updated", ...}``) so
a UI can follow a run trained by another process. Outcomes:

* success: ``run.json`` with ``status: "complete"`` and the checksums, then
  ``rename(tmp, <name>)``;
* an exception or cancellation (:class:`~genre_core.errors.TrainingCancelled`,
  ``KeyboardInterrupt``): the folder is still renamed to ``<name>`` (so the
  user can see what happened), but its ``run.json`` says ``status: "failed"``
  or ``"cancelled"`` with the error message, and has no ``files`` manifest:
  :func:`load_run` refuses it. A later run with the same name replaces it. If
  ``<name>`` is taken by a complete run in the meantime, the failed folder is
  named ``<name>-failed-<n>`` instead;
* a hard crash (power cut, ``kill -9``): the hidden tmp folder stays behind;
  :func:`list_runs` reports it as ``"crashed"`` once its process is gone (as
  ``"running"`` while it lives) and :func:`delete_run` removes it.

No state of the folder ever *looks* complete without being complete: a
``<name>`` folder either has a complete ``run.json`` whose checksums match, or
it is refused by :func:`load_run` with a sentence saying why.

Loading
-------
:func:`load_run` checks, in this order: the folder exists and has a
well-formed ``run.json``; its status is ``complete``; every file in the
manifest exists and its SHA-256 matches; no unlisted file sits in the folder;
the JSON artifacts parse. Then the model is loaded through the backend
registry (formats that cannot execute code; see :mod:`genre_core.backends`).
For a voting run, its members are resolved and loaded the same way and must
still be the runs the ensemble was built from (``run_json_sha256``).

Example
-------
>>> from genre_core.runs import list_runs, load_run
>>> for r in list_runs():                        # doctest: +SKIP
...     print(r.id, r.status, r.headline())
>>> run = load_run("shipped/mlp-gtzan")          # doctest: +SKIP
>>> run.model.predict_proba(X)                   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from . import config
from .errors import GenreLabError, RunError, RunExistsError, TrainingCancelled
from .jsonio import read_json
from .run_record import check_history, check_run_record

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

__all__ = [
    "RUN_FORMAT",
    "Run",
    "RunWriter",
    "STATUSES",
    "VOTING_BACKEND",
    "check_run_name",
    "check_target",
    "delete_run",
    "file_sha256",
    "library_versions",
    "list_runs",
    "load_run",
    "load_runs",
    "new_run_name",
    "rename_run",
    "resolve_out",
    "resolve_run",
    "run_record_of",
]


# --------------------------------------------------------------------------- small helpers


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def file_sha256(path: Path, *, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return _clean_float(float(o))
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return _clean(o.tolist())
    if isinstance(o, (tuple, set, frozenset)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "to_dict"):
        return o.to_dict()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _clean_float(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _clean(obj: Any) -> Any:
    """Replace NaN/inf by None, recursively (JSON has no NaN)."""
    if isinstance(obj, float):
        return _clean_float(obj)
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _dump_json(obj: Any) -> str:
    return json.dumps(_clean(obj), indent=2, allow_nan=False, default=_json_default) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    """Write a small text file so readers never see it half written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries a run depends on (``None`` if absent).

    Read from package metadata, so nothing heavy is imported.
    """
    import importlib.metadata as md

    from . import __version__

    wanted = {
        "numpy": ("numpy",),
        "torch": ("torch",),
        "tensorflow": ("tensorflow", "tensorflow-cpu"),
        "keras": ("keras",),
        "xgboost": ("xgboost", "xgboost-cpu"),
        "librosa": ("librosa",),
        "sklearn": ("scikit-learn",),
        "soundfile": ("soundfile",),
    }
    out: dict[str, str | None] = {}
    for key, dists in wanted.items():
        out[key] = None
        for d in dists:
            try:
                out[key] = md.version(d)
                break
            except md.PackageNotFoundError:
                continue
    out["genre_core"] = __version__
    import platform

    out["python"] = platform.python_version()
    return out


def check_run_name(name: str) -> str:
    """Return ``name`` if it can be a run folder name, else raise :class:`RunError`.

    Allowed: letters, digits, ``. _ + -``, starting with a letter or digit, at
    most 120 characters.

    Examples
    --------
    >>> check_run_name("mlp-gtzan-seed0")
    'mlp-gtzan-seed0'
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise RunError(
            f"{name!r} is not a valid run name: use letters, digits, '.', '_', '+' or '-' "
            f"(starting with a letter or digit, at most 120 characters)."
        )
    return name


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower()
    return s[:40] or "data"


def new_run_name(backend: str, dataset_name: str = "", *, root: Path | None = None) -> str:
    """A fresh, readable name ``<backend>-<dataset>-<YYYYmmdd-HHMMSS>`` unused under ``root``."""
    root = Path(root) if root is not None else config.user_runs_dir()
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = "-".join(p for p in (_slug(backend), _slug(dataset_name) if dataset_name else "", stamp) if p)
    name, i = base, 1
    while (root / name).exists() or any(root.glob(f".{name}.tmp-*")):
        i += 1
        name = f"{base}-{i}"
    return name


# --------------------------------------------------------------------------- references


def _locations() -> dict[str, Path]:
    return {"user": config.user_runs_dir(), "shipped": config.shipped_runs_dir()}


def _location_of(path: Path) -> tuple[str, str]:
    """(location, id) of a run folder path."""
    path = Path(path)
    parent = path.parent.resolve()
    for loc, root in _locations().items():
        try:
            if parent == root.resolve():
                return loc, f"{loc}/{path.name}"
        except OSError:
            continue
    return "path", str(path.resolve())


def resolve_run(ref: str | os.PathLike) -> Path:
    """The folder a run reference names.

    Parameters
    ----------
    ref : str or path
        ``NAME`` (a user or shipped run; an error if both exist), ``user/NAME``,
        ``shipped/NAME``, or a path to a run folder.

    Raises
    ------
    RunError
        Nothing by that name, or the name is ambiguous.
    """
    if isinstance(ref, Run):
        return ref.path
    text = str(ref).strip()
    if not text:
        raise RunError("No run given.")
    locs = _locations()
    head, _, tail = text.replace("\\", "/").partition("/")
    if head in locs and tail and "/" not in tail:
        p = locs[head] / tail
        if p.is_dir():
            return p
        tmp = _tmp_folders(locs[head], tail)
        if tmp:
            raise RunError(f"Run {head}/{tail} is still being written or crashed while training ({tmp[0].name}).")
        if not Path(text).is_dir():
            raise RunError(f"No run named {tail!r} in {head} runs ({locs[head]}); `python -m genre_core runs` lists them.")
    p = Path(text).expanduser()
    if ("/" in text or "\\" in text or text.startswith(".")) and p.is_dir():
        return p
    if _NAME_RE.match(text):
        found = [locs[loc] / text for loc in locs if (locs[loc] / text).is_dir()]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise RunError(f"Run name {text!r} exists as both user/{text} and shipped/{text}; say which one.")
        for loc in locs:
            tmp = _tmp_folders(locs[loc], text)
            if tmp:
                raise RunError(f"Run {loc}/{text} is still being written or crashed while training ({tmp[0].name}).")
    if p.is_dir():
        return p
    raise RunError(f"No run {text!r}: not a user or shipped run name, nor a folder; `python -m genre_core runs` lists them.")


def _tmp_folders(root: Path, name: str) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob(f".{name}.tmp-*") if p.is_dir() and _TMP_RE.match(p.name))


def resolve_out(out: str | os.PathLike | None, *, backend: str = "run", dataset_name: str = "") -> tuple[Path, str]:
    """Where a new run goes: ``(root folder, name)``.

    ``None`` -> a fresh name in the user runs; ``NAME`` or ``user/NAME`` -> user
    runs; ``shipped/NAME`` -> shipped runs; ``models/NAME`` (the registry root)
    -> user runs; any other path -> that folder (outside the registry).
    """
    if out is None or str(out).strip() == "":
        root = config.user_runs_dir()
        return root, new_run_name(backend, dataset_name, root=root)
    text = str(out).strip().rstrip("/\\")
    locs = _locations()
    head, _, tail = text.replace("\\", "/").partition("/")
    if not tail:
        return locs["user"], check_run_name(text)
    if head in locs and "/" not in tail:
        return locs[head], check_run_name(tail)
    p = Path(text).expanduser().resolve()
    name = check_run_name(p.name)
    if p.parent == config.models_dir().resolve():
        return locs["user"], name
    return p.parent, name


# --------------------------------------------------------------------------- ownership


def run_record_of(folder: str | os.PathLike) -> dict | None:
    """``run.json`` of ``folder`` if the folder is provably a genre-lab run, else ``None``.

    Provably: a real folder (not a symlink) whose ``run.json`` is a regular
    file holding a JSON object with an integer ``format`` this genre-lab knows,
    a known ``status`` and a ``name``; a complete run also has its ``files``
    manifest. Only such folders (and genre-lab's own temporary folders) are
    ever replaced or deleted.
    """
    folder = Path(folder)
    try:
        if folder.is_symlink() or not folder.is_dir():
            return None
        info = read_json(folder / RUN_FILE, RUN_FILE)
    except (RunError, OSError):
        return None
    if not isinstance(info, dict):
        return None
    fmt, status = info.get("format"), info.get("status")
    if not isinstance(fmt, int) or isinstance(fmt, bool) or not 1 <= fmt <= RUN_FORMAT:
        return None
    if status not in STATUSES or not isinstance(info.get("name"), str):
        return None
    if status == "complete" and not isinstance(info.get("files"), dict):
        return None
    return info


def _is_own_tmp(folder: Path) -> bool:
    """A ``.NAME.tmp-PID`` folder with the ``status.json`` :class:`RunWriter` writes."""
    if folder.is_symlink() or not folder.is_dir() or not _TMP_RE.match(folder.name):
        return False
    try:
        st = read_json(folder / STATUS_FILE, STATUS_FILE)
    except RunError:
        return False
    return isinstance(st, dict) and isinstance(st.get("pid"), int)


def _written_by_us(rel: str, manifest: Iterable[str] | None) -> bool:
    """Whether ``rel`` (a regular file's path inside a run folder) is one genre-lab wrote.

    The layout files (:data:`LAYOUT_FILES`), the files the manifest names, the
    regular files under ``model/`` (all of them when there is no manifest: a
    failed or crashed run), OS clutter (:data:`IGNORED_FILES`) and our own
    ``.*.part`` temporaries.
    """
    listed = manifest if isinstance(manifest, (set, frozenset, dict)) else set(manifest or ())
    if rel in LAYOUT_FILES or rel in listed or Path(rel).name in IGNORED_FILES:
        return True
    if rel.startswith(MODEL_DIR + "/"):
        return manifest is None
    return rel.startswith(".") and rel.endswith(".part")


def _remove_written(folder: Path, manifest: Iterable[str] | None) -> list[str]:
    """Delete the files genre-lab wrote in a run folder; returns what was left (relative paths).

    Removed: the layout files (:data:`LAYOUT_FILES`), the files the manifest
    names, and the regular files under ``model/`` (all of them when there is
    no manifest: a failed or crashed run). Never followed or removed: symbolic
    links and any other file. Emptied folders are removed, the run folder too.
    """
    folder = Path(folder)
    listed = None if manifest is None else {str(m) for m in manifest}
    left: list[str] = []

    def walk(d: Path, prefix: str) -> bool:
        """Remove owned files under ``d``; True when ``d`` ended empty."""
        empty = True
        try:
            entries = list(os.scandir(d))
        except OSError:
            return False
        for e in entries:
            rel = prefix + e.name
            if e.is_symlink():
                left.append(rel)
                empty = False
            elif e.is_dir(follow_symlinks=False):
                if walk(Path(e.path), rel + "/"):
                    try:
                        os.rmdir(e.path)
                    except OSError:
                        left.append(rel + "/")
                        empty = False
                else:
                    empty = False
            elif e.is_file(follow_symlinks=False) and _written_by_us(rel, listed):
                try:
                    os.unlink(e.path)
                except FileNotFoundError:
                    pass
            else:
                left.append(rel)
                empty = False
        return empty

    if walk(folder, ""):
        try:
            os.rmdir(folder)
        except OSError:
            left.append(".")
    return sorted(left)


def check_target(root: Path, name: str, *, overwrite: bool = False) -> Path:
    """Refuse a run target that genre-lab may not write; returns ``root / name``.

    Allowed: a free name; a failed or cancelled genre-lab run of that name
    (replaced once the new run is written); a complete genre-lab run with
    ``overwrite``. Anything else at the path (a user's folder, a file, a
    symlink, a folder holding files genre-lab did not write) is a
    :class:`RunError` naming the path.
    """
    target = Path(root) / check_run_name(name)
    if not (target.exists() or target.is_symlink()):
        return target
    if target.is_symlink() or not target.is_dir():
        raise RunError(f"{target} exists and is not a run folder; genre-lab will not replace it. "
                       f"Choose another run name or location.")
    info = run_record_of(target)
    if info is None:
        raise RunError(f"{target} exists and is not a genre-lab run (no valid run.json); genre-lab will not "
                       f"replace or delete it. Choose another run name or location.")
    if info.get("status") == "complete" and not overwrite:
        raise RunExistsError(
            f"A run named {name!r} already exists in {root}; choose another name or delete it first."
        )
    foreign = _foreign_files(target, info)
    if foreign:
        raise RunError(f"The run folder {target} also holds files genre-lab did not write "
                       f"({', '.join(foreign[:3])}{'...' if len(foreign) > 3 else ''}); it will not be replaced. "
                       f"Move those files away or choose another run name.")
    return target


def _foreign_files(folder: Path, info: Mapping) -> list[str]:
    """Files in a run folder that neither the layout nor the manifest names (symlinks included)."""
    files = info.get("files") if isinstance(info.get("files"), dict) else None
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        base = Path(dirpath)
        for n in list(dirnames) + filenames:
            p = base / n
            rel = p.relative_to(folder).as_posix()
            if p.is_symlink() or (n in filenames and not _written_by_us(rel, files)):
                out.append(rel)
    return sorted(out)


def _field(value: Any, key: str) -> Any:
    """``value[key]`` for a record kept as a dict, the value itself when it is a plain string."""
    if isinstance(value, Mapping):
        return value.get(key)
    return value if isinstance(value, str) else None


# --------------------------------------------------------------------------- the Run


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
    """

    path: Path
    name: str
    location: str
    info: dict = field(default_factory=dict)
    status: str = "complete"
    progress: dict | None = None
    model: Any = None
    members: list = field(default_factory=list)

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
        from .inputs import InputSpec

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

    def track_correctness(self) -> dict[str, bool]:
        """``{track_id: predicted == true}`` on this run's test tracks (for McNemar)."""
        df = self.track_predictions()
        return {str(t): bool(c) for t, c in zip(df["track_id"], df["true"] == df["predicted"])}

    def history(self) -> list[dict]:
        """Per-epoch history (empty list when the backend has none)."""
        p = Path(self.path) / HISTORY_FILE
        if not p.is_file():
            return []
        return check_history(read_json(p, "history"), str(p))

    def load_model(self):
        """Load (once) and return the model; ``None`` for voting runs."""
        if self.model is None and not self.is_voting:
            self.model = _load_model(self)
        return self.model


# --------------------------------------------------------------------------- writing


class RunWriter:
    """Write a run folder atomically (see the module docstring).

    Parameters
    ----------
    name : str
        Folder name of the run (see :func:`check_run_name`).
    root : path, optional
        Parent folder; default :func:`~genre_core.config.user_runs_dir`.
    overwrite : bool
        Replace an existing *complete* run of that name on success. Failed,
        cancelled and crashed runs of that name are always replaced.
    meta : dict, optional
        Facts to show in ``status.json`` from the start (backend, dataset...).

    Examples
    --------
    >>> with RunWriter("demo", root=tmp) as w:             # doctest: +SKIP
    ...     w.update({"stage": "training", "done": 1, "total": 10})
    ...     w.save_model(model)
    ...     w.write_predictions(tracks_df, segments_df)
    ...     run = w.finish({"backend": "mlp", "labels": [...], "metrics": {...}})
    """

    def __init__(self, name: str, *, root: Path | None = None, overwrite: bool = False, meta: Mapping | None = None):
        self.name = check_run_name(name)
        self.root = Path(root) if root is not None else config.user_runs_dir()
        self.target = self.root / self.name
        self.overwrite = overwrite
        check_target(self.root, self.name, overwrite=overwrite)
        for other in _tmp_folders(self.root, self.name):
            m = _TMP_RE.match(other.name)
            if m and int(m.group("pid")) != os.getpid() and _pid_alive(int(m.group("pid"))) \
                    and _same_host(other):
                raise RunError(f"A run named {self.name!r} is being trained right now (process {m.group('pid')}).")
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / f".{self.name}.tmp-{os.getpid()}"
        if self.path.exists() or self.path.is_symlink():
            if not _is_own_tmp(self.path) or _remove_written(self.path, None):
                raise RunError(f"{self.path} is in the way and is not genre-lab's own temporary folder; "
                               f"remove it or choose another run name.")
        self.path.mkdir()
        self.closed = False
        self.created = _now()
        self._t_last = 0.0
        self._status = {
            "name": self.name,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": self.created,
            "updated": self.created,
            "stage": "starting",
            "done": 0,
            "total": 0,
            **dict(meta or {}),
        }
        self._write_status()

    # ---- status --------------------------------------------------------------
    def _write_status(self) -> None:
        self._status["updated"] = _now()
        try:
            _write_atomic(self.path / STATUS_FILE, _dump_json(self._status))
        except OSError:
            pass  # status is advisory; never fail a training for it

    def update(self, progress: Mapping, *, min_interval: float = 0.5) -> None:
        """Record the latest progress dict in ``status.json`` (throttled unless the stage changes)."""
        if self.closed:
            return
        stage_changed = progress.get("stage") != self._status.get("stage")
        now = time.monotonic()
        self._status.update({k: v for k, v in progress.items() if _jsonable_scalar(v)})
        if stage_changed or now - self._t_last >= min_interval:
            self._t_last = now
            self._write_status()

    # ---- artifacts -----------------------------------------------------------
    @property
    def model_dir(self) -> Path:
        return self.path / MODEL_DIR

    def save_model(self, model) -> list[Path]:
        """``model.save(<tmp>/model)``."""
        return model.save(self.model_dir)

    def write_json(self, fname: str, obj: Any) -> Path:
        p = self.path / fname
        p.write_text(_dump_json(obj), encoding="utf-8")
        return p

    def write_history(self, history: list[dict]) -> Path:
        return self.write_json(HISTORY_FILE, list(history or []))

    def write_predictions(self, tracks=None, segments=None) -> None:
        """Write the per-track / per-segment prediction tables (DataFrames) as CSV."""
        if tracks is not None:
            tracks.to_csv(self.path / TRACKS_FILE, index=False, float_format="%.6g")
        if segments is not None:
            segments.to_csv(self.path / SEGMENTS_FILE, index=False, float_format="%.6g")

    # ---- outcomes ------------------------------------------------------------
    def _manifest(self) -> dict[str, str]:
        files = {}
        for p in sorted(self.path.rglob("*")):
            if p.is_file() and p.name not in (RUN_FILE, STATUS_FILE) and not p.name.endswith(".part"):
                files[p.relative_to(self.path).as_posix()] = file_sha256(p)
        return files

    def finish(self, info: Mapping) -> Run:
        """Complete the run: checksums, ``run.json``, rename into place. Returns the :class:`Run`."""
        if self.closed:
            raise RunError(f"Run {self.name!r} was already closed.")
        self.update({"stage": "saving", "done": 0, "total": 1})
        record = self._record(info, "complete")
        (self.path / STATUS_FILE).unlink(missing_ok=True)
        record["files"] = self._manifest()
        model_dir = self.model_dir
        record["model_size_bytes"] = _folder_size(model_dir) if model_dir.is_dir() else 0
        record["size_bytes"] = _folder_size(self.path)
        record["finished"] = _now()
        text = _dump_json(record)
        record["size_bytes"] += len(text.encode("utf-8"))
        text = _dump_json(record)
        (self.path / RUN_FILE).write_text(text, encoding="utf-8")
        _fsync_tree(self.path)
        final = self._move_into_place(complete=True)
        self.closed = True
        loc, _ = _location_of(final)
        return Run(path=final, name=final.name, location=loc, info=record, status="complete")

    def fail(self, error: BaseException | str, *, status: str | None = None, info: Mapping | None = None) -> Path:
        """Close the run as ``failed`` or ``cancelled`` (see the module docstring); returns its folder."""
        if self.closed:
            return self.target
        if status is None:
            status = "cancelled" if isinstance(error, (TrainingCancelled, KeyboardInterrupt)) else "failed"
        msg = str(error) if not isinstance(error, BaseException) else (str(error) or type(error).__name__)
        if isinstance(error, BaseException) and not isinstance(error, GenreLabError):
            msg = f"{type(error).__name__}: {msg}"
        record = self._record(info or {}, status)
        record["error"] = msg
        record["finished"] = _now()
        record["stage"] = self._status.get("stage")
        record.pop("files", None)
        try:
            (self.path / STATUS_FILE).unlink(missing_ok=True)
            (self.path / RUN_FILE).write_text(_dump_json(record), encoding="utf-8")
            final = self._move_into_place(complete=False)
        except OSError:
            final = self.path  # leave the tmp folder: listed as crashed
        self.closed = True
        return final

    def abandon(self) -> None:
        """Remove the tmp folder without leaving any trace."""
        if not self.closed:
            _remove_written(self.path, None)
            self.closed = True

    def _record(self, info: Mapping, status: str) -> dict:
        record = {
            "format": RUN_FORMAT,
            "name": self.name,
            "status": status,
            "error": None,
            "created": self.created,
        }
        for k in ("backend", "dataset", "seed"):
            if k in self._status and k not in info:
                record[k] = self._status[k]
        record.update(dict(info))
        record["status"] = status
        record["name"] = self.name
        record.setdefault("versions", library_versions())
        return record

    def _move_into_place(self, *, complete: bool) -> Path:
        target = self.target
        if target.exists() or target.is_symlink():
            replaceable = True
            try:
                check_target(self.root, self.name, overwrite=complete and self.overwrite)
            except RunError:
                replaceable = False
            if not replaceable:
                # a complete run, or something that is not genre-lab's, took the name: never clobber it
                suffix = "" if complete else "-failed"
                i = 1 if suffix else 2
                while (self.root / f"{self.name}{suffix}-{i}").exists():
                    i += 1
                target = self.root / f"{self.name}{suffix}-{i}"
            else:
                old_info = run_record_of(target) or {}
                old = self.root / f".{self.name}.old-{os.getpid()}"
                if old.exists() or old.is_symlink():
                    raise OSError(f"{old} is in the way")
                os.rename(self.target, old)
                os.rename(self.path, target)
                _remove_written(old, (old_info.get("files") or None))
                return target
        os.rename(self.path, target)
        return target

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is not None and not self.closed:
            self.fail(exc)
        elif not self.closed:
            self.fail("The run was closed without being finished.")
        return False


def _jsonable_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool, np.integer, np.floating))


def _fsync_tree(path: Path) -> None:
    """Flush the folder's files to disk before the rename makes them visible."""
    try:
        for p in Path(path).rglob("*"):
            if p.is_file():
                fd = os.open(p, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
    except OSError:
        pass


def _same_host(tmp: Path) -> bool:
    try:
        st = json.loads((tmp / STATUS_FILE).read_text(encoding="utf-8"))
        return st.get("host") in (None, socket.gethostname())
    except (OSError, ValueError):
        return True


def _peek_status(folder: Path) -> str:
    info = run_record_of(folder)
    return info["status"] if info is not None else "invalid"


# --------------------------------------------------------------------------- listing


def _tmp_run(path: Path, location: str) -> Run:
    m = _TMP_RE.match(path.name)
    name, pid = m.group("name"), int(m.group("pid"))
    try:
        st = json.loads((path / STATUS_FILE).read_text(encoding="utf-8"))
        if not isinstance(st, dict):
            st = {}
    except (OSError, ValueError):
        st = {}
    host = st.get("host")
    if host in (None, socket.gethostname()):
        alive = _pid_alive(pid)
    else:  # another machine: trust recent updates only
        try:
            updated = _dt.datetime.fromisoformat(st.get("updated", ""))
            alive = (_dt.datetime.now(_dt.timezone.utc) - updated).total_seconds() < STALE_AFTER_S
        except (TypeError, ValueError):
            alive = False
    status = "running" if alive else "crashed"
    info = {k: st[k] for k in ("backend", "dataset") if k in st}
    info["created"] = st.get("started")
    if status == "crashed":
        info["error"] = f"The training process ({pid}) ended without finishing this run (stage {st.get('stage', '?')!r})."
    return Run(path=path, name=name, location=location, info=info, status=status, progress=st)


def _listed_run(p: Path, loc: str) -> Run:
    """A run folder as listed: its record, or ``"invalid"`` with the reason (never an exception)."""
    try:
        info = check_run_record(read_json(p / RUN_FILE, RUN_FILE), str(p / RUN_FILE), run_format=RUN_FORMAT)
        status = info["status"]
    except RunError as err:
        info, status = {"error": str(err)}, "invalid"
    return Run(path=p, name=p.name, location=loc, info=info, status=status)


def list_runs(*, locations: Iterable[str] = ("user", "shipped")) -> list[Run]:
    """Every run in the registry, newest first, with its status.

    Complete, failed and cancelled runs come from their ``run.json``; hidden
    tmp folders are ``"running"`` (their process is alive) or ``"crashed"``;
    a folder with a missing or unreadable ``run.json`` is ``"invalid"``.
    Checksums are not verified here (that is :func:`load_run`'s job).
    """
    roots = _locations()
    runs: list[Run] = []
    for loc in locations:
        root = roots[loc]
        if not root.is_dir():
            continue
        for p in root.iterdir():
            if p.is_symlink() or not p.is_dir() or _OLD_RE.match(p.name):
                continue
            if _TMP_RE.match(p.name):
                runs.append(_tmp_run(p, loc))
                continue
            if p.name.startswith("."):
                continue
            runs.append(_listed_run(p, loc))
    runs.sort(key=lambda r: (str(r.info.get("created") or ""), r.name), reverse=True)
    return runs


def delete_run(ref: str | os.PathLike | Run, *, allow_shipped: bool = False) -> Path:
    """Delete a user run folder (complete, failed, cancelled or crashed); returns the path removed.

    Shipped runs are part of the repository and are refused unless
    ``allow_shipped``. A running run is refused.
    """
    if isinstance(ref, Run):
        run = ref
    else:
        text = str(ref)
        head, _, tail = text.partition("/")
        locs = _locations()
        crashed = [r for r in list_runs() if r.status in ("crashed", "running") and
                   (r.name == text or (head in locs and r.location == head and r.name == tail))]
        try:
            path = resolve_run(ref)
            loc, _ = _location_of(path)
            run = Run(path=path, name=path.name, location=loc, status=_peek_status(path))
        except RunError:
            if not crashed:
                raise
            run = crashed[0]
    if run.status == "running":
        raise RunError(f"Run {run.id} is being trained right now; stop it first.")
    if run.location == "shipped" and not allow_shipped:
        raise RunError(f"Run {run.id} is shipped with genre-lab and cannot be deleted from here.")
    path = Path(run.path)
    if _is_own_tmp(path):
        manifest = None
    else:
        info = run_record_of(path)
        if info is None:
            raise RunError(f"{path} is not a genre-lab run (no valid run.json); genre-lab deletes only what it "
                           f"wrote, so it is left as it is.")
        manifest = list(info["files"]) if isinstance(info.get("files"), dict) else None
    left = _remove_written(path, manifest)
    if left:
        raise RunError(f"Run {run.id}: its files were deleted, but {path} also holds files genre-lab did not "
                       f"write, which were left in place: {', '.join(left[:5])}"
                       f"{'...' if len(left) > 5 else ''}.")
    return path


def rename_run(ref: str | os.PathLike | Run, new_name: str) -> Path:
    """Rename a user run folder (complete, failed or cancelled); returns the new folder.

    Only a provable genre-lab run is renamed, only to a free, valid name in
    the same place. ``run.json`` is left untouched (its checksums stay valid);
    voting runs that name the old id will report the member as missing.

    Raises
    ------
    RunError
        Shipped, running or unknown runs, a folder that is not a genre-lab run,
        an invalid or taken name.
    """
    path = resolve_run(ref) if not isinstance(ref, Run) else Path(ref.path)
    loc, run_id = _location_of(path)
    new_name = check_run_name(str(new_name).strip())
    if loc == "shipped":
        raise RunError(f"Run {run_id} is shipped with genre-lab and cannot be renamed from here.")
    if _TMP_RE.match(path.name):
        raise RunError(f"Run {run_id} is still training or crashed; only finished runs can be renamed.")
    if run_record_of(path) is None:
        raise RunError(f"{path} is not a genre-lab run (no valid run.json); it is left as it is.")
    target = path.parent / new_name
    if target.exists() or target.is_symlink() or _tmp_folders(path.parent, new_name):
        raise RunError(f"A run or folder named {new_name!r} already exists in {path.parent}; choose another name.")
    os.rename(path, target)
    return target


# --------------------------------------------------------------------------- loading


def _verify(path: Path, info: dict, run_id: str) -> None:
    files = info.get("files")
    if not isinstance(files, dict) or not files:
        raise RunError(f"Run {run_id}: run.json has no 'files' manifest; the folder cannot be verified.")
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        for n in dirnames + filenames:
            if os.path.islink(os.path.join(dirpath, n)):
                rel = Path(dirpath, n).relative_to(path).as_posix()
                raise RunError(f"Run {run_id}: {rel} is a symbolic link; a run folder may hold only regular "
                               f"files, so the run is refused.")
    for rel, digest in files.items():
        p = path / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            raise RunError(f"Run {run_id}: the manifest names a file outside the run folder ({rel!r}).")
        if not p.is_file():
            raise RunError(f"Run {run_id}: the file {rel} listed in run.json is missing ({p}).")
        if file_sha256(p) != digest:
            raise RunError(
                f"Run {run_id}: {rel} does not match its checksum in run.json; the file was modified or is "
                f"corrupt, so the run is refused."
            )
    for dirpath, _, filenames in os.walk(path, followlinks=False):
        for n in filenames:
            rel = Path(dirpath, n).relative_to(path).as_posix()
            if n not in IGNORED_FILES and rel != RUN_FILE and rel not in files:
                raise RunError(f"Run {run_id}: unexpected file {rel} that run.json does not list; refused.")
    for rel in files:
        if rel.endswith(".json"):
            read_json(path / rel, f"run file {rel}")


def _load_model(run: Run):
    from .backends import get_backend

    backend = run.backend
    try:
        cls = get_backend(backend)
    except GenreLabError as err:
        raise RunError(f"Run {run.id}: {err}") from None
    try:
        model = cls.load(Path(run.path) / MODEL_DIR)
    except RunError as err:
        raise RunError(f"Run {run.id}: {err}") from None
    except GenreLabError as err:
        raise RunError(f"Run {run.id}: the model cannot be loaded ({err}).") from None
    except Exception as err:  # a library choking on a damaged artifact
        raise RunError(f"Run {run.id}: the model cannot be loaded ({type(err).__name__}: {err}).") from None
    labels = run.labels
    if labels and [str(c) for c in model.classes_] != labels:
        raise RunError(f"Run {run.id}: the model's labels {list(model.classes_)} differ from run.json's {labels}.")
    return model


def load_run(ref: str | os.PathLike | Run, *, verify: bool = True, load_model: bool = True,
             _seen: tuple = ()) -> Run:
    """Load a complete run, verified, with its model (and members for voting runs).

    Parameters
    ----------
    ref : str, path or Run
        See :func:`resolve_run`.
    verify : bool
        Check the manifest checksums (default). Turning it off is only for
        tools that just read ``run.json``.
    load_model : bool
        Load the model through the backend registry (default).

    Raises
    ------
    RunError
        With a sentence naming the run and the cause: missing, not complete
        (failed / cancelled / crashed), tampered or missing artifact, corrupt
        JSON, unknown backend, member run missing or changed.
    """
    path = resolve_run(ref)
    loc, run_id = _location_of(path)
    if _TMP_RE.match(path.name):
        raise RunError(f"Run folder {path} is still being written or crashed while training; it cannot be loaded.")
    run_file = path / RUN_FILE
    if not run_file.is_file():
        raise RunError(f"{path} is not a run folder (no {RUN_FILE}).")
    info = read_json(run_file, RUN_FILE)
    if isinstance(info, dict) and info.get("status") not in (None, "complete") and info.get("status") in STATUSES:
        why = f": {info['error']}" if isinstance(info.get("error"), str) and info.get("error") else ""
        raise RunError(f"Run {run_id} is {info['status']}, not complete{why}; it cannot be used.")
    info = check_run_record(info, str(run_file), run_format=RUN_FORMAT)
    if info["status"] != "complete":
        raise RunError(f"Run {run_id} is {info['status']}, not complete; it cannot be used.")
    if verify:
        _verify(path, info, run_id)
    run = Run(path=path, name=path.name, location=loc, info=info, status="complete")
    if run.is_voting:
        _load_members(run, verify=verify, load_model=load_model, seen=(*_seen, str(path.resolve())))
    elif load_model:
        run.model = _load_model(run)
    return run


def _load_members(run: Run, *, verify: bool, load_model: bool, seen: tuple) -> None:
    members = run.info.get("members")
    if not isinstance(members, list) or not members:
        raise RunError(f"Run {run.id}: a voting run must list its member runs.")
    for m in members:
        if not isinstance(m, dict) or "id" not in m:
            raise RunError(f"Run {run.id}: malformed member entry {m!r}.")
        try:
            member_path = resolve_run(m["id"])
        except RunError as err:
            raise RunError(f"Run {run.id}: member run {m['id']} cannot be found ({err}).") from None
        if str(member_path.resolve()) in seen:
            raise RunError(f"Run {run.id}: member runs refer to each other in a cycle.")
        real = member_path.resolve()
        homes = (config.models_dir().resolve(), Path(run.path).resolve().parent)
        if not any(h == real or h in real.parents for h in homes):
            raise RunError(f"Run {run.id}: member run {m['id']} lies outside the models folder "
                           f"({config.models_dir()}); a voting run may only combine runs kept there.")
        digest = m.get("run_json_sha256")
        if digest and (member_path / RUN_FILE).is_file() and file_sha256(member_path / RUN_FILE) != digest:
            raise RunError(
                f"Run {run.id}: member run {m['id']} has changed since the ensemble was built "
                f"(its run.json differs); retrain the ensemble."
            )
        try:
            member = load_run(member_path, verify=verify, load_model=load_model, _seen=seen)
        except RunError as err:
            raise RunError(f"Run {run.id}: member {m['id']} is unusable: {err}") from None
        if member.labels != run.labels:
            raise RunError(f"Run {run.id}: member {m['id']} predicts {member.labels}, the ensemble {run.labels}.")
        run.members.append((member, float(m.get("weight", 1.0))))


def load_runs(refs: Iterable[str | os.PathLike | Run]) -> list[Run]:
    """:func:`load_run` for several references (a ``Run`` already loaded is kept as is)."""
    out = []
    for r in refs:
        if isinstance(r, Run) and r.status == "complete" and (r.model is not None or r.is_voting and r.members):
            out.append(r)
        else:
            out.append(load_run(r))
    return out
