"""Side-by-side comparison of complete runs: settings, metrics with CIs, confusions, paired tests.

Everything the Compare page shows is computed here from what each run folder
already holds (``run.json``, ``predictions_tracks.csv``,
``predictions_segments.csv``, ``history.json``); no model is loaded and
nothing is re-predicted.

* :func:`load_run_data` -- a verified run's record and prediction tables
  (a :class:`~genre_core.runs.Run` with its tables read; plain data, cacheable).
* :func:`config_frame` -- settings x runs, with :func:`differing_rows` to
  highlight what differs.
* :func:`metrics_frame` -- one row per run: track accuracy (mean-probability
  and vote), balanced accuracy, segment accuracy, macro F1, log loss, train
  time, inference time per track, size, each with a 95 % CI
  (:func:`bootstrap_cis`: Wilson for track accuracy as in ``run.json``,
  percentile bootstrap over test tracks for the others).
* :func:`test_set_groups` -- which runs were tested on the same tracks (only
  those are directly comparable).
* :func:`per_class_frame`, :func:`confusion_counts`, :func:`normalise_rows`,
  :func:`difference_matrix`, :func:`cell_tracks`, :func:`track_segments` --
  the confusion drill-down, down to a track's per-segment probabilities.
* :func:`compare_pair` -- McNemar's test on track-level correctness
  (:func:`genre_core.metrics.mcnemar_tracks`) with a plain-words verdict.
* :func:`find_track_audio` -- the audio file of a test track, when the
  dataset's folders (recorded in ``run.json``) are still there.

Example
-------
>>> from genre_core.comparison import load_run_data, metrics_frame, compare_pair
>>> a, b = load_run_data("shipped/mlp-gtzan"), load_run_data("shipped/xgb-gtzan")   # doctest: +SKIP
>>> metrics_frame([a, b])[["run", "track acc."]]                                     # doctest: +SKIP
>>> compare_pair(a, b)["verdict"]                                                    # doctest: +SKIP
'On the 200 test tracks both runs were evaluated on, ...'
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import config
from .errors import RunError
from .metrics import balanced_accuracy_macro_f1, normalise_rows
from .runs import Run

__all__ = [
    "METRIC_COLUMNS",
    "bootstrap_cis",
    "cell_tracks",
    "compare_pair",
    "config_frame",
    "config_rows",
    "confusion_counts",
    "difference_matrix",
    "differing_rows",
    "find_track_audio",
    "history_frame",
    "load_run_data",
    "mcnemar_verdict",
    "metrics_frame",
    "nonzero_cells",
    "normalise_rows",
    "per_class_frame",
    "test_set_groups",
    "track_segments",
]

#: Log-loss clipping, as in :mod:`genre_core.metrics`.
_EPS = 1e-7


def left_out_frame(datas: "Iterable[Run]") -> pd.DataFrame:
    """Files each run had to leave out, and why: ``run, file, stage, reason``.

    ``stage`` is ``"scan"`` (the file could not be read when the dataset was
    listed) or ``"extraction"`` (its features could not be computed). Empty
    when every file was used.
    """
    rows = []
    for d in datas:
        ds = d.info.get("dataset") if isinstance(d.info.get("dataset"), dict) else {}
        for f, why in ds.get("unreadable") or []:
            rows.append({"run": d.id, "file": str(f), "stage": "scan", "reason": str(why)})
        for f, why in d.info.get("failures") or []:
            rows.append({"run": d.id, "file": str(f), "stage": "extraction", "reason": str(why)})
    return pd.DataFrame(rows, columns=["run", "file", "stage", "reason"])


def load_run_data(ref) -> Run:
    """A complete run with its record, prediction tables and history read, checksums verified (no model).

    The returned :class:`~genre_core.runs.Run` is plain data (cacheable).

    Raises
    ------
    RunError
        The run is missing, not complete, or its files do not match run.json.
    """
    from .runs import load_run

    run = load_run(ref, verify=True, load_model=False)
    run.tracks, run.segments, run.history()  # read once, now  # noqa: B018
    return run


# --------------------------------------------------------------------------- settings


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def config_rows(info: Mapping[str, Any]) -> dict[str, str]:
    """A run's settings flattened to ``{setting: text}`` (what a comparison lines up).

    Example
    -------
    >>> config_rows({"backend": "mlp", "params": {"lr": 0.001}, "seed": 0})["param: lr"]
    '0.001'
    """
    rows: dict[str, str] = {}
    ds = info.get("dataset") or {}
    split = info.get("split") or {}
    metrics = info.get("metrics") or {}
    rows["backend"] = _fmt(info.get("backend"))
    rows["dataset"] = _fmt(ds.get("name"))
    rows["dataset fingerprint"] = _fmt(ds.get("fingerprint"))
    rows["dataset tracks"] = _fmt(ds.get("n_tracks"))
    rows["split protocol"] = _fmt(split.get("protocol"))
    if split.get("k"):
        rows["folds"] = _fmt(split.get("k"))
    for side in ("train", "valid", "test"):
        ids = split.get(side)
        if isinstance(ids, list):
            rows[f"{side} tracks"] = str(len(ids))
    rows["evaluated on"] = _fmt(metrics.get("evaluated_on"))
    rows["seed"] = _fmt(info.get("seed"))
    spec = info.get("input_spec")
    if spec:
        try:
            from .inputs import InputSpec

            rows["input"] = InputSpec.from_dict(spec).describe()
        except Exception:  # noqa: BLE001 - an old or odd record: show it raw
            rows["input"] = _fmt(spec)
    n_aug = info.get("n_augment") or 0
    rows["augmented copies"] = _fmt(n_aug)
    if n_aug and info.get("augment"):
        for k, v in sorted((info.get("augment") or {}).items()):
            rows[f"augment: {k}"] = _fmt(v)
    for k, v in sorted((info.get("params") or {}).items()):
        if k == "seed":
            continue
        rows[f"param: {k}"] = _fmt(v)
    if info.get("members"):
        rows["members"] = ", ".join(f"{m.get('id')} ({float(m.get('weight', 1)):.2f})" for m in info["members"])
    versions = info.get("versions") or {}
    if versions.get("genre_core"):
        rows["genre_core version"] = _fmt(versions.get("genre_core"))
    return rows


def config_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Settings (rows) x runs (columns); a setting a run does not have is ``"—"``."""
    per = {r.id: config_rows(r.info) for r in runs}
    keys: list[str] = []
    for rows in per.values():
        for k in rows:
            if k not in keys:
                keys.append(k)
    df = pd.DataFrame({rid: [rows.get(k, "—") for k in keys] for rid, rows in per.items()}, index=keys)
    df.index.name = "setting"
    return df


