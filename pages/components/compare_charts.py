"""Figures for the Compare and Train pages (pure functions returning plotly figures; no Streamlit).

* :func:`confusion_figure` -- a confusion matrix (counts or row-normalised) whose cells can be
  **clicked**: plotly heatmaps emit no selection events in Streamlit, so every cell also
  carries an invisible square scatter marker (trace 1) that does; the click returns the
  cell's ``x`` (predicted) and ``y`` (true) labels. :func:`cell_from_selection` reads it.
* :func:`difference_figure` -- ``B - A`` of two runs' matrices on a diverging scale.
* :func:`per_class_heatmap` -- runs x genres of precision / recall / F1.
* :func:`history_figure` -- loss and accuracy per epoch, train (dashed) and valid (solid),
  for one run (live, on the Train page) or several overlaid (Compare).
* :func:`segment_probabilities_figure` -- one test track's per-segment probabilities.

Example
-------
>>> import numpy as np
>>> fig = confusion_figure(["a", "b"], np.array([[3, 1], [0, 4]]), normalised=True)
>>> [t.type for t in fig.data]
['heatmap', 'scatter']
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pages.components.figures import empty_figure
from pages.components.predict_charts import genre_colors

_RUN_PALETTE = ("#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1", "#FF9DA7",
                "#9C755F", "#BAB0AC")


def run_colors(run_ids: Sequence[str]) -> dict[str, str]:
    """A colour per run, in the order given."""
    return {rid: _RUN_PALETTE[i % len(_RUN_PALETTE)] for i, rid in enumerate(run_ids)}


def _empty(message: str, height: int = 220) -> go.Figure:
    return empty_figure(message, height=height, top=30)


def _matrix_size(n: int) -> int:
    return int(min(760, max(320, 110 + 46 * n)))


def confusion_figure(labels: Sequence[str], counts: np.ndarray, *, normalised: bool = False,
                     title: str | None = None, selected: tuple[str, str] | None = None) -> go.Figure:
    """Clickable confusion matrix: rows = true genre (top to bottom), columns = predicted.

    Parameters
    ----------
    labels : sequence of str
    counts : ndarray (n, n) of int
        Items with true genre ``i`` predicted as ``j``.
    normalised : bool
        Colour and label by the row share (recall per true genre) instead of counts.
    selected : (true, predicted), optional
        A cell to outline.
    """
    labels = [str(x) for x in labels]
    counts = np.asarray(counts, dtype=np.int64)
    n = len(labels)
    if n == 0:
        return _empty("No confusion matrix for this run.")
    sums = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, sums, out=np.zeros(counts.shape, dtype=float), where=sums > 0)
    z = share if normalised else counts.astype(float)
    text = [[(f"{share[i, j]:.0%}" if normalised else str(counts[i, j])) if counts[i, j] else ""
             for j in range(n)] for i in range(n)]
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        z=z.tolist(), x=labels, y=labels, text=text, texttemplate="%{text}", textfont={"size": 12 if n <= 12 else 9},
        colorscale="Blues", zmin=0, zmax=1 if normalised else max(1, int(counts.max())),
        colorbar={"title": "row share" if normalised else "count", "thickness": 12,
                  "tickformat": ".0%" if normalised else "d"},
        hoverinfo="skip", xgap=1, ygap=1,
    ))
    # click targets: one invisible square marker per cell (heatmaps emit no selection events)
    xs, ys, custom = [], [], []
    for i, t in enumerate(labels):
        for j, p in enumerate(labels):
            xs.append(p)
            ys.append(t)
            custom.append([int(counts[i, j]), float(share[i, j]), int(sums[i, 0])])
    size = max(14, int(0.8 * (_matrix_size(n) - 140) / max(n, 1)))
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="markers", customdata=custom, name="cells", showlegend=False,
        marker={"symbol": "square", "size": size, "color": "rgba(0,0,0,0)", "opacity": 0.01},
        selected={"marker": {"opacity": 0.01}}, unselected={"marker": {"opacity": 0.01}},
        hovertemplate=("true <b>%{y}</b> → predicted <b>%{x}</b><br>%{customdata[0]} of %{customdata[2]} "
                       "(%{customdata[1]:.1%})<br><i>click to list them</i><extra></extra>"),
    ))
    if selected and selected[0] in labels and selected[1] in labels:
        fig.add_shape(type="rect", xref="x", yref="y",
                      x0=labels.index(selected[1]) - 0.5, x1=labels.index(selected[1]) + 0.5,
                      y0=labels.index(selected[0]) - 0.5, y1=labels.index(selected[0]) + 0.5,
                      line={"color": "#E15759", "width": 3})
    size_px = _matrix_size(n)
    fig.update_layout(
        title=title, height=size_px, margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        xaxis={"title": "predicted", "side": "bottom", "type": "category", "tickangle": -40,
               "categoryorder": "array", "categoryarray": labels},
        yaxis={"title": "true", "type": "category", "autorange": "reversed",
               "categoryorder": "array", "categoryarray": labels},
        hovermode="closest", hoverdistance=-1, clickmode="event+select", dragmode=False,
        plot_bgcolor="white",
    )
    return fig


def cell_from_selection(event: Any) -> tuple[str, str] | None:
    """``(true, predicted)`` of the clicked cell in a ``st.plotly_chart(..., on_select="rerun")`` result."""
    try:
        points = event["selection"]["points"] if isinstance(event, Mapping) else event.selection["points"]
    except (AttributeError, KeyError, TypeError):
        return None
    for pt in points or []:
        x, y = pt.get("x"), pt.get("y")
        if x is not None and y is not None:
            return str(y), str(x)
    return None


def difference_figure(labels: Sequence[str], diff: np.ndarray, *, normalised: bool = True,
                      name_a: str = "A", name_b: str = "B") -> go.Figure:
    """``B - A`` on a red-blue scale centred on zero (blue: B has more)."""
    labels = [str(x) for x in labels]
    diff = np.asarray(diff, dtype=float)
    n = len(labels)
    if n == 0:
        return _empty("Nothing to compare.")
    lim = float(np.abs(diff).max()) or 1.0
    text = [[(f"{diff[i, j]:+.0%}" if normalised else f"{diff[i, j]:+.0f}") if abs(diff[i, j]) > 1e-12 else ""
             for j in range(n)] for i in range(n)]
    fig = go.Figure(go.Heatmap(
        z=diff.tolist(), x=labels, y=labels, text=text, texttemplate="%{text}", colorscale="RdBu", zmid=0,
        zmin=-lim, zmax=lim, xgap=1, ygap=1,
        colorbar={"title": "B − A", "thickness": 12, "tickformat": "+.0%" if normalised else "+d"},
        hovertemplate=("true <b>%{y}</b> → predicted <b>%{x}</b><br>B − A = %{z:"
                       + ("+.1%" if normalised else "+.0f") + "}<extra></extra>"),
    ))
    fig.update_layout(
        title=f"B − A: {name_b} minus {name_a}", height=_matrix_size(n),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis={"title": "predicted", "type": "category", "tickangle": -40},
        yaxis={"title": "true", "type": "category", "autorange": "reversed"}, plot_bgcolor="white",
    )
    return fig


def per_class_heatmap(frame: pd.DataFrame, metric: str = "f1") -> go.Figure:
    """Runs (rows) x genres (columns) of a per-class metric in [0, 1]."""
    if frame is None or frame.empty:
        return _empty("No per-class figures.")
    z = frame.to_numpy(dtype=float)
    text = [["" if not np.isfinite(v) else f"{v:.2f}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(c) for c in frame.columns], y=[str(i) for i in frame.index], text=text,
        texttemplate="%{text}", colorscale="Viridis", zmin=0, zmax=1, xgap=1, ygap=1,
        colorbar={"title": metric, "thickness": 12},
        hovertemplate="%{y}<br>%{x}: " + metric + " %{z:.3f}<extra></extra>",
    ))
    fig.update_layout(height=max(180, 90 + 34 * len(frame)), margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      xaxis={"type": "category", "tickangle": -40}, yaxis={"type": "category", "autorange": "reversed"})
    return fig


def history_figure(history: pd.DataFrame | Sequence[Mapping[str, Any]], *, run_col: str | None = "run",
                   height: int = 330, title: str | None = None, x_label: str = "epoch") -> go.Figure:
    """Loss (left) and accuracy (right) per epoch; train dashed, valid solid; one colour per run.

    ``history`` is either a long table (:func:`genre_core.comparison.history_frame`:
    ``run, epoch, metric, side, value``) or a list of epoch dicts
    (``epoch, loss, accuracy, val_loss, val_accuracy``) of one run.
    """
    if not isinstance(history, pd.DataFrame):
        rows = []
        for h in history or []:
            if h.get("epoch") is None or h.get("refit_fold"):  # a fold's refit has no validation curve
                continue
            for metric in ("loss", "accuracy"):
                for side, key in (("train", metric), ("valid", f"val_{metric}")):
                    v = h.get(key)
                    if v is not None:
                        rows.append({"run": "this run", "epoch": h["epoch"], "fold": h.get("fold"),
                                     "member": h.get("member"), "metric": metric, "side": side, "value": v})
        history = pd.DataFrame(rows, columns=["run", "epoch", "fold", "member", "metric", "side", "value"])
    if history.empty:
        return _empty(f"No per-{x_label} history yet: the first point appears when the first {x_label} ends.",
                      height=height)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"), horizontal_spacing=0.09)
    runs = list(dict.fromkeys(history[run_col])) if run_col else ["this run"]
    colors = run_colors(runs)
    for rid in runs:
        part = history[history[run_col] == rid] if run_col else history
        parts = [(None, part)]
        for key in ("fold", "member"):
            if key in part.columns and part[key].notna().any():
                parts = [(f"{key} {int(v)}", g) for v, g in part.groupby(key)]
                break
        for sub, g in parts:
            for col, metric in ((1, "loss"), (2, "accuracy")):
                for side in ("train", "valid"):
                    s = g[(g["metric"] == metric) & (g["side"] == side)].sort_values("epoch")
                    if s.empty:
                        continue
                    name = f"{rid} · {side}" + (f" · {sub}" if sub else "")
                    fig.add_trace(go.Scatter(
                        x=s["epoch"], y=s["value"], mode="lines+markers" if len(s) < 40 else "lines",
                        name=name, legendgroup=f"{rid}-{side}", showlegend=(col == 1 and (sub is None or
                                                                                        sub.endswith(" 1"))),
                        line={"color": colors[rid], "dash": "dash" if side == "train" else "solid", "width": 2},
                        marker={"size": 4},
                        hovertemplate=f"{name}<br>{x_label} %{{x}}: {metric} %{{y:.4f}}<extra></extra>",
                    ), row=1, col=col)
    fig.update_xaxes(title_text=x_label, tickformat="d", rangemode="tozero")
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=2)
    fig.update_layout(height=height, title=title, margin={"l": 10, "r": 10, "t": 50 if title else 30, "b": 10},
                      legend={"orientation": "h", "y": -0.25})
    return fig


def segment_probabilities_figure(segments: pd.DataFrame, labels: Sequence[str], *,
                                 true: str | None = None, height: int = 260) -> go.Figure:
    """Stacked per-segment probabilities of one test track (x = segment start in seconds)."""
    cols = [f"p_{lab}" for lab in labels if f"p_{lab}" in segments.columns]
    if segments is None or segments.empty or not cols:
        return _empty("No per-segment predictions for this track.", height=height)
    colors = genre_colors(labels)
    starts = segments["start"].to_numpy(dtype=float) if "start" in segments else np.arange(len(segments), dtype=float)
    ends = segments["end"].to_numpy(dtype=float) if "end" in segments else starts + 1
    width = np.maximum(ends - starts, 1e-3)
    if len(starts) > 1:  # overlapping windows: draw each up to the next start
        width[:-1] = np.minimum(width[:-1], np.maximum(np.diff(starts), 1e-3))
    fig = go.Figure()
    for lab in labels:
        c = f"p_{lab}"
        if c not in segments:
            continue
        v = segments[c].to_numpy(dtype=float)
        fig.add_trace(go.Bar(
            x=starts + width / 2, y=v, width=width, name=lab + (" (true)" if lab == true else ""),
            marker={"color": colors[lab], "line": {"width": 2 if lab == true else 0, "color": "black"}},
            hovertemplate=f"{lab}: %{{y:.1%}}<br>segment at %{{x:.1f}} s<extra></extra>",
        ))
    fig.update_layout(barmode="stack", height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      xaxis={"title": "seconds"}, yaxis={"title": "probability", "range": [0, 1], "tickformat": ".0%"},
                      legend={"orientation": "h", "y": -0.3}, bargap=0)
    return fig


