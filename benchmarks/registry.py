"""Backends by name. Each entry imports its module only when asked, so a missing optional
simulator (brian2cuda, NEST) never breaks the others."""

from __future__ import annotations

from collections.abc import Callable

from adapters.base import Backend, BackendUnavailable


def _spark() -> type[Backend]:
    from adapters.spark_backend import SparkBackend

    return SparkBackend


def _spark_native() -> type[Backend]:
    from adapters.spark_backend import SparkNativeBackend

    return SparkNativeBackend


def _brian2(attr: str) -> Callable[[], type[Backend]]:
    """Loader for one Brian2 mode class exported by :mod:`adapters.brian2`."""

    def load() -> type[Backend]:
        import adapters.brian2 as brian2_modes

        return brian2_modes.BACKENDS[attr]

    return load


def _nest(name: str) -> Callable[[], type[Backend]]:
    def load() -> type[Backend]:
        try:
            import adapters.nest_backend as nest_modes
        except ImportError as err:
            raise BackendUnavailable(name, f"NEST adapter not importable ({err}); "
                                           "install with: pip install -e '.[nest]'") from None
        return nest_modes.BACKENDS[name]

    return load


# Order matters: it is the default sweep order, and fidelity references come first.
LOADERS: dict[str, Callable[[], type[Backend]]] = {
    "brian2-cpp-uninterrupted": _brian2("brian2-cpp-uninterrupted"),
    "spark": _spark,
    "spark-native": _spark_native,
    "brian2-cpp": _brian2("brian2-cpp"),
    "brian2-runtime": _brian2("brian2-runtime"),
    "brian2-numpy": _brian2("brian2-numpy"),
    "brian2-cpp-relaunch": _brian2("brian2-cpp-relaunch"),
    "brian2-cuda": _brian2("brian2-cuda"),
    "nest": _nest("nest"),
    "nest-uninterrupted": _nest("nest-uninterrupted"),
}

# What `spark-bench run` sweeps when --backends is not given.
DEFAULT_BACKENDS = ("brian2-cpp-uninterrupted", "spark", "spark-native", "brian2-cpp",
                    "brian2-runtime", "brian2-cpp-relaunch", "brian2-cuda", "nest",
                    "nest-uninterrupted")
# NEST is float64-only: in a float32 sweep it is listed as skipped, with that reason.
QUICK_BACKENDS = ("brian2-cpp-uninterrupted", "spark", "spark-native", "brian2-cpp",
                  "brian2-runtime", "nest")
FIDELITY_REFERENCE = "brian2-cpp-uninterrupted"

# Open-loop-only modes (whole run, inputs known in advance), known without importing the
# simulator so that even a skipped one gets the right cells; a test checks it against
# each class's ``capabilities.closed_loop``.
OPEN_LOOP_ONLY = frozenset({"brian2-cpp-uninterrupted", "nest-uninterrupted"})


def load_backend(name: str) -> type[Backend]:
    """The backend class for ``name``; BackendUnavailable when its simulator is missing."""
    if name not in LOADERS:
        raise KeyError(f"unknown backend {name!r}; known: {', '.join(LOADERS)}")
    try:
        return LOADERS[name]()
    except ImportError as err:
        raise BackendUnavailable(name, f"cannot import its simulator ({err})") from None
    except KeyError:
        raise BackendUnavailable(name, "this mode is not implemented by its adapter yet") from None
