"""Hyperparameter descriptions (:class:`Param`) that the CLI, the Train page and sweeps build their controls from."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import GenreLabError

#: Text a boolean parameter accepts for true and for false.
_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


@dataclass
class Param:
    """One hyperparameter of a backend, described well enough to build a control.

    Parameters
    ----------
    name : str
        Keyword accepted by the backend's constructor (``--name`` on the CLI,
        with ``_`` written as ``-``).
    default : Any
        Value used when the parameter is not given.
    type : type
        One of ``int``, ``float``, ``bool``, ``str`` or ``tuple`` (a tuple of
        ints such as layer sizes, written ``"512,256,128"`` on the CLI).
    help : str
        One sentence for ``--help`` and the Train page.
    choices : list or None
        Allowed values (for ``str`` parameters).
    low, high : number or None
        Inclusive bounds (for ``tuple``: bounds of every element).
    advanced : bool
        Hint for user interfaces: hide behind an "advanced" expander.

    Examples
    --------
    >>> p = Param("hidden", (512, 256), tuple, "Units per hidden layer.", low=1, high=4096)
    >>> p.coerce("128,64")
    (128, 64)
    >>> p.format((128, 64))
    '128,64'
    """

    name: str
    default: Any
    type: type
    help: str
    choices: list | None = None
    low: float | int | None = None
    high: float | int | None = None
    advanced: bool = False

    def coerce(self, value: Any) -> Any:
        """Return ``value`` converted to this parameter's type, or raise.

        Strings (from the CLI or a form) are parsed; values already of the
        right type are returned unchanged (the same object). Raises
        :class:`~genre_core.errors.GenreLabError` with a sentence naming the
        parameter when the value cannot be used.
        """
        try:
            out = self._convert(value)
        except (TypeError, ValueError) as err:
            raise GenreLabError(
                f"Hyperparameter {self.name!r}: cannot use {value!r} as {self._type_words()} ({err})."
            ) from None
        self._check(out)
        return out

    def _type_words(self) -> str:
        return {int: "an integer", float: "a number", bool: "true/false", str: "text",
                tuple: "a comma-separated list of integers"}.get(self.type, self.type.__name__)

    def _convert(self, value: Any) -> Any:
        t = self.type
        if t is bool:
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            if isinstance(value, (int, np.integer)) and value in (0, 1):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            raise ValueError("expected true or false")
        if t is int:
            if isinstance(value, bool):
                raise ValueError("expected an integer, got a boolean")
            if isinstance(value, int):
                return value
            if isinstance(value, np.integer):
                return int(value)
            if isinstance(value, (float, np.floating)):
                if float(value).is_integer():
                    return int(value)
                raise ValueError("not a whole number")
            if isinstance(value, str):
                f = float(value.strip())
                if not f.is_integer():
                    raise ValueError("not a whole number")
                return int(f)
            raise TypeError(f"got {type(value).__name__}")
        if t is float:
            if isinstance(value, bool):
                raise ValueError("expected a number, got a boolean")
            if isinstance(value, float):
                out = value
            elif isinstance(value, (int, np.integer, np.floating, str)):
                out = float(value.strip() if isinstance(value, str) else value)
            else:
                raise TypeError(f"got {type(value).__name__}")
            if not math.isfinite(out):
                raise ValueError("not a finite number")
            return out
        if t is str:
            if isinstance(value, str):
                return value
            raise TypeError(f"got {type(value).__name__}")
        if t is tuple:
            if isinstance(value, str):
                parts = [p for p in value.replace(" ", "").strip("()[]").split(",") if p != ""]
                return tuple(int(p) for p in parts)
            if isinstance(value, tuple) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                return value
            if isinstance(value, (list, tuple, np.ndarray)):
                out = []
                for v in value:
                    if isinstance(v, bool) or not float(v).is_integer():
                        raise ValueError(f"{v!r} is not a whole number")
                    out.append(int(v))
                return tuple(out)
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                return (int(value),)
            raise TypeError(f"got {type(value).__name__}")
        raise TypeError(f"unsupported parameter type {t!r}")

    def _check(self, value: Any) -> None:
        if self.choices is not None and value not in self.choices:
            raise GenreLabError(
                f"Hyperparameter {self.name!r}: {value!r} is not one of {', '.join(map(str, self.choices))}."
            )
        items = value if self.type is tuple else (value,)
        if self.type is tuple and len(items) == 0:
            raise GenreLabError(f"Hyperparameter {self.name!r}: give at least one value.")
        if self.type in (int, float, tuple):
            for v in items:
                if self.low is not None and v < self.low:
                    raise GenreLabError(f"Hyperparameter {self.name!r}: {v!r} is below the minimum {self.low}.")
                if self.high is not None and v > self.high:
                    raise GenreLabError(f"Hyperparameter {self.name!r}: {v!r} is above the maximum {self.high}.")

    def format(self, value: Any) -> str:
        """The value written the way :meth:`coerce` reads it back (CLI / text field)."""
        if self.type is tuple:
            return ",".join(str(v) for v in value)
        if self.type is bool:
            return "true" if value else "false"
        return str(value)

    def to_dict(self) -> dict:
        """JSON-able description (type written as its name)."""
        d = {
            "name": self.name,
            "default": list(self.default) if isinstance(self.default, tuple) else self.default,
            "type": self.type.__name__,
            "help": self.help,
        }
        for key in ("choices", "low", "high"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.advanced:
            d["advanced"] = True
        return d



def _json_param(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def epoch_loop_params(*, epochs: int, batch_size: int, max_batch: int, patience: int, lr_patience: int,
                      min_lr: float) -> list[Param]:
    """The hyperparameters of an epoch-based training loop (neural backends), with that backend's defaults.

    ``epochs``, ``batch_size``, early stopping (``patience``, ``monitor``) and
    LR reduction on plateaus (``lr_patience``, ``lr_factor``, ``min_lr``).
    """
    return [
        Param("epochs", epochs, int, "Maximum training epochs.", low=1, high=10000),
        Param("batch_size", batch_size, int, "Windows per gradient step.", low=2, high=max_batch),
        Param("patience", patience, int, "Stop after this many epochs without improvement (0 = never).", low=0,
              high=10000),
        Param("monitor", "val_loss", str, "Quantity early stopping and LR reduction watch "
              "(training loss when there is no validation set).", choices=["val_loss", "val_accuracy"]),
        Param("lr_patience", lr_patience, int, "Epochs without improvement before the LR is reduced.", low=1,
              high=1000, advanced=True),
        Param("lr_factor", 0.5, float, "LR multiplier on a plateau.", low=0.01, high=0.99, advanced=True),
        Param("min_lr", min_lr, float, "Lower bound of the learning rate.", low=0.0, high=1.0, advanced=True),
    ]
