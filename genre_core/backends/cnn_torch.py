"""A saved ``cnn`` network (a Keras ``.keras`` file) run in PyTorch, without TensorFlow.

A cnn run's ``model.keras`` is a zip archive holding ``config.json`` (the Keras
functional graph) and ``model.weights.h5`` (the weights). This module reads the
config as JSON and the weights with :mod:`h5py` -- nothing is unpickled, nothing
from the file is executed -- and runs the same forward pass with :mod:`torch`.
Predicting with a cnn run then never imports TensorFlow (about 4-5 s of CPU and
450 MB of memory in a fresh process). Training still uses Keras.

Supported
---------
Exactly the layers :func:`~genre_core.backends.cnn.build_cnn` produces with any
of its options, in float32 and channels-last (NHWC) layout:

* ``InputLayer`` of rank 4, ``(batch, mel bands, frames, channels)``;
* ``Conv2D``: any kernel size and strides, ``"same"`` padding as TensorFlow does
  it (the odd cell of an even kernel's padding goes after) or ``"valid"``, with or
  without bias, activation ``linear``/``relu``/``softmax``; dilation 1, 1 group;
* ``MaxPooling2D`` and ``AveragePooling2D`` (``"same"``: the max ignores the
  padding, the average counts only real cells, as in TensorFlow) and ``"valid"``;
* ``GlobalAveragePooling2D``, ``GlobalMaxPooling2D``, ``Flatten`` (channels-last
  order), ``Concatenate`` (any axis but the batch);
* ``BatchNormalization`` (moving statistics; ``epsilon``, ``center`` and
  ``scale`` from the config);
* ``ReLU`` (default arguments), ``Activation``, ``Softmax`` (last axis),
  ``Dropout`` (identity at inference);
* ``Dense`` on rank-2 tensors.

Anything else -- another layer or option, a dtype policy other than float32, a
graph with shared layers or several inputs/outputs, a weight that is missing,
extra or of the wrong shape or dtype, an unreadable archive -- raises
:class:`UnsupportedNetwork`. The caller then loads the file with Keras, which
either runs it or reports it as damaged: this module never guesses. Non-finite
weights are refused with :class:`~genre_core.errors.RunError`, as by the Keras
loader.

Weights are found where Keras 3 looks for them: ``layers/<class name in
snake_case, numbered by order>/vars/<i>``; each group's ``name`` attribute must
name the layer of the config.

Tolerance: the probabilities equal Keras's within ``1e-5`` (largest absolute
difference; ``tests/test_cnn_torch.py`` checks every option of ``build_cnn``).

Example
-------
>>> net = load_torch_network("models/shipped/cnn-logmel/model/model.keras")  # doctest: +SKIP
>>> net(np.zeros((2, 128, 130, 1), np.float32)).shape                       # doctest: +SKIP
(2, 10)
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .base import n_threads, require_finite

_CONFIG_MEMBER = "config.json"
_WEIGHTS_MEMBER = "model.weights.h5"
_MAX_CONFIG_BYTES = 64 << 20
_MAX_WEIGHTS_BYTES = 4 << 30
#: Windows per forward pass: small batches keep the full-resolution feature maps in cache
#: (per window, 16 is about 2x faster than 64 on one core) and bound the memory.
_BATCH = 16
_ACTIVATIONS = ("linear", "relu", "softmax")

#: Config keys that do not change the forward pass at inference (initialisers, penalties, dropout rates...).
_INFERENCE_IRRELEVANT = frozenset({
    "name", "trainable", "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
    "activity_regularizer", "kernel_constraint", "bias_constraint", "beta_initializer", "gamma_initializer",
    "moving_mean_initializer", "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
    "beta_constraint", "gamma_constraint", "momentum", "synchronized", "renorm_momentum", "renorm_clipping",
    "rate", "seed", "noise_shape",
})


class UnsupportedNetwork(Exception):
    """The file holds something this module does not run (the message says what); load it with Keras."""


# --------------------------------------------------------------------------- the loaded network


@dataclass
class _Op:
    """One layer of the forward pass: ``fn`` maps the input tensors to the output tensor."""

    name: str
    inputs: list[str]
    fn: Callable[[list], Any]


class TorchNetwork:
    """A ``.keras`` network run in PyTorch; called like a Keras model on NHWC float32 batches.

    Offers the part of the Keras model interface genre-lab uses for prediction:
    ``net(x, training=False)`` (returns a NumPy array), ``input_shape``,
    ``output_shape``, ``count_params()`` and ``save(path)`` (writes the original
    ``.keras`` file back, byte for byte).
    """

    def __init__(self, ops: list[_Op], input_name: str, output_name: str, input_shape: tuple,
                 output_shape: tuple, n_params: int, keras_bytes: bytes):
        self._ops = ops
        self._input_name, self._output_name = input_name, output_name
        self.input_shape = (None, *input_shape)
        self.output_shape = (None, *output_shape)
        self._n_params = n_params
        self._keras_bytes = keras_bytes
        self._last_use = _last_uses(ops)

    def __call__(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Outputs for a batch ``x`` of shape ``(n, *input_shape[1:])`` (float32); inference only."""
        if training:
            raise ValueError("a TorchNetwork only predicts (training=False)")
        # a copy with plain strides: ``a[..., None]`` is "contiguous" with a zero stride, which sends
        # oneDNN's convolution and pooling down a path about 10x slower
        x = np.array(x, dtype=np.float32, order="C")
        if x.shape[1:] != self.input_shape[1:]:
            raise ValueError(f"expected input of shape {self.input_shape}, got {x.shape}")
        if len(x) == 0:
            return np.zeros((0, *self.output_shape[1:]), dtype=np.float32)
        import torch

        chunks = [x[s:s + _BATCH] for s in range(0, len(x), _BATCH)]
        workers = min(n_threads(), len(chunks))
        with _one_torch_thread(torch):
            if workers == 1:
                out = [self._forward(torch, c) for c in chunks]
            else:
                with ThreadPoolExecutor(workers, thread_name_prefix="genre-cnn") as pool:
                    out = list(pool.map(lambda c: self._forward(torch, c), chunks))
        return np.concatenate(out, axis=0)

    def _forward(self, torch, xb: np.ndarray) -> np.ndarray:
        with torch.inference_mode():  # thread-local: entered by each worker
            return self._run_ops(torch.from_numpy(xb).permute(0, 3, 1, 2)).numpy()

    def _run_ops(self, x):
        env = {self._input_name: x}
        for i, op in enumerate(self._ops):
            env[op.name] = op.fn([env[n] for n in op.inputs])
            for n in op.inputs:
                if self._last_use[n] == i and n != self._output_name:
                    env.pop(n, None)  # free feature maps as soon as nothing reads them
        return _to_keras_layout(env[self._output_name])

    def count_params(self) -> int:
        """Number of stored values (trainable and not), as Keras's ``count_params``."""
        return self._n_params

    def save(self, path) -> Path:
        """Write the ``.keras`` file this network was read from, unchanged."""
        path = Path(path)
        path.write_bytes(self._keras_bytes)
        return path


