"""What every chart module shares: the figure that says why there is no chart."""

from __future__ import annotations

import plotly.graph_objects as go


def empty_figure(message: str, *, height: int = 220, top: int = 10, layout: dict | None = None) -> go.Figure:
    """A blank figure holding one centred ``message`` (no axes); ``layout`` is applied first."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": "#666"})
    if layout:
        fig.update_layout(**layout)
    fig.update_layout(height=height, xaxis={"visible": False}, yaxis={"visible": False},
                      margin={"l": 10, "r": 10, "t": top, "b": 10})
    return fig


__all__ = ["empty_figure"]
