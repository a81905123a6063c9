"""Which fields of a network spec changed: named for a person refusing or resuming a sweep.

A sweep's identity holds the spec's content digest, so an edited spec is refused on resume.
Two digests do not tell the user *what* they edited; this walks the canonical JSON of the
spec recorded in ``provenance.json`` and of the spec now, and names the fields that differ
(``populations[exc].model.tau_m: 20.0 there, 15.0 now``). List items that carry a ``name``
(populations, projections, drives) are named by it, so an inserted population does not
read as every later one changed.
"""

from __future__ import annotations

import json
from typing import Any

from .terminal import printable

SHOWN = 6
"""At most this many changed fields are named; the rest are counted."""


def spec_changes(before: Any, after: Any, path: str = "") -> list[str]:
    """Each differing field as ``path: <before> there, <after> now`` (or added/removed)."""
    if isinstance(before, dict) and isinstance(after, dict):
        said = []
        for key in sorted(set(before) | set(after), key=str):
            here = f"{path}{key}" if str(key).startswith("[") else (
                f"{path}.{key}" if path else str(key))
            if key not in before:
                said.append(f"{here}: added ({_short(after[key])})")
            elif key not in after:
                said.append(f"{here}: removed (was {_short(before[key])})")
            else:
                said += spec_changes(before[key], after[key], here)
        return said
    if isinstance(before, list) and isinstance(after, list):
        named_before, named_after = _by_name(before), _by_name(after)
        if named_before is not None and named_after is not None:
            return spec_changes(named_before, named_after, path)
        if len(before) != len(after):
            return [f"{path}: {len(before)} item(s) there, {len(after)} now"]
        said = []
        for i, (b, a) in enumerate(zip(before, after)):
            said += spec_changes(b, a, f"{path}[{i}]")
        return said
    if before != after or type(before) is not type(after):
        return [f"{path}: {_short(before)} there, {_short(after)} now"]
    return []


def describe(before: Any, after: Any) -> str:
    """The changed fields in one line, the first :data:`SHOWN` named (for an error message)."""
    changes = spec_changes(before, after)
    if not changes:
        return "no field differs"
    more = len(changes) - SHOWN
    return "; ".join(changes[:SHOWN]) + (f"; and {more} more" if more > 0 else "")


def _by_name(items: list) -> dict | None:
    """``items`` keyed as ``[name]`` when each is a dict with a distinct string name."""
    names = [item.get("name") if isinstance(item, dict) else None for item in items]
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        return None
    return {f"[{n}]": item for n, item in zip(names, items)}


def _short(value: Any) -> str:
    """A value as JSON, cut to 60 characters and safe to print (it may come from a stranger's
    provenance.json)."""
    text = json.dumps(value, sort_keys=True)
    return printable(text if len(text) <= 60 else text[:57] + "...")
