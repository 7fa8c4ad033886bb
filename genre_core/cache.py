"""On-disk cache of computed arrays, keyed by file content and parameters.

Feature vectors and log-mel windows are expensive to compute and cheap to
store, so :mod:`genre_core.inputs` keeps them in a :class:`FeatureCache`
under :func:`genre_core.config.cache_dir` (``GENRE_CACHE_DIR``). An entry's
key is a hash of everything its arrays depend on:

* the audio file's **content** (:func:`content_hash`: sha1 of its bytes, so a
  renamed or touched file still hits and an edited file misses);
* the model input (``InputSpec.key()``), the feature set's name, version and
  parameters, and the augmentation key and copy index when augmented.

Changing one parameter or one file therefore recomputes exactly the entries
that depend on it. Entries are ``.npz`` files written atomically (temporary
file + :func:`os.replace`) and read with ``allow_pickle=False``; an entry that
cannot be read (truncated, corrupt, wrong content) is treated as a miss,
removed, and recomputed by the caller. Nothing is ever pickled.

Example
-------
>>> cache = FeatureCache("/tmp/genre-cache-doc")
>>> key = cache_key(content="abc", spec="gtzan57@3s")
>>> cache.get(key) is None
True
>>> cache.put(key, {"X": np.zeros((2, 3), np.float32)})
>>> cache.get(key)["X"].shape
(2, 3)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Mapping

import numpy as np

from . import config

__all__ = ["FeatureCache", "content_hash", "cache_key", "clear_hash_memo"]

_HASH_MEMO: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()
_CHUNK = 1 << 20


def content_hash(source: str | os.PathLike | bytes | bytearray | memoryview | BinaryIO) -> str:
    """Hex sha1 of a file's bytes (or of the given bytes).

    For paths the result is memoised in-process by ``(resolved path, size,
    mtime_ns)``, so hashing the same unchanged file twice reads it once, and
    any change of size or modification time re-reads it.

    Parameters
    ----------
    source : path, bytes or binary file object
        What to hash. File objects are read from their current position.

    Returns
    -------
    str
        40 hex characters.

    Example
    -------
    >>> content_hash(b"abc")
    'a9993e364706816aba3e25717850c26c9cd0d89d'
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return hashlib.sha1(bytes(source)).hexdigest()
    if hasattr(source, "read"):
        h = hashlib.sha1()
        for chunk in iter(lambda: source.read(_CHUNK), b""):
            h.update(chunk)
        return h.hexdigest()
    path = Path(source).resolve()
    st = path.stat()
    memo_key = (str(path), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        hit = _HASH_MEMO.get(memo_key)
    if hit is not None:
        return hit
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _HASH_LOCK:
        _HASH_MEMO[memo_key] = digest
    return digest


def clear_hash_memo() -> None:
    """Forget memoised file hashes (tests; files edited within one mtime tick)."""
    with _HASH_LOCK:
        _HASH_MEMO.clear()


def _canonical(value: Any) -> Any:
    """JSON-able, order-independent form of ``value`` (dicts sorted, tuples as lists)."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cache_key: cannot use a {type(value).__name__} as a key part")


def cache_key(**parts: Any) -> str:
    """Stable hex key (sha1) of named, JSON-able parts; part order does not matter.

    Example
    -------
    >>> cache_key(a=1, b="x") == cache_key(b="x", a=1)
    True
    >>> cache_key(a=1) == cache_key(a=2)
    False
    """
    text = json.dumps(_canonical(parts), sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class FeatureCache:
    """A folder of ``.npz`` entries, each a dict of named arrays.

    Parameters
    ----------
    root : path, optional
        Cache folder; default ``config.cache_dir() / "inputs"``. Created on the
        first write.
    enabled : bool
        ``False`` makes :meth:`get` always miss and :meth:`put` a no-op (the
        ``use_cache=False`` / ``--no-cache`` switch).

    Notes
    -----
    Safe for several processes at once: writers never leave a partial file
    under an entry's name, and two writers of one key write identical data.
    """

    def __init__(self, root: str | os.PathLike | None = None, *, enabled: bool = True):
        self.root = Path(root) if root is not None else config.cache_dir() / "inputs"
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    def path_for(self, key: str) -> Path:
        """Where the entry ``key`` lives (``root/ab/abcdef....npz``)."""
        if not key or any(c in key for c in "/\\.") or len(key) < 3:
            raise ValueError(f"invalid cache key {key!r}")
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key``, or ``None`` on a miss.

        A corrupt or unreadable entry is removed and reported as a miss.
        """
        if not self.enabled:
            self.misses += 1
            return None
        path = self.path_for(key)
        if not path.is_file():
            self.misses += 1
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError):
            self._discard(path)
            self.misses += 1
            return None
        self.hits += 1
        return arrays

    def put(self, key: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Store ``arrays`` under ``key`` atomically (no-op when disabled)."""
        if not self.enabled:
            return
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:8]}-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **{name: np.asarray(a) for name, a in arrays.items()})
            if path.is_dir() and not path.is_symlink():
                try:  # a folder squats on the entry's name: drop it if empty, else do without caching
                    path.rmdir()
                except OSError:
                    os.unlink(tmp)
                    return
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def __contains__(self, key: str) -> bool:
        return self.enabled and self.path_for(key).is_file()

    def clear(self) -> int:
        """Delete every entry; returns how many were removed."""
        n = 0
        if self.root.is_dir():
            for p in self.root.glob("*/*.npz"):
                self._discard(p)
                n += 1
        return n

    @staticmethod
    def _discard(path: Path) -> None:
        try:
            path.unlink()
        except OSError:
            pass

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.root)!r}, enabled={self.enabled})"
