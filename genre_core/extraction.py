"""Inputs of a whole dataset: decoding, the feature cache, parallel workers, augmented copies, tables.

:func:`compute_dataset_inputs` computes an :class:`~genre_core.inputs.InputSpec`'s
input for a list of tracks: decoding with :func:`genre_core.audio.load_audio`,
in parallel (joblib, or Dask through :mod:`genre_core.engine`), through the
on-disk :class:`~genre_core.cache.FeatureCache` (so a second run is
near-instant and a changed file or parameter recomputes only what changed),
skipping unreadable files (returned as failures), and adding augmented copies
of tracks when asked (training tracks only: the caller decides which tracks,
see :mod:`genre_core.augment`). :func:`table_inputs` reads the same kind of
input from a feature-table dataset (no audio). :func:`extraction_plan` says
what it will cost before any audio is decoded.

Example
-------
>>> spec = InputSpec(kind="features", feature_set="gtzan57", params={}, window=3.0)
>>> ds = open_dataset("synthetic")                                  # doctest: +SKIP
>>> inputs, failures = compute_dataset_inputs(ds.tracks, spec)      # doctest: +SKIP
>>> inputs["drone/drone.00000"].X.shape                             # doctest: +SKIP
(2, 57)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

import numpy as np

from . import config
from .cache import FeatureCache, cache_key, content_hash
from .engine import resolve_jobs
from .errors import AudioError, DatasetError, GenreLabError, TrainingCancelled

if TYPE_CHECKING:  # pragma: no cover
    from .augment import Augmenter
    from .dataset import Dataset, Track

from .inputs import INPUTS_VERSION, InputSpec, TrackInput, _extractor_key, _feature_set_for

__all__ = ["EXTRACTION_COST_S_PER_MIN", "compute_dataset_inputs", "extraction_plan", "table_inputs"]

#: Assumed length of a track whose duration is not known yet (seconds).
ASSUMED_TRACK_SECONDS = 30.0


def _entry_key(sha1: str, spec: InputSpec, extractor: str, aug_key: str | None, copy: int) -> str:
    windowing = {"window": spec.window, "hop": spec.hop, "sr": spec.sr}  # params live in `extractor`
    return cache_key(
        content=sha1,
        input=windowing,
        extractor=extractor,
        augment=aug_key if copy > 0 else None,
        copy=int(copy),
        version=INPUTS_VERSION,
        max_duration=config.MAX_DURATION,
    )



def _copy_id(track_id: str, copy: int) -> str:
    return track_id if copy == 0 else f"{track_id}#aug{copy}"



def _extract_track(track_id: str, path: str, spec: InputSpec, copies: list[int],
                   augmenter: "Augmenter | None") -> tuple[str, dict | None, str | None]:
    """Worker: load one file and compute the requested copies (0 = original).

    Returns ``(track_id, {copy: (X, starts, ends, info)}, None)`` or
    ``(track_id, None, "reason: explanation")`` for a file that cannot be used.
    """
    from .audio import load_audio
    from .inputs import compute_track_input

    try:
        audio = load_audio(path, sr=spec.sr, max_duration=config.MAX_DURATION)
        out = {}
        for k in copies:
            y, info = audio.y, {}
            if k > 0:
                y, params = augmenter.augment(audio.y, audio.sr, track_id=track_id, copy_index=k)
                info = {"augment": params}
            ti = compute_track_input(y, audio.sr, spec, track_id=_copy_id(track_id, k))
            if len(ti) == 0:
                raise AudioError(path, "too_short", f"{Path(path).name} yields no analysis window.")
            out[k] = (ti.X, ti.starts, ti.ends, info)
        return track_id, out, None
    except AudioError as err:
        return track_id, None, f"{err.reason}: {err.detail}"
    except GenreLabError as err:
        return track_id, None, f"error: {err}"



def _extract_on_worker(track_id: str, path: str, spec: InputSpec, copies: list[int], augmenter: "Augmenter | None",
                       cache_root: str | None, keys: dict[int, str]) -> tuple[str, dict | None, str | None]:
    """A Dask task: :func:`_extract_track`, plus the entries written to the cache when the worker
    sees the client's cache folder (shared storage; atomic writes, so concurrent writers are safe)."""
    if not Path(path).exists():
        raise _engine_error(f"A Dask worker cannot see {path}; workers need the audio at the same path "
                            "as this machine (shared storage).")
    track_id, out, error = _extract_track(track_id, path, spec, copies, augmenter)
    if out is not None and cache_root is not None and Path(cache_root).is_dir():
        shared = FeatureCache(cache_root)
        for k, (X, starts, ends, info) in out.items():
            shared.put(keys[k], _to_entry(X, starts, ends, info))
    return track_id, out, error



