"""Point trained runs at music: one file (:func:`predict_file`) or a labelled dataset (:func:`evaluate_run`).

Every run knows its input (:class:`~genre_core.inputs.InputSpec`): the audio is
decoded **once per distinct sample rate** and its windows/features **once per
distinct input spec**, then shared by every run that needs them. A model
trained on the 30-second feature table gets its own coarse 30 s windows; a
3 s CNN its 3 s windows. The track-level probabilities are the mean of the
segments' probabilities (the same rule used in evaluation). A voting run
averages its members' track probabilities with its weights (its segment
probabilities too, when all members cut the audio identically).

Several runs on one file (:func:`predict_many`, :func:`iter_predictions`)
stream: each run's prediction is handed over as soon as it is ready, cheapest
inputs first, one worker thread computing the inputs and another loading the
models while the calling thread predicts; a voting run is combined from its members'
probabilities right after its last member (its timings are its own combine
time, not the sum of its members'). Models are loaded on first use, so
TensorFlow / torch / xgboost are imported only when a run that needs them
predicts.

Long files: each run analyses at most :data:`MAX_WINDOWS` (40) of its windows,
spread evenly from the start to the end of the (at most ``max_duration``
seconds) analysed audio (:func:`spread_windows`); ``max_windows=None`` analyses
all. A prediction records ``n_windows_total`` next to ``n_segments``.

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

import hashlib
import io
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from . import config
from .errors import AudioError, DatasetError, GenreLabError, RunError
from .evaluation import (
    evaluate_predictions,
    evaluate_track_probabilities,
    prediction_tables,
)
from .inputs import stack_windows
from .progress import ProgressFn
from .runs import Run, load_run, load_runs
from .voting import align_labels, combine_predictions, vote_track_probabilities

__all__ = ["MAX_WINDOWS", "TrackPrediction", "iter_predictions", "open_runs", "predict_many", "predict_file", "predict_audio",
           "evaluate_run", "run_cost", "spread_windows", "track_input"]


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
    n_windows_total : int
        Windows the analysed audio has at this run's window and hop; more than
        ``n_segments`` when the long-file policy analysed only some of them
        (0: not recorded).
    max_windows : int or None
        The long-file policy in force (at most this many windows per run).
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
    n_windows_total: int = 0
    max_windows: int | None = None

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
            "n_windows_total": int(self.n_windows_total or self.n_segments),
            "max_windows": self.max_windows,
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


def _as_runs(runs, *, load_models: bool = True) -> list[Run]:
    """Runs from references; with ``load_models=False`` the models are loaded later, on first use."""
    if isinstance(runs, (Run, str, Path)):
        runs = [runs]
    runs = list(runs)
    if not runs:
        raise RunError("No run given to predict with.")
    if load_models:
        return load_runs(runs)
    out = []
    for r in runs:
        if isinstance(r, Run) and r.status == "complete" and (r.model is not None or r.is_voting and r.members
                                                               or r.input_spec is not None):
            out.append(r)
        else:
            out.append(load_run(r, load_model=False))
    return out


def open_runs(refs) -> list[Run]:
    """Runs from references (verified), their models loaded on first use, not now.

    What the CLI passes to :func:`predict_file`: TensorFlow / torch / xgboost
    are then imported while the audio is being analysed, and only for the runs
    that need them.
    """
    return _as_runs(refs, load_models=False)


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


# --------------------------------------------------------------------------- inputs of one file


#: Relative cost of one window of each input (seconds on one busy core, measured): cheap inputs first.
_INPUT_COST = {"logmel": 0.001, "mfcc_stats": 0.002, "gtzan57": 0.01, "edm": 0.02}
_MUSICNN_COST = 0.05
#: Relative cost of loading a backend's model in a fresh process (imports): light ones first.
_LOAD_COST = {"linear": 0, "xgb": 1, "mlp": 2, "cnn": 5, "cnn_bag": 5}


def input_cost(spec) -> float:
    """Rough seconds per analysis window of an :class:`~genre_core.inputs.InputSpec` (for ordering work)."""
    if spec.kind == "logmel":
        return _INPUT_COST["logmel"]
    name = spec.feature_set or ""
    if name.startswith("musicnn"):
        return _MUSICNN_COST
    return _INPUT_COST.get(name, 0.02)


def run_cost(run) -> float:
    """Rough cost of predicting with ``run`` (relative; for putting fast runs first).

    Per second of audio: the cost of its inputs (all its members' for a voting
    run, so it sorts after them), plus a penalty for a model not loaded yet
    whose backend imports TensorFlow or torch.
    """
    leaves = [m for m, _ in run.members] if run.is_voting else [run]
    total = 0.0
    for leaf in leaves:
        spec = leaf.input_spec
        if spec is None:
            continue
        hop = spec.hop or spec.window or 30.0
        total += input_cost(spec) / hop
        if leaf.model is None:
            total += _LOAD_COST.get(leaf.backend or "", 3) * 0.01
    return total


def spread_windows(n: int, max_windows: int | None) -> np.ndarray:
    """Indices of at most ``max_windows`` of ``n`` windows, evenly spread from the first to the last.

    ``max_windows`` of ``None`` or ``0`` keeps all ``n``.

    Examples
    --------
    >>> spread_windows(10, 4).tolist()
    [0, 3, 6, 9]
    >>> spread_windows(3, 40).tolist()
    [0, 1, 2]
    """
    if not max_windows or n <= max_windows:
        return np.arange(n)
    if max_windows == 1:
        return np.array([(n - 1) // 2])
    return np.round(np.linspace(0, n - 1, int(max_windows))).astype(int)


def _features_of(windows: np.ndarray, sr: int, spec) -> np.ndarray:
    """The model input of equal-length windows (what :func:`genre_core.inputs.compute_track_input` computes)."""
    from .inputs import _feature_set_for, _logmel_params

    if spec.kind == "features":
        import json

        fs = _feature_set_for(spec.feature_set, json.dumps(spec.params, sort_keys=True))
        return fs.compute_batch(windows, sr)
    from . import spectrogram

    params = _logmel_params(spec.params)
    batch = getattr(spectrogram, "log_melspectrogram_batch", None)
    if batch is not None:
        return batch(windows, sr, **params)
    return np.stack([spectrogram.log_melspectrogram(w, sr, **params) for w in windows])


#: Recently computed inputs, ``(audio digest, spec, max_windows) -> (TrackInput, n)``: runs asked one at a
#: time (the Predict page caches each run's prediction on its own) still compute a shared input once.
_INPUT_MEMO: "OrderedDict[tuple, tuple]" = OrderedDict()
_INPUT_MEMO_SIZE = 16
_INPUT_MEMO_LOCK = threading.Lock()


def track_input(audio, spec, *, max_windows: int | None = None):
    """One file's input for one spec under the long-file policy: ``(TrackInput, n_windows_total)``.

    With at most ``max_windows`` windows (or no limit), this is exactly
    :func:`~genre_core.inputs.compute_track_input`. Above it, only
    :func:`spread_windows` of them are computed: every row equals the
    corresponding row of the full computation (each window's input depends on
    that window only). The last few results are remembered (keyed by the
    audio's content), so several runs sharing an input compute it once even
    when they are asked one after another. The arrays returned are shared:
    treat them as read-only.
    """
    y = np.ascontiguousarray(audio.y, dtype=np.float32)
    key = (hashlib.sha1(y.view(np.uint8)).hexdigest(), int(audio.sr), spec.key(), max_windows or 0, audio.name)
    with _INPUT_MEMO_LOCK:
        hit = _INPUT_MEMO.get(key)
        if hit is not None:
            _INPUT_MEMO.move_to_end(key)
            return hit
    out = _track_input(audio, spec, max_windows=max_windows)
    with _INPUT_MEMO_LOCK:
        _INPUT_MEMO[key] = out
        while len(_INPUT_MEMO) > _INPUT_MEMO_SIZE:
            _INPUT_MEMO.popitem(last=False)
    return out


def clear_input_memo() -> None:
    """Forget the remembered inputs of :func:`track_input` (benchmarks measure new audio)."""
    with _INPUT_MEMO_LOCK:
        _INPUT_MEMO.clear()


def _track_input(audio, spec, *, max_windows: int | None = None):
    from .inputs import TrackInput, _windows, compute_track_input

    y = np.asarray(audio.y, dtype=np.float32)
    sr = int(audio.sr)
    if sr != spec.sr or spec.window is None or not max_windows:
        ti = compute_track_input(y, sr, spec, track_id=audio.name)
        return ti, len(ti.X)
    windows, starts, ends = _windows(y, sr, spec)
    n = int(windows.shape[0])
    if n <= max_windows:
        ti = compute_track_input(y, sr, spec, track_id=audio.name)
        return ti, len(ti.X)
    idx = spread_windows(n, max_windows)
    X = _features_of(np.ascontiguousarray(windows[idx]), sr, spec)
    return TrackInput(audio.name, np.ascontiguousarray(X, dtype=np.float32), starts[idx], ends[idx]), n


# --------------------------------------------------------------------------- one file, streamed


#: Long-file policy: at most this many windows per run, spread over the whole track (``None``/0: all).
MAX_WINDOWS = 40


def _leaf_prediction(rid, run, model, audio, ti, n_total, cap, t_feat, t_load, t_start) -> TrackPrediction:
    spec = model.input_spec
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
    if n_total > len(ti.X):
        notes.append(
            f"Long file: {len(ti.X)} of its {n_total} windows, spread evenly over the whole track, were "
            f"analysed (at most {cap} windows per run)."
        )
    timings = {"features_s": round(t_feat, 4), "inference_s": round(t_inf, 4)}
    if t_load:
        timings["load_s"] = round(t_load, 4)
    timings["ready_s"] = round(time.perf_counter() - t_start, 4)
    return TrackPrediction(
        run_id=rid, backend=run.backend, labels=[str(c) for c in model.classes_],
        starts=np.asarray(ti.starts, dtype=np.float64), ends=np.asarray(ti.ends, dtype=np.float64),
        segment_proba=seg, proba=seg.mean(axis=0), name=audio.name, duration=float(audio.duration),
        source_duration=float(getattr(audio, "source_duration", audio.duration)),
        clipped_to_max=bool(getattr(audio, "clipped_to_max", False)),
        window=spec.window, hop=spec.hop if spec.hop is not None else spec.window,
        timings=timings, notes=notes, n_windows_total=int(n_total), max_windows=cap,
    )


@contextmanager
def _small_blas():
    """numpy/scipy's OpenBLAS on one thread while predicting (restored afterwards).

    The matrices of one file's features are small (a 128 x 1025 mel filterbank
    times 130 frames): OpenBLAS's own thread pool only competes with torch's
    and the inputs thread for the two cores. Measured on the busy 2-core
    machine, a 30 s clip with the five shipped runs, runs loaded: gtzan57
    0.69 -> 0.14 s, mfcc_stats 0.38 -> 0.07 s, the whole call 2.6 -> 1.6 s.
    torch (its own MKL and oneDNN) is not affected. Without threadpoolctl
    (scikit-learn's dependency) nothing changes.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def iter_predictions(
    runs,
    audios: Mapping[int, Any],
    *,
    max_windows: int | None = MAX_WINDOWS,
    parallel: bool = True,
    progress: ProgressFn | None = None,
) -> Iterator[TrackPrediction]:
    """Predict from decoded audio, yielding each run's prediction **as soon as it is ready**.

    The shared-input path: every distinct input (:class:`~genre_core.inputs.InputSpec`:
    feature set, window, hop, sample rate) is computed once, cheapest first,
    and fed to every run that needs it; a voting run is combined from its
    members' probabilities as soon as the last member is done (its timings are
    its own combine time). With ``parallel`` (default), one thread computes
    the inputs while another loads the models (TensorFlow/torch imports happen
    only for runs that need them, lightest first) and this one predicts each
    run as soon as its input and model are both there, so fast runs come out
    first and the two cores stay busy.

    Parameters
    ----------
    runs : Run, run reference, or a list of them
        Models not loaded yet are loaded on first use.
    audios : dict
        ``{sample rate: Audio}`` covering every run's ``input_spec.sr``.
    max_windows : int or None
        Long-file policy (default :data:`MAX_WINDOWS`): a run whose windows
        exceed it analyses that many, spread evenly over the whole track
        (:func:`spread_windows`); ``None`` or 0 analyses all.
    parallel : bool
        Compute inputs and load models in worker threads (default) or all in this thread.
    progress : callable, optional
        Receives ``{"stage": "predicting", "done", "total", "run"}`` after each
        run (``done`` counts the runs asked for).

    Yields
    ------
    TrackPrediction
        One per run asked for (members of a voting run only if asked for too),
        in the order they finish.
    """
    runs = _as_runs(runs, load_models=False)
    with _small_blas():
        yield from _iter_predictions(runs, audios, max_windows=max_windows, parallel=parallel, progress=progress)