def differing_rows(frame: pd.DataFrame, groups: Mapping[str, Any] | None = None) -> pd.Series:
    """True for settings whose value is not the same in every run.

    With ``groups`` (run id -> group, e.g. its backend), a setting counts as
    differing only when it differs *within* a group of two or more runs: runs
    of different backends differ in almost every setting, which says nothing.
    When no group has two runs, every run is compared with every other.
    """
    if frame.shape[1] <= 1:
        return pd.Series(False, index=frame.index)
    if groups:
        members: dict[Any, list[str]] = {}
        for col in frame.columns:
            members.setdefault(groups.get(col), []).append(col)
        multi = [cols for cols in members.values() if len(cols) > 1]
        if multi:
            out = pd.Series(False, index=frame.index)
            for cols in multi:
                out |= frame[cols].nunique(axis=1, dropna=False) > 1
            return out
    return frame.nunique(axis=1, dropna=False) > 1


# --------------------------------------------------------------------------- metrics with CIs


def _track_arrays(data: Run):
    t = data.tracks
    labels = data.labels
    index = {lab: i for i, lab in enumerate(labels)}
    y = np.array([index.get(str(v), -1) for v in t["true"]], dtype=np.int64)
    pred = np.array([index.get(str(v), -1) for v in t["predicted"]], dtype=np.int64)
    vote = (np.array([index.get(str(v), -1) for v in t["vote"]], dtype=np.int64)
            if "vote" in t.columns and t["vote"].notna().all() else None)
    pcols = [f"p_{lab}" for lab in labels]
    ll = None
    if all(c in t.columns for c in pcols) and (y >= 0).all():
        P = t[pcols].to_numpy(dtype=np.float64)
        ll = -np.log(np.clip(P[np.arange(len(y)), y], _EPS, 1.0))
    seg_correct = seg_n = None
    s = data.segments
    if s is not None and len(s):
        ok = (s["true"].astype(str) == s["predicted"].astype(str)).to_numpy()
        grp = pd.DataFrame({"track_id": s["track_id"].astype(str), "ok": ok}).groupby("track_id")["ok"]
        sums, counts = grp.sum(), grp.count()
        ids = t["track_id"].astype(str)
        seg_correct = sums.reindex(ids).fillna(0).to_numpy(dtype=np.float64)
        seg_n = counts.reindex(ids).fillna(0).to_numpy(dtype=np.float64)
    return y, pred, vote, ll, seg_correct, seg_n


