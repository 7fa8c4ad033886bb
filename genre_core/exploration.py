"""What a dataset looks like: counts, durations, problems, per-track features and 2-D maps.

Pure functions behind the Explore page (no Streamlit):

* :func:`overview` / :func:`durations_frame` / :func:`unreadable_frame` /
  :func:`duplicates_frame` -- tracks per genre, durations, files that cannot
  be used, exact duplicates (from a scan, see :func:`genre_core.dataset.open_dataset`).
* :func:`track_features` -- one ``gtzan57`` vector per track: the table's own
  columns for a feature table; for audio, the cached extraction
  (:func:`genre_core.extraction.compute_dataset_inputs`) over 30 s windows
  (whole clips for shorter tracks), averaged over a track's windows.
* :func:`projection` -- PCA (always cheap) or t-SNE of standardised features.
* :func:`chroma` -- a chromagram for the track view.
* :func:`audio_paths` -- the audio file of each track, when there is one
  (a feature table's tracks are looked up in the GTZAN audio folder).

Example
-------
>>> from genre_core.dataset import open_dataset
>>> ds = open_dataset("data/features_30_sec.csv")        # doctest: +SKIP
>>> feats, failures = track_features(ds)                  # doctest: +SKIP
>>> proj, info = projection(feats, "pca")                 # doctest: +SKIP
>>> proj.columns.tolist(), round(info["explained"][0], 2) # doctest: +SKIP
(['track_id', 'label', 'x', 'y'], 0.2)
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from .errors import DatasetError

__all__ = [
    "FEATURE_SET",
    "audio_paths",
    "chroma",
    "duplicates_frame",
    "durations_frame",
    "feature_window",
    "overview",
    "projection",
    "track_features",
    "unreadable_frame",
]

#: The feature set the page explores (the public table's columns).
FEATURE_SET = "gtzan57"
#: Projection sizes above this are subsampled per genre for t-SNE.
TSNE_MAX_TRACKS = 3000


def overview(ds) -> pd.DataFrame:
    """One row per genre: ``tracks, minutes, mean_s, min_s, max_s, unreadable, duplicated`` (:meth:`Dataset.summary`)."""
    return ds.summary()


def durations_frame(ds) -> pd.DataFrame:
    """``track_id, genre, duration`` (seconds) of tracks whose duration is known."""
    rows = [(t.track_id, t.label, float(t.duration)) for t in ds.tracks if t.duration is not None]
    return pd.DataFrame(rows, columns=["track_id", "genre", "duration"])


def unreadable_frame(ds) -> pd.DataFrame:
    """``file, reason, explanation`` of the files the scan could not use."""
    rows = []
    for path, why in ds.unreadable:
        reason, _, text = str(why).partition(":")
        rows.append({"file": str(path), "reason": reason.strip(), "explanation": text.strip() or str(why)})
    return pd.DataFrame(rows, columns=["file", "reason", "explanation"])


def duplicates_frame(ds) -> pd.DataFrame:
    """``group, track_id, genre``: tracks with identical audio (same group number)."""
    rows = []
    for i, grp in enumerate(ds.duplicates, 1):
        for tid in grp:
            rows.append({"group": i, "track_id": tid, "genre": tid.split("/", 1)[0]})
    return pd.DataFrame(rows, columns=["group", "track_id", "genre"])


def feature_window(ds) -> float | None:
    """Analysis window for per-track features: 30 s (like the public table), or whole clips when tracks are shorter."""
    durs = [t.duration for t in ds.tracks if t.duration]
    if durs and float(np.median(durs)) < 30.0:
        return None
    return 30.0


def track_features(ds, *, n_jobs: int = -1, progress: Callable[[dict], None] | None = None,
                   should_stop: Callable[[], bool] | None = None, use_cache: bool = True
                   ) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """One ``gtzan57`` feature vector per track.

    Returns
    -------
    (DataFrame, failures)
        Columns ``track_id, label`` then the feature columns; ``failures`` lists
        ``(track_id, reason)`` of audio tracks that could not be analysed.
    """
    from .features import get_feature_set
    from .inputs import InputSpec
    from .extraction import compute_dataset_inputs

    cols = get_feature_set(FEATURE_SET).columns
    if not ds.has_audio:
        table = ds.table
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise DatasetError(f"Feature table {ds.name} lacks {len(missing)} {FEATURE_SET} column(s), e.g. {missing[0]}.")
        df = table.groupby("track_id", sort=True).agg({**{c: "mean" for c in cols}, "label": "first"}).reset_index()
        return df[["track_id", "label", *cols]], []
    spec = InputSpec("features", FEATURE_SET, {}, window=feature_window(ds))
    inputs, failures = compute_dataset_inputs(ds.tracks, spec, n_jobs=n_jobs, use_cache=use_cache,
                                              progress=progress, should_stop=should_stop)
    label_of = {t.track_id: t.label for t in ds.tracks}
    rows = []
    for tid, ti in inputs.items():
        if "#" in tid or len(ti.X) == 0:
            continue
        rows.append([tid, label_of[tid], *np.asarray(ti.X, dtype=np.float64).mean(axis=0).tolist()])
    return pd.DataFrame(rows, columns=["track_id", "label", *cols]), [tuple(f) for f in failures]


def projection(features: pd.DataFrame, method: str = "pca", *, seed: int = 0,
               perplexity: float = 30.0) -> tuple[pd.DataFrame, dict]:
    """2-D map of standardised track features.

    Parameters
    ----------
    features : DataFrame
        ``track_id, label`` and numeric feature columns (:func:`track_features`).
    method : {"pca", "tsne"}
        PCA (linear; axes are directions of largest variance) or t-SNE
        (non-linear; neighbourhoods kept, distances between clusters not
        meaningful). t-SNE uses at most :data:`TSNE_MAX_TRACKS` tracks.

    Returns
    -------
    (DataFrame, dict)
        ``track_id, label, x, y`` and facts (``explained`` variance ratios for
        PCA, ``n`` tracks, ``subsampled``).
    """
    feats = features.drop(columns=[c for c in ("track_id", "label") if c in features.columns])
    X = feats.to_numpy(dtype=np.float64)
    keep = np.isfinite(X).all(axis=1)
    base = features.loc[keep, ["track_id", "label"]].reset_index(drop=True)
    X = X[keep]
    if len(X) < 3:
        raise DatasetError("A 2-D map needs at least 3 tracks with features.")
    info: dict = {"n": int(len(X)), "subsampled": False, "method": method}
    if method == "tsne" and len(X) > TSNE_MAX_TRACKS:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(len(X), TSNE_MAX_TRACKS, replace=False))
        X, base = X[idx], base.iloc[idx].reset_index(drop=True)
        info.update({"n": TSNE_MAX_TRACKS, "subsampled": True})
    std = X.std(axis=0)
    Xs = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    if method == "pca":  # plain SVD: instant, and no scikit-learn import on the page's first view
        U, S, Vt = np.linalg.svd(Xs, full_matrices=False)
        signs = np.sign(Vt[:2, np.argmax(np.abs(Vt[:2]), axis=1)].diagonal())  # deterministic orientation
        Y = (U[:, :2] * S[:2]) * np.where(signs == 0, 1.0, signs)
        var = S ** 2
        info["explained"] = [float(v) for v in (var[:2] / var.sum())] if var.sum() > 0 else [0.0, 0.0]
    elif method == "tsne":
        from sklearn.manifold import TSNE

        perp = float(min(perplexity, max(2.0, (len(Xs) - 1) / 3.0)))
        Y = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed, max_iter=750).fit_transform(Xs)
        info["perplexity"] = perp
    else:
        raise ValueError(f"method must be 'pca' or 'tsne', not {method!r}")
    out = base.assign(x=Y[:, 0], y=Y[:, 1])
    return out, info


def chroma(y: np.ndarray, sr: int, *, hop_length: int = 512, max_frames: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    """Chromagram (12 pitch classes x frames, each frame scaled to max 1) and frame times in seconds.

    Long signals use a larger hop so there are at most ``max_frames`` frames.
    """
    import librosa

    y = np.asarray(y, dtype=np.float32).ravel()
    hop = int(max(hop_length, int(np.ceil(len(y) / max(1, max_frames)))))
    C = librosa.feature.chroma_stft(y=y, sr=sr, hop_length=hop, n_fft=2048)
    times = np.arange(C.shape[1]) * hop / float(sr)
    return C.astype(np.float32), times


def audio_paths(ds, *, extra_roots=None) -> dict[str, Path]:
    """``{track_id: audio file}`` for the tracks that have one.

    Audio datasets use their own files; a feature table's tracks are looked up
    (by track id) in ``extra_roots`` (default: the GTZAN audio folder).
    """
    if ds.has_audio:
        return {t.track_id: Path(t.path) for t in ds.tracks if t.path is not None}
    from .comparison import find_track_audio

    roots = list(extra_roots) if extra_roots is not None else None
    from . import config

    roots = roots if roots is not None else [config.gtzan_dir() / "audio"]
    if not any(Path(r).is_dir() for r in roots):
        return {}
    out = {}
    for t in ds.tracks:
        p = find_track_audio(t.track_id, (), extra_roots=roots)
        if p is not None:
            out[t.track_id] = p
    return out


def genre_feature_summary(features: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per genre: ``n, mean, std, median`` of one feature column."""
    g = features.groupby("label")[column]
    return pd.DataFrame({"n": g.size(), "mean": g.mean(), "std": g.std(), "median": g.median()})


def summary_counts(ds) -> Mapping[str, float]:
    """Headline counts: tracks, genres, minutes (when durations are known), unreadable, duplicate groups."""
    durs = [t.duration for t in ds.tracks if t.duration]
    return {"tracks": len(ds.tracks), "genres": len(ds.labels),
            "minutes": float(sum(durs)) / 60.0 if durs else None,
            "unreadable": len(ds.unreadable), "duplicate_groups": len(ds.duplicates)}
