"""Small facts about files and processes that runs, jobs and sweeps all need.

Examples
--------
>>> from genre_core.store import pid_alive, now_iso
>>> import os
>>> pid_alive(os.getpid())
True
>>> now_iso()[:2]
'20'
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from pathlib import Path

__all__ = ["now_iso", "file_sha256", "folder_size", "pid_alive", "library_versions", "register_memo", "clear_memos"]

#: Functions that forget what an in-process memo remembers (see :func:`register_memo`).
_MEMO_CLEARERS: list = []

#: Libraries a run or model records the version of: key -> distribution names to try.
_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "torch": ("torch",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "keras": ("keras",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "librosa": ("librosa",),
    "sklearn": ("scikit-learn",),
    "soundfile": ("soundfile",),
}


def now_iso() -> str:
    """The current UTC time as ISO 8601 with seconds (``2026-12-02T15:00:00+00:00``)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def file_sha256(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def folder_size(path: str | os.PathLike) -> int:
    """Bytes in the regular files below ``path``."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def pid_alive(pid: int | None, *, command_has: str | None = None) -> bool:
    """True if ``pid`` is a live, non-zombie process (of this host).

    With ``command_has``, where ``/proc`` can tell, the process's command line must
    also contain that text (a job worker is recognised by its job id, so a reused
    pid is not mistaken for it).
    """
    try:
        pid = int(pid or 0)
    except (TypeError, ValueError):
        return False
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
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            if stat[stat.rindex(")") + 2:].startswith(("Z", "X")):
                return False
            if command_has:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
                return command_has in cmd
        except (OSError, ValueError):
            return True
    return True


def library_versions(*names: str) -> dict[str, str | None]:
    """Installed versions of the libraries a run or model depends on, from package metadata.

    With no ``names``: every library genre-lab records (``None`` where absent) plus
    ``genre_core`` and ``python``. With names (keys of the table above or
    distribution names): ``numpy`` and those, only the installed ones.
    """
    import importlib.metadata as md
    import platform

    def version(key: str) -> str | None:
        for dist in _DISTRIBUTIONS.get(key, (key,)):
            try:
                return md.version(dist)
            except md.PackageNotFoundError:
                continue
        return None

    if names:
        found = {k: version(k) for k in dict.fromkeys(("numpy", *names))}
        return {k: v for k, v in found.items() if v is not None}
    from . import __version__

    out: dict[str, str | None] = {key: version(key) for key in _DISTRIBUTIONS}
    out["genre_core"] = __version__
    out["python"] = platform.python_version()
    return out


def register_memo(clear) -> None:
    """Register ``clear()``, which empties an in-process memo of recent computations (called by :func:`clear_memos`)."""
    if clear not in _MEMO_CLEARERS:
        _MEMO_CLEARERS.append(clear)


def clear_memos() -> None:
    """Forget every in-process memo of recent computations (benchmarks measure new audio; tests start clean)."""
    for clear in list(_MEMO_CLEARERS):
        clear()
