"""Figures and tables for the Predict page (pure functions: no Streamlit).

Every chart shares one time axis in seconds from the start of the track, so a
model analysing 30 s windows and one analysing 3 s windows line up. Segments
are drawn over their *display span*: from their start to the next segment's
start (overlapping windows tile the axis without overdrawing) and, for the
last one, to the end of its real content; the hover always names the window
the model actually saw (start-end) and every genre's probability.

* :func:`segment_bands_figure` -- stacked probability bands over time (one
  colour per genre, bar width = segment span).
* :func:`segment_heatmap_figure` -- the same as a time x genre heatmap.
* :func:`timeline_figure` -- one row per run, each segment coloured by its
  winning genre (opacity = confidence): runs side by side on the time axis.
* :func:`waveform_figure` / :func:`melspectrogram_figure` -- the audio with
  segment boundaries and an optional highlighted segment.
* :func:`agreement_frame`, :func:`segments_csv`, :func:`predictions_json` --
  the comparison table and the downloads.

Example
-------
>>> import numpy as np
>>> from genre_core.predict import TrackPrediction
>>> p = TrackPrediction("user/x", "mlp", ["a", "b"], np.array([0.0, 3.0]), np.array([3.0, 6.0]),
...                     np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0.55, 0.45]))
>>> fig = segment_bands_figure(p, duration=6.0)
>>> len(fig.data)
2
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from genre_core.jsonio import dumps
from pages.components.figures import empty_figure

#: Ten well separated colours (Tableau 10), then Plotly's Alphabet palette.
_PALETTE = (
    "#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F", "#BAB0AC",
    "#AA0DFE", "#3283FE", "#85660D", "#782AB6", "#565656", "#1C8356", "#16FF32", "#F7E1A0", "#E2E2E2", "#1CBE4F",
)
_BOUNDARY_COLOR = "rgba(120,120,120,0.55)"
_HIGHLIGHT_COLOR = "rgba(255,165,0,0.25)"


def genre_colors(labels: Iterable[str]) -> dict[str, str]:
    """A stable colour per genre (sorted names -> palette order), shared by every chart."""
    names = sorted({str(x) for x in labels})
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(names)}


def segment_spans(starts: Sequence[float], ends: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Display spans ``(left, right)`` of segments: start to the next start (last: to its end)."""
    s = np.asarray(starts, dtype=np.float64)
    e = np.asarray(ends, dtype=np.float64)
    if len(s) == 0:
        return s, e
    right = e.copy()
    if len(s) > 1:
        right[:-1] = np.minimum(e[:-1], s[1:])
        right[:-1] = np.where(right[:-1] <= s[:-1], e[:-1], right[:-1])
    right = np.maximum(right, s + 1e-3)
    return s, right


def _fmt_t(t: float) -> str:
    t = max(0.0, float(t))
    return f"{int(t // 60)}:{t % 60:04.1f}"


def segment_hover_texts(pred, *, max_labels: int = 10) -> list[str]:
    """Per segment: ``Segment i · start-end`` and the genres by probability."""
    p = np.asarray(pred.segment_proba, dtype=np.float64).reshape(len(pred.starts), len(pred.labels))
    out = []
    for i, (s, e, row) in enumerate(zip(pred.starts, pred.ends, p)):
        order = np.argsort(-row, kind="stable")[:max_labels]
        lines = [f"<b>Segment {i + 1}</b> · {_fmt_t(s)}–{_fmt_t(e)} ({float(s):.1f}–{float(e):.1f} s)"]
        lines += [f"{pred.labels[j]}: {row[j]:.1%}" for j in order]
        out.append("<br>".join(lines))
    return out


def _empty_figure(message: str, *, height: int = 160) -> go.Figure:
    return empty_figure(message, height=height, layout=BASE_LAYOUT)


