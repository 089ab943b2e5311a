"""Argument checks shared by the public entry points: one clear message naming the parameter."""

from __future__ import annotations

import jax
import numpy as np


def is_concrete(value) -> bool:
    """False for values being traced by jit/vmap/grad, whose range cannot be checked in Python: JAX's
    public way to tell is that a tracer refuses to become a numpy array."""
    try:
        np.asarray(value)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return False
    return True


def check_range(name: str, value, low=None, high=None, *, integer: bool = False) -> None:
    """Raise `ValueError` naming `name` and the allowed range unless `low <= value <= high`.

    Traced values are skipped: they are checked where the concrete value entered.
    """
    if not is_concrete(value):
        return
    values = np.asarray(value)
    allowed = _describe(low, high, integer)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be a finite number{allowed}; got {value!r}")
    if integer and not np.all(np.equal(np.mod(values, 1), 0)):
        raise ValueError(f"{name} must be a whole number{allowed}; got {value!r}")
    if (low is not None and np.any(values < low)) or (high is not None and np.any(values > high)):
        raise ValueError(f"{name} must be{allowed}; got {value!r}")


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {value!r}")


def _describe(low, high, integer) -> str:
    kind = "integer" if integer else "number"
    if low is not None and high is not None:
        return f" between {low} and {high} (an {kind})" if integer else f" between {low} and {high}"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" <= {high}"
    return ""