def _engine_error(message: str) -> GenreLabError:
    from .engine import EngineError

    return EngineError(message)



def _to_entry(X, starts, ends, info) -> dict[str, np.ndarray]:
    return {"X": X, "starts": starts, "ends": ends, "info": np.array(json.dumps(info, sort_keys=True))}



def _from_entry(track_id: str, entry: Mapping[str, np.ndarray], spec: InputSpec | None = None) -> TrackInput | None:
    """The cached input, or ``None`` when the entry is damaged (then it is recomputed and replaced).

    Damaged: missing arrays, unreadable info, non-finite values, no windows, or
    a shape that does not fit ``spec`` (feature width, spectrogram axes).
    """
    try:
        X = np.asarray(entry["X"], dtype=np.float32)
        starts = np.asarray(entry["starts"], dtype=np.float64)
        ends = np.asarray(entry["ends"], dtype=np.float64)
        info = json.loads(str(entry["info"])) if "info" in entry else {}
    except (KeyError, ValueError, TypeError):
        return None
    if X.ndim < 2 or X.shape[0] == 0 or starts.shape != (X.shape[0],) or ends.shape != (X.shape[0],):
        return None
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(starts)) and np.all(np.isfinite(ends))):
        return None
    if spec is not None:
        if spec.kind == "logmel" and X.ndim != 3:
            return None
        if spec.kind == "features" and (X.ndim != 2 or X.shape[1] != _feature_width(spec)):
            return None
    return TrackInput(track_id, X, starts, ends, info if isinstance(info, dict) else {})



def _feature_width(spec: InputSpec) -> int:
    """Number of columns the spec's feature set produces (-1 if it cannot say)."""
    try:
        return len(_feature_set_for(spec.feature_set, json.dumps(spec.params, sort_keys=True)).columns)
    except Exception:  # noqa: BLE001 - an unknown set fails later with its own message
        return -1



#: One core's seconds of extraction per minute of audio, by feature set (``logmel`` for spectrograms).
#: Measured with ``scripts/benchmark_features.py`` and ``predict --json`` timings on this project's 2-core
#: machine (GTZAN clips, decoding included); an estimate, good to a factor of about two.
EXTRACTION_COST_S_PER_MIN = {"gtzan57": 0.45, "mfcc_stats": 0.12, "edm": 0.5, "musicnn": 3.0, "musicnn_vgg": 2.0,
                             "musicnn_concat": 4.5,
                             "musicnn_pool": 3.0, "musicnn_taggram": 3.0, "logmel": 0.1}



