"""``musicnn.models.build_musicnn`` in PyTorch (64 mid-end filters, 200 back-end units).

The network runs in inference mode (:func:`build_musicnn_class`). Its
back-end after temporal pooling (:func:`back_end`) is one function of six
tensors, used both by the network (its checkpoint buffers) and by
:func:`pretrained_back_end`, the same layers as trainable parameters that
fine-tuning starts from.
"""

from __future__ import annotations

import functools

from .nets import _import_torch, checkpoint_module, musicnn_net
from .weights import DENSE, POOL_DIM

__all__ = ["BACK_END_TENSORS", "back_end", "build_musicnn_class", "pretrained_back_end"]

#: The back-end's tensors after temporal pooling, with their shapes: batch norm of the pooled maps
#: (scale, shift), the 200-unit dense layer (weight, bias) and its batch norm (scale, shift).
BACK_END_TENSORS = {
    "pool_bn_scale": (2 * POOL_DIM,),
    "pool_bn_shift": (2 * POOL_DIM,),
    "dense_weight": (DENSE, 2 * POOL_DIM),
    "dense_bias": (DENSE,),
    "dense_bn_scale": (DENSE,),
    "dense_bn_shift": (DENSE,),
}


def back_end(max_pool, mean_pool, t, *, dropout=None):
    """musicnn's ``penultimate`` layer from the temporally pooled maps: ``pool_bn -> dense -> ReLU -> dense_bn``.

    Parameters
    ----------
    max_pool, mean_pool : torch.Tensor, shape (batch, 753)
        Temporal max and mean of the front-end and mid-end maps (the
        ``musicnn_pool`` feature set's columns with ``pooling="both"`` are
        ``max_pool`` then ``mean_pool``).
    t : object
        Holds the :data:`BACK_END_TENSORS` as attributes: a ``MusicnnNet``
        (checkpoint buffers) or the module of :func:`pretrained_back_end`
        (trainable parameters).
    dropout : callable, optional
        Applied to the batch-normalised pooled maps before the dense layer
        (where musicnn was trained with dropout); inference passes none.

    Returns
    -------
    torch.Tensor, shape (batch, 200)
    """
    torch = _import_torch()
    # TF flattens the two statistics interleaved (max_0, mean_0, max_1, ...); its batch norms are affine
    # maps with the trained moving statistics.
    pooled = torch.stack([max_pool, mean_pool], dim=2).reshape(max_pool.shape[0], 2 * POOL_DIM)
    pooled = pooled * t.pool_bn_scale.view(1, -1) + t.pool_bn_shift.view(1, -1)
    if dropout is not None:
        pooled = dropout(pooled)
    hidden = torch.nn.functional.relu(torch.nn.functional.linear(pooled, t.dense_weight, t.dense_bias))
    return hidden * t.dense_bn_scale.view(1, -1) + t.dense_bn_shift.view(1, -1)


def pretrained_back_end(model: str | None = "MSD_musicnn"):
    """musicnn's back-end as a trainable ``torch.nn.Module``, initialised from ``model``'s checkpoint.

    Its input is a ``musicnn_pool`` row with ``pooling="both"`` (1506
    columns: the 753 temporal maxima, then the 753 means), its output the
    200-d ``penultimate`` layer; before training, equal to what
    :func:`~genre_core.features.musicnn.musicnn_net` computes for the same
    pooled maps. The :data:`BACK_END_TENSORS` are its parameters (the batch
    norms as a trainable affine map with the checkpoint's statistics folded
    in). ``model=None`` leaves them zero (to load a saved ``state_dict``).

    Examples
    --------
    >>> head = pretrained_back_end("MSD_musicnn")
    >>> sorted(dict(head.named_parameters()))[:2], sum(p.numel() for p in head.parameters())
    (['dense_bias', 'dense_bn_scale'], 304812)
    """
    source = None if model is None else musicnn_net(model)
    return _back_end_class()(source)


@functools.cache
def _back_end_class():
    torch = _import_torch()

    class MusicnnBackEnd(torch.nn.Module):
        """musicnn's back-end after temporal pooling, with trainable parameters (see :func:`pretrained_back_end`)."""

        def __init__(self, source=None):
            super().__init__()
            for name, shape in BACK_END_TENSORS.items():
                value = torch.zeros(shape) if source is None else getattr(source, name).detach().clone()
                self.register_parameter(name, torch.nn.Parameter(value))

        def forward(self, x, dropout=None):
            return back_end(x[:, :POOL_DIM], x[:, POOL_DIM:], self, dropout=dropout)

    return MusicnnBackEnd