def bootstrap_cis(data: Run, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, tuple]:
    """95 % intervals of a run's metrics.

    Track accuracy uses the Wilson interval stored in ``run.json``; the other
    figures use a percentile bootstrap that resamples **test tracks** (with
    their segments), the unit that is independent: resampling segments would
    pretend a 30-second song is ten independent samples.

    Returns
    -------
    dict
        ``{metric: (low, high)}`` for ``track_accuracy``,
        ``track_vote_accuracy``, ``balanced_accuracy``, ``macro_f1``,
        ``segment_accuracy``, ``log_loss`` (missing when not computable).
    """
    out: dict[str, tuple] = {}
    ci = data.metrics.get("track_accuracy_ci")
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and None not in ci:
        out["track_accuracy"] = (float(ci[0]), float(ci[1]))
    t = data.tracks
    if t is None or len(t) < 2 or not data.labels:
        return out
    y, pred, vote, ll, seg_correct, seg_n = _track_arrays(data)
    if (y < 0).any() or (pred < 0).any():
        return out
    n, k = len(y), len(data.labels)
    rng = np.random.default_rng(seed)
    W = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)  # (B, n)
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2

    def interval(values: np.ndarray) -> tuple[float, float]:
        v = values[np.isfinite(values)]
        if not len(v):
            return (math.nan, math.nan)
        return (float(np.percentile(v, lo_q)), float(np.percentile(v, hi_q)))

    if "track_accuracy" not in out:
        out["track_accuracy"] = interval(W @ (pred == y).astype(np.float64) / n)
    if vote is not None and (vote >= 0).all():
        out["track_vote_accuracy"] = interval(W @ (vote == y).astype(np.float64) / n)
    onehot = np.zeros((n, k * k))
    onehot[np.arange(n), y * k + pred] = 1.0
    cms = (W @ onehot).reshape(n_boot, k, k)
    bal, mf1 = balanced_accuracy_macro_f1(cms)
    out["balanced_accuracy"] = interval(bal)
    out["macro_f1"] = interval(mf1)
    if ll is not None:
        out["log_loss"] = interval(W @ ll / n)
    if seg_correct is not None and seg_n is not None and seg_n.sum() > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            out["segment_accuracy"] = interval((W @ seg_correct) / (W @ seg_n))
    return out


#: (column name, metrics key, kind) of the metric columns of :func:`metrics_frame`.
METRIC_COLUMNS = (
    ("track acc.", "track_accuracy", "fraction"),
    ("track acc. (vote)", "track_vote_accuracy", "fraction"),
    ("balanced acc.", "balanced_accuracy", "fraction"),
    ("segment acc.", "segment_accuracy", "fraction"),
    ("macro F1", "macro_f1", "fraction"),
    ("log loss", "log_loss", "number"),
)


def _fmt_ci(ci: tuple | None, kind: str) -> str:
    if not ci or any(v is None or not math.isfinite(v) for v in ci):
        return ""
    if kind == "fraction":
        return f"{ci[0]:.1%} – {ci[1]:.1%}"
    return f"{ci[0]:.3f} – {ci[1]:.3f}"


def test_set_groups(runs: Sequence[Run]) -> dict[str, str]:
    """``{run id: "A" | "B" | ...}``: runs with the same letter were tested on exactly the same tracks."""
    letters: dict[frozenset, str] = {}
    out = {}
    for r in runs:
        key = r.test_ids()
        if key not in letters:
            i = len(letters)
            letters[key] = chr(ord("A") + i) if i < 26 else f"#{i + 1}"
        out[r.id] = letters[key]
    return out


