"""Scanning genre folders into a :class:`~genre_core.dataset.Dataset`: one sub-folder per genre.

:func:`scan_folders` walks one or more roots, probes every candidate file in
parallel (header, duration, a decode check of its head and tail), records what
it cannot use and why (``Dataset.unreadable``), finds duplicate recordings by
their decoded content, and reads an optional ``artists.csv`` (``track_id`` or
file name -> artist) for artist-grouped splits. Nothing here trains or
extracts features.

Example
-------
>>> ds = scan_folder("path/to/genres", n_jobs=2)     # doctest: +SKIP
>>> ds.labels, len(ds.tracks), ds.unreadable[:1]     # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
import soundfile as sf

from . import config
from .cache import content_hash
from .engine import resolve_jobs
from .errors import DatasetError

from .dataset import Dataset, Track, UnionFind, _fingerprint, track_id_for


#: File names that are never tracks, whatever their extension.
_IGNORED_NAMES = {"thumbs.db", "desktop.ini"}


#: Seconds decoded at the start of each file by the scan's decode check.
_PROBE_HEAD_SECONDS = 2.0


#: Seconds decoded at the end of each file by the scan's decode check.
_PROBE_TAIL_SECONDS = 0.5


def _supported_extensions() -> tuple[str, ...]:
    from .audio import SUPPORTED_EXTENSIONS

    return tuple(e.lower() for e in SUPPORTED_EXTENSIONS)


def _probe_file(path: Path, min_duration: float) -> dict[str, Any]:
    """Cheap usability check of one audio file (header + a little decoding).

    The header is read by :func:`genre_core.audio.audio_info` (same reason codes
    and sentences as :func:`~genre_core.audio.load_audio`); then the first
    ``_PROBE_HEAD_SECONDS`` and the last ``_PROBE_TAIL_SECONDS`` are decoded,
    which catches most corrupt and truncated files without decoding all of it.
    Silence is only detected by a full decode (at feature extraction).

    Returns a dict with ``ok`` and either ``reason``/``detail`` or
    ``duration``, ``sr``, ``channels``, ``frames``, ``sha1``, ``head`` (hash of
    the first decoded seconds, used to find duplicates across containers).
    """
    from .audio import audio_info

    try:  # header-declared length of WAV/AU (libsndfile silently shortens cut files)
        from .audio import _declared_frames
    except ImportError:  # pragma: no cover - audio.py internals moved
        def _declared_frames(head: bytes, fmt: str) -> int | None:
            return None
    from .errors import AudioError

    out: dict[str, Any] = {"ok": False, "path": path}
    name = path.name
    try:
        info = audio_info(path)
    except AudioError as err:
        return {**out, "reason": err.reason, "detail": err.detail}
    try:
        out["sha1"] = content_hash(path)
        with open(path, "rb") as fh:
            head_bytes = fh.read(1 << 16)
    except OSError as err:
        return {**out, "reason": "missing", "detail": f"{name} cannot be read ({err.strerror or err})."}
    frames, sr, channels = int(info.frames), int(info.sr), int(info.channels)
    fmt = info.format.split("/", 1)[0]
    declared = _declared_frames(head_bytes, fmt)
    if sr > 0 and declared and frames < declared - max(0.02 * declared, 0.05 * sr):
        return {**out, "reason": "truncated",
                "detail": f"{name} is truncated: it holds {frames / sr:.1f} s of the "
                          f"{declared / sr:.1f} s its header announces (the file was cut short)."}
    if frames <= 0 or sr <= 0:
        return {**out, "reason": "empty", "detail": f"{name} contains no audio samples (header only)."}
    duration = frames / sr
    if duration < min_duration:
        return {**out, "reason": "too_short",
                "detail": f"{name} is only {duration:.2f} s long; at least {min_duration:g} s "
                          "of audio is needed."}
    head_n = min(frames, int(_PROBE_HEAD_SECONDS * sr))
    tail_n = min(frames, max(1, int(_PROBE_TAIL_SECONDS * sr)))
    size = path.stat().st_size
    try:
        with open(path, "rb") as raw:
            reader = _TrackedReader(raw, size)
            with sf.SoundFile(reader) as fh:
                head = fh.read(head_n, dtype="float32", always_2d=True)
                if head.shape[0] == 0:
                    return {**out, "reason": "corrupt",
                            "detail": f"{name} has a valid header but no decodable audio."}
                if frames > head_n and fh.seekable():
                    fh.seek(frames - tail_n)
                    tail = fh.read(tail_n, dtype="float32", always_2d=True)
                    if tail.shape[0] == 0:
                        raise RuntimeError("no samples at the announced end")
    except Exception as err:  # libsndfile raises LibsndfileError / RuntimeError
        why = str(err).strip() or type(err).__name__
        if reader.max_pos >= size - 1024:  # the decoder ran out of bytes: cut short
            return {**out, "reason": "truncated",
                    "detail": f"{name} is truncated: its header announces {duration:.1f} s but the "
                              f"decoder ran out of data ({why}); the file was probably cut short."}
        return {**out, "reason": "corrupt", "detail": f"{name} is corrupt: decoding failed ({why})."}
    if not np.all(np.isfinite(head)):
        return {**out, "reason": "corrupt",
                "detail": f"{name} contains invalid samples (NaN or infinity); the file is damaged."}
    head_hash = hashlib.sha1(np.ascontiguousarray(head).tobytes()).hexdigest()
    return {**out, "ok": True, "duration": duration, "sr": sr, "channels": channels,
            "frames": frames, "head": head_hash}


class _TrackedReader(io.RawIOBase):
    """Read-only file wrapper remembering how far the decoder read (cut file vs damaged file)."""

    def __init__(self, raw, size: int):
        self._raw = raw
        self.size = size
        self.max_pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._raw.readinto(b)
        self.max_pos = max(self.max_pos, self._raw.tell())
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def _decoded_hash(path: Path) -> str | None:
    try:
        y, _ = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception:
        return None
    return hashlib.sha1(np.ascontiguousarray(y).tobytes()).hexdigest()


def _find_duplicates(probes: list[tuple[str, dict]]) -> list[list[str]]:
    """Groups of track ids whose audio is identical.

    Same bytes -> duplicates. Different bytes but the same rate, channel count,
    length and first decoded seconds -> decode both fully and compare.
    """
    groups = UnionFind(tid for tid, _ in probes)
    find, union = groups.find, groups.union

    by_bytes: dict[str, list[str]] = defaultdict(list)
    by_shape: dict[tuple, list[tuple[str, dict]]] = defaultdict(list)
    for tid, p in probes:
        by_bytes[p["sha1"]].append(tid)
        by_shape[(p["sr"], p["channels"], p["frames"], p["head"])].append((tid, p))
    for ids in by_bytes.values():
        for other in ids[1:]:
            union(ids[0], other)
    for cands in by_shape.values():
        distinct: dict[str, tuple[str, dict]] = {}
        for tid, p in cands:
            distinct.setdefault(p["sha1"], (tid, p))
        if len(distinct) < 2:
            continue
        decoded: dict[str, str] = {}
        for tid, p in distinct.values():
            h = _decoded_hash(p["path"])
            if h is None:
                continue
            if h in decoded:
                union(decoded[h], tid)
            else:
                decoded[h] = tid
    groups: dict[str, list[str]] = defaultdict(list)
    for tid, _ in probes:
        groups[find(tid)].append(tid)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def _read_artists(root: Path) -> dict[str, str]:
    """``artists.csv`` in ``root`` -> {track_id or file stem: artist}; {} when absent."""
    path = root / "artists.csv"
    if not path.is_file():
        return {}
    try:
        df = pd.read_csv(path, dtype=str)
    except Exception as err:
        raise DatasetError(f"{path}: cannot be read as CSV ({err}).") from None
    cols = {c.lower().strip(): c for c in df.columns}
    if "artist" not in cols or not ({"track_id", "filename"} & set(cols)):
        raise DatasetError(
            f"{path}: needs an 'artist' column and a 'track_id' or 'filename' column; "
            f"found {', '.join(map(str, df.columns))}."
        )
    key_col = cols.get("track_id") or cols["filename"]
    out = {}
    for key, artist in zip(df[key_col], df[cols["artist"]]):
        if isinstance(key, str) and isinstance(artist, str) and artist.strip():
            k = key.strip()
            # 'blues/blues.00000' (a track id) or 'blues.00000.wav' (a file name)
            out[k if key_col == cols.get("track_id") else Path(k).stem] = artist.strip()
    return out


def _progress(progress: Callable[[dict], None] | None, **info: Any) -> None:
    if progress is not None:
        progress(info)


def scan_folders(
    roots: Iterable[str | os.PathLike],
    *,
    check_audio: bool = True,
    n_jobs: int = -1,
    progress: Callable[[dict], None] | None = None,
    name: str | None = None,
    min_duration: float = config.MIN_DURATION,
) -> Dataset:
    """Scan one or more genre-per-folder roots into one merged :class:`Dataset`.

    Parameters
    ----------
    roots : iterable of paths
        Folders with one sub-folder per genre.
    check_audio : bool
        Read headers, decode-check and hash each file (default). ``False``
        only lists files: no durations, unreadable files or duplicates.
    n_jobs : int
        Threads used to probe files (``-1``: all cores).
    progress : callable, optional
        Receives ``{"stage": "scanning", "done": i, "total": n, "file": name}``.
    name : str, optional
        Dataset name; default the folder names joined with ``" + "``.
    min_duration : float
        Files shorter than this (seconds) are listed as ``too_short``.

    Raises
    ------
    DatasetError
        A root is missing or not a folder, has no genre sub-folders, holds no
        audio.
    """
    roots = [Path(r).expanduser() for r in roots]
    if not roots:
        raise DatasetError("No dataset folder was given.")
    exts = _supported_extensions()
    files: list[tuple[str, str, Path]] = []  # (track_id, label, path)
    seen: dict[str, Path] = {}
    ignored: list[str] = []
    empty_genres: list[str] = []
    artists: dict[str, str] = {}
    nested_dirs: list[Path] = []
    id_clashes: list[tuple[str, str]] = []
    for root in roots:
        if not root.exists():
            raise DatasetError(f"Dataset folder {root} does not exist.")
        if not root.is_dir():
            raise DatasetError(
                f"{root} is not a folder; a dataset is a folder with one sub-folder per genre "
                "(or a feature-table .csv file)."
            )
        genre_dirs = sorted(
            p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
        )
        if not genre_dirs:
            loose = [p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in exts]
            hint = (f" It holds {len(loose)} audio file(s) directly; move them into one folder per genre."
                    if loose else "")
            raise DatasetError(
                f"Dataset folder {root} has no genre sub-folders; expected {root}/<genre>/<file>.wav.{hint}"
            )
        artists.update(_read_artists(root))
        n_root = 0
        for gdir in genre_dirs:
            label = gdir.name
            n_genre = 0
            for p in sorted(gdir.iterdir()):
                if p.is_dir():
                    if not p.name.startswith((".", "_")):
                        nested_dirs.append(p)
                    continue
                if (p.name.startswith((".", "_")) or p.name.lower() in _IGNORED_NAMES
                        or p.suffix.lower() not in exts):
                    ignored.append(str(p))
                    continue
                tid = track_id_for(label, p.name)
                if tid in seen:
                    id_clashes.append((str(p), (
                        f"duplicate_id: {p.name} has the same track id {tid!r} as {seen[tid]}, which is "
                        "used instead (track ids are '<genre>/<file name without extension>'; rename "
                        "or remove one of them).")))
                    continue
                seen[tid] = p
                files.append((tid, label, p))
                n_genre += 1
            if n_genre == 0:
                empty_genres.append(str(gdir))
            n_root += n_genre
        if n_root == 0:
            hint = ""
            for sub in (d for d in nested_dirs if d.parent.parent == root):
                if any(f.is_file() and f.suffix.lower() in exts for f in sub.iterdir()):
                    hint = (f" Audio was found one level deeper, in {sub}: did you mean {sub.parent}? "
                            "It looks like a dataset folder itself (<genre>/<file>).")
                    break
            raise DatasetError(
                f"No audio files found in the genre sub-folders of {root} "
                f"(looked for {', '.join(exts)}).{hint}"
            )

    total = len(files)
    _progress(progress, stage="scanning", done=0, total=total)
    probes: list[dict]
    if check_audio:
        probes = _probe_all([p for _, _, p in files], n_jobs=n_jobs, progress=progress,
                            min_duration=min_duration)
    else:
        probes = [{"ok": True, "path": p} for _, _, p in files]
        _progress(progress, stage="scanning", done=total, total=total)

    tracks: list[Track] = []
    unreadable: list[tuple[str, str]] = list(id_clashes)
    ok_probes: list[tuple[str, dict]] = []
    bad_by_genre: dict[str, int] = {}
    for path, _ in id_clashes:
        genre = Path(path).parent.name
        bad_by_genre[genre] = bad_by_genre.get(genre, 0) + 1
    for (tid, label, path), pr in zip(files, probes):
        if not pr["ok"]:
            unreadable.append((str(path), f"{pr['reason']}: {pr['detail']}"))
            bad_by_genre[label] = bad_by_genre.get(label, 0) + 1
            continue
        stem_key = tid.split("/", 1)[1]
        artist = artists.get(tid) or artists.get(stem_key) or artists.get(path.stem)
        tracks.append(Track(tid, label, path, artist=artist, duration=pr.get("duration"),
                            sha1=pr.get("sha1")))
        if check_audio:
            ok_probes.append((tid, pr))
    if not tracks:
        reasons = sorted({r.split(":", 1)[0] for _, r in unreadable})
        raise DatasetError(
            f"None of the {total} audio file(s) in {', '.join(map(str, roots))} can be used "
            f"({', '.join(reasons)}); e.g. {unreadable[0][1]}"
        )
    tracks.sort(key=lambda t: t.track_id)
    duplicates = _find_duplicates(ok_probes) if check_audio else []
    labels = sorted({t.label for t in tracks})
    details = {
        "n_files": total,
        "n_ignored": len(ignored),
        "ignored_examples": [Path(p).name for p in ignored[:5]],
        "empty_genre_folders": empty_genres,
        "skipped_subfolders": [str(p) for p in nested_dirs],
        "checked_audio": check_audio,
        "n_with_artist": sum(t.artist is not None for t in tracks),
        "unreadable_by_genre": bad_by_genre,
    }
    return Dataset(
        name=name or " + ".join(r.name or str(r) for r in roots),
        kind="audio",
        roots=roots,
        tracks=tracks,
        labels=labels,
        unreadable=unreadable,
        duplicates=duplicates,
        table=None,
        fingerprint=_fingerprint(tracks),
        details=details,
    )


def _probe_all(paths: list[Path], *, n_jobs: int, progress, min_duration: float) -> list[dict]:
    total = len(paths)
    n_workers = resolve_jobs(n_jobs, total)
    if n_workers <= 1:
        out = []
        for i, p in enumerate(paths, 1):
            out.append(_probe_file(p, min_duration))
            _progress(progress, stage="scanning", done=i, total=total, file=p.name)
        return out
    from concurrent.futures import ThreadPoolExecutor

    # libsndfile releases the GIL while decoding, so threads overlap well here.
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        out = []
        for i, res in enumerate(pool.map(lambda p: _probe_file(p, min_duration), paths), 1):
            out.append(res)
            _progress(progress, stage="scanning", done=i, total=total, file=res["path"].name)
    return out


def scan_folder(
    root: str | os.PathLike,
    *,
    check_audio: bool = True,
    n_jobs: int = -1,
    progress: Callable[[dict], None] | None = None,
) -> Dataset:
    """Scan one genre-per-folder root (see :func:`scan_folders`).

    Example
    -------
    >>> ds = scan_folder("/work/shared/data/gtzan/audio")   # doctest: +SKIP
    >>> ds.summary().tracks.sum()                           # doctest: +SKIP
    217
    """
    return scan_folders([root], check_audio=check_audio, n_jobs=n_jobs, progress=progress)
