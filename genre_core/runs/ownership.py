"""Which files and folders genre-lab wrote, so it replaces or deletes nothing else."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

from ..errors import RunError, RunExistsError
from ..jsonio import read_json
from .names import check_run_name
from .record import (
    _TMP_RE,
    IGNORED_FILES,
    LAYOUT_FILES,
    MODEL_DIR,
    RUN_FILE,
    RUN_FORMAT,
    STATUSES,
    read_status,
)


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
    st = read_status(folder)
    return st is not None and isinstance(st.get("pid"), int)



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
