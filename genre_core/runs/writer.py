"""Writing a run: :class:`RunWriter` fills a hidden tmp folder and moves it into place on success."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import config
from ..errors import GenreLabError, RunError, TrainingCancelled
from ..jsonio import dumps, write_json
from ..store import file_sha256, folder_size, library_versions, now_iso, pid_alive
from .names import _location_of, _tmp_folders, check_run_name
from .ownership import _is_own_tmp, _remove_written, check_target, run_record_of
from .record import (
    _TMP_RE,
    HISTORY_FILE,
    MODEL_DIR,
    RUN_FILE,
    RUN_FORMAT,
    SEGMENTS_FILE,
    STATUS_FILE,
    TRACKS_FILE,
    Run,
    read_status,
)


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
            if m and int(m.group("pid")) != os.getpid() and pid_alive(int(m.group("pid"))) \
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
        self.created = now_iso()
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
        self._status["updated"] = now_iso()
        try:
            write_json(self.path / STATUS_FILE, self._status)
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
        return write_json(self.path / fname, obj)

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
        record["model_size_bytes"] = folder_size(model_dir) if model_dir.is_dir() else 0
        record["size_bytes"] = folder_size(self.path)
        record["finished"] = now_iso()
        text = dumps(record) + "\n"
        record["size_bytes"] += len(text.encode("utf-8"))
        text = dumps(record) + "\n"
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
        record["finished"] = now_iso()
        record["stage"] = self._status.get("stage")
        record.pop("files", None)
        try:
            (self.path / STATUS_FILE).unlink(missing_ok=True)
            (self.path / RUN_FILE).write_text(dumps(record) + "\n", encoding="utf-8")
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
    st = read_status(tmp)
    return st is None or st.get("host") in (None, socket.gethostname())



def _peek_status(folder: Path) -> str:
    info = run_record_of(folder)
    return info["status"] if info is not None else "invalid"
