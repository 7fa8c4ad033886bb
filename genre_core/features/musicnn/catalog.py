"""The musicnn package's models: names, architectures, tags and signal-processing constants.

``musicnn==0.1.0`` ships four trained checkpoints. Two architectures:

``musicnn`` (``MSD_musicnn``, ``MTT_musicnn``)
    ``musicnn.models.build_musicnn``: musically motivated front-end (timbral and
    temporal filters), dense mid-end, temporal pooling and two dense layers.
``vgg`` (``MSD_vgg``, ``MTT_vgg``)
    ``musicnn.models.vgg``: five 3x3 convolution blocks of 128 filters, each
    ReLU -> batch norm -> max-pooling, then one dense layer on the flattened
    last map.

``MSD_*`` models tag 50 last.fm tags of the Million Song Dataset, ``MTT_*``
models 50 MagnaTagATune tags. All take the same input: 96-band log-mel patches
of 187 frames (3 s) at 16 kHz.
"""

from __future__ import annotations

from ...errors import GenreLabError

__all__ = [
    "ALL_MODELS",
    "MODELS",
    "MUSICNN_SR",
    "PATCH_FRAMES",
    "VGG_MODELS",
    "architecture",
    "tag_names",
]

#: musicnn-architecture models whose converted weights ship with genre-lab.
MODELS = ("MSD_musicnn", "MTT_musicnn")
#: vgg-architecture models whose converted weights ship with genre-lab.
VGG_MODELS = ("MSD_vgg", "MTT_vgg")
#: Every shipped model.
ALL_MODELS = MODELS + VGG_MODELS
#: musicnn's signal processing (``musicnn/configuration.py``).
MUSICNN_SR = 16000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
#: Frames per 3 s input patch (``librosa.time_to_frames(3, 16000, 256, 512) + 1``).
PATCH_FRAMES = 187
#: TF1 ``tf.compat.v1.layers.batch_normalization`` default epsilon.
BN_EPSILON = 1e-3

MTT_LABELS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
    "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals",
    "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft",
    "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal",
    "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)
MSD_LABELS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul",
    "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies",
    "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop",
    "70s", "party", "country", "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal",
    "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
)


def _check_model(model: str) -> None:
    if model not in ALL_MODELS:
        raise GenreLabError(f"Unknown musicnn weights {model!r}; choose one of {', '.join(ALL_MODELS)}.")


def architecture(model: str) -> str:
    """``"musicnn"`` or ``"vgg"``: the network a model's checkpoint belongs to.

    Examples
    --------
    >>> architecture("MTT_vgg"), architecture("MSD_musicnn")
    ('vgg', 'musicnn')
    """
    _check_model(model)
    return "vgg" if model in VGG_MODELS else "musicnn"


def tag_names(model: str) -> tuple[str, ...]:
    """The 50 tags a model predicts, in taggram order.

    Examples
    --------
    >>> tag_names("MSD_musicnn")[:3]
    ('rock', 'pop', 'alternative')
    >>> tag_names("MTT_vgg")[:2]
    ('guitar', 'classical')
    """
    _check_model(model)
    return MSD_LABELS if model.startswith("MSD") else MTT_LABELS
