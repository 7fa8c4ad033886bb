"""The converted checkpoints: their exact tensor layout, and verified loading.

The trained TF1 checkpoints of ``musicnn==0.1.0`` were converted once to
``genre_core/weights/musicnn/<model>.npz`` (float32, original TF names and
layouts; ``scripts/convert_musicnn_weights.py``). Every tensor is mapped
explicitly to one layer of a forward pass (the ``*_LAYOUT`` tables, in TF1's
creation order); a file with a missing, extra, misshapen or non-finite tensor,
or whose SHA-256 differs from ``manifest.json``, raises
:class:`MusicnnWeightsError` naming what is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...errors import GenreLabError
from ...store import file_sha256
from .catalog import N_MELS, _check_model, architecture

__all__ = ["MusicnnWeightsError", "expected_tensors", "load_weights", "weights_dir"]


class MusicnnWeightsError(GenreLabError):
    """The shipped musicnn weights are missing, incomplete or altered."""


def weights_dir() -> Path:
    """Folder holding the converted weights, their manifest, licence and README."""
    return Path(__file__).resolve().parent.parent.parent / "weights" / "musicnn"


# ----------------------------------------------------------------------------------------------
# Checkpoint layouts: (TF name prefix, our layer name, kind, shape arguments), in TF1 creation order.
# musicnn.models.build_musicnn(num_filt_frontend=1.6, num_filt_midend=64, num_units_backend=200)
FRONT = int(1.6 * 128)  # 204 filters per timbral branch
TEMPO = int(1.6 * 32)  # 51 filters per temporal branch
MID = 64
DENSE = 200
N_TAGS = 50
FRONT_DIM = 2 * FRONT + 3 * TEMPO  # 561
POOL_DIM = FRONT_DIM + 3 * MID  # 753
MUSICNN_LAYOUT: tuple[tuple[str, str, str, tuple], ...] = (
    ("batch_normalization", "input_bn", "bn", (1,)),
    ("conv2d", "timbral_74", "conv", (7, int(0.4 * N_MELS), 1, FRONT)),
    ("batch_normalization_1", "timbral_74_bn", "bn", (FRONT,)),
    ("conv2d_1", "timbral_77", "conv", (7, int(0.7 * N_MELS), 1, FRONT)),
    ("batch_normalization_2", "timbral_77_bn", "bn", (FRONT,)),
    ("conv2d_2", "temporal_128", "conv", (128, 1, 1, TEMPO)),
    ("batch_normalization_3", "temporal_128_bn", "bn", (TEMPO,)),
    ("conv2d_3", "temporal_64", "conv", (64, 1, 1, TEMPO)),
    ("batch_normalization_4", "temporal_64_bn", "bn", (TEMPO,)),
    ("conv2d_4", "temporal_32", "conv", (32, 1, 1, TEMPO)),
    ("batch_normalization_5", "temporal_32_bn", "bn", (TEMPO,)),
    ("conv2d_5", "midend_1", "conv", (7, FRONT_DIM, 1, MID)),
    ("batch_normalization_6", "midend_1_bn", "bn", (MID,)),
    ("conv2d_6", "midend_2", "conv", (7, MID, 1, MID)),
    ("batch_normalization_7", "midend_2_bn", "bn", (MID,)),
    ("conv2d_7", "midend_3", "conv", (7, MID, 1, MID)),
    ("batch_normalization_8", "midend_3_bn", "bn", (MID,)),
    ("batch_normalization_9", "pool_bn", "bn", (2 * POOL_DIM,)),
    ("dense", "dense", "dense", (2 * POOL_DIM, DENSE)),
    ("batch_normalization_10", "dense_bn", "bn", (DENSE,)),
    ("dense_1", "logits", "dense", (DENSE, N_TAGS)),
)
# musicnn.models.vgg(num_filters=128): the convolutions are named 1CNN..5CNN; pool5 is (2 frames, 1 band, 128).
VGG_FILTERS = 128
VGG_BLOCKS = 5
VGG_FLAT = 2 * 1 * VGG_FILTERS  # 256
VGG_LAYOUT: tuple[tuple[str, str, str, tuple], ...] = (
    ("batch_normalization", "input_bn", "bn", (1,)),
    *(
        entry
        for i in range(1, VGG_BLOCKS + 1)
        for entry in (
            (f"{i}CNN", f"conv{i}", "conv", (3, 3, 1 if i == 1 else VGG_FILTERS, VGG_FILTERS)),
            (f"batch_normalization_{i}", f"conv{i}_bn", "bn", (VGG_FILTERS,)),
        )
    ),
    ("dense", "logits", "dense", (VGG_FLAT, N_TAGS)),
)
_LAYOUTS = {"musicnn": MUSICNN_LAYOUT, "vgg": VGG_LAYOUT}


def layout(model: str) -> tuple[tuple[str, str, str, tuple], ...]:
    """The ``(TF prefix, layer, kind, shape)`` table of a model's architecture."""
    return _LAYOUTS[architecture(model)]


