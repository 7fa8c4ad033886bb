"""Loading a run: checks in a fixed order, then the model through the backend registry."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from .. import config
from ..errors import GenreLabError, RunError
from ..jsonio import read_json
from ..store import file_sha256
from .fields import check_run_record
from .names import _location_of, resolve_run
from .record import (
    _TMP_RE,
    IGNORED_FILES,
    MODEL_DIR,
    RUN_FILE,
    RUN_FORMAT,
    STATUSES,
    Run,
)


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
    from ..backends import get_backend

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