def _iter_predictions(runs, audios, *, max_windows, parallel, progress) -> Iterator[TrackPrediction]:
    cap = int(max_windows) if max_windows else None
    leaves = _leaves(runs)
    wanted = {r.id for r in runs}
    specs: dict[str, Any] = {}
    spec_of: dict[str, str] = {}
    for rid, run in leaves.items():
        spec = run.input_spec
        if spec is None:
            spec = run.load_model().input_spec
        if audios.get(spec.sr) is None:
            raise GenreLabError(f"No audio decoded at {spec.sr} Hz for run {rid}.")
        specs.setdefault(spec.key(), spec)
        spec_of[rid] = spec.key()
    spec_order = sorted(specs, key=lambda k: input_cost(specs[k]))
    load_order = sorted((rid for rid in leaves if leaves[rid].model is None),
                        key=lambda rid: (_LOAD_COST.get(leaves[rid].backend or "", 3),
                                         spec_order.index(spec_of[rid])))
    t_start = time.perf_counter()
    inputs: dict[str, tuple] = {}
    load_s: dict[str, float] = {}
    preds: dict[str, TrackPrediction] = {}
    total = len(runs)
    done = 0

    def compute(key: str) -> tuple:
        spec = specs[key]
        t0 = time.perf_counter()
        ti, n_total = track_input(audios[spec.sr], spec, max_windows=cap)
        return ti, n_total, time.perf_counter() - t0

    def load(rid: str) -> float:
        t0 = time.perf_counter()
        leaves[rid].load_model()
        return time.perf_counter() - t0

    def finished(rid: str):
        """Predictions that become ready once leaf ``rid`` is done: itself, then completed votes."""
        out = [preds[rid]] if rid in wanted else []
        for r in runs:
            if r.is_voting and r.id not in preds and all(m.id in preds for m, _ in r.members):
                preds[r.id] = combine_predictions(r, preds)
                preds[r.id].timings["ready_s"] = round(time.perf_counter() - t_start, 4)
                out.append(preds[r.id])
        return out

    def predict_ready():
        for rid in [r for r in leaves if r not in preds and spec_of[r] in inputs and leaves[r].model is not None]:
            ti, n_total, t_feat = inputs[spec_of[rid]]
            run = leaves[rid]
            mspec = run.model.input_spec
            if mspec.key() != spec_of[rid] and mspec.sr in audios:  # run.json disagrees: trust the model
                t0 = time.perf_counter()
                ti, n_total = track_input(audios[mspec.sr], mspec, max_windows=cap)
                t_feat = time.perf_counter() - t0
            preds[rid] = _leaf_prediction(rid, run, run.model, audios[specs[spec_of[rid]].sr], ti, n_total,
                                          cap, t_feat, load_s.get(rid, 0.0), t_start)
            yield from finished(rid)

    def report(p: TrackPrediction):
        nonlocal done
        done += 1
        if progress is not None:
            progress({"stage": "predicting", "done": done, "total": total, "run": p.run_id})

    if not parallel:
        for key in spec_order:
            inputs[key] = compute(key)
            for rid in load_order:
                if spec_of[rid] == key:
                    load_s[rid] = load(rid)
            for p in predict_ready():
                report(p)
                yield p
        return

    # One thread computes the inputs, cheapest first; another loads the models, lightest first (imports
    # are mostly single-threaded); this one predicts each run the moment its input and its model are both
    # there, and hands the prediction over.
    import queue

    events: "queue.Queue[tuple]" = queue.Queue()
    stop = threading.Event()

    def inputs_worker() -> None:
        for key in spec_order:
            if stop.is_set():
                return
            try:
                events.put(("input", key, compute(key), None))
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
                events.put(("input", key, None, err))
                return

    def models_worker() -> None:
        for rid in load_order:
            if stop.is_set():
                return
            try:
                events.put(("model", rid, load(rid), None))
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
                events.put(("model", rid, None, err))
                return

    threads = [threading.Thread(target=inputs_worker, name="genre-lab-inputs", daemon=True)]
    if load_order:
        threads.append(threading.Thread(target=models_worker, name="genre-lab-models", daemon=True))
    for th in threads:
        th.start()
    try:
        pending = len(spec_order) + len(load_order)
        while pending:
            kind, key, value, err = events.get()
            pending -= 1
            if err is not None:
                raise err
            if kind == "input":
                inputs[key] = value
            else:
                load_s[key] = value
            for p in predict_ready():
                report(p)
                yield p
        for p in predict_ready():
            report(p)
            yield p
    finally:
        stop.set()
        for th in threads:
            th.join()


