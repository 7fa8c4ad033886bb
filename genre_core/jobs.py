"""Background training jobs: a small on-disk FIFO queue run by detached processes.

The Train page must not train inside the Streamlit script run (a rerun, a
closed tab or a second tab would lose or duplicate the work). Instead it
*submits a job*: a folder on disk describing what to train. A detached
process ``python -m genre_core jobs run JOB_DIR`` picks it up and calls the one
training entry point, :func:`genre_core.training.train` (the same the CLI
uses), writing its progress back into the job folder. Everything is on disk,
so a page reload or a second browser tab finds the jobs again.

Job folder (``jobs_dir()/<job_id>/``)::

    job.json        the job's configuration (see :func:`normalise_config`), written once
    status.json     state + latest progress, replaced atomically
                    ({"state", "stage", "done", "total", "eta_s", "pid", "run_id", "error", ...})
    history.jsonl   one JSON line per training epoch (loss, accuracy, val_loss, val_accuracy, ...)
    cancel          present once a cancel was requested (the trainer polls it)
    log.txt         the worker process's stdout/stderr

States: ``queued`` -> ``starting`` -> ``running`` -> ``complete`` | ``failed``
| ``cancelled``; a ``starting``/``running`` job whose process has died is
reported (and recorded) as ``crashed``. One job runs at a time: when a job
ends, its worker starts the oldest queued job; :func:`submit_job`,
:func:`cancel_job` and :func:`resume_queue` start one when nothing runs.

A cancelled job stops at the trainer's next check; the run folder it was
writing is kept and marked ``cancelled`` (never ``complete``), see
:mod:`genre_core.runs`.

Example
-------
>>> from genre_core import jobs
>>> job_id = jobs.submit_job({"dataset": "synthetic", "backend": "mlp",
...                           "params": {"epochs": 5}})            # doctest: +SKIP
>>> jobs.job_status(job_id)["state"]                               # doctest: +SKIP
'running'
>>> jobs.wait_for_job(job_id, timeout=300)["run_id"]               # doctest: +SKIP
'user/mlp-synthetic-20250101-120000'
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Iterator, Mapping

from . import config
from .plan import DEFAULTS, TrainConfig, TrainConfigError
from .errors import GenreLabError, RunError, TrainingCancelled
from .jsonio import dumps, read_json, write_json
from .store import now_iso, pid_alive

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "JobError",
    "cancel_job",
    "delete_job",
    "job_history",
    "job_log",
    "jobs_dir",
    "list_jobs",
    "normalise_config",
    "resume_queue",
    "run_job",
    "submit_job",
    "job_status",
    "wait_for_job",
]

JOB_FILE = "job.json"
STATUS_FILE = "status.json"
HISTORY_FILE = "history.jsonl"
CANCEL_FILE = "cancel"
LOG_FILE = "log.txt"
LOCK_FILE = ".lock"

#: A job in one of these states still needs the worker.
ACTIVE_STATES = ("queued", "starting", "running")
#: A job in one of these states is over.
FINAL_STATES = ("complete", "failed", "cancelled", "crashed")
#: A ``starting`` job whose worker has not said anything for this long is crashed.
START_TIMEOUT_S = 120.0
#: Minimum seconds between two status.json writes for the same stage.
STATUS_INTERVAL_S = 0.3

#: Keys of a job configuration and their defaults (the fields of :class:`~genre_core.plan.TrainConfig`).
CONFIG_DEFAULTS: dict[str, Any] = DEFAULTS.to_dict()


class JobError(GenreLabError):
    """A job cannot be submitted, found or cancelled as asked."""


# --------------------------------------------------------------------------- places and small helpers


def jobs_dir() -> Path:
    """Folder of the job queue: ``config.user_runs_dir()/".jobs"`` (hidden from the runs list)."""
    return config.user_runs_dir() / ".jobs"


def _read_json(path: Path) -> dict | None:
    """A queue file's JSON object, or ``None`` if it is missing or damaged (the queue skips it)."""
    try:
        d = read_json(path, "job file")
    except RunError:
        return None
    return d if isinstance(d, dict) else None


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Exclusive lock over the queue (scheduling decisions and state changes)."""
    root = jobs_dir()
    root.mkdir(parents=True, exist_ok=True)
    import fcntl

    with open(root / LOCK_FILE, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _job_path(job_id: str) -> Path:
    job_id = str(job_id)
    if not job_id or "/" in job_id or "\\" in job_id or job_id.startswith("."):
        raise JobError(f"{job_id!r} is not a job id.")
    p = jobs_dir() / job_id
    if not (p / JOB_FILE).is_file():
        raise JobError(f"No training job {job_id!r} in {jobs_dir()}.")
    return p


def _worker_alive(pid: int | None, job_id: str | None = None) -> bool:
    """True if ``pid`` is a live worker (of ``job_id``, where /proc can tell)."""
    _reap()
    return pid_alive(pid, command_has=job_id)


#: Worker processes started by this process (polled so they never linger as zombies).
_CHILDREN: list[subprocess.Popen] = []


def _reap() -> None:
    for p in list(_CHILDREN):
        if p.poll() is not None:
            _CHILDREN.remove(p)


# --------------------------------------------------------------------------- configuration


def normalise_config(cfg: Mapping[str, Any]) -> dict:
    """Check a job configuration cheaply and fill in defaults.

    Parameters
    ----------
    cfg : mapping
        ``dataset`` (required: a folder, a list of folders, a feature-table
        CSV or ``"synthetic[:...]"``), ``backend`` (default ``"mlp"``),
        ``params`` (hyperparameters), ``input_spec`` (dict, optional),
        ``split`` (``track``/``artist``/``ff``/``kfold``), ``seed``,
        ``test_size``, ``valid_size``, ``k``, ``augment`` (an
        :class:`~genre_core.augment.AugmentConfig` dict) and ``n_augment``,
        ``name`` (the run name; default a fresh one), ``overwrite``,
        ``n_jobs``, ``use_cache``: the arguments of
        :func:`genre_core.training.train`.

    Returns
    -------
    dict
        JSON-able configuration with every key of :data:`CONFIG_DEFAULTS`.

    Raises
    ------
    GenreLabError
        Unknown key or backend, bad hyperparameter, bad run name, a run of
        that name already complete (without ``overwrite``).

    Example
    -------
    >>> normalise_config({"dataset": "synthetic", "params": {"epochs": "3"}})["params"]   # doctest: +SKIP
    {'epochs': 3}
    """
    try:
        return TrainConfig.from_mapping(cfg).to_dict()
    except TrainConfigError as err:
        raise JobError(str(err)) from None




# --------------------------------------------------------------------------- submitting and listing


def submit_job(cfg: Mapping[str, Any]) -> str:
    """Queue a training job and make sure a worker runs; returns the job id.

    The job runs in a detached process (``python -m genre_core jobs run
    JOB_DIR``) once every job submitted before it has ended.

    Raises
    ------
    GenreLabError
        See :func:`normalise_config`; also when another queued or running
        job already uses the same run name.
    """
    conf = normalise_config(cfg)
    with _locked():
        if conf["name"]:
            for st in _all_status():
                if st["state"] in ACTIVE_STATES and (st.get("config") or {}).get("name") == conf["name"]:
                    raise JobError(f"Job {st['job_id']} ({st['state']}) already trains a run named "
                                   f"{conf['name']!r}; choose another name.")
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        job_id = f"{stamp}-{conf['backend']}-{secrets.token_hex(3)}"
        folder = jobs_dir() / job_id
        folder.mkdir(parents=True)
        submitted = time.time()
        write_json(folder / JOB_FILE, {"job_id": job_id, "submitted": now_iso(), "submitted_ts": submitted,
                                               "config": conf})
        write_json(folder / STATUS_FILE, {"job_id": job_id, "state": "queued", "stage": "queued",
                                                  "done": 0, "total": 0, "updated": now_iso()})
        (folder / HISTORY_FILE).touch()
        _schedule_locked()
    return job_id


def _status_of(folder: Path) -> dict | None:
    _reap()
    job = _read_json(folder / JOB_FILE)
    if job is None:
        return None
    st = _read_json(folder / STATUS_FILE) or {"state": "crashed", "stage": None,
                                              "error": "The job's status file is missing or unreadable."}
    st["job_id"] = folder.name
    st["config"] = job.get("config") or {}
    st["submitted"] = job.get("submitted")
    st["submitted_ts"] = job.get("submitted_ts", 0.0)
    st["cancel_requested"] = (folder / CANCEL_FILE).exists()
    st["folder"] = str(folder)
    if st.get("state") in ("starting", "running"):
        if st.get("state") == "starting" and not st.get("pid"):
            if time.time() - float(st.get("starting_ts") or 0) > START_TIMEOUT_S:
                st["state"] = "crashed"
        elif not _worker_alive(st.get("pid"), folder.name):
            st["state"] = "crashed"
        if st["state"] == "crashed":
            st["error"] = (f"The training process ({st.get('pid') or 'never started'}) ended without finishing "
                           f"(last stage {st.get('stage')!r}); see {folder / LOG_FILE}.")
            st["crash_detected"] = True
    return st


def _all_status() -> list[dict]:
    root = jobs_dir()
    if not root.is_dir():
        return []
    out = []
    for p in root.iterdir():
        if p.is_dir() and not p.name.startswith("."):
            st = _status_of(p)
            if st is not None:
                out.append(st)
    out.sort(key=lambda s: (float(s.get("submitted_ts") or 0.0), s["job_id"]))
    return out


def _persist_crash(st: dict) -> None:
    if st.get("crash_detected"):
        rec = {k: v for k, v in st.items() if k not in ("config", "folder", "crash_detected", "cancel_requested",
                                                          "submitted", "submitted_ts")}
        rec["finished"] = now_iso()
        write_json(Path(st["folder"]) / STATUS_FILE, rec)


def list_jobs(*, include_finished: bool = True) -> list[dict]:
    """Every job, newest first, as :func:`job_status` dicts (``queue_position`` set for queued jobs)."""
    jobs = _all_status()
    pos = 0
    for st in jobs:
        if st["state"] == "queued":
            pos += 1
            st["queue_position"] = pos
    if not include_finished:
        jobs = [s for s in jobs if s["state"] in ACTIVE_STATES]
    return list(reversed(jobs))


def job_status(job_id: str) -> dict:
    """The state and latest progress of a job.

    Returns
    -------
    dict
        ``job_id``, ``state`` (queued / starting / running / complete / failed /
        cancelled / crashed), ``stage``, ``done``, ``total``, ``eta_s``,
        ``elapsed_s``, the latest epoch figures while training (``epoch``,
        ``epochs``, ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``),
        ``pid``, ``run_id`` (once known), ``error``, ``unreadable`` (files the
        scan skipped), ``headline`` (metrics, when complete), ``config``,
        ``cancel_requested``.

    Raises
    ------
    JobError
        No such job.
    """
    folder = _job_path(job_id)
    st = _status_of(folder)
    if st is None:
        raise JobError(f"Job {job_id!r} has no readable {JOB_FILE}.")
    if st["state"] == "queued":
        queued = [s["job_id"] for s in _all_status() if s["state"] == "queued"]
        st["queue_position"] = queued.index(st["job_id"]) + 1 if st["job_id"] in queued else None
    return st


def job_history(job_id: str) -> list[dict]:
    """Per-epoch rows written so far (``epoch``, ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ...).

    A half-written last line (the worker is appending) is ignored.
    """
    path = _job_path(job_id) / HISTORY_FILE
    rows = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if isinstance(d, dict):
            rows.append(d)
    return rows


def job_log(job_id: str, *, max_chars: int = 20000) -> str:
    """The tail of the worker's log (stdout/stderr)."""
    path = _job_path(job_id) / LOG_FILE
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[-max_chars:]


