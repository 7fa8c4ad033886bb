"""Listing, deleting and renaming the runs of the user and shipped locations."""

from __future__ import annotations

import datetime as _dt
import os
import socket
from pathlib import Path
from typing import Iterable

from ..errors import RunError
from ..jsonio import read_json
from ..store import pid_alive
from .fields import check_run_record
from .names import _location_of, _locations, _tmp_folders, check_run_name, resolve_run
from .ownership import _is_own_tmp, _remove_written, run_record_of
from .record import (
    _OLD_RE,
    _TMP_RE,
    RUN_FILE,
    RUN_FORMAT,
    STALE_AFTER_S,
    Run,
    read_status,
)
from .writer import _peek_status


def _tmp_run(path: Path, location: str) -> Run:
    m = _TMP_RE.match(path.name)
    name, pid = m.group("name"), int(m.group("pid"))
    st = read_status(path) or {}
    host = st.get("host")
    if host in (None, socket.gethostname()):
        alive = pid_alive(pid)
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
