"""Pretrained musicnn embeddings as feature sets (``musicnn``, ``musicnn_pool``, ``musicnn_taggram``,
``musicnn_vgg``, ``musicnn_concat``).

musicnn (Pons & Serra, "musicnn: pre-trained convolutional neural networks for
music audio tagging", ISMIR 2019 LBD) ships CNNs trained to tag music on the
Million Song Dataset (``MSD_*``, 50 last.fm tags) or MagnaTagATune (``MTT_*``,
50 tags), in two architectures: ``musicnn`` (musically motivated filters) and
``vgg`` (five 3x3 conv blocks). Their intermediate activations are strong
generic music descriptors: a linear classifier on them beats models trained
from scratch on small datasets such as GTZAN.

genre-lab does **not** run the ``musicnn`` package. Its trained TF1 checkpoints
were converted once to ``genre_core/weights/musicnn/<model>.npz`` (float32, see
``README.md`` there and ``scripts/convert_musicnn_weights.py``) and the forward
passes re-implement ``musicnn.models.build_musicnn`` and ``musicnn.models.vgg``
in PyTorch, in inference mode (batch norm with the trained moving statistics,
no dropout). Equivalence with the reference extractor
(``scripts/musicnn_reference.py``) is checked on real GTZAN clips and, in the
tests, on stored fixtures.

Modules, one concept each:

:mod:`.catalog`
    model names, architectures, tags, signal constants;
:mod:`.weights`
    the checkpoint layouts and verified loading (:func:`load_weights`);
:mod:`.nets`, :mod:`.net_musicnn`, :mod:`.net_vgg`
    the PyTorch networks (:func:`musicnn_net`, one cached net per model;
    musicnn's back-end is one function, also trainable from the checkpoint:
    :func:`.net_musicnn.pretrained_back_end`, what ``cnn_musicnn`` fine-tunes);
:mod:`.frontend`
    16 kHz log-mel and patches (:func:`musicnn_log_melspectrogram`);
:mod:`.precision`
    float32 / opt-in bfloat16;
:mod:`.extract`
    running the nets on clips and windows (:func:`musicnn_window_outputs`);
:mod:`.feature_sets`
    the registered feature sets.

Examples
--------
>>> import numpy as np
>>> from genre_core.features import get_feature_set
>>> fs = get_feature_set("musicnn", weights="MSD_musicnn")
>>> y = np.random.default_rng(0).standard_normal(3 * 22050).astype(np.float32) * 0.1
>>> fs.compute(y, 22050).shape
(200,)
"""

from __future__ import annotations

from .catalog import (
    ALL_MODELS,
    BN_EPSILON,
    HOP_LENGTH,
    MODELS,
    MSD_LABELS,
    MTT_LABELS,
    MUSICNN_SR,
    N_FFT,
    N_MELS,
    PATCH_FRAMES,
    VGG_MODELS,
    _check_model,
    architecture,
    tag_names,
)
from .extract import (
    BATCH_PATCHES,
    OUTPUTS,
    VGG_OUTPUTS,
    _forward,
    musicnn_extract,
    musicnn_window_outputs,
    outputs_of,
    window_outputs_by_model,
)
from .feature_sets import (
    MusicnnConcatFeatures,
    MusicnnFeatures,
    MusicnnPoolFeatures,
    MusicnnTaggramFeatures,
    MusicnnVggFeatures,
    _slug,
)
from .frontend import _patch_starts, _to_16k, musicnn_log_melspectrogram, musicnn_melspectrogram
from .nets import _import_torch, musicnn_net
from .precision import PRECISIONS, bf16_supported, get_precision, set_precision
from .probe import _probe_signal
from .weights import MusicnnWeightsError, expected_tensors, load_weights, weights_dir

from . import catalog as _catalog
from . import feature_sets as _feature_sets
from . import precision as _precision
from . import weights as _weights

__all__ = [*_catalog.__all__, *_weights.__all__, *_feature_sets.__all__, *_precision.__all__, "musicnn_net",
           "musicnn_log_melspectrogram", "musicnn_melspectrogram", "musicnn_extract", "musicnn_window_outputs",
           "outputs_of", "window_outputs_by_model"]
