"""The cnn network run in PyTorch equals Keras, and predicting never imports TensorFlow (issue 12).

* Networks built by ``build_cnn`` with every pair of option values that changes
  the layers (a greedy pairwise cover of the full option product) plus a few
  deep / coarse-pooled extremes: random weights, random input, the PyTorch
  interpreter against Keras within ``ATOL``.
* The shipped ``cnn-logmel`` run on synthesised audio through the normal run
  loading and ``predict_file``, against the same run loaded with Keras.
* A fresh process that loads and predicts with a cnn run has not imported
  TensorFlow or Keras.
* Anything the interpreter does not run (another layer or option, a damaged
  file) goes to Keras, with today's messages.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from audio_fixtures import make_signal

from genre_core.backends import get_backend
from genre_core.backends.base import load_model
from genre_core.errors import RunError

keras = pytest.importorskip("keras")

from genre_core.backends.cnn import FORCE_KERAS_ENV, build_cnn, load_keras, load_network
from genre_core.backends.cnn_torch import (
    SUPPORTED_LAYERS,
    TorchNetwork,
    UnsupportedNetwork,
    load_torch_network,
)

REPO = Path(__file__).resolve().parents[1]
SHIPPED_CNN = "shipped/cnn-logmel"
#: Largest absolute difference allowed between the PyTorch and Keras probabilities.
ATOL = 1e-5


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("GENRE_THREADS", "1")
    monkeypatch.delenv(FORCE_KERAS_ENV, raising=False)


# --------------------------------------------------------------------------- build_cnn options

#: Options of ``build_cnn`` that change the layers, with the values that make a difference
#: (``convs_per_block`` 3 and deeper nets are in EXTREMES).
LAYER_OPTIONS = {
    "kernel": ["square", "musical"],
    "convs_per_block": [1, 2],
    "pool_before_bn": [True, False],
    "input_pool": [1, 2],
    "freq_aware": [False, True],
    "head": ["gap", "gmp", "time_avg", "flatten"],
    "dense": [0, 7],
    "dropout": [0.0, 0.2],
    "head_dropout": [0.0, 0.4],
}

EXTREMES = [
    {"filters": (3, 4, 5), "convs_per_block": 3, "kernel": "musical", "input_pool": 3, "head": "flatten"},
    {"filters": (5,), "convs_per_block": 3, "pool_before_bn": False, "head": "time_avg", "freq_aware": True},
    {"filters": (2, 3, 4, 5), "input_pool": 4, "head": "gmp", "kernel": "musical"},
]


def pairwise_cover(options: dict[str, list]) -> list[dict]:
    """A small set of combinations holding every pair of values of two options (greedy, deterministic)."""
    names = list(options)
    todo = {((a, va), (b, vb)) for a, b in itertools.combinations(names, 2)
            for va in options[a] for vb in options[b]}
    combos = [dict(zip(names, vals)) for vals in itertools.product(*options.values())]
    chosen = []
    while todo:
        best = max(combos, key=lambda c: sum(((a, c[a]), (b, c[b])) in todo
                                             for a, b in itertools.combinations(names, 2)))
        chosen.append(best)
        todo -= {((a, best[a]), (b, best[b])) for a, b in itertools.combinations(names, 2)}
    return chosen


CASES = pairwise_cover(LAYER_OPTIONS) + EXTREMES


def randomise(model, rng: np.random.Generator) -> None:
    """Random weights of a realistic size; batch-norm statistics and offsets far from their defaults."""
    weights = []
    for w in model.weights:
        shape, path = tuple(w.shape), w.path
        if "moving_variance" in path:
            weights.append(rng.uniform(0.3, 3.0, shape))
        elif "gamma" in path:
            weights.append(rng.uniform(0.5, 2.0, shape))
        elif len(shape) == 1:  # beta, moving_mean, biases
            weights.append(rng.normal(0.0, 0.5, shape))
        else:
            fan_in = int(np.prod(shape[:-1]))
            weights.append(rng.normal(0.0, 1.5 / np.sqrt(fan_in), shape))
    model.set_weights([w.astype(np.float32) for w in weights])


@pytest.mark.parametrize("case", range(len(CASES)), ids=lambda i: f"case{i}")
def test_build_cnn_options_match_keras(case, tmp_path):
    """Odd input sizes, so every "same" pooling and even (tall) kernel pads asymmetrically."""
    opts = CASES[case]
    p = {**get_backend("cnn").defaults(), "filters": (4, 6), **opts}
    channels = 2 if p["freq_aware"] else 1
    keras.utils.set_random_seed(case)
    net = build_cnn((25, 23, channels), 5, p)
    rng = np.random.default_rng(case)
    randomise(net, rng)
    path = tmp_path / "net.keras"
    net.save(path)
    x = rng.normal(size=(9, 25, 23, channels)).astype(np.float32)
    want = np.asarray(net(x, training=False))
    torch_net = load_torch_network(path)
    got = torch_net(x)
    assert got.shape == want.shape == (9, 5)
    assert want.std() > 0.02  # not a saturated or constant output: the comparison means something
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)
    assert torch_net.count_params() == net.count_params()
    assert torch_net.input_shape == net.input_shape and torch_net.output_shape == net.output_shape


def test_pairwise_cover_holds_every_pair():
    names = list(LAYER_OPTIONS)
    for a, b in itertools.combinations(names, 2):
        seen = {(c[a], c[b]) for c in CASES[:-len(EXTREMES)]}
        assert seen == set(itertools.product(LAYER_OPTIONS[a], LAYER_OPTIONS[b])), (a, b)


def test_build_cnn_layers_are_all_supported():
    """Every layer class build_cnn can make is one the interpreter runs (else it would fall back)."""
    kinds = set()
    for opts in CASES:
        p = {**get_backend("cnn").defaults(), "filters": (2,), **opts}
        net = build_cnn((12, 10, 2 if p["freq_aware"] else 1), 3, p)
        kinds |= {layer.__class__.__name__ for layer in net.layers}
    assert kinds <= set(SUPPORTED_LAYERS), kinds - set(SUPPORTED_LAYERS)


# --------------------------------------------------------------------------- a fitted run


SPEC_SHAPE = (16, 21)


@pytest.fixture(scope="module")
def cnn_folder(tmp_path_factory):
    """A tiny cnn fitted for one epoch (musical kernels, frequency-aware) and saved as a model folder."""
    from genre_core.inputs import InputSpec

    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, *SPEC_SHAPE)).astype(np.float32)
    X[:16, ::4] += 2.0
    y = np.repeat(["a", "b", "c"], 16)
    spec = InputSpec("logmel", None, {"n_mels": SPEC_SHAPE[0]}, window=3.0, hop=1.5)
    model = get_backend("cnn")(spec, filters=(4, 6), kernel="musical", freq_aware=True, dense=8, epochs=1,
                               batch_size=16, seed=0, normalize="band")
    model.fit(X, y)
    folder = tmp_path_factory.mktemp("cnn") / "model"
    model.save(folder)
    return folder, model, rng.normal(size=(7, *SPEC_SHAPE)).astype(np.float32)


@pytest.fixture()
def folder(cnn_folder, tmp_path) -> Path:
    """A private copy of the fitted model folder (tests damage it)."""
    dest = tmp_path / "model"
    shutil.copytree(cnn_folder[0], dest)
    return dest


def test_loaded_run_predicts_in_torch_like_the_fitted_keras_model(cnn_folder, folder):
    _, fitted, X = cnn_folder
    loaded = load_model(folder)
    assert fitted.network_runtime_ == "keras" and loaded.network_runtime_ == "torch"
    np.testing.assert_allclose(loaded.predict_proba(X), fitted.predict_proba(X), rtol=0, atol=ATOL)
    assert loaded.n_parameters() == fitted.n_parameters()
    assert loaded.predict_proba(X[:0]).shape == (0, 3)
    # saving a loaded run writes the same network file back
    again = folder.parent / "again"
    loaded.save(again)
    assert (again / "model.keras").read_bytes() == (folder / "model.keras").read_bytes()


def test_keras_can_be_forced(folder, monkeypatch):
    monkeypatch.setenv(FORCE_KERAS_ENV, "1")
    assert load_model(folder).network_runtime_ == "keras"
    monkeypatch.setenv(FORCE_KERAS_ENV, "0")
    assert load_model(folder).network_runtime_ == "torch"
    shape = (*SPEC_SHAPE, 2)
    assert not isinstance(load_network(folder / "model.keras", input_shape=shape, n_classes=3, use_keras=True),
                          TorchNetwork)


def _rewrite_weights(keras_file: Path, change) -> None:
    """Apply ``change(h5py.File)`` to the weights inside a ``.keras`` archive."""
    import h5py

    with zipfile.ZipFile(keras_file) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    buf = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buf, "r+") as f:
        change(f)
    members["model.weights.h5"] = buf.getvalue()
    with zipfile.ZipFile(keras_file, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _rewrite_config(keras_file: Path, change) -> None:
    with zipfile.ZipFile(keras_file) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(keras_file, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _errors_both_ways(folder: Path, monkeypatch) -> tuple[str, str]:
    """The RunError messages of loading ``folder`` through PyTorch (default) and forced Keras."""
    messages = []
    for forced in ("0", "1"):
        monkeypatch.setenv(FORCE_KERAS_ENV, forced)
        with pytest.raises(RunError) as err:
            load_model(folder)
        messages.append(str(err.value))
    return messages[0], messages[1]


def test_nan_weights_are_refused_without_keras(folder, monkeypatch):
    def poison(f):
        ds = f["layers/conv2d/vars/0"]
        a = ds[()]
        a[0, 0, 0, 0] = np.nan
        ds[...] = a

    _rewrite_weights(folder / "model.keras", poison)
    with pytest.raises(RunError, match="non-finite"):  # refused, not handed to Keras
        load_torch_network(folder / "model.keras")
    torch_msg, keras_msg = _errors_both_ways(folder, monkeypatch)
    assert "non-finite" in torch_msg and "non-finite" in keras_msg


@pytest.mark.filterwarnings("ignore:Skipping nested container")  # Keras, on its way to refusing the file
@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_kernel_shape", "missing_weight", "extra_weight"])
def test_damaged_network_file_same_message_as_keras(folder, monkeypatch, damage):
    path = folder / "model.keras"
    if damage == "garbage":
        path.write_bytes(b"PK\x03\x04 garbage")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:2000])
    elif damage == "wrong_kernel_shape":
        def reshape(f):
            a = f["layers/dense/vars/0"][()]
            del f["layers/dense/vars/0"]
            f["layers/dense/vars/0"] = a[:-1]
        _rewrite_weights(path, reshape)
    elif damage == "missing_weight":
        _rewrite_weights(path, lambda f: f.__delitem__("layers/batch_normalization/vars/3"))
    else:
        _rewrite_weights(path, lambda f: f.create_dataset("layers/conv2d/vars/1", data=np.zeros(3, np.float32)))
    with pytest.raises(UnsupportedNetwork):
        load_torch_network(path)
    torch_msg, keras_msg = _errors_both_ways(folder, monkeypatch)
    assert torch_msg == keras_msg
    assert "model.keras: the network file is corrupt or unsafe" in torch_msg


def test_shape_mismatch_same_message_as_keras(folder, monkeypatch):
    manifest = folder / "model.json"
    m = json.loads(manifest.read_text())
    m["classes"] = ["a", "b", "c", "d"]
    manifest.write_text(json.dumps(m))
    torch_msg, keras_msg = _errors_both_ways(folder, monkeypatch)
    assert torch_msg == keras_msg and "but the manifest says" in torch_msg


def test_missing_network_file_same_message(folder, monkeypatch):
    (folder / "model.keras").unlink()
    torch_msg, keras_msg = _errors_both_ways(folder, monkeypatch)
    assert torch_msg == keras_msg and "missing" in torch_msg


# --------------------------------------------------------------------------- fallback to Keras


def _unsupported_network(path: Path, variant: str) -> None:
    """A small network (16, 21, 2) -> 3 that holds one thing the interpreter does not run."""
    L = keras.layers
    inp = keras.Input((*SPEC_SHAPE, 2))
    if variant == "layer":
        x = L.LeakyReLU(negative_slope=0.1)(L.Conv2D(4, 3, padding="same")(inp))
    elif variant == "option":
        x = L.Conv2D(4, 3, padding="same", dilation_rate=2)(inp)
    else:  # a supported layer with an option value it does not take
        x = L.ReLU(max_value=0.5)(L.Conv2D(4, 3, padding="same")(inp))
    out = L.Dense(3, activation="softmax")(L.GlobalAveragePooling2D()(x))
    net = keras.Model(inp, out)
    randomise(net, np.random.default_rng(1))
    net.save(path)


@pytest.mark.parametrize("variant", ["layer", "option", "value"])
def test_unsupported_network_falls_back_to_keras(folder, variant, cnn_folder):
    X = cnn_folder[2]
    path = folder / "model.keras"
    _unsupported_network(path, variant)
    with pytest.raises(UnsupportedNetwork):
        load_torch_network(path)
    model = load_model(folder)
    assert model.network_runtime_ == "keras"
    reference = load_keras(path, input_shape=(*SPEC_SHAPE, 2), n_classes=3)
    np.testing.assert_allclose(model.predict_proba(X),
                               np.asarray(reference(model._prep()(X), training=False), np.float64),
                               rtol=0, atol=1e-6)


def test_unknown_config_option_falls_back(folder):
    path = folder / "model.keras"

    def add_option(config):
        layer = next(la for la in config["config"]["layers"] if la["class_name"] == "Conv2D")
        layer["config"]["some_future_option"] = 1

    _rewrite_config(path, add_option)
    with pytest.raises(UnsupportedNetwork, match="some_future_option"):
        load_torch_network(path)


def test_non_float32_policy_falls_back(folder):
    path = folder / "model.keras"

    def mixed(config):
        for layer in config["config"]["layers"]:
            if isinstance(layer["config"].get("dtype"), dict):
                layer["config"]["dtype"]["config"]["name"] = "mixed_float16"

    _rewrite_config(path, mixed)
    with pytest.raises(UnsupportedNetwork, match="float32"):
        load_torch_network(path)


# --------------------------------------------------------------------------- the shipped run


@pytest.fixture()
def shipped_env(monkeypatch, tmp_path):
    run_dir = REPO / "models" / SHIPPED_CNN
    if not (run_dir / "run.json").is_file():
        pytest.skip("the shipped cnn run is not in this checkout")
    monkeypatch.setenv("GENRE_MODELS_DIR", str(REPO / "models"))
    wav = tmp_path / "probe.wav"
    import soundfile as sf

    sf.write(wav, make_signal(duration=10.0, sr=22050, channels=1, seed=3), 22050)
    return wav


def test_shipped_cnn_run_torch_equals_keras(shipped_env, monkeypatch):
    from genre_core.predict import predict_file
    from genre_core.runs import load_run

    torch_run = load_run(SHIPPED_CNN)
    assert torch_run.model.network_runtime_ == "torch"
    (got,) = predict_file(torch_run, shipped_env)
    monkeypatch.setenv(FORCE_KERAS_ENV, "1")
    keras_run = load_run(SHIPPED_CNN)
    assert keras_run.model.network_runtime_ == "keras"
    (want,) = predict_file(keras_run, shipped_env)
    assert got.segment_proba.shape == want.segment_proba.shape and len(got.segment_proba) >= 3
    np.testing.assert_allclose(got.segment_proba, want.segment_proba, rtol=0, atol=ATOL)
    np.testing.assert_allclose(got.proba, want.proba, rtol=0, atol=ATOL)
    assert got.label == want.label


_NO_TF_SCRIPT = """
import sys
from genre_core.predict import predict_file
from genre_core.runs import load_run
run = load_run({run!r})
(p,) = predict_file(run, {wav!r})
assert run.model.network_runtime_ == "torch", run.model.network_runtime_
assert p.segment_proba.shape[0] >= 3
print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
"""


def test_predicting_with_a_cnn_run_does_not_import_tensorflow(shipped_env):
    env = {k: v for k, v in os.environ.items() if k != FORCE_KERAS_ENV}
    out = subprocess.run([sys.executable, "-c", _NO_TF_SCRIPT.format(run=SHIPPED_CNN, wav=str(shipped_env))],
                         check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_linked_weights_fall_back(folder):
    """A weight that is a link (to elsewhere in the file or to another file) is not followed here."""
    import h5py

    def soft_link(f):
        del f["layers/dense/vars/1"]
        f["layers/dense/vars/1"] = h5py.SoftLink("/layers/dense_1/vars/1")

    _rewrite_weights(folder / "model.keras", soft_link)
    with pytest.raises(UnsupportedNetwork, match="links"):
        load_torch_network(folder / "model.keras")


def test_batches_side_by_side_give_the_same_probabilities(cnn_folder, monkeypatch):
    """More windows than one batch, run by several workers: bit-identical to one worker."""
    net = load_torch_network(cnn_folder[0] / "model.keras")
    x = np.random.default_rng(5).normal(size=(53, *SPEC_SHAPE, 2)).astype(np.float32)
    one = net(x)
    monkeypatch.setenv("GENRE_THREADS", "3")
    np.testing.assert_array_equal(net(x), one)
    assert net(x[:0]).shape == (0, 3)


def test_zero_stride_input_is_not_slow_or_wrong(cnn_folder):
    """``prep`` hands over ``a[..., None]``-style arrays (a zero stride); results equal a plain copy."""
    net = load_torch_network(cnn_folder[0] / "model.keras")
    x = np.random.default_rng(6).normal(size=(5, *SPEC_SHAPE)).astype(np.float32)
    odd = np.broadcast_to(x[..., None], (*x.shape, 2))
    assert odd.strides[-1] == 0
    np.testing.assert_array_equal(net(odd), net(np.array(odd, order="C")))