def extraction_plan(tracks: "Iterable[Track] | Dataset", spec: InputSpec, *, n_augment: int = 0,
                    cache: FeatureCache | None = None, n_workers: int | None = None) -> dict:
    """What preparing ``spec`` inputs for ``tracks`` will cost, before any audio is decoded.

    Reads each file once to hash it (to look its entries up in the cache).

    Returns
    -------
    dict
        ``tracks`` (with audio), ``cached`` (every copy already in the cache),
        ``to_extract``, ``audio_minutes`` (of the tracks to extract, copies
        included), ``workers``, ``s_per_minute`` and ``estimate_s`` (wall
        seconds, ``None`` when the feature set has no measured cost).

    Examples
    --------
    >>> plan = extraction_plan(ds, InputSpec("features", "gtzan57"))   # doctest: +SKIP
    >>> plan["to_extract"], round(plan["estimate_s"])                  # doctest: +SKIP
    (217, 52)
    """
    track_list = [t for t in (tracks.tracks if hasattr(tracks, "tracks") else tracks) if t.path is not None]
    cache = cache if cache is not None else FeatureCache()
    extractor = _extractor_key(spec)
    copies = range(int(n_augment or 0) + 1)
    cached = 0
    minutes = 0.0
    for t in track_list:
        try:
            sha1 = content_hash(t.path)
        except OSError:
            continue
        # augmented copies depend on the augmenter's settings: count only the plain copy as cacheable
        if _entry_key(sha1, spec, extractor, None, 0) in cache and not n_augment:
            cached += 1
            continue
        dur = t.duration if getattr(t, "duration", None) else ASSUMED_TRACK_SECONDS
        minutes += min(float(dur), config.MAX_DURATION) / 60.0 * len(copies)
    name = spec.feature_set if spec.kind == "features" else "logmel"
    per_min = EXTRACTION_COST_S_PER_MIN.get(name)
    workers = max(1, n_workers or (os.cpu_count() or 1))
    return {
        "tracks": len(track_list),
        "cached": cached,
        "to_extract": len(track_list) - cached,
        "audio_minutes": round(minutes, 2),
        "workers": workers,
        "s_per_minute": per_min,
        "estimate_s": None if per_min is None else minutes * per_min / workers,
    }



