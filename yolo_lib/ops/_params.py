"""Normalising and checking the static parameters of the CNN Ops (pure Python, no PyTensor).

Everything here runs when a graph is built, so a wrong argument fails early with a message that
names the offending value, instead of deep inside numpy or XLA.
"""

from __future__ import annotations

import numbers


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def pair(value, name: str, minimum: int) -> tuple[int, int]:
    """``int | (a, b)`` -> ``(a, b)`` of Python ints, each >= ``minimum``."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(_is_int(v) for v in items):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in items)


def padding_pairs(value, name: str = "padding") -> tuple[tuple[int, int], tuple[int, int]]:
    """``int | (ph, pw) | ((top, bottom), (left, right))`` -> ``((top, bottom), (left, right))``."""
    if isinstance(value, str):
        raise ValueError(
            f"{name}={value!r}: only explicit padding is supported (XLA's 'SAME' pads "
            "stride-2 layers asymmetrically, unlike PyTorch/Ultralytics)"
        )
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (tuple, list)) for v in value)
    ):
        top_bottom = pair(value[0], f"{name}[0]", 0)
        left_right = pair(value[1], f"{name}[1]", 0)
        return (top_bottom, left_right)
    ph, pw = pair(value, name, 0)
    return ((ph, ph), (pw, pw))


def out_len(n, k: int, stride: int, pads: tuple[int, int], dilation: int = 1):
    """Output length of a sliding window (works for Python ints and symbolic scalars)."""
    return (n + pads[0] + pads[1] - dilation * (k - 1) - 1) // stride + 1


def check_window_fits(op_name: str, x_shape, kernel, padding, dilation=(1, 1)) -> None:
    """Raise ValueError when the (dilated) kernel is larger than the padded input (static dims)."""
    for axis, (n, k, pads, d) in enumerate(zip(x_shape[2:], kernel, padding, dilation)):
        if n is None or k is None:
            continue
        extent = d * (k - 1) + 1
        if extent > n + pads[0] + pads[1]:
            raise ValueError(
                f"{op_name}: kernel extent {extent} (kernel {k}, dilation {d}) along "
                f"{'HW'[axis]} is larger than the padded input {n}+{pads[0]}+{pads[1]} "
                f"(input shape {tuple(x_shape)})"
            )


def check_rank(op_name: str, name: str, var, ndim: int, layout: str) -> None:
    """Raise ValueError unless ``var`` has rank ``ndim`` (``layout`` names its axes)."""
    if var.type.ndim != ndim:
        raise ValueError(
            f"{op_name}: {name} must be {ndim}-D {layout}, got a {var.type.ndim}-D tensor "
            f"of shape {var.type.shape}"
        )