def _colorscale(name: str) -> list[list]:
    """A named plotly sequential scale as explicit ``[[position, colour], ...]`` pairs.

    Explicit pairs survive Streamlit's chart theme, which otherwise may swap
    in its own scale for a named one.
    """
    import plotly.colors as pc

    colors = [_not_a_placeholder(c) for c in getattr(pc.sequential, name)]
    n = len(colors)
    return [[i / (n - 1), c] for i, c in enumerate(colors)]


def _not_a_placeholder(color: str) -> str:
    """Streamlit's chart code swaps near-black colours ``#0000XX`` for its theme palette (they are its
    placeholders): Magma's ``#000004`` came out as a light purple, so quiet looked loud. Nudge them."""
    c = str(color).lower()
    if len(c) == 7 and c.startswith("#0000"):
        return "#01" + c[3:5] + f"{min(int(c[5:], 16) + 1, 255):02x}"
    return color


#: Layout shared by every figure here. Pages draw them with ``st.plotly_chart(fig, theme=None)``: Streamlit's
#: chart theme replaces heatmap colour scales (low dB showed pink) and re-ticks bar axes at the bar centres.
FONT = "Source Sans Pro, Source Sans 3, sans-serif"
BASE_LAYOUT = {"template": "plotly_white", "font": {"family": FONT, "size": 13, "color": "#31333F"},
               "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)"}


def nice_step(span: float, *, target: int = 10) -> float:
    """A 1/2/5 x 10^k tick step giving at most about ``target`` ticks over ``span``."""
    if not span or span <= 0:
        return 1.0
    raw = span / target
    mag = 10 ** np.floor(np.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return float(m * mag)
    return float(10 * mag)


def _time_axis(fig: go.Figure, duration: float | None) -> None:
    fig.update_layout(**BASE_LAYOUT)
    kw = {"title": {"text": "time in the track (s)"}, "zeroline": False, "type": "linear"}
    if duration:
        # explicit ticks: plotly would tick a bar chart at the bar centres (1.5, 4.5, ...)
        kw.update(range=[0.0, float(duration)], tickmode="linear", tick0=0.0, dtick=nice_step(float(duration)))
    fig.update_xaxes(**kw)


def segment_bands_figure(pred, *, duration: float | None = None, colors: Mapping[str, str] | None = None,
                         title: str | None = None, height: int = 320) -> go.Figure:
    """Stacked genre probabilities per segment over time (bars as wide as the segment span).

    Parameters
    ----------
    pred : genre_core.predict.TrackPrediction
    duration : float, optional
        Right end of the time axis (use the same for every run so charts line up).
    colors : dict, optional
        Genre -> colour (default :func:`genre_colors` of the run's labels).
    """
    if pred.n_segments == 0:
        return _empty_figure("This run has no per-segment view (see its notes).")
    colors = dict(colors or genre_colors(pred.labels))
    left, right = segment_spans(pred.starts, pred.ends)
    centers, widths = (left + right) / 2.0, right - left
    p = np.asarray(pred.segment_proba, dtype=np.float64).reshape(len(left), len(pred.labels))
    hover = segment_hover_texts(pred)
    order = np.argsort(-np.asarray(pred.proba), kind="stable")  # most probable genre at the bottom
    fig = go.Figure()
    for j in order:
        name = pred.labels[j]
        fig.add_trace(go.Bar(
            x=centers, y=p[:, j], width=widths, name=name, marker={"color": colors.get(name, "#888"),
                                                                    "line": {"width": 0}},
            hovertext=hover, hoverinfo="text",
        ))
    fig.update_layout(
        barmode="stack", bargap=0, height=height, title=title, legend={"title": {"text": "genre"}},
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10}, hovermode="closest",
    )
    fig.update_yaxes(range=[0, 1], tickformat=".0%", title={"text": "probability"})
    _time_axis(fig, duration)
    return fig