def _last_uses(ops: list[_Op]) -> dict[str, int]:
    last: dict[str, int] = {}
    for i, op in enumerate(ops):
        for n in op.inputs:
            last[n] = i
    return last


def _to_keras_layout(t):
    return t.permute(0, 2, 3, 1) if t.dim() == 4 else t


@contextlib.contextmanager
def _one_torch_thread(torch):
    """One intra-op thread per forward pass, restoring the caller's setting.

    Parallelism comes from running batches side by side (``n_threads()``
    workers): on a shared machine, torch's intra-op threads wait at every op
    for the slowest one (2-3x slower than one thread for a 30 s clip when the
    other core is busy), while independent batches just share what is free.
    """
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


# --------------------------------------------------------------------------- loading


def load_torch_network(path) -> TorchNetwork:
    """Read a ``.keras`` file into a :class:`TorchNetwork`.

    Raises
    ------
    UnsupportedNetwork
        The file is unreadable or holds a layer, option or weight layout this
        module does not run: load it with Keras instead.
    RunError
        A weight holds NaN or infinity.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        config, weights_h5 = _read_archive(raw)
        layers, input_name, output_name = _parse_graph(config)
        arrays = _read_weights(weights_h5, layers)
    except UnsupportedNetwork:
        raise
    except Exception as err:  # noqa: BLE001 - any malformed piece: Keras judges (and words) it
        raise UnsupportedNetwork(f"unreadable ({type(err).__name__}: {str(err)[:200]})") from None
    require_finite(((f"{name}/{i}", a) for name, layer_arrays in arrays.items()
                    for i, a in enumerate(layer_arrays)), path)
    try:
        return _build(layers, arrays, input_name, output_name, raw)
    except UnsupportedNetwork:
        raise
    except Exception as err:  # noqa: BLE001 - as above
        raise UnsupportedNetwork(f"cannot build the graph ({type(err).__name__}: {str(err)[:200]})") from None


def _read_archive(raw: bytes) -> tuple[Any, bytes]:
    """``(config, weights bytes)`` of a ``.keras`` zip archive."""
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        config_bytes = _member(zf, _CONFIG_MEMBER, _MAX_CONFIG_BYTES)
        weights = _member(zf, _WEIGHTS_MEMBER, _MAX_WEIGHTS_BYTES)
    return json.loads(config_bytes), weights


def _member(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise UnsupportedNetwork(f"the archive has no {name}") from None
    if info.file_size > limit:
        raise UnsupportedNetwork(f"{name} is larger than {limit} bytes")
    return zf.read(info)


# --------------------------------------------------------------------------- the graph


@dataclass
class _Layer:
    """One entry of the functional config: its Keras class, options and input layers."""

    name: str
    kind: str
    config: dict
    inputs: list[str]


def _parse_graph(config: Any) -> tuple[list[_Layer], str, str]:
    """Layers in config order, plus the names of the input and output layers (one of each)."""
    if not isinstance(config, dict) or config.get("class_name") != "Functional":
        raise UnsupportedNetwork("not a Keras functional model")
    body = config["config"]
    layers = []
    for entry in body["layers"]:
        kind = entry["class_name"]
        if entry.get("module") != "keras.layers" or entry.get("registered_name") is not None:
            raise UnsupportedNetwork(f"layer {entry.get('name')!r} is not a built-in Keras layer")
        name = entry["name"]
        cfg = entry["config"]
        if not isinstance(name, str) or not isinstance(cfg, dict) or cfg.get("name") != name:
            raise UnsupportedNetwork(f"layer {name!r} has an inconsistent name")
        layers.append(_Layer(name, kind, cfg, _inbound(name, entry["inbound_nodes"])))
    if len({la.name for la in layers}) != len(layers):
        raise UnsupportedNetwork("two layers share a name")
    return layers, _endpoint(body["input_layers"]), _endpoint(body["output_layers"])


def _endpoint(ref: Any) -> str:
    """The layer name of ``["name", 0, 0]`` or ``[["name", 0, 0]]`` (exactly one tensor)."""
    if isinstance(ref, list) and len(ref) == 1 and isinstance(ref[0], list):
        ref = ref[0]
    if not (isinstance(ref, list) and len(ref) == 3 and isinstance(ref[0], str) and ref[1:] == [0, 0]):
        raise UnsupportedNetwork(f"model inputs/outputs {str(ref)[:80]} are not one tensor each")
    return ref[0]


def _inbound(name: str, nodes: Any) -> list[str]:
    """Names of the layers feeding layer ``name`` (called once, positional tensors only)."""
    if nodes == []:
        return []
    if not isinstance(nodes, list) or len(nodes) != 1:
        raise UnsupportedNetwork(f"layer {name!r} is called more than once (shared layer)")
    node = nodes[0]
    kwargs = node.get("kwargs", {})
    if set(node) - {"args", "kwargs"} or any(k not in ("mask", "training") or v not in (None, False)
                                               for k, v in kwargs.items()):
        raise UnsupportedNetwork(f"layer {name!r} is called with options {str(kwargs)[:80]}")
    args = node["args"]
    if len(args) != 1:
        raise UnsupportedNetwork(f"layer {name!r} takes {len(args)} positional arguments")
    tensors = args[0] if isinstance(args[0], list) else [args[0]]
    return [_tensor_source(name, t) for t in tensors]


def _tensor_source(name: str, t: Any) -> str:
    history = t["config"]["keras_history"] if t.get("class_name") == "__keras_tensor__" else None
    if not (isinstance(history, list) and len(history) == 3 and isinstance(history[0], str)
            and history[1:] == [0, 0]):
        raise UnsupportedNetwork(f"layer {name!r} has an input this module does not follow")
    return history[0]


# --------------------------------------------------------------------------- the weights


def _snake_case(name: str) -> str:
    """Keras's ``to_snake_case`` (``Conv2D`` -> ``conv2d``, ``ReLU`` -> ``re_lu``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _weight_paths(layers: list[_Layer]) -> list[str]:
    """The h5 group Keras 3 stores each layer's variables under (``layers/conv2d_1``, ...)."""
    used: dict[str, int] = {}
    paths = []
    for layer in layers:
        base = _snake_case(layer.kind)
        if base in used:
            used[base] += 1
            paths.append(f"{base}_{used[base]}")
        else:
            used[base] = 0
            paths.append(base)
    return paths


