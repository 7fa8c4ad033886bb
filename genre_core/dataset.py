"""A labelled collection of tracks: audio folders, feature tables, synthetic audio.

A *dataset* is one of

* a **folder with one sub-folder per genre** (GTZAN's layout, any genre
  names): ``root/<genre>/<file>.<ext>``. Non-audio files (``README``,
  ``.DS_Store``, cover art), hidden files and deeper sub-folders are ignored
  (listed in :attr:`Dataset.details`);
* **several such folders merged** (e.g. GTZAN's full tracks plus excerpts):
  track ids must stay unique across them (a second file with an id already
  seen, e.g. ``song.wav`` next to ``song.mp3``, is listed as unreadable with
  reason ``duplicate_id``);
* a **feature table CSV** such as the bundled ``data/features_30_sec.csv``:
  one row per track (or per segment, for tables like ``features_3_sec.csv``
  whose file names end in ``.<k>.wav``), a ``label`` column and feature
  columns; kind ``"table"``, no audio;
* ``"synthetic"``: a small synthetic audio set (see
  :mod:`genre_core.synthetic`) generated on demand under
  ``config.cache_dir()/synthetic/``, named so it is never mistaken for music.

Track ids are ``"<label>/<stem>"`` (``blues/blues.00000``), independent of the
file extension, so the table, the audio and GTZAN's split lists agree.

Scanning is cheap and honest: it reads each file's header
(:func:`soundfile.info`) for the duration, decodes a little of its start and
end to catch corrupt or truncated files, and hashes its bytes. Files that
cannot be used are *listed* in :attr:`Dataset.unreadable` with the reason
(same codes as :class:`~genre_core.errors.AudioError`), not fatal. Exact
duplicates (same bytes, or same decoded samples in a different container)
are listed in :attr:`Dataset.duplicates`; GTZAN is known to contain some, and
:mod:`genre_core.splits` keeps duplicates on one side of a split.

Artists are unknown for plain folders (``None``). An optional
``artists.csv`` in a dataset folder (columns ``track_id`` or ``filename``, and
``artist``) fills them in, which enables artist-grouped splits.

Example
-------
>>> ds = open_dataset("synthetic")                       # doctest: +SKIP
>>> ds.summary()                                         # doctest: +SKIP
>>> ds = open_dataset(["/data/gtzan/audio", "/data/gtzan/excerpts"])  # doctest: +SKIP
>>> len(ds.tracks), ds.labels[:2], ds.unreadable, ds.duplicates      # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
import soundfile as sf

from . import config
from .cache import content_hash
from .engine import resolve_jobs
from .errors import DatasetError

__all__ = [
    "Track",
    "Dataset",
    "open_dataset",
    "scan_folder",
    "scan_folders",
    "load_feature_table",
    "synthetic_dataset",
    "track_id_for",
    "dataset_label",
    "listing_stamp",
]

#: File names that are never tracks, whatever their extension.
_IGNORED_NAMES = {"thumbs.db", "desktop.ini"}
#: Seconds decoded at the start of each file by the scan's decode check.
_PROBE_HEAD_SECONDS = 2.0
#: Seconds decoded at the end of each file by the scan's decode check.
_PROBE_TAIL_SECONDS = 0.5
#: ``<stem>.<k>`` segment rows of GTZAN's 3-second table (``blues.00000.3.wav``).
_SEGMENT_ROW = re.compile(r"^(?P<track>.+\.\d{5})\.(?P<seg>\d+)$")


@dataclass
class Track:
    """One labelled piece of music.

    Attributes
    ----------
    track_id : str
        ``"<label>/<stem>"``, unique in its dataset.
    label : str
        The genre (sub-folder name or table label).
    path : Path or None
        The audio file; ``None`` for feature-table rows.
    artist : str or None
        Unknown (``None``) unless given by ``artists.csv``.
    duration : float or None
        Seconds, from the file header (or the table's ``length``).
    sha1 : str or None
        Content hash of the file's bytes, when scanned.
    """

    track_id: str
    label: str
    path: Path | None
    artist: str | None = None
    duration: float | None = None
    sha1: str | None = None


@dataclass
class Dataset:
    """A scanned dataset: tracks, labels and what the scan noticed.

    Attributes
    ----------
    name : str
        Shown to people (folder names, table file name, ``synthetic (...)``).
    kind : str
        ``"audio"``, ``"table"`` or ``"synthetic"``.
    roots : list of Path
        The folders (or the CSV file) it came from.
    tracks : list of Track
        Usable tracks, sorted by id.
    labels : list of str
        Sorted genre names.
    unreadable : list of (str, str)
        ``(file path, "reason: explanation")`` for audio files that cannot be used.
    duplicates : list of list of str
        Groups of track ids with identical audio.
    table : pandas.DataFrame or None
        The feature table (kind ``"table"``), with a ``track_id`` column added.
    fingerprint : str
        Hash of the track ids, labels and contents; recorded with each run.
    details : dict
        Extra scan facts (ignored files, empty genre folders, ...).
    """

    name: str
    kind: str
    roots: list[Path]
    tracks: list[Track]
    labels: list[str]
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)
    table: pd.DataFrame | None = None
    fingerprint: str = ""
    details: dict = field(default_factory=dict)

    def by_id(self) -> dict[str, Track]:
        """Tracks keyed by track id."""
        return {t.track_id: t for t in self.tracks}

    def subset(self, ids: Iterable[str]) -> "Dataset":
        """The dataset restricted to ``ids`` (unknown ids raise ``DatasetError``).

        ``labels`` keeps the full class list, so a subset (say, a training
        split) still knows every genre of the dataset. Duplicate groups and the
        table are restricted too; the fingerprint is recomputed.
        """
        wanted = list(dict.fromkeys(ids))
        index = self.by_id()
        missing = [i for i in wanted if i not in index]
        if missing:
            raise DatasetError(
                f"{len(missing)} track id(s) are not in dataset {self.name!r}, e.g. {missing[0]!r}."
            )
        keep = set(wanted)
        tracks = [t for t in self.tracks if t.track_id in keep]
        dups = [g for g in ([i for i in grp if i in keep] for grp in self.duplicates) if len(g) > 1]
        table = None
        if self.table is not None:
            table = self.table[self.table["track_id"].isin(keep)].reset_index(drop=True)
        ds = replace(self, tracks=tracks, duplicates=dups, table=table, details=dict(self.details))
        ds.fingerprint = _fingerprint(tracks)
        return ds

    def counts(self) -> dict[str, int]:
        """Number of tracks per label (every label, zeros included)."""
        out = {label: 0 for label in self.labels}
        for t in self.tracks:
            out[t.label] = out.get(t.label, 0) + 1
        return out

    def summary(self) -> pd.DataFrame:
        """One row per genre: tracks, minutes, mean/min/max duration, unreadable, duplicates.

        Example
        -------
        >>> open_dataset("synthetic").summary().columns.tolist()  # doctest: +SKIP
        ['tracks', 'minutes', 'mean_s', 'min_s', 'max_s', 'unreadable', 'duplicated']
        """
        by_label: dict[str, list[float]] = {label: [] for label in self.labels}
        for t in self.tracks:
            by_label.setdefault(t.label, []).append(np.nan if t.duration is None else float(t.duration))
        bad = self.details.get("unreadable_by_genre") or {}
        dup = defaultdict(int)
        for grp in self.duplicates:
            for tid in grp[1:]:
                dup[tid.split("/", 1)[0]] += 1
        rows = []
        for label in sorted(by_label):
            d = np.asarray(by_label[label], dtype=float)
            known = d[~np.isnan(d)]
            rows.append(
                {
                    "genre": label,
                    "tracks": len(d),
                    "minutes": round(float(known.sum()) / 60.0, 2) if known.size else np.nan,
                    "mean_s": round(float(known.mean()), 2) if known.size else np.nan,
                    "min_s": round(float(known.min()), 2) if known.size else np.nan,
                    "max_s": round(float(known.max()), 2) if known.size else np.nan,
                    "unreadable": bad.get(label, 0),
                    "duplicated": dup.get(label, 0),
                }
            )
        return pd.DataFrame(rows).set_index("genre")

    def to_dict(self) -> dict:
        """JSON-able description (no track list): what a run records about its data."""
        return {
            "name": self.name,
            "kind": self.kind,
            "roots": [str(r) for r in self.roots],
            "n_tracks": len(self.tracks),
            "labels": list(self.labels),
            "counts": self.counts(),
            "n_unreadable": len(self.unreadable),
            # which files and why (capped: a run record stays small)
            "unreadable": [[str(f), str(why)] for f, why in self.unreadable[:MAX_RECORDED_FAILURES]],
            "n_duplicate_groups": len(self.duplicates),
            "fingerprint": self.fingerprint,
        }


# --------------------------------------------------------------------- helpers

class UnionFind:
    """Groups of ids that must stay together (duplicates, artists): ``union(a, b)``, ``find(a)``.

    The representative of a group is its smallest id, so results do not depend on the order of unions.

    Examples
    --------
    >>> g = UnionFind(["a", "b", "c"]); g.union("c", "b"); g.find("c")
    'b'
    """

    def __init__(self, ids: Iterable[str]):
        self.parent = {i: i for i in ids}

    def __contains__(self, item: str) -> bool:
        return item in self.parent

    def find(self, a: str) -> str:
        parent = self.parent
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)



#: At most this many unreadable files (with their reasons) are written into a run's record.
MAX_RECORDED_FAILURES = 1000



def track_id_for(label: str, relative: "str | Path") -> str:
    """Track id of a file at ``relative`` (path inside its genre folder).

    Example
    -------
    >>> track_id_for("blues", "blues.00000.wav")
    'blues/blues.00000'
    >>> track_id_for("rock", "album/01 intro.mp3")
    'rock/album/01 intro'
    """
    rel = Path(relative)
    return f"{label}/{rel.with_suffix('').as_posix()}"


def _supported_extensions() -> tuple[str, ...]:
    from .audio import SUPPORTED_EXTENSIONS

    return tuple(e.lower() for e in SUPPORTED_EXTENSIONS)


def _fingerprint(tracks: Iterable[Track]) -> str:
    h = hashlib.sha1()
    for t in sorted(tracks, key=lambda t: t.track_id):
        ident = t.sha1 or ("" if t.path is None else str(_safe_size(t.path)))
        h.update(f"{t.track_id}\t{t.label}\t{ident}\n".encode("utf-8"))
    return h.hexdigest()[:16]


def _safe_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


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


# --------------------------------------------------------------------- scanning


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


# --------------------------------------------------------------------- tables


def load_feature_table(csv_path: str | os.PathLike, *, sr: int = config.SAMPLE_RATE) -> Dataset:
    """Load a feature table (one row per track, or per segment) as a dataset.

    The table needs a ``label`` column; track ids come from a ``filename``
    column (``blues.00000.wav`` -> ``blues/blues.00000``), or from the row
    number when there is none. Rows named ``<stem>.<k>.wav`` (GTZAN's 3-second
    table) are segments of track ``<stem>``: they share one track id (so no
    split can put two segments of a song on different sides) and keep their
    order in a ``segment`` column. Durations come from a ``length`` column (in
    samples at ``sr``) when present.

    Raises
    ------
    DatasetError
        Missing/unreadable file, no ``label`` column, empty table, or a track
        id used twice.

    Example
    -------
    >>> ds = load_feature_table(config.default_feature_table())  # doctest: +SKIP
    >>> len(ds.tracks), ds.tracks[0].track_id                      # doctest: +SKIP
    (1000, 'blues/blues.00000')
    """
    path = Path(csv_path).expanduser()
    if not path.exists():
        raise DatasetError(f"Feature table {path} does not exist.")
    if not path.is_file():
        raise DatasetError(f"Feature table {path} is not a file.")
    try:
        df = pd.read_csv(path)
    except Exception as err:
        raise DatasetError(f"Feature table {path} cannot be read as CSV ({err}).") from None
    if df.empty:
        raise DatasetError(f"Feature table {path} has no rows.")
    if "label" not in df.columns:
        raise DatasetError(
            f"Feature table {path} has no 'label' column (columns: "
            f"{', '.join(map(str, df.columns[:8]))}{', ...' if len(df.columns) > 8 else ''})."
        )
    df = df.copy()
    if df["label"].isna().any():
        bad = int(df["label"].isna().sum())
        raise DatasetError(f"Feature table {path}: {bad} row(s) have an empty label.")
    df["label"] = df["label"].astype(str).str.strip()
    if "filename" in df.columns:
        stems = [Path(str(f)).stem if isinstance(f, str) else f"row{i:05d}"
                 for i, f in enumerate(df["filename"])]
    else:
        stems = [f"row{i:05d}" for i in range(len(df))]
    track_stems, seg_index = [], []
    matches = [_SEGMENT_ROW.match(s) for s in stems]
    segmented = all(m is not None for m in matches) and len(
        {m.group("track") for m in matches}) < len(stems)
    for s, m in zip(stems, matches):
        if segmented:
            track_stems.append(m.group("track"))
            seg_index.append(int(m.group("seg")))
        else:
            track_stems.append(s)
            seg_index.append(0)
    df["track_id"] = [f"{lab}/{s}" for lab, s in zip(df["label"], track_stems)]
    df["segment"] = seg_index
    dup = df.duplicated(["track_id", "segment"], keep=False)
    if dup.any():
        first = df.loc[dup, "track_id"].iloc[0]
        raise DatasetError(
            f"Feature table {path}: track id {first!r} appears on {int(dup.sum())} rows; "
            "each file name must be unique within a label."
        )
    df = df.sort_values(["track_id", "segment"], kind="stable").reset_index(drop=True)
    tracks = []
    lengths = df.groupby("track_id", sort=True)["length"].sum() if "length" in df.columns else None
    labels_of = df.groupby("track_id", sort=True)["label"].first()
    for tid, label in labels_of.items():
        dur = None
        if lengths is not None and np.isfinite(lengths[tid]):
            dur = float(lengths[tid]) / sr
        tracks.append(Track(tid, label, None, duration=dur))
    h = content_hash(path)
    return Dataset(
        name=path.name,
        kind="table",
        roots=[path],
        tracks=tracks,
        labels=sorted(df["label"].unique().tolist()),
        unreadable=[],
        duplicates=[],
        table=df,
        fingerprint=hashlib.sha1(f"{_fingerprint(tracks)}:{h}".encode()).hexdigest()[:16],
        details={"n_rows": int(len(df)), "segmented": bool(segmented), "sha1": h},
    )


# --------------------------------------------------------------------- synthetic


def synthetic_dataset(
    *,
    n_per_genre: int = 8,
    duration: float = 6.0,
    seed: int = 0,
    sr: int = config.SAMPLE_RATE,
    root: str | os.PathLike | None = None,
) -> Dataset:
    """A small synthetic audio dataset, generated once and reused.

    The clips come from :func:`genre_core.synthetic.write_synthetic_dataset`
    (distinct, learnable synthetic "genres", not music). They are written under
    ``root`` (default ``config.cache_dir()/synthetic/<parameters>``) the first
    time and scanned from there afterwards.

    Example
    -------
    >>> ds = synthetic_dataset(n_per_genre=4, duration=3.0)  # doctest: +SKIP
    >>> ds.kind, ds.name                                      # doctest: +SKIP
    ('synthetic', 'synthetic (3 genres x 4 clips x 3 s, seed 0; generated, not music)')
    """
    from .synthetic import SYNTHETIC_GENRES, write_synthetic_dataset

    if n_per_genre < 1:
        raise DatasetError("A synthetic dataset needs at least 1 clip per genre.")
    if duration < config.MIN_DURATION:
        raise DatasetError(f"Synthetic clips must last at least {config.MIN_DURATION:g} s.")
    params = {"genres": list(SYNTHETIC_GENRES), "n": n_per_genre, "duration": duration,
              "seed": seed, "sr": sr}
    tag = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    base = Path(root) if root is not None else config.cache_dir() / "synthetic" / \
        f"g{len(SYNTHETIC_GENRES)}-n{n_per_genre}-d{duration:g}-s{seed}-{tag}"
    marker = base / ".complete.json"
    if not marker.is_file():
        base.mkdir(parents=True, exist_ok=True)
        write_synthetic_dataset(base, genres=SYNTHETIC_GENRES, n_per_genre=n_per_genre,
                                duration=duration, sr=sr, seed=seed)
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps(params, indent=1))
        os.replace(tmp, marker)
    ds = scan_folders([base], n_jobs=1)
    ds.kind = "synthetic"
    ds.name = (f"synthetic ({len(SYNTHETIC_GENRES)} genres x {n_per_genre} clips x {duration:g} s, "
               f"seed {seed}; generated, not music)")
    ds.details["synthetic"] = params
    return ds


# --------------------------------------------------------------------- entry point


def _parse_synthetic(spec: str) -> dict:
    """``"synthetic"`` or ``"synthetic:n=12,duration=4,seed=1"`` -> kwargs."""
    kwargs: dict[str, Any] = {}
    _, _, rest = spec.partition(":")
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = part.partition("=")
        key = {"n": "n_per_genre"}.get(key.strip(), key.strip())
        if not sep or key not in {"n_per_genre", "duration", "seed"}:
            raise DatasetError(
                f"Bad synthetic dataset option {part!r}; use e.g. 'synthetic:n=8,duration=6,seed=0'."
            )
        try:
            kwargs[key] = float(value) if key == "duration" else int(value)
        except ValueError:
            raise DatasetError(f"Synthetic dataset option {key} must be a number, not {value!r}.") from None
    return kwargs


def open_dataset(
    spec: "str | os.PathLike | Dataset | list",
    *,
    check_audio: bool = True,
    n_jobs: int = -1,
    progress: Callable[[dict], None] | None = None,
) -> Dataset:
    """Open whatever a user points at: folder(s), a feature-table CSV, or ``"synthetic"``.

    Parameters
    ----------
    spec : str, Path, Dataset or list
        * a folder with one sub-folder per genre;
        * a list of such folders (merged; ids must not collide);
        * a ``.csv`` feature table (see :func:`load_feature_table`);
        * ``"synthetic"`` or ``"synthetic:n=8,duration=6,seed=0"``;
        * a :class:`Dataset` (returned as is).

    Raises
    ------
    DatasetError
        With a sentence naming the path and what is wrong.

    Example
    -------
    >>> ds = open_dataset("data/features_30_sec.csv")   # doctest: +SKIP
    >>> ds.kind, len(ds.tracks), len(ds.labels)          # doctest: +SKIP
    ('table', 1000, 10)
    """
    if isinstance(spec, Dataset):
        return spec
    if isinstance(spec, (list, tuple)):
        items = list(spec)
        if not items:
            raise DatasetError("No dataset was given.")
        if len(items) == 1:
            return open_dataset(items[0], check_audio=check_audio, n_jobs=n_jobs, progress=progress)
        for item in items:
            s = str(item)
            if s == "synthetic" or s.startswith("synthetic:") or s.lower().endswith(".csv"):
                raise DatasetError(
                    f"Only audio folders can be merged; {s!r} is a "
                    f"{'feature table' if s.lower().endswith('.csv') else 'synthetic dataset'}."
                )
        return scan_folders(items, check_audio=check_audio, n_jobs=n_jobs, progress=progress)
    if not isinstance(spec, (str, os.PathLike)):
        raise DatasetError(f"Cannot open a dataset from a {type(spec).__name__}.")
    s = os.fspath(spec)
    if not s.strip():
        raise DatasetError("No dataset was given (empty path).")
    if s == "synthetic" or s.startswith("synthetic:"):
        if not Path(s).exists():
            return synthetic_dataset(**_parse_synthetic(s))
    path = Path(s).expanduser()
    if path.suffix.lower() == ".csv":
        return load_feature_table(path)
    if path.is_file():
        raise DatasetError(
            f"{path} is a file; a dataset is a folder with one sub-folder per genre, "
            "a feature-table .csv, or 'synthetic'."
        )
    return scan_folders([path], check_audio=check_audio, n_jobs=n_jobs, progress=progress)


def dataset_label(spec: Any) -> str:
    """A short name for a dataset or a dataset spec (for run names): a folder's or table's stem,
    ``synthetic``, or the first two of several joined by ``+``.

    Examples
    --------
    >>> dataset_label(["/data/gtzan/", "/data/mine", "/x/more.csv"])
    'gtzan+mine+more'
    >>> dataset_label("synthetic:n=4")
    'synthetic'
    """
    if isinstance(spec, (list, tuple)):
        return "+".join(dataset_label(s) for s in spec[:2]) + ("+more" if len(spec) > 2 else "")
    name = getattr(spec, "name", None)
    if name is not None and not isinstance(spec, (str, Path)):
        return str(name).split(" ")[0]
    s = str(spec).rstrip("/\\")
    if s.startswith("synthetic"):
        return "synthetic"
    return Path(s).stem or s


def listing_stamp(spec: str | os.PathLike) -> float:
    """A number that changes when files are added to or removed from a genre folder, or a table is rewritten.

    Cheap (no file is read): for keying caches of a dataset listing. ``0.0`` when the path cannot be read.
    """
    p = Path(spec).expanduser()
    try:
        if p.is_file():  # a feature table
            return p.stat().st_mtime
        return p.stat().st_mtime + sum(d.stat().st_mtime for d in p.iterdir() if d.is_dir())
    except OSError:
        return 0.0
