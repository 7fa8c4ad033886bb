"""Run names and references: checking a name, making a new one, resolving ``location/name`` or a path."""

from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path

from .. import config
from ..errors import RunError
from .record import _NAME_RE, _TMP_RE, Run


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