def _read_weights(weights_h5: bytes, layers: list[_Layer]) -> dict[str, list[np.ndarray]]:
    """Each layer's stored variables, in order, as float32 arrays; refused unless laid out as Keras writes."""
    import h5py

    out: dict[str, list[np.ndarray]] = {}
    with h5py.File(io.BytesIO(weights_h5), "r") as f:
        root = _hard(h5py, f, "layers")
        paths = _weight_paths(layers)
        if set(root.keys()) != set(paths):
            raise UnsupportedNetwork("the weights file's layers do not match the config")
        extra = f.get("vars")
        if extra is not None and len(extra.keys()):
            raise UnsupportedNetwork("the weights file holds model-level variables")
        if set(f.keys()) - {"layers", "vars", "optimizer"}:
            raise UnsupportedNetwork("the weights file holds unknown groups")
        for layer, key in zip(layers, paths):
            out[layer.name] = _layer_arrays(h5py, _hard(h5py, root, key), layer.name)
    return out


def _hard(h5py, group, name: str):
    """``group[name]``, refused unless it is stored in this file (no soft or external link)."""
    if not isinstance(group.get(name, getlink=True), h5py.HardLink):
        raise UnsupportedNetwork(f"the weights file links {name!r} elsewhere")
    return group[name]


def _layer_arrays(h5py, group, layer_name: str) -> list[np.ndarray]:
    if not isinstance(group, h5py.Group) or set(group.keys()) != {"vars"}:
        raise UnsupportedNetwork(f"weights of layer {layer_name!r} are not a plain variable group")
    vars_ = _hard(h5py, group, "vars")
    stored = vars_.attrs.get("name")
    stored = stored.decode() if isinstance(stored, bytes) else stored
    if stored != layer_name:
        raise UnsupportedNetwork(f"weights group of layer {layer_name!r} is named {stored!r}")
    keys = list(vars_.keys())
    if sorted(keys) != sorted(str(i) for i in range(len(keys))):
        raise UnsupportedNetwork(f"weights of layer {layer_name!r} are not numbered 0..n-1")
    arrays = []
    for i in range(len(keys)):
        ds = _hard(h5py, vars_, str(i))
        if (not isinstance(ds, h5py.Dataset) or ds.dtype != np.float32 or len(ds.attrs) or ds.external
                or ds.is_virtual):
            raise UnsupportedNetwork(f"weight {i} of layer {layer_name!r} is not a plain float32 array")
        arrays.append(np.asarray(ds[()], dtype=np.float32))
    return arrays


