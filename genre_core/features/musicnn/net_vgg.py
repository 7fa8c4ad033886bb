"""``musicnn.models.vgg`` in PyTorch (128 filters), inference mode.

The original (TF1, NHWC with H = time, W = mel band)::

    x -> expand_dims -> batch_norm (one scalar statistic)
    for i in 1..5:
        conv2d 3x3, 128 filters, padding "same", ReLU   (named "<i>CNN")
        batch_norm                                      (after the ReLU)
        max_pooling2d, padding "valid":
            pool1 [4, 1] strides [2, 2]   187 x 96 -> 92 x 48
            pool2 [2, 2] strides [2, 2]              -> 46 x 24
            pool3 [2, 2] strides [2, 2]              -> 23 x 12
            pool4 [2, 2] strides [2, 2]              -> 11 x 6
            pool5 [4, 4] strides [4, 4]              -> 2 x 1
        (dropout between blocks: inactive at inference)
    flatten(pool5) (time-major: t0 c0..c127, t1 c0..c127) -> dense 50 (logits)

``musicnn.extractor`` exposes the five pooled maps ``pool1`` .. ``pool5`` as
they are (``(frames, bands, 128)`` per patch; it does not pool them further)
and ``sigmoid(logits)`` as the taggram. Here every map is also summarised per
channel by its mean and its maximum over time and frequency
(``pool<i>_mean``, ``pool<i>_max``, 128 each): the fixed-size embeddings the
feature sets use. The dense layer needs exactly 187-frame patches (pool5 of 2
frames); the extractor enforces ``input_length=3`` for the same reason.
"""

from __future__ import annotations

from ...errors import GenreLabError
from .catalog import PATCH_FRAMES
from .nets import _import_torch, checkpoint_module
from .weights import VGG_BLOCKS, VGG_FLAT

__all__ = ["VGG_POOLS", "build_vgg_class"]

#: (kernel, stride) of each block's max pooling, (time, frequency).
VGG_POOLS = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)))
assert len(VGG_POOLS) == VGG_BLOCKS


def build_vgg_class():
    """The ``VggNet`` class (built on first use: it needs torch)."""
    torch = _import_torch()
    import torch.nn.functional as F

    class VggNet(checkpoint_module()):
        """``musicnn.models.vgg(num_filters=128)``, inference mode.

        Input ``(batch, 187, 96)`` log-mel patches. Returns a dict of
        ``taggram`` (sigmoid of the logits, 50) and, for ``i`` in 1..5,
        ``pool<i>_mean`` / ``pool<i>_max`` (128 each: the pooled map's mean and
        maximum over time and frequency); with ``maps=True`` also the maps
        ``pool<i>`` in TF layout ``(batch, frames, bands, 128)``.
        """

        def _torch_weight(self, layer, kind, kernel):
            if kind == "dense":
                return super()._torch_weight(layer, kind, kernel)
            return kernel.permute(3, 2, 0, 1).contiguous()  # TF (kh, kw, in, out) -> conv2d (out, in, kh, kw)

        def __init__(self, tensors, model_layout):
            super().__init__(tensors, model_layout)
            # Fold the sign of each channel's batch-norm scale into its filter and bias (and keep the
            # sign), so that the block can pool before ReLU and batch norm (see _block).
            for i in range(1, VGG_BLOCKS + 1):
                sign = torch.where(getattr(self, f"conv{i}_bn_scale") >= 0, 1.0, -1.0)
                getattr(self, f"conv{i}_weight").mul_(sign.view(-1, 1, 1, 1))
                getattr(self, f"conv{i}_bias").mul_(sign)
                self.register_buffer(f"conv{i}_sign", sign)

        def _block(self, h, i):
            """Conv 3x3 "same" (odd kernel: one zero each side, as TF) -> ReLU -> batch norm -> max pool.

            Computed as conv -> max pool -> sign -> ReLU -> batch norm, on a map
            4x smaller: ReLU and a batch norm with a fixed scale are monotone (in
            floating point too), so the max commutes with them for channels with
            a non-negative scale; for the others the filters are stored negated
            (``__init__``), the pool gives ``-min`` and the sign restores ``min``.
            Negation is exact, so this equals the original order.
            """
            weight, bias = getattr(self, f"conv{i}_weight"), getattr(self, f"conv{i}_bias")
            (kt, kf), (st, sf) = VGG_POOLS[i - 1]
            if (kt, kf, st) == (4, 1, 2):
                # pool1: a 1-band pool keeps every sf-th band, so only those are convolved; the 4-frame,
                # stride-2 max is the max of two overlapping pairwise maxima (oneDNN's NCHW pooling is
                # ~8x slower on this, the largest map). Measured: the vgg forward 16-20 -> 12 ms a patch.
                z = F.conv2d(h, weight, bias, padding=1, stride=(1, sf))
                pairs = torch.maximum(z[:, :, :-1], z[:, :, 1:])
                pooled = torch.maximum(pairs[:, :, 0:-2:2], pairs[:, :, 2::2])[:, :, : (z.shape[2] - 4) // 2 + 1]
            else:
                pooled = F.max_pool2d(F.conv2d(h, weight, bias, padding=1), kernel_size=(kt, kf), stride=(st, sf))
            return self._bn(F.relu(pooled * getattr(self, f"conv{i}_sign").view(1, -1, 1, 1)), f"conv{i}_bn")

        def forward(self, x, maps: bool = False):
            b = x.shape[0]
            h = self._bn(x, "input_bn", dim=0).unsqueeze(1)  # (b, 1, t, 96); one scalar statistic
            out = {}
            for i in range(1, VGG_BLOCKS + 1):
                h = self._block(h, i)  # (b, 128, t_i, f_i)
                out[f"pool{i}_mean"] = h.mean(dim=(2, 3))
                out[f"pool{i}_max"] = h.amax(dim=(2, 3))
                if maps:
                    out[f"pool{i}"] = h.permute(0, 2, 3, 1)
            flat = h.permute(0, 2, 3, 1).reshape(b, -1)  # TF flattens NHWC: time-major, channels last
            if flat.shape[1] != VGG_FLAT:
                raise GenreLabError(
                    f"the vgg models need {PATCH_FRAMES}-frame patches (pool5 of 2 frames); got {x.shape[1]} frames."
                )
            out["taggram"] = torch.sigmoid(F.linear(flat, self.logits_weight, self.logits_bias))
            return out

    return VggNet
