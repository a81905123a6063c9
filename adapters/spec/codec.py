"""One generic dict codec for the spec types, and one reader/writer per file format.

Decoding is driven by the dataclasses' type hints, so the file format cannot drift from
the types. It checks structure only (unknown or missing fields, types, kinds); meaning is
checked by :mod:`adapters.spec.validate`. Nothing in a file is ever evaluated as code.
"""

from __future__ import annotations

import json
import math
import stat
import tomllib
import types
import typing
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import tomli_w

from ..files import write_text_atomic
from . import model
from .errors import SpecError
from .model import FORMAT_VERSION, Constant, NetworkSpec

# Which registry decodes a union-typed field ({kind: class}).
_UNION_REGISTRIES: dict[object, dict[str, type]] = {
    model.Distribution: model.DISTRIBUTIONS,
    model.NeuronModel: model.NEURON_MODELS,
    model.SynapseModel: model.SYNAPSES,
    model.Plasticity: model.PLASTICITY,
    model.Connector: model.CONNECTORS,
}
_KIND_LISTS = {id(reg): ", ".join(sorted(reg)) for reg in _UNION_REGISTRIES.values()}


# --------------------------------------------------------------------------- encoding


def to_dict(value: Any) -> Any:
    """Plain dict/list/scalar form of a spec value (``kind`` added for registered classes,
    ``None`` fields omitted, tuples as lists)."""
    if is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        kind = getattr(type(value), "kind", None)
        if isinstance(kind, str):
            out["kind"] = kind
        for f in fields(value):
            item = getattr(value, f.name)
            if item is not None:
                out[f.name] = to_dict(item)
        return out
    if isinstance(value, (tuple, list)):
        return [to_dict(v) for v in value]
    if isinstance(value, dict):
        return {k: to_dict(v) for k, v in value.items()}
    return value


def spec_to_document(spec: NetworkSpec) -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION, **to_dict(spec)}


def dumps_json(spec: NetworkSpec) -> str:
    return json.dumps(spec_to_document(spec), indent=2) + "\n"


def dumps_toml(spec: NetworkSpec) -> str:
    return tomli_w.dumps(spec_to_document(spec))


# --------------------------------------------------------------------------- decoding


class _Decoder:
    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, got: object, expected: str) -> typing.NoReturn:
        raise SpecError(self.source, path, got, expected)

    def value(self, hint: Any, data: Any, path: str) -> Any:
        if hint in _UNION_REGISTRIES:
            return self.registered(_UNION_REGISTRIES[hint], data, path,
                                   allow_number=hint is model.Distribution)
        origin = get_origin(hint)
        if origin in (Union, types.UnionType):
            options = [a for a in get_args(hint) if a is not type(None)]
            if data is None:
                return None
            if len(options) == 1:
                return self.value(options[0], data, path)
            return self.registered(_UNION_REGISTRIES[Union[tuple(options)]], data, path,
                                   allow_number=False)
        if origin is Literal:
            allowed = get_args(hint)
            if data not in allowed:
                self.fail(path, data, "one of " + ", ".join(repr(a) for a in allowed))
            return data
        if origin is tuple:
            item_hint = get_args(hint)[0]
            if not isinstance(data, list):
                self.fail(path, data, "a list")
            return tuple(self.value(item_hint, v, f"{path}[{i}]") for i, v in enumerate(data))
        if origin is dict:
            _, item_hint = get_args(hint)
            if not isinstance(data, dict):
                self.fail(path, data, "a table of name = value")
            return {str(k): self.value(item_hint, v, f"{path}.{k}") for k, v in data.items()}
        if hint is float:
            if isinstance(data, bool) or not isinstance(data, (int, float)):
                self.fail(path, data, "a number")
            try:
                number = float(data)  # a 400-digit integer overflows here
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                self.fail(path, data, "a finite number")
            return number
        if hint is int:
            if isinstance(data, bool) or not isinstance(data, int):
                self.fail(path, data, "a whole number")
            return data
        if hint is bool:
            if not isinstance(data, bool):
                self.fail(path, data, "true or false")
            return data
        if hint is str:
            if not isinstance(data, str):
                self.fail(path, data, "a string")
            return data
        if is_dataclass(hint):
            return self.dataclass(hint, data, path)
        raise TypeError(f"codec cannot decode type {hint!r} at {path}")  # a bug, not user input

    def registered(self, registry: dict[str, type], data: Any, path: str,
                   allow_number: bool) -> Any:
        if allow_number and isinstance(data, (int, float)) and not isinstance(data, bool):
            return Constant(value=self.value(float, data, path))
        if not isinstance(data, dict):
            shorthand = "a number or " if allow_number else ""
            self.fail(path, data, f"{shorthand}a table with kind = one of {_KIND_LISTS[id(registry)]}")
        kind = data.get("kind")
        if not isinstance(kind, str) or kind not in registry:
            self.fail(f"{path}.kind", kind, f"one of {_KIND_LISTS[id(registry)]}")
        body = {k: v for k, v in data.items() if k != "kind"}
        return self.dataclass(registry[kind], body, path)

    def dataclass(self, cls: type, data: Any, path: str) -> Any:
        if not isinstance(data, dict):
            self.fail(path, data, f"a table ({cls.__name__})")
        hints = typing.get_type_hints(cls)
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                self.fail(_join(path, key), data[key],
                          f"no such field in {cls.__name__} (fields: {', '.join(sorted(known))})")
        kwargs = {}
        for f in fields(cls):
            if f.name in data:
                kwargs[f.name] = self.value(hints[f.name], data[f.name], _join(path, f.name))
            elif f.default is MISSING and f.default_factory is MISSING:
                self.fail(_join(path, f.name), None, f"a value (required by {cls.__name__})")
        return cls(**kwargs)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# Union[...] of connectors etc. is built by typing; make lookup by the rebuilt union work.
