"""The forward passes' arithmetic precision: float32 (default, the reference path) or opt-in bfloat16.

"bfloat16" runs the convolutions and matrix products in bfloat16 through
oneDNN (torch CPU autocast), only where the CPU has native bfloat16 arithmetic
(AVX512-BF16 or AMX). Measured on this project's 2-core AMD EPYC (AVX512-BF16,
no AMX), 20 windows of a GTZAN clip: 2.2-2.7x less CPU time for the musicnn
forward pass; embeddings differ by up to 0.05 (|values| up to 3),
linear-musicnn's segment probabilities by up to 0.006 and its track
probabilities by 2e-4 (same verdicts).
"""

from __future__ import annotations

from ...errors import GenreLabError

__all__ = ["PRECISIONS", "bf16_supported", "get_precision", "set_precision"]

PRECISIONS = ("float32", "bfloat16")
_PRECISION: list[str | None] = [None]  # None: not chosen yet (read GENRE_MUSICNN_PRECISION once)


def bf16_supported() -> bool:
    """Whether this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX-BF16)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            flags = set()
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
        return bool({"avx512_bf16", "amx_bf16"} & flags)
    except OSError:
        return False


def set_precision(precision: str | None) -> str:
    """Choose the forward pass's precision: ``"float32"`` (default) or ``"bfloat16"``.

    ``None`` goes back to the default (``GENRE_MUSICNN_PRECISION`` if set, else
    float32). bfloat16 falls back to float32 on a CPU without native bfloat16
    (see :func:`bf16_supported`). Returns the precision in force. Feature-set
    cache keys carry a non-default precision, so cached float32 embeddings are
    never mixed with bfloat16 ones.
    """
    if precision is None:
        import os

        precision = os.environ.get("GENRE_MUSICNN_PRECISION", "float32").strip().lower() or "float32"
    aliases = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16"}
    if precision not in aliases:
        raise GenreLabError(f"Unknown musicnn precision {precision!r}; choose float32 or bfloat16.")
    precision = aliases[precision]
    if precision == "bfloat16" and not bf16_supported():
        precision = "float32"
    _PRECISION[0] = precision
    return precision


def get_precision() -> str:
    """The forward pass's precision in force (see :func:`set_precision`)."""
    return _PRECISION[0] if _PRECISION[0] is not None else set_precision(None)