def build_musicnn_class():
    """The ``MusicnnNet`` class (built on first use: it needs torch)."""
    torch = _import_torch()
    import torch.nn.functional as F

    class MusicnnNet(checkpoint_module()):
        """``musicnn.models.build_musicnn`` (64 mid-end filters, 200 back-end units), inference mode.

        Input ``(batch, frames, 96)`` log-mel patches; returns a dict of
        ``penultimate``, ``mean_pool``, ``max_pool``, ``taggram`` (sigmoid).
        TF1 "same" padding of even kernels puts the extra zero after the
        signal (pad ``k//2 - 1`` before, ``k//2`` after), reproduced here.
        """

        def _torch_weight(self, layer, kind, kernel):
            if kind == "dense":
                return super()._torch_weight(layer, kind, kernel)
            if layer.startswith("timbral"):  # TF (kh, kw, 1, out) -> conv2d (out, 1, kh, kw)
                return kernel.permute(3, 2, 0, 1).contiguous()
            return kernel[:, :, 0, :].permute(2, 1, 0).contiguous()  # (k, in, 1, out) -> conv1d (out, in, k)

        #: The front-end's convolutions, each followed by ReLU, batch norm and a max over frequency.
        FRONT_LAYERS = ("timbral_74", "timbral_77", "temporal_128", "temporal_64", "temporal_32")

        def __init__(self, tensors, model_layout):
            super().__init__(tensors, model_layout)
            # Fold the sign of each front-end channel's batch-norm scale into its filter (and keep the
            # sign): a max over frequency of the signed maps then gives max z or min z per channel.
            for layer in self.FRONT_LAYERS:
                sign = torch.where(getattr(self, f"{layer}_bn_scale") >= 0, 1.0, -1.0)
                weight = getattr(self, f"{layer}_weight")
                weight.mul_(sign.view(-1, *([1] * (weight.dim() - 1))))
                self.register_buffer(f"{layer}_sign", sign)

        def _relu_bn_max(self, signed_max, layer):
            """``max over frequency of BN(ReLU(z + bias))`` from ``signed_max``, the max of the signed maps.

            ReLU and an affine map with a fixed scale are monotone (in floating
            point too, as rounding is monotone), so the maximum commutes with
            them: it is ``BN(ReLU(max z + bias))`` for channels with a
            non-negative batch-norm scale and ``BN(ReLU(min z + bias))`` for the
            others. The filters of the latter are stored negated (``__init__``),
            so one max over frequency gives ``-min z`` for them, and the sign
            restores ``min z``; negation is exact, so this equals reducing the
            unsigned maps, and avoids three passes over the largest tensors (a
            max alone is also 2-10x faster than ``aminmax``). ``signed_max`` is
            ``(b, channels, t)``.
            """
            view = (1, -1, 1)
            scale = getattr(self, f"{layer}_bn_scale").view(view)
            picked = signed_max * getattr(self, f"{layer}_sign").view(view) + getattr(self, f"{layer}_bias").view(view)
            return F.relu(picked) * scale + getattr(self, f"{layer}_bn_shift").view(view)

        def _front_end(self, x):
            feats = []
            # Timbral front-end: 7 x (38|67) kernels over the time-padded patch, max over frequency.
            xt = F.pad(x, (0, 0, 3, 3)).unsqueeze(1)  # (b, 1, t+6, 96)
            for layer in ("timbral_74", "timbral_77"):
                z = F.conv2d(xt, getattr(self, f"{layer}_weight"))  # (b, 204, t, 96 - kw + 1), signed
                feats.append(self._relu_bn_max(z.amax(dim=3), layer))  # (b, 204, t)
            # Temporal front-end: 1-d kernels along time per mel band ("same" padding), max over
            # frequency. As one 1 x k conv2d over (mel, time) (oneDNN): the earlier matrix product of
            # the unfolded signal went through MKL's GEMM, measured 4-10x slower in a process that
            # also holds TensorFlow / xgboost (41 ms per patch vs 4), for the same values.
            xf = x.permute(0, 2, 1).unsqueeze(1)  # (b, 1, 96, t)
            for k in (128, 64, 32):
                layer = f"temporal_{k}"
                weight = getattr(self, f"{layer}_weight").unsqueeze(2)  # (51, 1, 1, k), signed
                z = F.conv2d(F.pad(xf, (k // 2 - 1, k // 2)), weight)  # (b, 51, 96, t)
                feats.append(self._relu_bn_max(z.amax(dim=2), layer))  # (b, 51, t)
            return torch.cat(feats, dim=1)  # (b, 561, t)

        def _mid_end(self, front):
            """Three 7-frame convolutions, the last two residual; returns the dense concatenation."""
            m1 = self._bn(F.relu(F.conv1d(F.pad(front, (3, 3)), self.midend_1_weight, self.midend_1_bias)), "midend_1_bn")
            m2 = self._bn(F.relu(F.conv1d(F.pad(m1, (3, 3)), self.midend_2_weight, self.midend_2_bias)), "midend_2_bn") + m1
            m3 = self._bn(F.relu(F.conv1d(F.pad(m2, (3, 3)), self.midend_3_weight, self.midend_3_bias)), "midend_3_bn") + m2
            return torch.cat([front, m1, m2, m3], dim=1)  # (b, 753, t)

        def forward(self, x):
            x = self._bn(x, "input_bn", dim=0)  # one scalar statistic (channel axis of size 1)
            mid = self._mid_end(self._front_end(x))
            # Back-end: temporal max and mean, then the dense layers (one implementation: back_end).
            max_pool = mid.amax(dim=2)
            mean_pool = mid.mean(dim=2)
            penultimate = back_end(max_pool, mean_pool, self)
            logits = F.linear(penultimate, self.logits_weight, self.logits_bias)
            return {"penultimate": penultimate, "mean_pool": mean_pool, "max_pool": max_pool,
                    "taggram": torch.sigmoid(logits)}

    return MusicnnNet
