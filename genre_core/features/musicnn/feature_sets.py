"""The musicnn feature sets: ``musicnn``, ``musicnn_pool``, ``musicnn_taggram``, ``musicnn_vgg``, ``musicnn_concat``.

Each set's :meth:`~genre_core.features.FeatureSet.key` carries its name,
``version`` and resolved parameters (plus ``~bfloat16`` while that precision
is in force), so cached features and trained runs only ever meet the numbers
they were made with. Bump a set's ``version`` whenever its numbers could
change (preprocessing, forward pass, weights files).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import numpy as np

from ...errors import AudioError
from .. import FeatureSet, UnknownFeatureSetError, register_feature_set
from .catalog import ALL_MODELS, MODELS, VGG_MODELS, tag_names
from .extract import OUTPUTS, VGG_OUTPUTS, window_outputs_by_model
from .precision import get_precision
from .weights import POOL_DIM, VGG_BLOCKS

__all__ = ["MusicnnConcatFeatures", "MusicnnFeatures", "MusicnnPoolFeatures", "MusicnnTaggramFeatures",
           "MusicnnVggFeatures"]

_VGG_LAYERS = tuple(f"pool{i}" for i in range(1, VGG_BLOCKS + 1))
_POOLINGS = ("mean", "max", "both")


def _slug(tag: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", tag.lower()).strip("_")


def _check_choice(set_name: str, param: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UnknownFeatureSetError(
            f"Feature set '{set_name}' has no {param} {value!r}; choose one of {', '.join(choices)}."
        )


def _vgg_layers(set_name: str, value: Any) -> str:
    """``"pool4+pool5"``-style layer list, checked and normalised (ascending, no repeats)."""
    parts = [p.strip() for p in value.split("+")] if isinstance(value, str) else []
    if not parts or any(p not in _VGG_LAYERS for p in parts) or len(set(parts)) != len(parts):
        raise UnknownFeatureSetError(
            f"Feature set '{set_name}' needs layers as '+'-joined names from {', '.join(_VGG_LAYERS)} "
            f"(e.g. 'pool4+pool5'), got {value!r}."
        )
    return "+".join(sorted(parts))


def _vgg_outputs(layers: str, pooling: str) -> tuple[str, ...]:
    """VGG output names of layers x pooling: per layer, max before mean (as ``musicnn_pool``)."""
    stats = ("max", "mean") if pooling == "both" else (pooling,)
    return tuple(f"{layer}_{stat}" for layer in layers.split("+") for stat in stats)


class _MusicnnBase(FeatureSet):
    """Shared plumbing: the ``weights`` parameter and batched computation."""

    #: Bumped whenever the numbers could change (preprocessing, forward pass, weights files).
    version = "1"
    default_params: ClassVar[dict[str, Any]] = {"weights": "MSD_musicnn"}
    _outputs_needed: ClassVar[tuple[str, ...]] = ()
    _allowed_weights: ClassVar[tuple[str, ...]] = MODELS

    def _validate(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["weights"] not in self._allowed_weights:
            hint = " (a vgg model: use feature set 'musicnn_vgg')" if params["weights"] in VGG_MODELS else ""
            raise UnknownFeatureSetError(
                f"Feature set '{self.name}' has no weights {params['weights']!r}{hint}; "
                f"choose one of {', '.join(self._allowed_weights)}."
            )
        return params

    def _wanted(self) -> dict[str, tuple[str, ...]]:
        """Model -> outputs to compute, in column order."""
        return {self.params["weights"]: self._outputs_needed}

    def key(self) -> str:
        """As :meth:`FeatureSet.key`, plus ``~bfloat16`` while that precision is in force (caches never mix)."""
        base = super().key()
        return base if get_precision() == "float32" else f"{base}~{get_precision()}"

    def _compute(self, y: np.ndarray, sr: int) -> np.ndarray:
        return self.compute_batch(y[None, :], sr)[0]

    def compute_batch(self, windows: np.ndarray, sr: int) -> np.ndarray:
        """Features of equal-length windows ``(n, samples)`` in one batched forward pass.

        Row ``i`` equals ``compute(windows[i], sr)`` (to float32 rounding).
        """
        windows = np.asarray(windows)
        if windows.ndim != 2 or windows.shape[1] == 0:
            raise AudioError("<windows>", "unsupported",
                             f"Feature set '{self.name}' needs a 2-d array (windows, samples), got shape {windows.shape}.")
        windows = np.ascontiguousarray(windows, dtype=np.float32)
        if not np.all(np.isfinite(windows)):
            raise AudioError("<signal>", "corrupt", f"Feature set '{self.name}' got a signal with NaN or infinite samples.")
        wanted = self._wanted()
        out = window_outputs_by_model(windows, int(sr), wanted)
        parts = [out[model][k] for model, outs in wanted.items() for k in outs]
        return np.ascontiguousarray(np.concatenate(parts, axis=-1), dtype=np.float32)


@register_feature_set
class MusicnnFeatures(_MusicnnBase):
    """``musicnn``: the 200-d penultimate layer (batch-normalised dense ReLU), mean over the window's patches.

    Parameters
    ----------
    weights : {"MSD_musicnn", "MTT_musicnn"}
        Which pretrained model (Million Song Dataset or MagnaTagATune tagging).
    """

    name = "musicnn"
    description = "Pretrained musicnn embedding: 200-d penultimate layer (weights MSD_musicnn or MTT_musicnn)."
    _outputs_needed = ("penultimate",)

    def _columns(self) -> list[str]:
        return [f"musicnn_{i}" for i in range(OUTPUTS["penultimate"])]


@register_feature_set
class MusicnnPoolFeatures(_MusicnnBase):
    """``musicnn_pool``: temporal pooling of the 753 front-end + mid-end feature maps.

    Parameters
    ----------
    weights : {"MSD_musicnn", "MTT_musicnn"}
    pooling : {"mean", "max", "both"}
        ``mean_pool`` (753-d), ``max_pool`` (753-d) or both (1506-d, max columns first).
    """

    name = "musicnn_pool"
    description = "Pretrained musicnn: temporal mean/max of the 753 front-end and mid-end maps."
    default_params = {"weights": "MSD_musicnn", "pooling": "mean"}

    def _validate(self, params: dict[str, Any]) -> dict[str, Any]:
        params = super()._validate(params)
        if params["pooling"] not in _POOLINGS:
            raise UnknownFeatureSetError(
                f"Feature set 'musicnn_pool' needs pooling 'mean', 'max' or 'both', got {params['pooling']!r}."
            )
        return params

    def _wanted(self) -> dict[str, tuple[str, ...]]:
        p = self.params["pooling"]
        return {self.params["weights"]: ("max_pool", "mean_pool") if p == "both" else (f"{p}_pool",)}

    def _columns(self) -> list[str]:
        names = self._wanted()[self.params["weights"]]
        return [f"musicnn_{k.replace('_pool', '')}pool_{i}" for k in names for i in range(POOL_DIM)]


@register_feature_set
class MusicnnTaggramFeatures(_MusicnnBase):
    """``musicnn_taggram``: the 50 tag probabilities, mean over the window's patches.

    Columns are ``musicnn_tag_<tag>`` (e.g. ``musicnn_tag_hip_hop`` for MSD).

    Parameters
    ----------
    weights : {"MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg"}
        The vgg models tag the same 50 tags as the musicnn model of their dataset.
    """

    name = "musicnn_taggram"
    description = "Pretrained musicnn: the 50 tag probabilities (MSD or MTT tags; musicnn or vgg models)."
    _outputs_needed = ("taggram",)
    _allowed_weights = ALL_MODELS

    def _columns(self) -> list[str]:
        return [f"musicnn_tag_{_slug(t)}" for t in tag_names(self.params["weights"])]


@register_feature_set
class MusicnnVggFeatures(_MusicnnBase):
    """``musicnn_vgg``: musicnn's vgg models, each chosen pooled map's mean / max over time and frequency.

    Columns are ``vgg_<layer>_<max|mean>_<channel>`` (128 channels per layer
    and statistic; per layer the max columns come first).

    Parameters
    ----------
    weights : {"MSD_vgg", "MTT_vgg"}
    layers : str
        ``'+'``-joined maps from ``pool1`` .. ``pool5`` (normalised to ascending
        order), default ``"pool4+pool5"``.
    pooling : {"mean", "max", "both"}
        Statistic(s) per map, default both.

    Examples
    --------
    >>> from genre_core.features import get_feature_set
    >>> fs = get_feature_set("musicnn_vgg", layers="pool5+pool4")
    >>> fs.key(), len(fs.columns), fs.columns[0]
    ('musicnn_vgg@1{"layers":"pool4+pool5","pooling":"both","weights":"MSD_vgg"}', 512, 'vgg_pool4_max_0')
    """

    name = "musicnn_vgg"
    description = "Pretrained musicnn vgg (MSD_vgg or MTT_vgg): mean/max over time and frequency of its pooled maps."
    default_params = {"weights": "MSD_vgg", "layers": "pool4+pool5", "pooling": "both"}
    _allowed_weights = VGG_MODELS

    def _validate(self, params: dict[str, Any]) -> dict[str, Any]:
        params = super()._validate(params)
        _check_choice(self.name, "pooling", params["pooling"], _POOLINGS)
        return {**params, "layers": _vgg_layers(self.name, params["layers"])}

    def _wanted(self) -> dict[str, tuple[str, ...]]:
        return {self.params["weights"]: _vgg_outputs(self.params["layers"], self.params["pooling"])}

    def _columns(self) -> list[str]:
        names = self._wanted()[self.params["weights"]]
        return [f"vgg_{k}_{i}" for k in names for i in range(VGG_OUTPUTS[k])]


@register_feature_set
class MusicnnConcatFeatures(_MusicnnBase):
    """``musicnn_concat``: the ``musicnn`` embedding and the ``musicnn_vgg`` one side by side.

    Both networks see the same log-mel patches (computed once). Columns are
    those of ``musicnn`` (``musicnn_0`` ..) followed by those of
    ``musicnn_vgg`` (``vgg_<layer>_<stat>_<channel>``); row for row equal to
    concatenating the two sets' own outputs.

    Parameters
    ----------
    weights : {"MSD_musicnn", "MTT_musicnn"}
        The musicnn model (its 200-d penultimate layer).
    vgg_weights : {"MSD_vgg", "MTT_vgg"}
    vgg_layers : str
        As ``musicnn_vgg``'s ``layers``.
    vgg_pooling : {"mean", "max", "both"}
        As ``musicnn_vgg``'s ``pooling``.

    Examples
    --------
    >>> from genre_core.features import get_feature_set
    >>> fs = get_feature_set("musicnn_concat")
    >>> len(fs.columns), fs.columns[199], fs.columns[200]
    (712, 'musicnn_199', 'vgg_pool4_max_0')
    """

    name = "musicnn_concat"
    description = "musicnn penultimate (200-d) + musicnn vgg pooled maps, e.g. MSD_musicnn + MSD_vgg."
    default_params = {"weights": "MSD_musicnn", "vgg_weights": "MSD_vgg", "vgg_layers": "pool4+pool5",
                      "vgg_pooling": "both"}

    def _validate(self, params: dict[str, Any]) -> dict[str, Any]:
        params = super()._validate(params)
        _check_choice(self.name, "vgg_weights", params["vgg_weights"], VGG_MODELS)
        _check_choice(self.name, "vgg_pooling", params["vgg_pooling"], _POOLINGS)
        return {**params, "vgg_layers": _vgg_layers(self.name, params["vgg_layers"])}

    def _wanted(self) -> dict[str, tuple[str, ...]]:
        vgg = _vgg_outputs(self.params["vgg_layers"], self.params["vgg_pooling"])
        return {self.params["weights"]: ("penultimate",), self.params["vgg_weights"]: vgg}

    def _columns(self) -> list[str]:
        vgg = self._wanted()[self.params["vgg_weights"]]
        return ([f"musicnn_{i}" for i in range(OUTPUTS["penultimate"])]
                + [f"vgg_{k}_{i}" for k in vgg for i in range(VGG_OUTPUTS[k])])