def _in_order(runs: Sequence[Run], got: Mapping[str, TrackPrediction]) -> list[TrackPrediction]:
    return [got[r.id] for r in runs]


def predict_audio(runs, audios: Mapping[int, Any], *, progress: ProgressFn | None = None,
                  max_windows: int | None = MAX_WINDOWS, parallel: bool = True) -> list[TrackPrediction]:
    """Predict from already decoded audio: ``{sample rate: Audio}`` covering every run's ``input_spec.sr``.

    :func:`iter_predictions`, collected in the order the runs were given. See
    :func:`predict_file`, which decodes the file and calls this.
    """
    runs = _as_runs(runs, load_models=False)
    got = {p.run_id: p for p in iter_predictions(runs, audios, max_windows=max_windows, parallel=parallel,
                                                 progress=progress)}
    return _in_order(runs, got)


def decode_for(runs, source, *, name: str | None = None, max_duration: float | None = config.MAX_DURATION,
               progress: ProgressFn | None = None) -> dict[int, Any]:
    """Decode ``source`` once per sample rate the runs need: ``{sr: Audio}``."""
    from .audio import load_audio

    runs = _as_runs(runs, load_models=False)
    leaves = _leaves(runs)
    if hasattr(source, "read"):
        source = source.read()
    if name is None:
        name = Path(str(source)).name if isinstance(source, (str, Path)) else "<upload>"
    rates = sorted({(r.input_spec or r.load_model().input_spec).sr for r in leaves.values()})
    audios = {}
    for i, sr in enumerate(rates):
        if progress is not None:
            progress({"stage": "decoding", "done": i, "total": len(rates), "sr": sr})
        src = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
        audios[sr] = load_audio(src, sr=sr, name=name, max_duration=max_duration)
    return audios