def cancel_job(job_id: str) -> dict:
    """Cancel a job: a queued job is dropped, a running one stops at its next check.

    A running job's run folder ends up with status ``cancelled`` (never
    ``complete``). Cancelling a finished job does nothing. Returns the job's
    status after the request.
    """
    folder = _job_path(job_id)
    with _locked():
        st = _status_of(folder)
        if st is None:
            raise JobError(f"Job {job_id!r} has no readable {JOB_FILE}.")
        (folder / CANCEL_FILE).write_text(now_iso(), encoding="utf-8")
        if st["state"] == "queued":
            write_json(folder / STATUS_FILE, {"job_id": st["job_id"], "state": "cancelled",
                                                      "stage": "queued", "done": 0, "total": 0,
                                                      "error": "Cancelled before it started.",
                                                      "updated": now_iso(), "finished": now_iso()})
        elif st["state"] == "crashed":
            _persist_crash(st)
        _schedule_locked()
    return job_status(job_id)


#: The files a job folder holds (genre-lab deletes nothing else in it).
JOB_LAYOUT = (JOB_FILE, STATUS_FILE, HISTORY_FILE, CANCEL_FILE, LOG_FILE)


def delete_job(job_id: str) -> None:
    """Remove a finished job's folder (its run, if any, stays in the registry).

    Only the job's own files are removed (never a symlink, never anything
    else); the folder goes when that leaves it empty.
    """
    folder = _job_path(job_id)
    with _locked():
        st = _status_of(folder)
        if st is not None and st["state"] in ACTIVE_STATES:
            raise JobError(f"Job {job_id} is {st['state']}; cancel it first.")
        for entry in list(os.scandir(folder)) if folder.is_dir() else []:
            ours = entry.name in JOB_LAYOUT or (entry.name.startswith(".") and entry.name.endswith(".part"))
            if ours and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
        try:
            folder.rmdir()
        except OSError:
            pass