def metrics_frame(runs: Sequence[Run], cis: Mapping[str, Mapping[str, tuple]] | None = None) -> pd.DataFrame:
    """One row per run: metrics (fractions), their 95 % CIs (text), costs and the test-set group.

    Columns: ``run, backend, dataset, evaluated on, test set, test tracks``, then for
    every :data:`METRIC_COLUMNS` entry the value and ``<name> 95% CI``, then
    ``train time (s)``, ``inference per track (ms)``, ``size (MB)``.
    """
    groups = test_set_groups(runs)
    rows = []
    for r in runs:
        m = r.metrics
        ci = (cis or {}).get(r.id) or {}
        timings = r.info.get("timings") or {}
        row: dict[str, Any] = {
            "run": r.id,
            "backend": r.backend,
            "dataset": (r.info.get("dataset") or {}).get("name"),
            "evaluated on": m.get("evaluated_on"),
            "test set": groups[r.id],
            "test tracks": m.get("n_tracks"),
        }
        for col, key, kind in METRIC_COLUMNS:
            v = m.get(key)
            row[col] = float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None
            row[f"{col} 95% CI"] = _fmt_ci(ci.get(key), kind)
        inf = timings.get("inference_s_per_track")
        row["train time (s)"] = timings.get("training_s")
        row["inference per track (ms)"] = None if inf is None else 1000.0 * float(inf)
        size = r.info.get("size_bytes")
        row["size (MB)"] = None if size is None else float(size) / 1e6
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- per class and confusions


def per_class_frame(runs: Sequence[Run], metric: str = "f1") -> pd.DataFrame:
    """Runs (rows) x genres (columns) of a per-class figure (``precision``, ``recall``, ``f1`` or ``support``).

    A figure that is undefined is NaN (shown blank), not 0: recall and F1 of a
    genre without test tracks in that run, precision of a genre it never
    predicted, anything for a genre the run does not know.
    """
    genres: list[str] = []
    for r in runs:
        for g in r.labels:
            if g not in genres:
                genres.append(g)
    genres = sorted(genres)
    def value(d: Mapping | None) -> float:
        if not d:
            return np.nan  # the run does not know this genre
        # undefined figures stay blank instead of reading as 0: recall / F1 without test tracks of
        # the genre, precision when the run never predicted it
        if metric in ("recall", "f1") and not d.get("support"):
            return np.nan
        if metric == "precision" and not d.get("predicted"):
            return np.nan
        v = d.get(metric)
        return np.nan if v is None else float(v)

    data = {}
    for r in runs:
        pc = r.metrics.get("per_class") or {}
        data[r.id] = [value(pc.get(g)) for g in genres]
    df = pd.DataFrame.from_dict(data, orient="index", columns=genres).astype(float)
    df.index.name = "run"
    return df


def _cm_from_tables(data: Run, level: str, only: frozenset | None = None) -> np.ndarray:
    labels = data.labels
    index = {lab: i for i, lab in enumerate(labels)}
    table = data.tracks if level == "track" else data.segments
    cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
    if table is None or not len(table):
        return cm
    if only is not None:
        table = table[table["track_id"].astype(str).isin(only)]
    for t, p in zip(table["true"].astype(str), table["predicted"].astype(str)):
        if t in index and p in index:
            cm[index[t], index[p]] += 1
    return cm


def confusion_counts(data: Run, level: str = "track") -> tuple[list[str], np.ndarray]:
    """``(labels, counts)``: rows = true genre, columns = predicted, at ``"track"`` or ``"segment"`` level.

    Taken from ``run.json`` (the figures the metrics were computed from);
    rebuilt from the prediction tables if the record lacks them.

    Raises
    ------
    RunError
        ``level="segment"`` for a run without segment predictions (a voting run).
    """
    if level not in ("track", "segment"):
        raise ValueError(f"level must be 'track' or 'segment', not {level!r}")
    key = "confusion_matrix" if level == "track" else "segment_confusion_matrix"
    cm = data.metrics.get(key)
    labels = data.labels
    if isinstance(cm, list) and len(cm) == len(labels):
        return labels, np.asarray(cm, dtype=np.int64)
    if level == "segment" and (data.segments is None or not len(data.segments)):
        raise RunError(f"Run {data.id} has no segment-level predictions (a voting run combines tracks only).")
    return labels, _cm_from_tables(data, level)


