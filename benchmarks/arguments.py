"""Command-line argument types and the usage error, shared by ``spark-bench`` and
``python -m benchmarks.control`` (so neither CLI imports the other)."""

from __future__ import annotations

import argparse


class UsageError(Exception):
    """A bad command line or input that is the user's to fix (exit code 2)."""


def whole_number(text: str, least: int) -> int:
    """``text`` as a whole number >= ``least``, else an argparse error saying so."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {least}, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {least}, got {value}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1 (refused at parse time: ``--runs 0`` must not mean 'default')."""
    return whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """A whole number >= 0 (``--retries 0``: no second try)."""
    return whole_number(text, 0)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value
