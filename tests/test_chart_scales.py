"""Colour scales: quiet is dark in every spectrogram, and heatmaps keep their own scale (issue 13)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]


def _luminance(colour: str) -> float:
    if colour.startswith("#"):
        r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    else:
        r, g, b = (float(v) for v in re.findall(r"[\d.]+", colour)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255.0


def test_mel_spectrogram_quiet_is_dark():
    from pages.components.predict_charts import melspectrogram_figure

    sr = 22050
    t = np.arange(sr * 4) / sr
    y = np.where(t < 2, 0.3 * np.sin(2 * np.pi * 440 * t), 1e-3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    heat = melspectrogram_figure(y, sr).data[0]
    scale = heat.colorscale
    assert _luminance(scale[0][1]) < 0.1 < 0.8 < _luminance(scale[-1][1])  # low dB -> dark, loud -> light
    # Streamlit's chart code replaces #0000XX colours (its palette placeholders): Magma's #000004 was drawn
    # light purple in the browser, so the quiet end looked loud
    assert not any(str(c).lower().startswith("#0000") for _, c in scale)
    z = np.asarray(heat.z)
    assert heat.zmin < heat.zmax and z.min() <= heat.zmin + 1e-6  # the quietest bins sit at the dark end


def test_every_heatmap_is_drawn_without_streamlit_theme():
    """Streamlit's chart theme swaps a heatmap's scale (quiet showed light pink): heatmaps use theme=None."""
    heat_makers = ("melspectrogram_figure", "chroma_figure", "confusion_figure", "difference_figure",
                   "per_class_heatmap", "timeline_figure")
    for page in [REPO_ROOT / "Home.py", *sorted((REPO_ROOT / "pages").glob("*.py"))]:
        text = page.read_text()
        for call in re.finditer(r"st\.plotly_chart\((.*?)\)\s*$", text, flags=re.S | re.M):
            body = call.group(1)
            if any(m in body for m in heat_makers):
                assert "theme=None" in body, f"{page.name}: {body[:80]}"


def test_timeline_keeps_genre_colours_and_shows_confidence_as_thickness():
    """A pale colour read as another genre: confidence is the bar's thickness, the colour stays (issue 13)."""
    from genre_core.predict import TrackPrediction
    from pages.components.predict_charts import timeline_figure

    labels = ["jazz", "rock"]
    seg = np.array([[0.9, 0.1], [0.55, 0.45], [0.2, 0.8]])
    pred = TrackPrediction("user/a", "mlp", labels, np.array([0.0, 3.0, 6.0]), np.array([3.0, 6.0, 9.0]), seg,
                           seg.mean(axis=0))
    fig = timeline_figure([pred, pred], duration=9.0, colors={"jazz": "#1f77b4", "rock": "#d62728"})
    jazz = next(t for t in fig.data if t.name == "jazz")
    assert jazz.marker.opacity is None and jazz.marker.color == "#1f77b4"
    assert list(np.round(jazz.width, 3)) == [round(0.15 + 0.7 * 0.9, 3), round(0.15 + 0.7 * 0.55, 3)]
    assert fig.layout.legend.y < 0  # under the plot, clear of plotly's toolbar