def segment_heatmap_figure(pred, *, duration: float | None = None, title: str | None = None,
                           height: int | None = None) -> go.Figure:
    """Time x genre heatmap of per-segment probabilities (cells as wide as the segment spans)."""
    if pred.n_segments == 0:
        return _empty_figure("This run has no per-segment view (see its notes).")
    left, right = segment_spans(pred.starts, pred.ends)
    edges = np.append(left, right[-1])
    p = np.asarray(pred.segment_proba, dtype=np.float64).reshape(len(left), len(pred.labels))
    order = np.argsort(-np.asarray(pred.proba), kind="stable")
    labels = [pred.labels[j] for j in order]
    seg_text = segment_hover_texts(pred)
    text = [[f"<b>{lab}: {p[i, j]:.1%}</b><br>{seg_text[i]}" for i in range(len(left))] for lab, j in
            zip(labels, order)]
    fig = go.Figure(go.Heatmap(
        z=p[:, order].T, x=edges, y=labels, zmin=0.0, zmax=1.0, colorscale=_colorscale("Viridis"), text=text,
        hovertemplate="%{text}<extra></extra>", colorbar={"title": {"text": "p"}, "tickformat": ".0%"},
    ))
    fig.update_layout(height=height or max(220, 34 * len(labels) + 80), title=title,
                      margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10})
    fig.update_yaxes(autorange="reversed")
    _time_axis(fig, duration)
    return fig


def timeline_figure(preds: Sequence, *, duration: float | None = None,
                    colors: Mapping[str, str] | None = None) -> go.Figure:
    """One row per run; each segment in its winning genre's colour, bar thickness = its confidence.

    The colour is never faded (a pale colour reads as another genre); a sure
    segment fills its row, an unsure one is a thin bar.
    """
    preds = [p for p in preds if p.n_segments]
    if not preds:
        return _empty_figure("No run has a per-segment view.")
    colors = dict(colors or genre_colors(lab for p in preds for lab in p.labels))
    fig = go.Figure()
    shown: set[str] = set()
    for p in preds:
        left, right = segment_spans(p.starts, p.ends)
        proba = np.asarray(p.segment_proba, dtype=np.float64).reshape(len(left), len(p.labels))
        win = proba.argmax(axis=1)
        conf = proba.max(axis=1)
        hover = segment_hover_texts(p, max_labels=3)
        for j, name in enumerate(p.labels):
            idx = np.flatnonzero(win == j)
            if not len(idx):
                continue
            fig.add_trace(go.Bar(
                orientation="h", y=[p.run_id] * len(idx), x=(right - left)[idx], base=left[idx], name=name,
                legendgroup=name, showlegend=name not in shown,
                width=np.clip(0.15 + 0.7 * conf[idx], 0.15, 0.85),
                marker={"color": colors.get(name, "#888"), "line": {"width": 0.5, "color": "white"}},
                hovertext=[f"<b>{p.run_id}</b><br>{hover[i]}" for i in idx], hoverinfo="text",
            ))
            shown.add(name)
    # legend under the plot: above it, plotly's toolbar covers it on narrow screens
    fig.update_layout(barmode="overlay", height=170 + 48 * len(preds),
                      legend={"title": {"text": "top genre"}, "orientation": "h", "yanchor": "top", "y": -0.25,
                              "x": 0.0},
                      margin={"l": 10, "r": 10, "t": 30, "b": 10})
    fig.update_yaxes(autorange="reversed", title=None)
    _time_axis(fig, duration)
    return fig


def _boundary_shapes(boundaries: Iterable[float] | None, highlight: tuple[float, float] | None) -> list[dict]:
    shapes = []
    for b in boundaries if boundaries is not None else []:
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": float(b), "x1": float(b), "y0": 0,
                       "y1": 1, "line": {"color": _BOUNDARY_COLOR, "width": 1, "dash": "dot"}})
    if highlight is not None:
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": float(highlight[0]),
                       "x1": float(highlight[1]), "y0": 0, "y1": 1, "fillcolor": _HIGHLIGHT_COLOR,
                       "line": {"width": 0}, "layer": "below"})
    return shapes