def wait_for_job(job_id: str, *, timeout: float = 600.0, poll: float = 0.5) -> dict:
    """Block until a job has ended (or ``timeout`` seconds passed); returns its status."""
    t_end = time.monotonic() + timeout
    while True:
        st = job_status(job_id)
        if st["state"] in FINAL_STATES:
            return st
        if time.monotonic() > t_end:
            raise JobError(f"Job {job_id} is still {st['state']} after {timeout:g} s (stage {st.get('stage')!r}).")
        resume_queue()
        time.sleep(poll)


# --------------------------------------------------------------------------- scheduling


def resume_queue() -> str | None:
    """Start the oldest queued job if nothing runs (also records crashed jobs); returns its id or None."""
    if not jobs_dir().is_dir():
        return None
    with _locked():
        return _schedule_locked()


def _schedule_locked() -> str | None:
    jobs = _all_status()
    for st in jobs:
        _persist_crash(st)
    if any(st["state"] in ("starting", "running") for st in jobs):
        return None
    queued = [st for st in jobs if st["state"] == "queued"]
    if not queued:
        return None
    nxt = queued[0]
    folder = Path(nxt["folder"])
    write_json(folder / STATUS_FILE, {"job_id": nxt["job_id"], "state": "starting", "stage": "starting",
                                              "done": 0, "total": 0, "starting_ts": time.time(),
                                              "updated": now_iso()})
    try:
        pid = _spawn(folder)
    except OSError as err:
        write_json(folder / STATUS_FILE, {"job_id": nxt["job_id"], "state": "failed", "stage": "starting",
                                                  "error": f"Could not start the training process: {err}",
                                                  "updated": now_iso(), "finished": now_iso()})
        return None
    st = _read_json(folder / STATUS_FILE) or {}
    if st.get("state") == "starting" and not st.get("pid"):
        st["pid"] = pid
        write_json(folder / STATUS_FILE, st)
    return nxt["job_id"]