class _Vars:
    """A layer's stored arrays, taken in Keras's variable order with their expected shapes."""

    def __init__(self, layer: _Layer, arrays: list[np.ndarray]):
        self.layer, self.arrays, self.i = layer, arrays, 0

    def take(self, what: str, shape: tuple) -> np.ndarray:
        if self.i >= len(self.arrays):
            raise UnsupportedNetwork(f"layer {self.layer.name!r} has no stored {what}")
        a = self.arrays[self.i]
        if a.shape != tuple(shape):
            raise UnsupportedNetwork(f"layer {self.layer.name!r}: {what} has shape {a.shape}, expected {shape}")
        self.i += 1
        return a

    def done(self) -> None:
        if self.i != len(self.arrays):
            raise UnsupportedNetwork(f"layer {self.layer.name!r} has {len(self.arrays)} stored weights, "
                                     f"expected {self.i}")


# --------------------------------------------------------------------------- options


def _eq(expected) -> Callable[[Any], bool]:
    """Accept exactly ``expected`` (``1`` is not ``True``; a list equals the same tuple)."""
    def check(v):
        if isinstance(expected, (list, tuple)):
            return isinstance(v, (list, tuple)) and len(v) == len(expected) and all(
                _eq(e)(x) for e, x in zip(expected, v))
        if expected is None or isinstance(expected, bool):
            return v is expected
        if isinstance(expected, str):
            return isinstance(v, str) and v == expected
        return type(v) in (int, float) and v == expected
    return check