def expected_tensors(model: str = "MSD_musicnn") -> dict[str, tuple[int, ...]]:
    """Every checkpoint tensor the forward pass uses, with its shape.

    Both musicnn models share one architecture (``num_filt_midend=64``,
    ``num_units_backend=200``: 64 tensors), both vgg models the other
    (``num_filters=128``: 36 tensors).

    Examples
    --------
    >>> shapes = expected_tensors("MSD_musicnn")
    >>> len(shapes), shapes["conv2d/kernel"]
    (64, (7, 38, 1, 204))
    >>> shapes = expected_tensors("MSD_vgg")
    >>> len(shapes), shapes["2CNN/kernel"], shapes["dense/kernel"]
    (36, (3, 3, 128, 128), (256, 50))
    """
    out: dict[str, tuple[int, ...]] = {}
    for prefix, _, kind, shape in layout(model):
        if kind == "bn":
            for leaf in ("gamma", "beta", "moving_mean", "moving_variance"):
                out[f"{prefix}/{leaf}"] = shape
        else:
            out[f"{prefix}/kernel"] = shape
            out[f"{prefix}/bias"] = (shape[-1],)
    return out


def _shipped_dir() -> Path:
    """:func:`weights_dir`, looked up on :mod:`genre_core.features.musicnn` at call time.

    So replacing ``genre_core.features.musicnn.weights_dir`` (as the tests do to
    work on a copy) redirects every shipped-weights load.
    """
    from genre_core.features import musicnn as package

    return package.weights_dir()


def _check_checksum(model: str, file: Path, folder: Path) -> None:
    manifest = folder / "manifest.json"
    try:
        expected_sha = json.loads(manifest.read_text())["models"][model]["sha256"]
    except (OSError, ValueError, KeyError) as exc:
        raise MusicnnWeightsError(f"{manifest}: cannot read the checksum of {model} ({exc}).") from exc
    if file_sha256(file) != expected_sha:
        raise MusicnnWeightsError(
            f"{file}: checksum differs from {manifest.name}; the weights were altered or truncated. "
            "Restore them from the repository."
        )


def _read_npz(file: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(file, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except Exception as exc:  # zip/format errors of every kind
        raise MusicnnWeightsError(f"{file}: not a readable musicnn weights file ({exc}).") from exc


def _check_contents(model: str, file: Path, arrays: dict[str, np.ndarray]) -> None:
    expected = expected_tensors(model)
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s): {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected tensor(s) the forward pass would not use: {', '.join(unexpected)}")
        raise MusicnnWeightsError(f"{file}: incomplete musicnn weights for {model}; " + "; ".join(parts) + ".")
    bad = [
        f"{n} {arrays[n].dtype}{tuple(arrays[n].shape)} (expected float32{shape})"
        for n, shape in expected.items()
        if arrays[n].dtype != np.float32 or tuple(arrays[n].shape) != shape
    ]
    bad += [f"{n} has non-finite values" for n in expected
            if arrays[n].dtype.kind == "f" and not np.isfinite(arrays[n]).all()]
    if bad:
        raise MusicnnWeightsError(f"{file}: corrupt musicnn weights for {model}: {'; '.join(bad)}.")


def load_weights(model: str = "MSD_musicnn", *, path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Load and verify one model's converted checkpoint tensors.

    Parameters
    ----------
    model : str
        ``"MSD_musicnn"``, ``"MTT_musicnn"``, ``"MSD_vgg"`` or ``"MTT_vgg"``.
    path : str or Path, optional
        A ``.npz`` to read instead of the shipped one (its checksum is then not
        checked against ``manifest.json``, only its contents).

    Returns
    -------
    dict
        Checkpoint name -> float32 array, exactly :func:`expected_tensors`.

    Raises
    ------
    MusicnnWeightsError
        When the file is absent or unreadable, its checksum differs from the
        manifest, or a tensor is missing, unexpected, misshapen or not finite.

    Examples
    --------
    >>> w = load_weights("MTT_musicnn")
    >>> w["dense_1/kernel"].shape
    (200, 50)
    """
    _check_model(model)
    folder = _shipped_dir() if path is None else None
    file = folder / f"{model}.npz" if folder is not None else Path(path)
    if not file.is_file():
        raise MusicnnWeightsError(
            f"{file}: the musicnn weights file is missing; restore it from the repository "
            "(git checkout) or rebuild it with scripts/convert_musicnn_weights.py."
        )
    if folder is not None:
        _check_checksum(model, file, folder)
    arrays = _read_npz(file)
    _check_contents(model, file, arrays)
    return arrays
