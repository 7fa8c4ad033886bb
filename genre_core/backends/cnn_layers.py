"""The Keras layers a genre-lab CNN can hold, as PyTorch operations (inference only).

Each builder takes ``(torch, layer, input shapes, weights)`` and returns the
operation and its output shape; an option or layer it does not know raises
:class:`UnsupportedNetwork` (the caller then falls back to Keras). Keras's
conventions are kept: channels-last tensors, ``(kh, kw, in, out)`` kernels,
TensorFlow's "same" padding (the extra cell after), average pooling over real
cells only, Dense kernels ``(in, out)``, flatten in ``(rows, frames, channels)``
order. The network around them is :mod:`genre_core.backends.cnn_torch`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

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


@dataclass
class _Layer:
    """One entry of the functional config: its Keras class, options and input layers."""

    name: str
    kind: str
    config: dict
    inputs: list[str]


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


def _pool_geometry(layer, shapes) -> tuple:
    """``(pool size, strides, input shape, (out rows, out frames), (left, right, top, bottom) padding)``."""
    p = _options(layer, {"pool_size": _int_pair, "strides": _int_pair_or_none, "padding": _one_of("same", "valid"),
                         "data_format": _CHANNELS_LAST})
    k = tuple(p["pool_size"])
    s = tuple(p["strides"]) if p["strides"] is not None else k
    shape = _one_input(shapes, layer)
    _rank(shape, 4, layer)
    out, pads = _window_geometry(shape, k, s, p["padding"])
    return k, s, shape, out, pads


def _max_pooling2d(torch, layer, shapes, v):
    k, s, shape, (ho, wo), pads = _pool_geometry(layer, shapes)
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
    k, s, shape, (ho, wo), pads = _pool_geometry(layer, shapes)
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


def _to_keras_layout(t):
    """A torch NCHW tensor back in Keras's NHWC order (other ranks unchanged)."""
    return t.permute(0, 2, 3, 1) if t.dim() == 4 else t


__all__ = ["SUPPORTED_LAYER_KINDS", "UnsupportedNetwork"]

#: Keras layer classes with a PyTorch builder here.
SUPPORTED_LAYER_KINDS = tuple(_BUILDERS)