def compute_dataset_inputs(
    tracks: "Iterable[Track] | Dataset",
    spec: InputSpec,
    *,
    n_jobs: int = -1,
    use_cache: bool = True,
    progress: Callable[[dict], None] | None = None,
    augmenter: "Augmenter | None" = None,
    n_augment: int = 0,
    should_stop: Callable[[], bool] | None = None,
    backend: str | None = None,
    cache: FeatureCache | None = None,
) -> tuple[dict[str, TrackInput], list[tuple[str, str]]]:
    """Inputs of many tracks: cached, parallel, failures collected.

    Parameters
    ----------
    tracks : list of Track or Dataset
        Tracks with audio files (``Track.path``).
    spec : InputSpec
        What to compute.
    n_jobs : int
        Worker processes (``-1``: all cores; ``1``: in this process).
    use_cache : bool
        Read and write the on-disk cache (``False`` recomputes everything and
        stores nothing).
    progress : callable, optional
        Receives ``{"stage": "extracting", "done": i, "total": n, "cached": c,
        "failed": f, "track_id": id}`` after each track.
    augmenter : Augmenter, optional
        With ``n_augment > 0``, adds copies ``"<id>#aug1"`` ...
        ``"<id>#aug<n_augment>"`` of **every** given track. Pass training tracks
        only.
    n_augment : int
        Augmented copies per track.
    should_stop : callable, optional
        Polled between tracks; when it returns True, extraction stops with
        :class:`~genre_core.errors.TrainingCancelled` (finished tracks stay cached).
    backend : str, optional
        joblib backend (default: joblib's current one, ``"loky"`` unless set
        with ``joblib.parallel_config``); ``"threading"`` also works.
    cache : FeatureCache, optional
        Cache to use (default ``FeatureCache()`` under ``config.cache_dir()``).

    Returns
    -------
    inputs : dict
        ``{track id (or copy id): TrackInput}`` in track order, originals
        before their copies.
    failures : list of (str, str)
        ``(track id, "reason: explanation")`` for tracks that could not be used.

    Example
    -------
    >>> inputs, failures = compute_dataset_inputs(ds.tracks, spec, n_jobs=2)  # doctest: +SKIP
    >>> failures                                                             # doctest: +SKIP
    [('rock/rock.00042', 'truncated: rock.00042.wav is truncated: ...')]
    """
    track_list = list(tracks.tracks if hasattr(tracks, "tracks") else tracks)
    n_augment = int(n_augment or 0)
    if n_augment < 0:
        raise GenreLabError(f"n_augment must be 0 or more, not {n_augment}.")
    if n_augment > 0 and augmenter is None:
        raise GenreLabError("n_augment > 0 needs an augmenter (genre_core.augment.Augmenter).")
    if cache is None:
        cache = FeatureCache(enabled=use_cache)
    elif not use_cache:
        cache = FeatureCache(cache.root, enabled=False)
    extractor = _extractor_key(spec)
    aug_key = augmenter.key() if (augmenter is not None and n_augment > 0) else None
    copies_wanted = list(range(n_augment + 1))

    total = len(track_list)
    results: dict[str, dict[int, TrackInput]] = {}
    failures: dict[str, str] = {}
    tasks: list[tuple[str, str, list[int]]] = []
    keys: dict[str, dict[int, str]] = {}
    n_cached = 0
    done = 0

    def report(track_id: str) -> None:
        if progress is not None:
            progress({"stage": "extracting", "done": done, "total": total, "cached": n_cached,
                      "failed": len(failures), "track_id": track_id})

    if progress is not None:
        progress({"stage": "extracting", "done": 0, "total": total, "cached": 0, "failed": 0})
    for t in track_list:
        if t.path is None:
            failures[t.track_id] = "no_audio: this track comes from a feature table and has no audio file."
            done += 1
            continue
        try:
            sha1 = content_hash(t.path)
        except OSError as err:
            failures[t.track_id] = f"missing: {Path(t.path).name} cannot be read ({err.strerror or err})."
            done += 1
            continue
        keys[t.track_id] = {k: _entry_key(sha1, spec, extractor, aug_key, k) for k in copies_wanted}
        got: dict[int, TrackInput] = {}
        for k in copies_wanted:
            entry = cache.get(keys[t.track_id][k])
            ti = _from_entry(_copy_id(t.track_id, k), entry, spec) if entry is not None else None
            if ti is not None:
                got[k] = ti
        results[t.track_id] = got
        missing = [k for k in copies_wanted if k not in got]
        if missing:
            tasks.append((t.track_id, str(t.path), missing))
        else:
            n_cached += 1
            done += 1
            report(t.track_id)

    def consume(track_id: str, out: dict | None, error: str | None) -> None:
        nonlocal done
        if error is not None:
            failures[track_id] = error
            results.pop(track_id, None)
        else:
            for k, (X, starts, ends, info) in out.items():
                cache.put(keys[track_id][k], _to_entry(X, starts, ends, info))
                results[track_id][k] = TrackInput(_copy_id(track_id, k), X, starts, ends, info)
        done += 1
        report(track_id)

    def stopped() -> bool:
        return should_stop is not None and bool(should_stop())

    from . import engine as _engine

    eng = _engine.current()  # --dask / GENRE_DASK: Dask workers; inside a worker: serial
    n_workers = eng.local_jobs(resolve_jobs(n_jobs, len(tasks)))
    if tasks and eng.is_dask:
        root = str(cache.root.resolve()) if cache.enabled else None
        for res in eng.map(_extract_on_worker, [(tid, path, spec, missing, augmenter, root, keys[tid])
                                                for tid, path, missing in tasks],
                           should_stop=stopped, what="feature extraction",
                           stop_message=lambda: f"Feature extraction was stopped after {done} of {total} tracks."):
            consume(*res)
    elif tasks and n_workers <= 1:
        for track_id, path, missing in tasks:
            if stopped():
                raise TrainingCancelled(f"Feature extraction was stopped after {done} of {total} tracks.")
            consume(*_extract_track(track_id, path, spec, missing, augmenter))
    elif tasks:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=n_workers, backend=backend, return_as="generator")
        gen = parallel(delayed(_extract_track)(tid, path, spec, missing, augmenter)
                       for tid, path, missing in tasks)
        try:
            for res in gen:
                consume(*res)
                if stopped():
                    raise TrainingCancelled(
                        f"Feature extraction was stopped after {done} of {total} tracks."
                    )
        finally:
            close = getattr(gen, "close", None)
            if close is not None:
                close()

    inputs: dict[str, TrackInput] = {}
    for t in track_list:
        got = results.get(t.track_id)
        if not got:
            continue
        for k in copies_wanted:
            if k in got:
                inputs[_copy_id(t.track_id, k)] = got[k]
    failed = [(t.track_id, failures[t.track_id]) for t in track_list if t.track_id in failures]
    return inputs, failed