def predict_many(
    runs,
    source,
    *,
    on_result: Callable[[TrackPrediction], None] | None = None,
    name: str | None = None,
    max_duration: float | None = config.MAX_DURATION,
    max_windows: int | None = MAX_WINDOWS,
    parallel: bool = True,
    progress: ProgressFn | None = None,
) -> list[TrackPrediction]:
    """Classify one file with several runs, sharing the decoding and the inputs, streaming the results.

    ``on_result(prediction)`` is called for each run as soon as it is ready
    (fast runs first; a voting run right after its last member). Returns the
    predictions in the order the runs were given. Other parameters as
    :func:`predict_file` and :func:`iter_predictions`.

    Example
    -------
    >>> predict_many(["shipped/xgb-mfcc", "shipped/linear-musicnn"], "song.mp3",
    ...              on_result=lambda p: print(p.run_id, p.label))            # doctest: +SKIP
    """
    runs = _as_runs(runs, load_models=False)
    audios = decode_for(runs, source, name=name, max_duration=max_duration, progress=progress)
    got = {}
    for p in iter_predictions(runs, audios, max_windows=max_windows, parallel=parallel, progress=progress):
        got[p.run_id] = p
        if on_result is not None:
            on_result(p)
    return _in_order(runs, got)


def predict_file(
    runs,
    source,
    *,
    name: str | None = None,
    max_duration: float | None = config.MAX_DURATION,
    max_windows: int | None = MAX_WINDOWS,
    progress: ProgressFn | None = None,
) -> list[TrackPrediction]:
    """Classify one audio file with one or more runs.

    Parameters
    ----------
    runs : Run, run reference, or a list of them
        Loaded runs are used as they are (keep them between calls); references
        are loaded (and verified) with :func:`~genre_core.runs.load_run`, their
        models on first use.
    source : path, bytes or binary file-like
        The audio (any format :func:`~genre_core.audio.load_audio` decodes).
    name : str, optional
        Name shown in messages (default: the file name).
    max_duration : float or None
        Analyse at most this many seconds from the start (default 600).
    max_windows : int or None
        Long-file policy: at most this many windows per run, spread evenly over
        the whole (analysed) track (default :data:`MAX_WINDOWS` = 40; ``None``
        or 0: every window). Each prediction records ``n_windows_total``.
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
    return predict_many(runs, source, name=name, max_duration=max_duration, max_windows=max_windows,
                        progress=progress)


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
    from .extraction import compute_dataset_inputs, table_inputs

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
        stacked = stack_windows(inputs, ids)
        X, groups, starts, ends = stacked["X"], stacked["groups"], stacked["starts"], stacked["ends"]
        if progress is not None:
            progress({"stage": "evaluating", "done": 0, "total": 1, "run": rid})
        t0 = time.perf_counter()
        proba = align_labels(np.asarray(model.predict_proba(X), dtype=np.float64), [str(c) for c in model.classes_], labels)
        t_inf += time.perf_counter() - t0
        seg_data[rid] = (proba, groups, starts, ends)
        from .evaluation import aggregate_tracks

        tids, mean, _, _ = aggregate_tracks(proba, groups)
        track_proba[rid] = dict(zip(tids, mean))

    notes: list[str] = []
    if run.is_voting:
        common, mix = vote_track_probabilities(run, track_proba, labels)
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
            if sp.get("refit"):  # the refit model was trained on every fold's tracks
                trained_on |= set(f.get("test") or [])
    overlap = len(trained_on & set(label_of))
    clean = [t for t in tracks if t["track_id"] not in trained_on]
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
        # the honest figure beside the optimistic one: only tracks the run never trained or validated on
        "non_overlapping": {"n_tracks": len(clean),
                            "track_accuracy": (sum(t["correct"] for t in clean) / len(clean)) if clean else None},
        "failures": [list(f) for f in failures],
        "timings": {"extraction_s": round(t_feat, 3), "inference_s": round(t_inf, 4),
                    "inference_s_per_track": round(t_inf / n_eval, 6) if n_eval else None},
        "notes": notes,
        "tracks": tracks,
    })
    return report