for _hint, _registry in list(_UNION_REGISTRIES.items()):
    _UNION_REGISTRIES[Union[tuple(get_args(_hint))]] = _registry


def from_document(document: Any, source: str = "<spec>") -> NetworkSpec:
    """Decode a parsed TOML/JSON document (structure and types only)."""
    decoder = _Decoder(source)
    if not isinstance(document, dict):
        decoder.fail("", document, "a table at the top level")
    version = document.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:  # true == 1 and 1.0 == 1 in Python
        decoder.fail("format_version", version, f"{FORMAT_VERSION} (this spark-bench reads format {FORMAT_VERSION})")
    body = {k: v for k, v in document.items() if k != "format_version"}
    return decoder.dataclass(NetworkSpec, body, "")


MAX_SPEC_BYTES = 64 * 2**20
"""Spec files larger than this are refused unread (a network of explicit synapse lists
this large belongs in code that generates it, not in a spec file)."""


def parse_text(text: str, fmt: str, source: str) -> NetworkSpec:
    """Parse TOML or JSON text; syntax errors and nesting too deep for the parser become a
    :class:`SpecError`."""
    try:
        document = (tomllib.loads(text) if fmt == "toml"
                    else json.loads(text, object_pairs_hook=_refuse_duplicate_keys))
    except _DuplicateKey as err:
        raise SpecError(source, "", f"the key {err.args[0]!r} twice in one table",
                        "each key once (JSON would silently keep the last)") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise SpecError(source, "", "unparsable text", f"valid {fmt.upper()} ({err})") from None
    except RecursionError:
        raise SpecError(source, "", "nesting too deep to parse",
                        f"a spec nested no deeper than its fields ({fmt.upper()})") from None
    return from_document(document, source)


class _DuplicateKey(Exception):
    pass


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    table = {}
    for key, value in pairs:
        if key in table:
            raise _DuplicateKey(key)
        table[key] = value
    return table


def format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return "toml"
    if suffix == ".json":
        return "json"
    raise SpecError(str(path), "", suffix or "no extension", "a .toml or .json file")


def read_spec_file(path: Path) -> NetworkSpec:
    """Read and structurally decode a spec file (use :func:`adapters.spec.load_spec` to
    also validate)."""
    path = Path(path)
    fmt = format_of(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # /dev/zero, a FIFO: endless or blocking reads
            raise SpecError(str(path), "", "not a regular file", "a spec file")
        if info.st_size > MAX_SPEC_BYTES:
            raise SpecError(str(path), "", f"{info.st_size:,d} bytes",
                            f"a spec file of at most {MAX_SPEC_BYTES:,d} bytes")
        with open(path, "rb") as fh:  # the size may have grown since stat: read a bounded amount
            data = fh.read(MAX_SPEC_BYTES + 1)
        if len(data) > MAX_SPEC_BYTES:
            raise SpecError(str(path), "", f"more than {MAX_SPEC_BYTES:,d} bytes",
                            f"a spec file of at most {MAX_SPEC_BYTES:,d} bytes")
        text = data.decode("utf-8")
    except OSError as err:
        raise SpecError(str(path), "", err.strerror, "a readable file") from None
    except UnicodeDecodeError as err:
        raise SpecError(str(path), "", f"byte {err.object[err.start]:#04x} at offset {err.start}",
                        "UTF-8 text") from None
    return parse_text(text, fmt, str(path))


def write_spec_file(spec: NetworkSpec, path: Path) -> None:
    """Write TOML or JSON by extension, atomically."""
    path = Path(path)
    text = dumps_toml(spec) if format_of(path) == "toml" else dumps_json(spec)
    write_text_atomic(path, text)