def difference_matrix(a: Run, b: Run, *, level: str = "track",
                      normalised: bool = True) -> tuple[list[str], np.ndarray, list[str]]:
    """``B - A`` confusion matrix on the union of both label sets, plus notes on comparability.

    Positive diagonal cells: B gets that genre right more often; positive
    off-diagonal cells: B makes that confusion more often. When the runs were
    tested on different tracks, both matrices are rebuilt on the tracks they
    share (all zeros, with a note, when they share none).
    """
    la, ca = confusion_counts(a, level)
    lb, cb = confusion_counts(b, level)
    labels = sorted(set(la) | set(lb))
    notes = []
    if set(la) != set(lb):
        notes.append("The runs predict different genre sets; missing genres count as zero.")
    ids_a, ids_b = a.test_ids(), b.test_ids()
    if ids_a != ids_b:
        shared = ids_a & ids_b
        if level == "segment" and any(d.segments is None or not len(d.segments) for d in (a, b)):
            shared = frozenset()
        if not shared:
            notes.append(f"The runs share no test track (A was tested on {len(ids_a)}, B on {len(ids_b)} other "
                         "tracks): a difference would mix model quality with test-set difficulty, so none is shown.")
            return labels, np.zeros((len(labels), len(labels))), notes
        notes.append(f"Computed on the {len(shared)} test tracks both runs share (A was tested on {len(ids_a)}, "
                     f"B on {len(ids_b)}).")
        ca, cb = _cm_from_tables(a, level, shared), _cm_from_tables(b, level, shared)

    def embed(lab: list[str], cm: np.ndarray) -> np.ndarray:
        m = normalise_rows(cm) if normalised else np.asarray(cm, dtype=np.float64)
        out = np.zeros((len(labels), len(labels)))
        idx = [labels.index(x) for x in lab]
        out[np.ix_(idx, idx)] = m
        return out

    return labels, embed(lb, cb) - embed(la, ca), notes


def nonzero_cells(labels: Sequence[str], cm: np.ndarray) -> list[tuple[str, str, int]]:
    """``(true, predicted, count)`` of every non-empty cell, errors first (largest first), then the diagonal."""
    cells = []
    for i, t in enumerate(labels):
        for j, p in enumerate(labels):
            n = int(cm[i, j])
            if n:
                cells.append((t, p, n))
    return sorted(cells, key=lambda c: (c[0] == c[1], -c[2], c[0], c[1]))


def cell_tracks(data: Run, true: str, predicted: str, *, level: str = "track") -> pd.DataFrame:
    """The test tracks behind one confusion-matrix cell.

    At track level: tracks of genre ``true`` predicted ``predicted``. At
    segment level: tracks of genre ``true`` with at least one segment
    predicted ``predicted`` (``segments in cell`` counts them).

    Columns: ``track_id, true, predicted, confidence, p(true), p(predicted),
    n_segments`` (+ ``segments in cell`` at segment level).
    """
    t = data.tracks
    cols = ["track_id", "true", "predicted", "confidence", "p(true)", "p(predicted)", "n_segments"]
    if t is None or not len(t):
        return pd.DataFrame(columns=cols)
    t = t.assign(track_id=t["track_id"].astype(str), true=t["true"].astype(str),
                 predicted=t["predicted"].astype(str))
    if level == "track":
        sel = t[(t["true"] == true) & (t["predicted"] == predicted)].copy()
    else:
        s = data.segments
        if s is None or not len(s):
            return pd.DataFrame(columns=cols + ["segments in cell"])
        m = s[(s["true"].astype(str) == true) & (s["predicted"].astype(str) == predicted)]
        counts = m.groupby(m["track_id"].astype(str)).size()
        sel = t[t["track_id"].isin(counts.index)].copy()
        sel["segments in cell"] = sel["track_id"].map(counts).astype(int)
    pt, pp = f"p_{true}", f"p_{predicted}"
    sel["p(true)"] = sel[pt] if pt in sel.columns else np.nan
    sel["p(predicted)"] = sel[pp] if pp in sel.columns else np.nan
    if "n_segments" not in sel.columns:
        sel["n_segments"] = np.nan
    keep = cols + (["segments in cell"] if level == "segment" else [])
    sort = "segments in cell" if level == "segment" else "p(predicted)"
    return sel[keep].sort_values([sort, "track_id"], ascending=[False, True]).reset_index(drop=True)


def track_segments(data: Run, track_id: str) -> pd.DataFrame:
    """One test track's segments: ``segment, start, end, predicted, confidence, p_<label>...``."""
    s = data.segments
    if s is None or not len(s):
        return pd.DataFrame()
    out = s[s["track_id"].astype(str) == str(track_id)]
    return out.sort_values("segment" if "segment" in out.columns else "start").reset_index(drop=True)


# --------------------------------------------------------------------------- paired test


