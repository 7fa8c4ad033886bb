"""Figures for the Explore page (pure functions returning plotly figures; no Streamlit).

Genres keep the same colour in every chart (:func:`pages.components.predict_charts.genre_colors`).

Example
-------
>>> import pandas as pd
>>> fig = genre_bar_figure(pd.Series({"blues": 3, "rock": 5}))
>>> fig.data[0].type
'bar'
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from pages.components.figures import empty_figure
from pages.components.predict_charts import genre_colors

_PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _empty(message: str, height: int = 220) -> go.Figure:
    return empty_figure(message, height=height)


def genre_bar_figure(counts: pd.Series | Mapping[str, int], *, height: int = 300) -> go.Figure:
    """Tracks per genre."""
    s = pd.Series(counts, dtype=float)
    if s.empty:
        return _empty("No tracks.")
    colors = genre_colors(s.index)
    fig = go.Figure(go.Bar(x=[str(i) for i in s.index], y=s.values, marker={"color": [colors[str(i)] for i in s.index]},
                           text=[f"{int(v)}" for v in s.values], textposition="outside",
                           hovertemplate="%{x}: %{y} tracks<extra></extra>"))
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 20, "b": 10}, yaxis={"title": "tracks"},
                      xaxis={"type": "category"})
    return fig


def durations_figure(durations: pd.DataFrame, *, height: int = 300) -> go.Figure:
    """Histogram of track durations (seconds), stacked by genre."""
    if durations is None or durations.empty:
        return _empty("No durations known for these tracks.")
    colors = genre_colors(durations["genre"].unique())
    lo, hi = float(durations["duration"].min()), float(durations["duration"].max())
    size = max((hi - lo) / 40.0, 0.05)
    fig = go.Figure()
    for g, part in durations.groupby("genre"):
        fig.add_trace(go.Histogram(x=part["duration"], name=str(g), marker={"color": colors[str(g)]},
                                   xbins={"start": lo - size / 2, "end": hi + size, "size": size},
                                   hovertemplate=f"{g}: %{{y}} tracks at %{{x:.2f}} s<extra></extra>"))
    fig.update_layout(barmode="stack", height=height, margin={"l": 10, "r": 10, "t": 20, "b": 10},
                      xaxis={"title": "duration (s)"}, yaxis={"title": "tracks"}, legend={"orientation": "h", "y": -0.3})
    return fig


def feature_distribution_figure(features: pd.DataFrame, column: str, *, kind: str = "box",
                                height: int = 380) -> go.Figure:
    """Distribution of one feature per genre (``kind`` ``"box"`` or ``"violin"``), track names on hover."""
    if features is None or features.empty or column not in features:
        return _empty("No features.")
    colors = genre_colors(features["label"].unique())
    fig = go.Figure()
    for g in sorted(features["label"].unique()):
        part = features[features["label"] == g]
        common = {"y": part[column], "name": str(g), "marker": {"color": colors[str(g)]}, "text": part["track_id"],
                  "hovertemplate": "%{text}<br>" + column + " = %{y:.4g}<extra></extra>"}
        if kind == "violin":
            fig.add_trace(go.Violin(**common, box_visible=True, meanline_visible=True, points="outliers",
                                    line={"color": colors[str(g)]}))
        else:
            fig.add_trace(go.Box(**common, boxpoints="outliers"))
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 20, "b": 10}, showlegend=False,
                      yaxis={"title": column}, xaxis={"type": "category"})
    return fig


def projection_figure(points: pd.DataFrame, info: Mapping, *, height: int = 520) -> go.Figure:
    """Tracks in 2-D coloured by genre; hover shows the track id."""
    if points is None or points.empty:
        return _empty("No projection.")
    colors = genre_colors(points["label"].unique())
    fig = go.Figure()
    for g in sorted(points["label"].unique()):
        part = points[points["label"] == g]
        fig.add_trace(go.Scattergl(x=part["x"], y=part["y"], mode="markers", name=str(g), text=part["track_id"],
                                   marker={"color": colors[str(g)], "size": 7, "opacity": 0.8,
                                           "line": {"width": 0.5, "color": "white"}},
                                   hovertemplate="%{text}<extra>" + str(g) + "</extra>"))
    if info.get("method") == "pca" and info.get("explained"):
        ev = info["explained"]
        xt, yt = f"PC1 ({ev[0]:.0%} of variance)", f"PC2 ({ev[1]:.0%} of variance)"
    else:
        xt, yt = "t-SNE 1", "t-SNE 2"
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 20, "b": 10}, xaxis={"title": xt, "zeroline": False},
                      yaxis={"title": yt, "zeroline": False}, legend={"itemsizing": "constant"})
    return fig


def chroma_figure(C: np.ndarray, times: Sequence[float], *, height: int = 240) -> go.Figure:
    """Chromagram: 12 pitch classes over time."""
    C = np.asarray(C)
    if C.size == 0:
        return _empty("No chroma.")
    fig = go.Figure(go.Heatmap(z=C, x=np.asarray(times), y=list(_PITCH_CLASSES), colorscale="Viridis", zmin=0, zmax=1,
                               colorbar={"title": "energy", "thickness": 12},
                               hovertemplate="%{x:.1f} s · %{y}: %{z:.2f}<extra></extra>"))
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      xaxis={"title": "time in the track (s)"},
                      yaxis={"title": "pitch class", "type": "category", "dtick": 1})
    return fig
