"""JSON in and out: the one reader and the one writer of genre-lab's JSON files.

Reading: every JSON file genre-lab loads from a run or model folder goes
through :func:`read_json`: only a small regular file is opened (never a
symlink, FIFO or device), and invalid UTF-8, invalid JSON, absurd nesting and
numbers with thousands of digits all become a
:class:`~genre_core.errors.RunError` naming the file.

Writing: :func:`to_jsonable` turns numpy scalars and arrays, paths, tuples and
sets into plain JSON values and NaN/infinity into ``null`` (JSON has no NaN);
:func:`dumps` and :func:`write_json` use it, and :func:`write_json` replaces
the file atomically so a reader never sees it half written.

Examples
--------
>>> import json, tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.json"
>>> _ = p.write_text(json.dumps({"x": 1}))
>>> read_json(p, "record")
{'x': 1}
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from .errors import RunError

#: Largest JSON file genre-lab reads from a run or model folder.
MAX_JSON_BYTES = 64 * 1024 * 1024

__all__ = ["MAX_JSON_BYTES", "read_json", "to_jsonable", "dumps", "write_json", "write_text_atomic"]


def read_json(path: str | os.PathLike, what: str = "file", *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse ``path``; any problem is a :class:`RunError` naming the file and ``what`` it is."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise RunError(f"{path}: the {what} is missing.") from None
    except OSError as err:
        raise RunError(f"{path}: the {what} cannot be read ({err.strerror or err}).") from None
    if stat.S_ISLNK(st.st_mode):
        raise RunError(f"{path}: the {what} is a symbolic link; run files must be regular files.")
    if not stat.S_ISREG(st.st_mode):
        raise RunError(f"{path}: the {what} is not a regular file.")
    if st.st_size > max_bytes:
        raise RunError(f"{path}: the {what} is {st.st_size} bytes, more than such a file can be ({max_bytes}).")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            raw = f.read(max_bytes + 1)
        return json.loads(raw.decode("utf-8"))
    except OSError as err:
        raise RunError(f"{path}: the {what} cannot be read ({err.strerror or err}).") from None
    except RecursionError:
        raise RunError(f"{path}: the {what} is corrupt (nested too deeply).") from None
    except (UnicodeDecodeError, ValueError) as err:  # JSONDecodeError, or an over-long number
        raise RunError(f"{path}: the {what} is corrupt (not valid JSON: {str(err)[:200]}).") from None


def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values: NaN/inf become ``None``, numpy values Python ones.

    Examples
    --------
    >>> import numpy as np
    >>> to_jsonable({"a": np.float32(0.5), "b": float("nan"), "c": (1, np.int64(2))})
    {'a': 0.5, 'b': None, 'c': [1, 2]}
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy arrays and scalars
        return to_jsonable(obj.tolist())
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_jsonable(obj.to_dict())
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """``obj`` as JSON text (via :func:`to_jsonable`; never ``NaN`` in the output)."""
    return json.dumps(to_jsonable(obj), indent=indent, allow_nan=False)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write a text file (parents made) so that readers never see it half written; returns the path."""
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` to ``path`` as UTF-8 JSON (:func:`dumps`), atomically; returns the path."""
    return write_text_atomic(path, dumps(obj, indent=indent) + "\n")