def _spawn(folder: Path) -> int:
    env = dict(os.environ)
    # the submitting session's folders (an app session may have its own), not the server's
    env["GENRE_MODELS_DIR"] = str(config.models_dir())
    env["GENRE_DATA_DIR"] = str(config.data_dir())
    root = str(config.REPO_ROOT)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    log = open(folder / LOG_FILE, "ab")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "genre_core", "jobs", "run", str(folder)],
            cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True,
        )
    finally:
        log.close()
    _CHILDREN.append(proc)
    return proc.pid


# --------------------------------------------------------------------------- the worker


class _Progress:
    """Turns training progress dicts into status.json updates and history.jsonl lines."""

    def __init__(self, folder: Path, status: dict):
        self.folder = folder
        self.status = status
        self.t_write = 0.0
        self.stage_t0 = time.monotonic()
        self.t0 = time.monotonic()
        self.cancel_path = folder / CANCEL_FILE
        self.t_cancel_check = 0.0
        self.cancelled = False

    def should_stop(self) -> bool:
        now = time.monotonic()
        if not self.cancelled and now - self.t_cancel_check >= 0.1:
            self.t_cancel_check = now
            self.cancelled = self.cancel_path.exists()
        return self.cancelled

    def write(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.t_write >= STATUS_INTERVAL_S:
            self.t_write = now
            self.status["updated"] = now_iso()
            self.status["elapsed_s"] = round(now - self.t0, 2)
            try:
                write_json(self.folder / STATUS_FILE, self.status)
            except OSError:
                pass

    def __call__(self, msg: Mapping[str, Any]) -> None:
        d = dict(msg)
        stage = d.get("stage") or self.status.get("stage")
        changed = stage != self.status.get("stage")
        if changed:
            self.stage_t0 = time.monotonic()
            for k in ("eta_s", "file", "track_id", "cached", "failed"):
                self.status.pop(k, None)
        for k, v in d.items():
            if v is None or isinstance(v, (str, int, float, bool)):
                self.status[k] = v
        done, total = d.get("done") or 0, d.get("total") or 0
        if stage != "training" and total and done:
            spent = time.monotonic() - self.stage_t0
            self.status["eta_s"] = round(spent / done * max(total - done, 0), 1)
        epoch_row = stage == "training" and (d.get("epoch") or 0) >= 1
        if epoch_row:
            row = {k: d.get(k) for k in ("epoch", "epochs", "loss", "accuracy", "val_loss", "val_accuracy", "lr",
                                         "fold", "folds", "member", "members", "refit", "refit_fold")
                   if k in d}
            row["t"] = round(time.monotonic() - self.t0, 3)
            with open(self.folder / HISTORY_FILE, "a", encoding="utf-8") as fh:
                fh.write(dumps(row, indent=None) + "\n")
        self.write(force=changed or (epoch_row and time.monotonic() - self.t_write >= 0.1))
        if stage == "scanning" and self.should_stop():
            raise TrainingCancelled("Training was cancelled while scanning the dataset.")


def _run_record(name: str | None) -> tuple[str | None, dict | None]:
    """(run id, run.json) of the user run the job wrote under ``name`` (or its ``-failed-N`` twin)."""
    if not name:
        return None, None
    root = config.user_runs_dir()
    cands = [root / name] + sorted(root.glob(f"{name}-failed-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for p in cands:
        info = _read_json(p / "run.json")
        if info is not None:
            return f"user/{p.name}", info
    return None, None


def run_job(folder: str | os.PathLike) -> dict:
    """Run one queued job in this process (what the detached worker does), then start the next.

    Returns the final status dict. Never raises for a failed training: the
    error goes to ``status.json``.
    """
    folder = Path(folder).resolve()
    job = _read_json(folder / JOB_FILE)
    if job is None:
        raise JobError(f"{folder} is not a job folder (no readable {JOB_FILE}).")
    job_id = folder.name
    with _locked():
        st = _read_json(folder / STATUS_FILE) or {}
        if st.get("state") not in ("queued", "starting") or (folder / CANCEL_FILE).exists():
            if st.get("state") in ("queued", "starting"):
                st.update({"state": "cancelled", "error": "Cancelled before it started.", "finished": now_iso()})
                write_json(folder / STATUS_FILE, st)
            return st
        status = {"job_id": job_id, "state": "running", "stage": "starting", "done": 0, "total": 0,
                  "pid": os.getpid(), "started": now_iso()}
        write_json(folder / STATUS_FILE, status)

    def _on_term(signum, frame):  # a kill from outside: record it like a cancel
        raise KeyboardInterrupt(f"signal {signum}")

    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, _on_term)

    cfg = dict(job.get("config") or {})
    prog = _Progress(folder, status)
    name = cfg.get("name")
    try:
        from .backends import get_backend
        from .dataset import dataset_label, open_dataset
        from .runs import new_run_name
        from .training import train

        plan = TrainConfig.from_mapping(cfg, check_name=False)
        model_cls = get_backend(plan.backend)
        if not name:
            name = new_run_name(model_cls.name, dataset_label(plan.dataset))
        status["run_name"] = name
        prog({"stage": "scanning", "done": 0, "total": 0})
        ds = open_dataset(plan.dataset, n_jobs=plan.n_jobs, progress=prog)
        status["dataset_name"] = ds.name
        status["n_tracks"] = len(ds.tracks)
        status["unreadable"] = [list(u) for u in ds.unreadable]
        status["duplicates"] = [list(g) for g in ds.duplicates]
        prog.write(force=True)
        if prog.should_stop():
            raise TrainingCancelled("Training was cancelled after scanning the dataset.")
        run = train(
            ds,
            **{**plan.train_kwargs(), "out": name},
            progress=prog,
            should_stop=prog.should_stop,
            info={"job_id": job_id, "dataset_spec": cfg["dataset"]},
        )
        head = run.headline()
        status.update({"state": "complete", "stage": "done", "run_id": run.id,
                       "headline": {k: head.get(k) for k in ("track_accuracy", "track_accuracy_ci",
                                                             "balanced_accuracy", "macro_f1", "segment_accuracy",
                                                             "n_tracks", "evaluated_on")},
                       "failures": [list(f) for f in run.info.get("failures") or []],
                       "notes": list(run.info.get("notes") or [])})
    except (TrainingCancelled, KeyboardInterrupt) as err:
        status.update({"state": "cancelled", "error": str(err) or "Training was cancelled."})
    except GenreLabError as err:
        status.update({"state": "failed", "error": str(err)})
    except Exception as err:  # a bug: keep the traceback in the log
        traceback.print_exc()
        status.update({"state": "failed", "error": f"Unexpected error: {type(err).__name__}: {err}"})
    if status["state"] != "complete":
        run_id, info = _run_record(name)
        if run_id and info and info.get("status") in ("cancelled", "failed"):
            status["run_id"] = run_id
    status["eta_s"] = None
    status["finished"] = now_iso()
    with _locked():
        prog.write(force=True)
        _schedule_locked()
    return status

