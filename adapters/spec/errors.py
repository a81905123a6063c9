"""The one error a bad spec produces: which file, which field, what was there, what was expected."""

from __future__ import annotations


class SpecError(ValueError):
    """A spec that cannot be read or is not valid. ``str(err)`` is a complete one-line
    message for a user: ``FILE: FIELD.PATH: got VALUE; expected WHAT``."""

    def __init__(self, source: str, path: str, got: object, expected: str):
        self.source = source
        self.path = path or "<top level>"
        self.got = got
        self.expected = expected
        super().__init__(f"{source}: {self.path}: got {_short(got)}; expected {expected}")


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
