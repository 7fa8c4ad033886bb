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
from .cnn_layers import (
    _BUILDERS,
    UnsupportedNetwork,
    _eq,
    _Layer,
    _options,
    _pos_int,
    _to_keras_layout,
    _Vars,
)

_CONFIG_MEMBER = "config.json"
_WEIGHTS_MEMBER = "model.weights.h5"
_MAX_CONFIG_BYTES = 64 << 20
_MAX_WEIGHTS_BYTES = 4 << 30
#: Windows per forward pass: small batches keep the full-resolution feature maps in cache
#: (per window, 16 is about 2x faster than 64 on one core) and bound the memory.
_BATCH = 16


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


# --------------------------------------------------------------------------- options


# --------------------------------------------------------------------------- layers


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