def mcnemar_verdict(res: Mapping[str, Any], name_a: str, name_b: str, *, alpha: float = 0.05) -> str:
    """McNemar's result in plain words (what was counted, what it means, what it does not)."""
    n = res.get("n", 0)
    if not n:
        return f"{name_a} and {name_b} share no test tracks, so they cannot be compared track by track."
    b, c, p = res["a_only"], res["b_only"], res["p_value"]
    lead = (f"On the {n} test tracks both runs were evaluated on, {name_a} was right where {name_b} was wrong "
            f"on {b} track(s), and {name_b} right where {name_a} was wrong on {c}")
    if b + c == 0:
        return lead + ". They never disagree on correctness: no evidence of any difference."
    better = name_a if b > c else name_b
    if p < alpha:
        return (lead + f" (p = {p:.3g}, {res['method']}). A split this lopsided is unlikely to be chance at the "
                f"{alpha:.0%} level: {better} is more accurate on these tracks.")
    return (lead + f" (p = {p:.3g}, {res['method']}). That is consistent with chance at the {alpha:.0%} level: "
            f"no evidence that either run is more accurate (which is not proof that they are equal"
            + ("; with so few disagreements the test has little power" if b + c < 10 else "") + ").")


def compare_pair(a: Run, b: Run, *, alpha: float = 0.05) -> dict:
    """McNemar's test on track-level correctness of two runs, with a verdict and comparability flags.

    Returns the :func:`~genre_core.metrics.mcnemar_tracks` dict plus
    ``verdict`` (plain words), ``comparable`` (same test tracks and same
    dataset) and ``warnings`` (sentences, e.g. "not directly comparable").
    """
    from .metrics import mcnemar_tracks

    res = mcnemar_tracks(a.track_correctness(), b.track_correctness())
    warnings = []
    if res.get("note"):
        warnings.append(res["note"])
    fa = (a.info.get("dataset") or {}).get("fingerprint")
    fb = (b.info.get("dataset") or {}).get("fingerprint")
    if fa and fb and fa != fb and res["n"]:
        warnings.append("The runs were trained on different datasets (fingerprints differ), so the shared test "
                        "tracks may have been training tracks for one of them: not directly comparable.")
    ea, eb = a.metrics.get("evaluated_on"), b.metrics.get("evaluated_on")
    if ea != eb:
        warnings.append(f"{a.id} was evaluated on its {ea} side and {b.id} on its {eb} side.")
    res["comparable"] = bool(res.get("comparable")) and not (fa and fb and fa != fb)
    res["warnings"] = warnings
    res["verdict"] = mcnemar_verdict(res, a.id, b.id, alpha=alpha)
    return res


# --------------------------------------------------------------------------- history and audio


def history_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Long table of training curves: ``run, epoch, fold, metric (loss|accuracy), side (train|valid), value``."""
    rows = []
    for r in runs:
        for h in r.history():
            if not isinstance(h, Mapping) or h.get("epoch") is None:
                continue
            for metric in ("loss", "accuracy"):
                for side, key in (("train", metric), ("valid", f"val_{metric}")):
                    v = h.get(key)
                    if isinstance(v, (int, float)) and math.isfinite(v):
                        rows.append({"run": r.id, "epoch": int(h["epoch"]), "fold": h.get("fold"),
                                     "member": h.get("member"), "metric": metric, "side": side, "value": float(v)})
    return pd.DataFrame(rows, columns=["run", "epoch", "fold", "member", "metric", "side", "value"])


def find_track_audio(track_id: str, roots: Iterable[str | Path] = (), *,
                     extra_roots: Iterable[str | Path] | None = None) -> Path | None:
    """The audio file of ``track_id`` (``"<label>/<stem>"``) under the given dataset roots, if present.

    Looks for ``<root>/<label>/<stem>.<ext>`` for every supported extension in
    the run's dataset folders, then in ``extra_roots`` (default: the GTZAN
    development audio, which holds many of the public feature table's
    tracks). Roots that are files (a CSV table) are skipped.
    """
    from .audio import SUPPORTED_EXTENSIONS

    if extra_roots is None:
        extra_roots = [config.gtzan_dir() / "audio"]
    rel = Path(str(track_id))
    for root in [*roots, *extra_roots]:
        root = Path(root)
        if not root.is_dir():
            continue
        for ext in SUPPORTED_EXTENSIONS:
            p = root / rel.parent / f"{rel.name}{ext}"
            if p.is_file():
                return p
    return None


def dataset_roots(info: Mapping[str, Any]) -> list[str]:
    """The folders a run's dataset came from (``run.json`` ``dataset.roots``)."""
    roots = (info.get("dataset") or {}).get("roots") or []
    return [str(r) for r in roots if r]