def waveform_envelope(y: np.ndarray, sr: int, *, n_bins: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(times, lower, upper)``: min/max of ``y`` in ``n_bins`` equal bins (for drawing long signals)."""
    y = np.asarray(y, dtype=np.float32).ravel()
    n = len(y)
    if n == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    n_bins = int(max(1, min(n_bins, n)))
    size = int(np.ceil(n / n_bins))
    pad = size * n_bins - n
    yy = np.pad(y, (0, pad), mode="edge").reshape(n_bins, size)
    lo, hi = yy.min(axis=1), yy.max(axis=1)
    times = (np.arange(n_bins) * size + size / 2.0) / float(sr)
    return times, lo, hi


def waveform_figure(y: np.ndarray, sr: int, *, boundaries: Iterable[float] | None = None,
                    highlight: tuple[float, float] | None = None, duration: float | None = None,
                    n_bins: int = 2000, height: int = 220) -> go.Figure:
    """The waveform (min/max envelope) with dotted segment boundaries and an optional highlighted segment."""
    t, lo, hi = waveform_envelope(y, sr, n_bins=n_bins)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=t, y=hi, mode="lines", line={"width": 0.6, "color": "#4E79A7"},
                             hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(x=t, y=lo, mode="lines", line={"width": 0.6, "color": "#4E79A7"}, fill="tonexty",
                             fillcolor="rgba(78,121,167,0.55)", hoverinfo="skip", showlegend=False))
    fig.update_layout(height=height, shapes=_boundary_shapes(boundaries, highlight),
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    peak = float(max(np.max(np.abs(hi)) if len(hi) else 0.0, np.max(np.abs(lo)) if len(lo) else 0.0, 1e-3))
    fig.update_yaxes(range=[-peak * 1.05, peak * 1.05], title={"text": "amplitude"}, zeroline=False)
    _time_axis(fig, duration or (len(y) / float(sr) if len(y) else None))
    return fig


def melspectrogram_figure(y: np.ndarray, sr: int, *, boundaries: Iterable[float] | None = None,
                          highlight: tuple[float, float] | None = None, max_frames: int = 1500,
                          n_mels: int = 128, height: int = 300) -> go.Figure:
    """Log-mel spectrogram (dB) of the whole signal with segment boundaries.

    Long signals use a larger hop so the image has at most ``max_frames`` columns.
    """
    import librosa

    from genre_core.spectrogram import denormalise, log_melspectrogram

    y = np.asarray(y, dtype=np.float32).ravel()
    hop = int(max(512, int(np.ceil(len(y) / max(1, max_frames)))))
    S = denormalise(log_melspectrogram(y, sr, hop_length=hop, n_mels=n_mels))
    times = np.arange(S.shape[1]) * hop / float(sr)
    freqs = librosa.mel_frequencies(n_mels=n_mels, fmin=0.0, fmax=sr / 2.0)
    fig = go.Figure(go.Heatmap(
        z=S, x=times, y=np.arange(n_mels), colorscale=_colorscale("Magma"), zmin=float(np.percentile(S, 5)),
        zmax=float(S.max()), colorbar={"title": {"text": "dB"}},
        customdata=np.repeat(freqs[:, None], S.shape[1], axis=1),
        hovertemplate="%{x:.1f} s · %{customdata:.0f} Hz<br>%{z:.0f} dB<extra></extra>",
    ))
    ticks = [i for i in range(0, n_mels, max(1, n_mels // 6))]
    fig.update_yaxes(tickvals=ticks, ticktext=[f"{freqs[i]:.0f}" for i in ticks], title={"text": "Hz (mel scale)"})
    fig.update_layout(height=height, shapes=_boundary_shapes(boundaries, highlight),
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    _time_axis(fig, len(y) / float(sr) if len(y) else None)
    return fig


# --------------------------------------------------------------------------- tables and downloads


def window_text(pred) -> str:
    """``3 s`` / ``3 s, hop 1.5 s`` / ``members differ``."""
    if pred.window is None:
        return "members differ"
    hop = pred.hop if pred.hop is not None else pred.window
    return f"{pred.window:g} s" if abs(hop - pred.window) < 1e-9 else f"{pred.window:g} s, hop {hop:g} s"


def top3_text(pred) -> str:
    return ", ".join(f"{lab} {p:.0%}" for lab, p in pred.top3)


def agreement_frame(preds: Sequence) -> tuple[pd.DataFrame, str]:
    """The side-by-side table (one row per run) and a one-sentence verdict on agreement.

    ``agrees`` is True where a run's verdict is the majority verdict (the
    verdict of most runs); when the most frequent verdicts tie there is no
    majority and ``agrees`` is None for every run.
    """
    if not preds:
        return pd.DataFrame(columns=["run", "backend", "verdict", "confidence", "top 3", "window", "segments",
                                     "agrees"]), "No prediction."
    verdicts = [p.label for p in preds]
    counts: dict[str, int] = {}
    conf: dict[str, float] = {}
    for p in preds:
        counts[p.label] = counts.get(p.label, 0) + 1
        conf[p.label] = conf.get(p.label, 0.0) + p.confidence
    ranked = sorted(counts, key=lambda lab: (-counts[lab], -conf[lab], lab))
    majority = ranked[0] if len(ranked) == 1 or counts[ranked[0]] > counts[ranked[1]] else None
    df = pd.DataFrame({
        "run": [p.run_id for p in preds],
        "backend": [p.backend for p in preds],
        "verdict": verdicts,
        "confidence": [p.confidence for p in preds],
        "top 3": [top3_text(p) for p in preds],
        "window": [window_text(p) for p in preds],
        "segments": [p.n_segments for p in preds],
        "agrees": [None if majority is None else v == majority for v in verdicts],
    })
    n = len(preds)
    label_sets = {tuple(sorted(p.labels)) for p in preds}
    if n == 1:
        summary = f"One run: **{majority}** ({preds[0].confidence:.0%})."
    elif len(counts) == 1:
        summary = f"All {n} runs agree: **{majority}**."
    else:
        parts = ", ".join(f"{lab} ({counts[lab]})" for lab in ranked)
        verdict = f"Majority: **{majority}**." if majority is not None else "No majority."
        summary = f"The runs disagree: {parts}. {verdict}"
    if len(label_sets) > 1:
        summary += " Note: these runs were trained on different genre sets, so their verdicts are not comparable."
    return df, summary


def segments_frame(preds: Sequence) -> pd.DataFrame:
    """Every run's per-segment probabilities in one long table (``run, backend, segment, start, end, label,
    confidence, <genre>...``; genres a run does not know are empty)."""
    frames = []
    for p in preds:
        df = p.segments_frame()
        df.insert(0, "segment", np.arange(1, len(df) + 1))
        df.insert(0, "backend", p.backend)
        df.insert(0, "run", p.run_id)
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["run", "backend", "segment", "start", "end", "label", "confidence"])
    return pd.concat(frames, ignore_index=True, sort=False)


def segments_csv(preds: Sequence) -> bytes:
    """:func:`segments_frame` as UTF-8 CSV."""
    return segments_frame(preds).to_csv(index=False, float_format="%.6g").encode("utf-8")


def predictions_json(preds: Sequence, *, source: Mapping | None = None) -> bytes:
    """``{"source": {...}, "predictions": [TrackPrediction.to_dict(), ...]}`` as UTF-8 JSON."""
    doc = {"source": dict(source or {}), "predictions": [p.to_dict(segments=True) for p in preds]}
    return dumps(doc).encode("utf-8")


__all__ = [
    "agreement_frame", "genre_colors", "melspectrogram_figure", "predictions_json", "segment_bands_figure",
    "segment_heatmap_figure", "segment_hover_texts", "segment_spans", "segments_csv", "segments_frame",
    "timeline_figure", "top3_text", "waveform_envelope", "waveform_figure", "window_text",
]