def _one_of(*values) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and v in values


def _is_bool(v) -> bool:
    return isinstance(v, bool)


def _pos_int(v) -> bool:
    return type(v) is int and v >= 1


def _int_pair(v) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 2 and all(_pos_int(x) for x in v)


def _int_pair_or_none(v) -> bool:
    return v is None or _int_pair(v)


def _any_int(v) -> bool:
    return type(v) is int


def _pos_number(v) -> bool:
    return type(v) in (int, float) and v > 0


_CHANNELS_LAST = _eq("channels_last")


def _options(layer: _Layer, known: dict[str, Callable[[Any], bool]]) -> dict:
    """The layer's config; :class:`UnsupportedNetwork` for an option not in ``known`` or a value it refuses."""
    cfg = layer.config
    _check_dtype(layer)
    for key, value in cfg.items():
        if key in _INFERENCE_IRRELEVANT or key == "dtype":
            continue
        check = known.get(key)
        if check is None or not check(value):
            raise UnsupportedNetwork(f"layer {layer.name!r} ({layer.kind}): option {key}={str(value)[:60]} "
                                     "is not supported")
    return cfg


def _check_dtype(layer: _Layer) -> None:
    """Float32 only (a ``DTypePolicy`` dict or the plain string)."""
    d = layer.config.get("dtype", "float32")
    if isinstance(d, dict):
        ok = d.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and d.get("config", {}).get("name") == \
            "float32"
    else:
        ok = d == "float32"
    if not ok:
        raise UnsupportedNetwork(f"layer {layer.name!r} computes in {str(d)[:60]}, not float32")


# --------------------------------------------------------------------------- layers


