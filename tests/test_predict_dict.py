"""TrackPrediction serialisation, including a voting run's prediction (no segments of its own)."""

import json

import numpy as np

from genre_core.predict import TrackPrediction


def _pred(n_segments: int) -> TrackPrediction:
    labels = ["jazz", "rock"]
    seg = np.tile([[0.25, 0.75]], (n_segments, 1))
    return TrackPrediction("shipped/x", "voting" if n_segments == 0 else "mlp", labels,
                           np.arange(n_segments, dtype=float) * 3, np.arange(1, n_segments + 1, dtype=float) * 3,
                           seg, np.array([0.25, 0.75]))


def test_to_dict_without_segments_is_json():
    d = _pred(0).to_dict()
    assert d["segments"] == [] and d["label"] == "rock"
    json.dumps(d)


def test_to_dict_with_segments_has_probabilities_per_label():
    d = _pred(2).to_dict()
    assert d["segments"][1] == {"start": 3.0, "end": 6.0, "probabilities": {"jazz": 0.25, "rock": 0.75}}
