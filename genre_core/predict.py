"""Point trained runs at music: one file (:func:`predict_file`) or a labelled dataset (:func:`evaluate_run`).

Every run knows its input (:class:`~genre_core.inputs.InputSpec`): the audio is
decoded **once per distinct sample rate** and its windows/features **once per
distinct input spec**, then shared by every run that needs them. A model
trained on the 30-second feature table gets its own coarse 30 s windows; a
3 s CNN its 3 s windows. The track-level probabilities are the mean of the
segments' probabilities (the same rule used in evaluation). A voting run
averages its members' track probabilities with its weights (its segment
probabilities too, when all members cut the audio identically).

Loading runs is the expensive part (TensorFlow, torch); callers that predict
repeatedly (the app) keep the loaded runs from
:func:`genre_core.runs.load_runs` and pass them in.

Example
-------
>>> from genre_core.runs import load_runs
>>> runs = load_runs(["shipped/mlp-gtzan", "shipped/cnn-gtzan"])      # doctest: +SKIP
>>> for p in predict_file(runs, "song.mp3"):                         # doctest: +SKIP
...     print(p.run_id, p.label, round(p.confidence, 2), p.top3)
>>> p.segments_frame().head()                                        # doctest: +SKIP
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from . import config
from .errors import AudioError, DatasetError, GenreLabError, RunError
from .evaluation import evaluate_predictions, evaluate_track_probabilities, prediction_tables
from .runs import Run, load_runs

ProgressFn = Callable[[dict], None]

__all__ = ["TrackPrediction", "predict_file", "predict_audio", "evaluate_run"]


@dataclass
class TrackPrediction:
    """What one run says about one piece of audio.

    Attributes
    ----------
    run_id : str
    backend : str
    labels : list of str
        Column order of every probability array.
    starts, ends : np.ndarray, shape (n_segments,)
        Seconds of each analysed window (``ends`` = end of real content).
    segment_proba : np.ndarray, shape (n_segments, n_labels)
        Per-window probabilities (empty for a voting run whose members cut
        the audio differently).
    proba : np.ndarray, shape (n_labels,)
        Track-level probabilities (mean over segments; weighted mean of the
        members for a voting run).
    name : str
        The audio's name.
    duration : float
        Seconds analysed (after any ``max_duration`` cut).
    source_duration : float
        Seconds in the file.
    clipped_to_max : bool
        Only the first ``max_duration`` seconds were analysed.
    window, hop : float or None
        The run's analysis window and hop, in seconds.
    timings : dict
        ``features_s`` and ``inference_s`` (seconds, this run's share).
    notes : list of str
        Caveats, e.g. a clip shorter than the model's window (zero-padded).
    members : list of TrackPrediction
        The members' own predictions, for a voting run.
    weights : list of float
        The members' weights, for a voting run.
    """

    run_id: str
    backend: str
    labels: list[str]
    starts: np.ndarray
    ends: np.ndarray
    segment_proba: np.ndarray
    proba: np.ndarray
    name: str = ""
    duration: float = 0.0
    source_duration: float = 0.0
    clipped_to_max: bool = False
    window: float | None = None
    hop: float | None = None
    timings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    members: list["TrackPrediction"] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The most probable genre of the track."""
        return self.labels[int(np.argmax(self.proba))]

    @property
    def confidence(self) -> float:
        """Its track-level probability."""
        return float(np.max(self.proba))

    @property
    def top3(self) -> list[tuple[str, float]]:
        """The three most probable genres with their probabilities."""
        order = np.argsort(-self.proba, kind="stable")[:3]
        return [(self.labels[i], float(self.proba[i])) for i in order]

    @property
    def n_segments(self) -> int:
        return int(len(self.starts))

    def segments_frame(self):
        """Per-segment table: ``start, end, label, confidence, <one column per genre>``."""
        import pandas as pd

        p = np.asarray(self.segment_proba, dtype=np.float64).reshape(len(self.starts), len(self.labels))
        lab = np.asarray(self.labels, dtype=object)
        df = pd.DataFrame({
            "start": np.asarray(self.starts, dtype=np.float64),
            "end": np.asarray(self.ends, dtype=np.float64),
            "label": lab[p.argmax(axis=1)] if len(p) else [],
            "confidence": p.max(axis=1) if len(p) else [],
        })
        for j, name in enumerate(self.labels):
            df[name] = p[:, j]
        return df

    def to_dict(self, *, segments: bool = True) -> dict:
        """Plain JSON (the CLI's ``predict --json``)."""
        d = {
            "run": self.run_id,
            "backend": self.backend,
            "name": self.name,
            "label": self.label,
            "confidence": self.confidence,
            "top3": [{"label": lab, "probability": p} for lab, p in self.top3],
            "probabilities": {lab: float(p) for lab, p in zip(self.labels, self.proba)},
            "duration": float(self.duration),
            "source_duration": float(self.source_duration),
            "clipped_to_max": bool(self.clipped_to_max),
            "window": self.window,
            "hop": self.hop,
            "n_segments": self.n_segments,
            "timings": self.timings,
            "notes": list(self.notes),
        }
        if segments:
            d["segments"] = [
                {"start": float(s), "end": float(e),
                 "probabilities": {lab: float(v) for lab, v in zip(self.labels, row)}}
                for s, e, row in zip(self.starts, self.ends, np.asarray(self.segment_proba, dtype=np.float64).reshape(len(self.starts), len(self.labels)))
            ]
        if self.members:
            d["members"] = [{"run": m.run_id, "weight": w, "label": m.label, "confidence": m.confidence}
                            for m, w in zip(self.members, self.weights)]
        return d


# --------------------------------------------------------------------------- helpers


def _as_runs(runs) -> list[Run]:
    if isinstance(runs, (Run, str, Path)):
        runs = [runs]
    runs = list(runs)
    if not runs:
        raise RunError("No run given to predict with.")
    return load_runs(runs)


def _leaves(runs: Sequence[Run]) -> dict[str, Run]:
    """Every non-voting run needed (voting runs expanded), by id."""
    out: dict[str, Run] = {}
    for r in runs:
        if r.is_voting:
            for m, _ in r.members:
                out.setdefault(m.id, m)
        else:
            out.setdefault(r.id, r)
    return out


def _aligned(proba: np.ndarray, labels: Sequence[str], target: Sequence[str]) -> np.ndarray:
    if list(labels) == list(target):
        return proba
    idx = [list(labels).index(lab) for lab in target]
    return proba[..., idx]


def _combine(run: Run, preds: Mapping[str, TrackPrediction]) -> TrackPrediction:
    """A voting run's prediction from its members' predictions."""
    from .backends.ensemble import SoftVoter

    members = [preds[m.id] for m, _ in run.members]
    voter = SoftVoter([p.run_id for p in members], [p.labels for p in members], [w for _, w in run.members])
    labels = voter.classes_.tolist()
    weights = voter.weights
    proba = voter.combine([p.proba[None, :] for p in members])[0]
    first = members[0]
    same_cut = all(len(p.starts) == len(first.starts) and np.allclose(p.starts, first.starts)
                   and np.allclose(p.ends, first.ends) for p in members)
    if same_cut and len(first.starts):
        seg = voter.combine([p.segment_proba for p in members])
        starts, ends = first.starts, first.ends
    else:
        seg = np.zeros((0, len(labels)))
        starts = ends = np.zeros(0)
    notes = [] if same_cut else ["Members analyse different windows, so the ensemble has no per-segment view."]
    return TrackPrediction(
        run_id=run.id, backend=run.backend, labels=list(labels), starts=starts, ends=ends, segment_proba=seg,
        proba=np.asarray(proba, dtype=np.float64), name=first.name, duration=first.duration,
        source_duration=first.source_duration, clipped_to_max=first.clipped_to_max,
        window=first.window if same_cut else None, hop=first.hop if same_cut else None,
        timings={"features_s": sum(p.timings.get("features_s", 0.0) for p in members),
                 "inference_s": sum(p.timings.get("inference_s", 0.0) for p in members)},
        notes=notes, members=members, weights=weights.tolist(),
    )


# --------------------------------------------------------------------------- one file


def predict_audio(runs, audios: Mapping[int, Any], *, progress: ProgressFn | None = None) -> list[TrackPrediction]:
    """Predict from already decoded audio: ``{sample rate: Audio}`` covering every run's ``input_spec.sr``.

    See :func:`predict_file`, which decodes the file and calls this.
    """
    from .inputs import compute_track_input

    runs = _as_runs(runs)
    leaves = _leaves(runs)
    features: dict[str, tuple[Any, float]] = {}
    preds: dict[str, TrackPrediction] = {}
    total = len(leaves)
    for i, (rid, run) in enumerate(leaves.items()):
        if progress is not None:
            progress({"stage": "predicting", "done": i, "total": total, "run": rid})
        model = run.load_model()
        spec = model.input_spec
        audio = audios.get(spec.sr)
        if audio is None:
            raise GenreLabError(f"No audio decoded at {spec.sr} Hz for run {rid}.")
        key = spec.key()
        if key not in features:
            t0 = time.perf_counter()
            ti = compute_track_input(audio.y, audio.sr, spec, track_id=audio.name)
            features[key] = (ti, time.perf_counter() - t0)
        ti, t_feat = features[key]
        if len(ti.X) == 0:
            raise AudioError(audio.name, "too_short", f"{audio.name} yields no analysis window for run {rid}.")
        t0 = time.perf_counter()
        seg = np.asarray(model.predict_proba(ti.X), dtype=np.float64)
        t_inf = time.perf_counter() - t0
        notes = []
        if spec.window is not None and audio.duration < spec.window * 0.999:
            notes.append(
                f"The audio ({audio.duration:.1f} s) is shorter than this model's {spec.window:g} s window; "
                f"it was zero-padded, which makes the prediction less reliable."
            )
        preds[rid] = TrackPrediction(
            run_id=rid, backend=run.backend, labels=[str(c) for c in model.classes_],
            starts=np.asarray(ti.starts, dtype=np.float64), ends=np.asarray(ti.ends, dtype=np.float64),
            segment_proba=seg, proba=seg.mean(axis=0), name=audio.name, duration=float(audio.duration),
            source_duration=float(getattr(audio, "source_duration", audio.duration)),
            clipped_to_max=bool(getattr(audio, "clipped_to_max", False)),
            window=spec.window, hop=spec.hop if spec.hop is not None else spec.window,
            timings={"features_s": round(t_feat, 4), "inference_s": round(t_inf, 4)}, notes=notes,
        )
    if progress is not None:
        progress({"stage": "predicting", "done": total, "total": total})
    return [preds[r.id] if not r.is_voting else _combine(r, preds) for r in runs]


def predict_file(
    runs,
    source,
    *,
    name: str | None = None,
    max_duration: float | None = config.MAX_DURATION,
    progress: ProgressFn | None = None,
) -> list[TrackPrediction]:
    """Classify one audio file with one or more runs.

    Parameters
    ----------
    runs : Run, run reference, or a list of them
        Loaded runs are used as they are (keep them between calls); references
        are loaded (and verified) with :func:`~genre_core.runs.load_runs`.
    source : path, bytes or binary file-like
        The audio (any format :func:`~genre_core.audio.load_audio` decodes).
    name : str, optional
        Name shown in messages (default: the file name).
    max_duration : float or None
        Analyse at most this many seconds from the start (default 600).
    progress : callable, optional
        Receives ``{"stage": "decoding" | "predicting", "done", "total"}``.

    Returns
    -------
    list of TrackPrediction
        One per run, in the order given.

    Raises
    ------
    AudioError
        The file cannot be decoded or is too short/silent/corrupt.
    RunError
        A run cannot be loaded.
    """
    from .audio import load_audio

    runs = _as_runs(runs)
    leaves = _leaves(runs)
    if hasattr(source, "read"):
        source = source.read()
    if name is None:
        name = Path(str(source)).name if isinstance(source, (str, Path)) else "<upload>"
    rates = sorted({r.load_model().input_spec.sr for r in leaves.values()})
    audios = {}
    for i, sr in enumerate(rates):
        if progress is not None:
            progress({"stage": "decoding", "done": i, "total": len(rates), "sr": sr})
        src = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
        audios[sr] = load_audio(src, sr=sr, name=name, max_duration=max_duration)
    return predict_audio(runs, audios, progress=progress)


# --------------------------------------------------------------------------- a labelled dataset


def evaluate_run(
    run,
    dataset,
    *,
    n_jobs: int = -1,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """Evaluate a saved run on a labelled dataset where **every** track is test data.

    Parameters
    ----------
    run : Run or run reference
    dataset : anything :func:`~genre_core.dataset.open_dataset` accepts, or a Dataset
        Its genres must be among the run's labels (a subset is fine).

    Returns
    -------
    dict
        The :func:`~genre_core.evaluation.evaluate_predictions` report plus
        ``run``, ``dataset`` (name, fingerprint), ``evaluated_on: "dataset"``,
        ``failures`` (tracks that could not be analysed), ``timings`` and
        ``tracks``: per-track predictions (``track_id, true, predicted,
        correct, confidence, probabilities``). If the dataset overlaps the
        run's own training tracks (same ids), ``overlap_with_training`` counts
        them and ``notes`` warns: the figures are then optimistic.

    Raises
    ------
    DatasetError
        The dataset has genres the run does not know (label-set mismatch), or no usable track.
    """
    from .dataset import open_dataset
    from .inputs import compute_dataset_inputs, table_inputs

    (run,) = _as_runs([run])
    ds = open_dataset(dataset, n_jobs=n_jobs, progress=progress) if not hasattr(dataset, "tracks") else dataset
    labels = run.labels
    unknown = sorted(set(ds.labels) - set(labels))
    if unknown:
        raise DatasetError(
            f"Label-set mismatch: dataset {ds.name!r} has genre(s) {', '.join(unknown)} that run {run.id} "
            f"does not know (it predicts {', '.join(labels)})."
        )
    if not ds.tracks:
        raise DatasetError(f"Dataset {ds.name!r} has no usable tracks.")
    label_of = {t.track_id: t.label for t in ds.tracks}
    leaves = _leaves([run])
    t_feat = t_inf = 0.0
    failures: list = []
    track_proba: dict[str, dict[str, np.ndarray]] = {}
    seg_data: dict[str, tuple] = {}
    cache_inputs: dict[str, tuple] = {}
    for rid, leaf in leaves.items():
        model = leaf.load_model()
        spec = model.input_spec
        key = spec.key()
        if key not in cache_inputs:
            t0 = time.perf_counter()
            if ds.kind == "table":
                if spec.kind != "features":
                    raise DatasetError(f"Run {rid} needs audio ({spec.kind} inputs); feature table {ds.name!r} has none.")
                inputs, bad = table_inputs(ds, spec), []
            else:
                inputs, bad = compute_dataset_inputs(ds.tracks, spec, n_jobs=n_jobs, use_cache=use_cache,
                                                     progress=progress, should_stop=should_stop)
            cache_inputs[key] = (inputs, bad)
            t_feat += time.perf_counter() - t0
        inputs, bad = cache_inputs[key]
        failures.extend(b for b in bad if tuple(b) not in {tuple(f) for f in failures})
        ids = [t.track_id for t in ds.tracks if t.track_id in inputs and len(inputs[t.track_id].X)]
        if not ids:
            raise DatasetError(f"No track of dataset {ds.name!r} could be analysed for run {rid}.")
        X = np.concatenate([inputs[t].X for t in ids])
        groups = np.concatenate([[t] * len(inputs[t].X) for t in ids])
        starts = np.concatenate([inputs[t].starts for t in ids])
        ends = np.concatenate([inputs[t].ends for t in ids])
        if progress is not None:
            progress({"stage": "evaluating", "done": 0, "total": 1, "run": rid})
        t0 = time.perf_counter()
        proba = _aligned(np.asarray(model.predict_proba(X), dtype=np.float64), [str(c) for c in model.classes_], labels)
        t_inf += time.perf_counter() - t0
        seg_data[rid] = (proba, groups, starts, ends)
        from .evaluation import aggregate_tracks

        tids, mean, _, _ = aggregate_tracks(proba, groups)
        track_proba[rid] = dict(zip(tids, mean))

    notes: list[str] = []
    if run.is_voting:
        from .backends.ensemble import SoftVoter

        common = sorted(set.intersection(*(set(v) for v in track_proba.values())))
        voter = SoftVoter([m.id for m, _ in run.members], [labels] * len(run.members), [w for _, w in run.members])
        mix = voter.combine([np.stack([track_proba[m.id][t] for t in common]) for m, _ in run.members])
        report = evaluate_track_probabilities(mix, [label_of[t] for t in common], labels)
        lab = np.asarray(labels, dtype=object)
        tracks = [
            {"track_id": t, "true": label_of[t], "predicted": str(lab[row.argmax()]),
             "correct": label_of[t] == str(lab[row.argmax()]), "confidence": float(row.max()),
             "probabilities": {l_: float(v) for l_, v in zip(labels, row)}}
            for t, row in zip(common, mix)
        ]
    else:
        proba, groups, starts, ends = seg_data[run.id]
        truth = {t: label_of[t] for t in set(groups.tolist())}
        report = evaluate_predictions(proba, groups, truth, labels)
        tdf, _ = prediction_tables(proba, groups, truth, labels, starts=starts, ends=ends)
        tracks = [
            {"track_id": r["track_id"], "true": r["true"], "predicted": r["predicted"], "correct": bool(r["correct"]),
             "confidence": float(r["confidence"]), "vote": r["vote"], "n_segments": int(r["n_segments"]),
             "probabilities": {lab: float(r[f"p_{lab}"]) for lab in labels}}
            for r in tdf.to_dict("records")
        ]
    trained_on = set()
    for leaf in leaves.values():
        sp = leaf.info.get("split") or {}
        trained_on |= set(sp.get("train") or []) | set(sp.get("valid") or [])
        for f in sp.get("folds") or []:
            trained_on |= set(f.get("train") or []) | set(f.get("valid") or [])
    overlap = len(trained_on & set(label_of))
    if overlap:
        notes.append(f"{overlap} track(s) of this dataset have the same ids as tracks the run was trained or "
                     f"validated on; if they are the same recordings, these figures are optimistic.")
    if failures:
        notes.append(f"{len(failures)} track(s) could not be analysed and are not counted.")
    n_eval = report.get("n_tracks") or 0
    report.update({
        "run": run.id,
        "dataset": {"name": ds.name, "kind": ds.kind, "fingerprint": ds.fingerprint, "n_tracks": len(ds.tracks)},
        "evaluated_on": "dataset",
        "overlap_with_training": overlap,
        "failures": [list(f) for f in failures],
        "timings": {"extraction_s": round(t_feat, 3), "inference_s": round(t_inf, 4),
                    "inference_s_per_track": round(t_inf / n_eval, 6) if n_eval else None},
        "notes": notes,
        "tracks": tracks,
    })
    return report
