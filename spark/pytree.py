"""The one helper every pytree dataclass of the engine shares."""

from __future__ import annotations

from dataclasses import field
from typing import Any


def static(default: Any = ...) -> Any:
    """A dataclass field that is part of the pytree's *structure* (shapes, sizes, flags),
    not an array leaf: changing it recompiles, as it should."""
    if default is ...:
        return field(metadata=dict(static=True))
    return field(default=default, metadata=dict(static=True))