def table_inputs(dataset: "Dataset", spec: InputSpec) -> dict[str, TrackInput]:
    """Inputs of a feature-table dataset: one segment per row, columns in the feature set's order.

    A 30-second table (``features_30_sec.csv``) gives one segment per track
    (start 0, end ``length / sr``); a segmented table (``features_3_sec.csv``)
    gives one segment per row, in order.

    Raises
    ------
    DatasetError
        The dataset is not a table, the spec is not a feature spec, or the
        table lacks some of the feature set's columns / has non-numeric values.

    Example
    -------
    >>> ds = open_dataset("data/features_30_sec.csv")                        # doctest: +SKIP
    >>> X = table_inputs(ds, InputSpec("features", "gtzan57", {}, window=30.0))  # doctest: +SKIP
    >>> X["blues/blues.00000"].X.shape                                        # doctest: +SKIP
    (1, 57)
    """
    if dataset.has_audio or dataset.table is None:
        raise DatasetError(f"Dataset {dataset.name!r} is not a feature table; compute its inputs from audio.")
    if spec.kind != "features":
        raise DatasetError(
            f"Feature table {dataset.name!r} has no audio, so it cannot give {spec.kind} inputs; "
            "use a features input (e.g. gtzan57)."
        )
    fs = _feature_set_for(spec.feature_set, json.dumps(spec.params, sort_keys=True))
    cols = fs.columns
    table = dataset.table
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise DatasetError(
            f"Feature table {dataset.name!r} lacks {len(missing)} column(s) of feature set "
            f"{spec.feature_set!r}: {', '.join(missing[:6])}{', ...' if len(missing) > 6 else ''}."
        )
    try:
        values = table[cols].to_numpy(dtype=np.float32)
    except (ValueError, TypeError):
        raise DatasetError(
            f"Feature table {dataset.name!r} has non-numeric values in the {spec.feature_set!r} columns."
        ) from None
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DatasetError(
            f"Feature table {dataset.name!r}: {int(bad.sum())} row(s) have missing or infinite values, "
            f"e.g. track {table['track_id'].iloc[row]!r}."
        )
    sr = spec.sr
    if "length" in table.columns:
        seconds = table["length"].to_numpy(dtype=np.float64) / sr
    else:
        seconds = np.full(len(table), spec.window or 30.0)
    segments = table["segment"].to_numpy() if "segment" in table.columns else np.zeros(len(table), int)
    out: dict[str, TrackInput] = {}
    track_ids = table["track_id"].to_numpy()
    order = np.argsort(track_ids, kind="stable")
    boundaries = np.flatnonzero(track_ids[order][1:] != track_ids[order][:-1]) + 1
    for rows in np.split(order, boundaries):
        if rows.size == 0:
            continue
        rows = rows[np.argsort(segments[rows], kind="stable")]
        dur = seconds[rows]
        starts = segments[rows].astype(np.float64) * dur
        out[str(track_ids[rows[0]])] = TrackInput(str(track_ids[rows[0]]), values[rows].copy(),
                                                  starts, starts + dur)
    return {t.track_id: out[t.track_id] for t in dataset.tracks if t.track_id in out}
