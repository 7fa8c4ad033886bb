"""Feature tables: a CSV of precomputed features (like GTZAN's public ``features_30_sec.csv``) as a Dataset.

Each row is a track (or a segment ``<track>.<n>`` of one) with a ``label``
column and feature columns; such a dataset has no audio, so only models on
those feature columns can train on it (see :func:`genre_core.plan.backend_options`).

Example
-------
>>> from genre_core import config
>>> ds = load_feature_table(config.default_feature_table())   # doctest: +SKIP
>>> ds.kind, len(ds.labels)                                    # doctest: +SKIP
('table', 10)
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import config
from .cache import content_hash
from .errors import DatasetError

from .dataset import Dataset, Track, _fingerprint


#: ``<stem>.<k>`` segment rows of GTZAN's 3-second table (``blues.00000.3.wav``).
_SEGMENT_ROW = re.compile(r"^(?P<track>.+\.\d{5})\.(?P<seg>\d+)$")



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
