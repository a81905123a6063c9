"""The shared, simulator-independent network specification.

``load_spec(NAME_OR_FILE)`` gives a validated :class:`NetworkSpec` (a built-in network by
name, or a TOML/JSON file); ``materialise(spec, seed)`` turns it into the explicit arrays
every backend consumes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .codec import dumps_json, dumps_toml, read_spec_file, write_spec_file
from .errors import SpecError
from .materialise import MaterialisedNetwork, materialise
from .model import FORMAT_VERSION, NetworkSpec
from .networks import BUILTIN
from .validate import validate


def load_spec(name_or_path: str | Path) -> NetworkSpec:
    """A built-in network by name, or a spec file; validated either way."""
    key = str(name_or_path)
    if key in BUILTIN:
        return validate(BUILTIN[key](), source=f"built-in network {key!r}")
    path = Path(key)
    if not path.exists():
        raise SpecError(key, "", key, "a built-in network (" + ", ".join(BUILTIN)
                        + ") or an existing .toml/.json spec file")
    return validate(read_spec_file(path), source=str(path))


def content_digest(spec: NetworkSpec) -> str:
    """16 hex digits of SHA-256 over the spec's canonical JSON: equal digests mean the same
    network and settings, whatever file or name it was loaded from."""
    return hashlib.sha256(dumps_json(spec).encode()).hexdigest()[:16]


__all__ = [
    "BUILTIN", "FORMAT_VERSION", "MaterialisedNetwork", "NetworkSpec", "SpecError",
    "content_digest", "dumps_json", "dumps_toml", "load_spec", "materialise", "read_spec_file", "validate",
    "write_spec_file",
]
