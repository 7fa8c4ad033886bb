"""Point trained runs at music: one file (:func:`predict_file`), or several (:func:`predict_many`).

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

Prediction policy: each run analyses at most :data:`MAX_WINDOWS` (32) of its
windows and no more than fit side by side without overlap, spread evenly from
the start to the end of the (at most ``max_duration`` seconds) analysed audio
(:func:`genre_core.inputs.analysed_windows`); ``max_windows=None`` analyses
every window, overlapping ones too. Evaluating a run on a labelled dataset is
:func:`genre_core.evaluate.evaluate_run`. A prediction records ``n_windows_total`` next to ``n_segments``.

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
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from . import config
from .errors import AudioError, GenreLabError, RunError
from .inputs import track_input
from .progress import ProgressFn
from .runs import Run, load_run, load_runs
from .voting import combine_predictions

__all__ = ["MAX_WINDOWS", "TrackPrediction", "iter_predictions", "open_runs", "predict_many", "predict_file",
           "predict_audio", "run_cost", "sample_rates", "decode_for"]


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
        ``n_segments`` when the prediction policy analysed only some of them
        (0: not recorded).
    max_windows : int or None
        The prediction policy in force (at most this many windows per run).
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


# --------------------------------------------------------------------------- one file, streamed


#: Prediction policy: each run analyses at most this many windows, and no more than fit side by side
#: without overlap, spread evenly over the whole track (:func:`genre_core.inputs.analysed_windows`;
#: ``max_windows=None``/0: every window, overlapping ones too). A 30 s clip in 3 s windows every 1.5 s is
#: analysed through 10 windows that cover it all instead of 19 that see every second twice: half the
#: work for the same audio. On the out-of-fold window predictions of the 413 development tracks, the
#: shipped runs' track labels stay the same for 97.3-100 % of tracks and their accuracies move by -0.008
#: to 0.000. A long song: 32 windows (96 s of a 3-minute song, spread over all of it) instead of 40 cost
#: nothing measurable on 400 simulated 3-minute songs per run (six out-of-fold tracks of one genre end to
#: end): song accuracy -0.017 to +0.012 from 40 windows', every window's label kept for 95-98 % of songs
#: (40 windows: 95-99 %; ``scripts/window_cap_study.py``, README "Prediction speed"), for 20 % less work.
MAX_WINDOWS = 32


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
    if n_total > len(ti.X) and cap is not None and len(ti.X) >= cap:  # skipping overlaps alone is no news
        notes.append(
            f"Long file: {len(ti.X)} of its {n_total} windows, spread evenly over the whole track, were analysed "
            f"(no overlapping windows, at most {cap} windows per run)."
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
        Prediction policy (default :data:`MAX_WINDOWS`): a run analyses at most
        that many windows and no overlapping ones, spread evenly over the whole
        track (:func:`~genre_core.inputs.analysed_windows`); ``None`` or 0
        analyses every window.
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

    def worker(kind: str, order: Sequence, work: Callable) -> None:
        for key in order:
            if stop.is_set():
                return
            try:
                events.put((kind, key, work(key), None))
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
                events.put((kind, key, None, err))
                return

    threads = [threading.Thread(target=worker, args=("input", spec_order, compute), name="genre-lab-inputs",
                                daemon=True)]
    if load_order:
        threads.append(threading.Thread(target=worker, args=("model", load_order, load), name="genre-lab-models",
                                        daemon=True))
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


def sample_rates(runs) -> list[int]:
    """The sample rates the runs' inputs need (a voting run's members'), sorted; read from the run
    records, so no model is loaded."""
    leaves = _leaves(_as_runs(runs, load_models=False))
    return sorted({int((r.input_spec or r.load_model().input_spec).sr) for r in leaves.values()})


def decode_for(runs, source, *, name: str | None = None, max_duration: float | None = config.MAX_DURATION,
               progress: ProgressFn | None = None) -> dict[int, Any]:
    """Decode ``source`` once per sample rate the runs need: ``{sr: Audio}``."""
    from .audio import load_audio

    rates = sample_rates(runs)
    if hasattr(source, "read"):
        source = source.read()
    if name is None:
        name = Path(str(source)).name if isinstance(source, (str, Path)) else "<upload>"
    audios = {}
    for i, sr in enumerate(rates):
        if progress is not None:
            progress({"stage": "decoding", "done": i, "total": len(rates), "sr": sr})
        src = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
        audios[sr] = load_audio(src, sr=sr, name=name, max_duration=max_duration)
    return audios


def _start_loading_models(runs: Sequence[Run]) -> None:
    """Load the runs' models not loaded yet in a daemon thread, lightest first, while the audio is decoded.

    In a fresh process that is mostly importing torch, which then overlaps the
    decoding instead of following it. A model that fails to load here is
    loaded again (and its error reported) by the prediction itself;
    :meth:`Run.load_model` makes the two loads one.
    """
    todo = sorted((r for r in _leaves(runs).values() if r.model is None),
                  key=lambda r: _LOAD_COST.get(r.backend or "", 3))
    if not todo:
        return

    def work() -> None:
        for run in todo:
            try:
                run.load_model()
            except Exception:  # noqa: BLE001 - reported by the prediction's own load
                return

    threading.Thread(target=work, name="genre-lab-preload", daemon=True).start()


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
    if parallel:
        _start_loading_models(runs)
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
        Prediction policy: at most this many windows per run and no overlapping
        ones, spread evenly over the whole (analysed) track (default
        :data:`MAX_WINDOWS` = 32; ``None`` or 0: every window, overlapping ones
        too). Each prediction records ``n_windows_total``.
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