def _same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's "same" padding of one axis: ``(before, after)``, the odd cell after."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _window_geometry(shape: tuple, k: tuple, s: tuple, padding: str) -> tuple[tuple, tuple]:
    """Output ``(H, W)`` and torch pads ``(left, right, top, bottom)`` of a sliding window."""
    h, w = shape[0], shape[1]
    if padding == "valid":
        out = ((h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1)
        if min(out) < 1:
            raise UnsupportedNetwork(f"window {k} does not fit the input {shape}")
        return out, (0, 0, 0, 0)
    (top, bottom), (left, right) = _same_pads(h, k[0], s[0]), _same_pads(w, k[1], s[1])
    return (-(-h // s[0]), -(-w // s[1])), (left, right, top, bottom)


def _ceil_mode_size(shape: tuple, k: tuple, s: tuple) -> tuple:
    """Output ``(H, W)`` of torch pooling with ``ceil_mode=True`` and no padding."""
    def one(n, k, s):
        out = -(-(n - k) // s) + 1
        return out - 1 if (out - 1) * s >= n else out  # the last window must start inside the input
    return one(shape[0], k[0], s[0]), one(shape[1], k[1], s[1])


def _activation(torch, name: str, rank: int):
    if name == "linear":
        return lambda t: t
    if name == "relu":
        return torch.relu
    channel = 1 if rank == 4 else -1  # Keras's last axis is torch's channel axis in NCHW
    return lambda t: torch.softmax(t, dim=channel)


def _rank(shape: tuple, rank: int, layer: _Layer) -> None:
    if len(shape) + 1 != rank:
        raise UnsupportedNetwork(f"layer {layer.name!r} ({layer.kind}) gets a rank-{len(shape) + 1} tensor")


def _one_input(shapes: list[tuple], layer: _Layer) -> tuple:
    if len(shapes) != 1:
        raise UnsupportedNetwork(f"layer {layer.name!r} ({layer.kind}) has {len(shapes)} inputs")
    return shapes[0]


def _conv2d(torch, layer, shapes, v: _Vars):
    p = _options(layer, {"filters": _pos_int, "kernel_size": _int_pair, "strides": _int_pair,
                         "padding": _one_of("same", "valid"), "data_format": _CHANNELS_LAST,
                         "dilation_rate": _eq([1, 1]), "groups": _eq(1), "activation": _one_of(*_ACTIVATIONS),
                         "use_bias": _is_bool, "lora_rank": _eq(None), "lora_alpha": _eq(None),
                         "quantization_config": _eq(None)})
    shape = _one_input(shapes, layer)
    _rank(shape, 4, layer)
    k, s, f = tuple(p["kernel_size"]), tuple(p["strides"]), p["filters"]
    kernel = v.take("kernel", (*k, shape[2], f))
    bias = v.take("bias", (f,)) if p["use_bias"] else None
    (ho, wo), (left, right, top, bottom) = _window_geometry(shape, k, s, p["padding"])
    weight = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    b = None if bias is None else torch.from_numpy(bias)
    act = _activation(torch, p["activation"], 4)
    conv = torch.nn.functional.conv2d
    if left == right and top == bottom:
        def fn(xs):
            return act(conv(xs[0], weight, b, s, (top, left)))
    else:
        pad = torch.nn.functional.pad

        def fn(xs):
            return act(conv(pad(xs[0], (left, right, top, bottom)), weight, b, s))
    return fn, (ho, wo, f)


def _pool_options(layer):
    p = _options(layer, {"pool_size": _int_pair, "strides": _int_pair_or_none, "padding": _one_of("same", "valid"),
                         "data_format": _CHANNELS_LAST})
    k = tuple(p["pool_size"])
    return k, tuple(p["strides"]) if p["strides"] is not None else k, p["padding"]


def _max_pooling2d(torch, layer, shapes, v):
    k, s, padding = _pool_options(layer)
    shape = _one_input(shapes, layer)
    _rank(shape, 4, layer)
    (ho, wo), pads = _window_geometry(shape, k, s, padding)
    F = torch.nn.functional
    left, _, top, _ = pads
    if any(pads) and left == top == 0 and _ceil_mode_size(shape, k, s) == (ho, wo):
        def fn(xs):  # padding after only: torch's ceil mode takes the max of the real cells, no copy
            return F.max_pool2d(xs[0], k, s, ceil_mode=True)
    elif any(pads):
        def fn(xs):
            return F.max_pool2d(F.pad(xs[0], pads, value=float("-inf")), k, s)
    else:
        def fn(xs):
            return F.max_pool2d(xs[0], k, s)
    return fn, (ho, wo, shape[2])


def _average_pooling2d(torch, layer, shapes, v):
    k, s, padding = _pool_options(layer)
    shape = _one_input(shapes, layer)
    _rank(shape, 4, layer)
    (ho, wo), pads = _window_geometry(shape, k, s, padding)
    F = torch.nn.functional
    if any(pads):  # TensorFlow averages over the real cells of each window only
        ones = F.pad(torch.ones(1, 1, shape[0], shape[1]), pads)
        counts = F.avg_pool2d(ones, k, s, divisor_override=1)

        def fn(xs):
            return F.avg_pool2d(F.pad(xs[0], pads), k, s, divisor_override=1) / counts
    else:
        def fn(xs):
            return F.avg_pool2d(xs[0], k, s)
    return fn, (ho, wo, shape[2])


def _global_pooling(reduce: str):
    def build(torch, layer, shapes, v):
        p = _options(layer, {"data_format": _CHANNELS_LAST, "keepdims": _is_bool})
        shape = _one_input(shapes, layer)
        _rank(shape, 4, layer)
        keep = p.get("keepdims", False)

        def fn(xs):
            x = xs[0]
            return x.mean(dim=(2, 3), keepdim=keep) if reduce == "mean" else x.amax(dim=(2, 3), keepdim=keep)
        return fn, (1, 1, shape[2]) if keep else (shape[2],)
    return build


def _flatten(torch, layer, shapes, v):
    _options(layer, {"data_format": lambda d: d is None or d == "channels_last"})
    shape = _one_input(shapes, layer)
    n = int(np.prod(shape))
    if len(shape) == 1:
        return (lambda xs: xs[0]), shape

    def fn(xs):  # channels-last order, as Keras flattens (rows, frames, channels)
        x = _to_keras_layout(xs[0])
        return x.reshape(x.shape[0], n)
    return fn, (n,)


def _concatenate(torch, layer, shapes, v):
    p = _options(layer, {"axis": _any_int})
    rank = len(shapes[0]) + 1
    axis = p["axis"] + rank if p["axis"] < 0 else p["axis"]
    if len(shapes) < 2 or axis < 1 or axis >= rank or any(len(s) + 1 != rank for s in shapes):
        raise UnsupportedNetwork(f"layer {layer.name!r} concatenates along axis {p['axis']} of {shapes}")
    rest = [s[:axis - 1] + s[axis:] for s in shapes]
    if any(r != rest[0] for r in rest):
        raise UnsupportedNetwork(f"layer {layer.name!r} concatenates mismatched shapes {shapes}")
    dim = {1: 2, 2: 3, 3: 1}[axis] if rank == 4 else axis
    out = list(shapes[0])
    out[axis - 1] = sum(s[axis - 1] for s in shapes)
    return (lambda xs: torch.cat(xs, dim=dim)), tuple(out)


def _batch_normalization(torch, layer, shapes, v):
    shape = _one_input(shapes, layer)
    last = len(shape)
    p = _options(layer, {"axis": lambda a: _eq(-1)(a) or _eq(last)(a) or _eq([-1])(a) or _eq([last])(a),
                         "epsilon": _pos_number, "center": _is_bool, "scale": _is_bool, "renorm": _eq(False)})
    c = shape[-1]
    gamma = v.take("gamma", (c,)) if p.get("scale", True) else None
    beta = v.take("beta", (c,)) if p.get("center", True) else None
    mean, var = v.take("moving_mean", (c,)), v.take("moving_variance", (c,))
    inv = 1.0 / np.sqrt(var.astype(np.float64) + float(p.get("epsilon", 1e-3)))
    if gamma is not None:
        inv = inv * gamma
    shift = -mean * inv + (0.0 if beta is None else beta)
    view = (1, c, 1, 1) if len(shape) == 3 else (1, c)
    a = torch.from_numpy(inv.astype(np.float32).reshape(view))
    b = torch.from_numpy(shift.astype(np.float32).reshape(view))
    return (lambda xs: torch.addcmul(b, xs[0], a)), shape


def _relu(torch, layer, shapes, v):
    _options(layer, {"max_value": _eq(None), "negative_slope": _eq(0.0), "threshold": _eq(0.0)})
    return (lambda xs: torch.relu(xs[0])), _one_input(shapes, layer)


def _activation_layer(torch, layer, shapes, v):
    p = _options(layer, {"activation": _one_of(*_ACTIVATIONS)})
    shape = _one_input(shapes, layer)
    act = _activation(torch, p["activation"], len(shape) + 1)
    return (lambda xs: act(xs[0])), shape


def _softmax(torch, layer, shapes, v):
    _options(layer, {"axis": lambda a: a in (-1, [-1])})
    shape = _one_input(shapes, layer)
    act = _activation(torch, "softmax", len(shape) + 1)
    return (lambda xs: act(xs[0])), shape


def _dropout(torch, layer, shapes, v):
    _options(layer, {})
    return (lambda xs: xs[0]), _one_input(shapes, layer)


def _dense(torch, layer, shapes, v):
    p = _options(layer, {"units": _pos_int, "activation": _one_of(*_ACTIVATIONS), "use_bias": _is_bool,
                         "lora_rank": _eq(None), "lora_alpha": _eq(None), "quantization_config": _eq(None)})
    shape = _one_input(shapes, layer)
    _rank(shape, 2, layer)
    kernel = v.take("kernel", (shape[0], p["units"]))
    bias = v.take("bias", (p["units"],)) if p["use_bias"] else None
    w = torch.from_numpy(np.ascontiguousarray(kernel.T))
    b = None if bias is None else torch.from_numpy(bias)
    act = _activation(torch, p["activation"], 2)
    linear = torch.nn.functional.linear
    return (lambda xs: act(linear(xs[0], w, b))), (p["units"],)


_BUILDERS = {
    "Conv2D": _conv2d,
    "MaxPooling2D": _max_pooling2d,
    "AveragePooling2D": _average_pooling2d,
    "GlobalAveragePooling2D": _global_pooling("mean"),
    "GlobalMaxPooling2D": _global_pooling("max"),
    "Flatten": _flatten,
    "Concatenate": _concatenate,
    "BatchNormalization": _batch_normalization,
    "ReLU": _relu,
    "Activation": _activation_layer,
    "Softmax": _softmax,
    "Dropout": _dropout,
    "Dense": _dense,
}

#: The Keras layer classes this module runs (anything else: load with Keras).
SUPPORTED_LAYERS = ("InputLayer", *_BUILDERS)


def _input_shape(layer: _Layer) -> tuple:
    p = _options(layer, {"batch_shape": lambda s: isinstance(s, list) and len(s) == 4 and s[0] is None
                         and all(_pos_int(x) for x in s[1:]),
                         "sparse": _eq(False), "ragged": _eq(False), "optional": _eq(False)})
    return tuple(p["batch_shape"][1:])


def _build(layers: list[_Layer], arrays: dict, input_name: str, output_name: str, raw: bytes) -> TorchNetwork:
    """Check the graph layer by layer (shapes, options, weights) and assemble the forward pass."""
    import torch

    shapes: dict[str, tuple] = {}
    ops: list[_Op] = []
    inputs = [la for la in layers if la.kind == "InputLayer"]
    if len(inputs) != 1 or inputs[0].name != input_name:
        raise UnsupportedNetwork("the model does not have exactly one input layer")
    for layer in layers:
        v = _Vars(layer, arrays[layer.name])
        if layer.kind == "InputLayer":
            shapes[layer.name] = _input_shape(layer)
        else:
            builder = _BUILDERS.get(layer.kind)
            if builder is None:
                raise UnsupportedNetwork(f"layer {layer.name!r} is a {layer.kind}")
            if not layer.inputs or any(n not in shapes for n in layer.inputs):
                raise UnsupportedNetwork(f"layer {layer.name!r} reads a layer not computed before it")
            fn, shapes[layer.name] = builder(torch, layer, [shapes[n] for n in layer.inputs], v)
            ops.append(_Op(layer.name, layer.inputs, fn))
        v.done()
    if output_name not in shapes or len(shapes[output_name]) != 1:
        raise UnsupportedNetwork("the model output is not one vector per window")
    n_params = int(sum(a.size for layer_arrays in arrays.values() for a in layer_arrays))
    return TorchNetwork(_needed(ops, output_name), input_name, output_name, shapes[input_name],
                        shapes[output_name], n_params, raw)


def _needed(ops: list[_Op], output_name: str) -> list[_Op]:
    """The ops the output depends on, in order (a dangling branch is not computed)."""
    need = {output_name}
    for op in reversed(ops):
        if op.name in need:
            need.update(op.inputs)
    return [op for op in ops if op.name in need]


__all__ = ["SUPPORTED_LAYERS", "TorchNetwork", "UnsupportedNetwork", "load_torch_network"]
