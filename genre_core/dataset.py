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
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from . import config
from .errors import DatasetError

__all__ = [
    "Track",
    "Dataset",
    "open_dataset",
    "synthetic_dataset",
    "track_id_for",
    "dataset_label",
    "listing_stamp",
]

#: Names that live in :mod:`genre_core.scanning` and :mod:`genre_core.tables` (importable from here too).
_ELSEWHERE = {"scan_folder": "scanning", "scan_folders": "scanning", "load_feature_table": "tables"}


def __getattr__(name: str):
    if name in _ELSEWHERE:
        import importlib

        return getattr(importlib.import_module(f"{__package__}.{_ELSEWHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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

    @property
    def has_audio(self) -> bool:
        """False for a feature table (its rows are features; there is no audio to decode)."""
        return self.kind != "table"

    def compute_inputs(self, spec, tracks: "Iterable[Track] | None" = None, **kw) -> tuple[dict, list]:
        """The ``spec`` inputs of ``tracks`` (default all): ``(inputs by track id, failures)``.

        An audio dataset computes them (:func:`genre_core.extraction.compute_dataset_inputs`,
        keywords passed on: ``n_jobs``, ``use_cache``, ``progress``, ``should_stop``,
        ``augmenter``, ``n_augment``); a feature table reads its columns
        (:func:`genre_core.extraction.table_inputs`; features only, no failures).
        """
        from .extraction import compute_dataset_inputs, table_inputs

        if not self.has_audio:
            if spec.kind != "features":
                raise DatasetError(f"{spec.kind} inputs are computed from audio; the feature table {self.name!r} "
                                   "has none.")
            inputs = table_inputs(self, spec)
            if tracks is not None:
                wanted = {t.track_id for t in tracks}
                inputs = {k: v for k, v in inputs.items() if k in wanted}
            return dict(inputs), []
        return compute_dataset_inputs(list(self.tracks if tracks is None else tracks), spec, **kw)

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


#: At most this many unreadable files (with their reasons) are written into a run's record.
MAX_RECORDED_FAILURES = 1000



def _safe_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _fingerprint(tracks: Iterable[Track]) -> str:
    h = hashlib.sha1()
    for t in sorted(tracks, key=lambda t: t.track_id):
        ident = t.sha1 or ("" if t.path is None else str(_safe_size(t.path)))
        h.update(f"{t.track_id}\t{t.label}\t{ident}\n".encode("utf-8"))
    return h.hexdigest()[:16]






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
    from .scanning import scan_folders

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
    from .scanning import scan_folders
    from .tables import load_feature_table

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
