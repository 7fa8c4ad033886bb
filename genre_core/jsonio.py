"""Reading JSON that a user (or an attacker) may have handed over.

One reader for every JSON file genre-lab loads from a run or model folder:
only a small regular file is opened (never a symlink, FIFO or device), and
invalid UTF-8, invalid JSON, absurd nesting and numbers with thousands of
digits all become a :class:`~genre_core.errors.RunError` naming the file.

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
import os
import stat
from pathlib import Path
from typing import Any

from .errors import RunError

#: Largest JSON file genre-lab reads from a run or model folder.
MAX_JSON_BYTES = 64 * 1024 * 1024

__all__ = ["MAX_JSON_BYTES", "read_json"]


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
