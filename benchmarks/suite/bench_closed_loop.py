"""Closed-loop speed, compile time and memory, parameterised by backend x k."""

from __future__ import annotations

from adapters.base import Backend

from .common import (CLOSED_LOOP_BACKENDS, SPEEDUP_BACKENDS, STANDARD_BACKENDS,
                     STANDARD_NETWORKS, TIMESTEPS,
                     TOO_SLOW_FOR_ASV, build, check_fits, one_pass, reduced_network,
                     standard_network)


class ClosedLoop:
    """Wall time of the closed loop, compile excluded (it happens in ``setup``)."""

    params = (CLOSED_LOOP_BACKENDS, TIMESTEPS)
    param_names = ["backend", "k"]
    backend: Backend | None = None  # asv calls teardown even when setup skipped
    timeout = 120
    number = 1
    repeat = (1, 3, 20.0)

    def setup(self, backend: str, k: int) -> None:
        check_fits(backend, k)
        self.backend, _ = build(backend)
        one_pass(self.backend, k)  # warm-up: per-k compilation (JAX) stays out of the timing

    def teardown(self, backend: str, k: int) -> None:
        if self.backend is not None:
            self.backend.close()

    def time_closed_loop(self, backend: str, k: int) -> None:
        one_pass(self.backend, k)

    def track_loop_seconds_per_simulated_second(self, backend: str, k: int) -> float:
        """The protocol's own synchronised timing, per simulated second."""
        result = one_pass(self.backend, k)
        return result.seconds / (result.n_chunks * k * reduced_network().dt * 1e-3)

    track_loop_seconds_per_simulated_second.unit = "s/s"


class Latency:
    """Per-chunk latency at k = 1 (input in, one step, output on the host), the protocol's
    synchronised per-chunk timing: p50 and p99 over the reduced network's 500 chunks."""

    params = [[b for b in CLOSED_LOOP_BACKENDS if (b, 1) not in TOO_SLOW_FOR_ASV]]
    param_names = ["backend"]
    backend: Backend | None = None
    timeout = 120
    number = 1
    repeat = 1

    def setup(self, backend: str) -> None:
        self.backend, _ = build(backend)
        one_pass(self.backend, 1)  # warm-up

    def teardown(self, backend: str) -> None:
        if self.backend is not None:
            self.backend.close()

    def track_latency_p50_k1(self, backend: str) -> float:
        return one_pass(self.backend, 1).latency()["latency_p50_s"] * 1e6

    track_latency_p50_k1.unit = "us"

    def track_latency_p99_k1(self, backend: str) -> float:
        return one_pass(self.backend, 1).latency()["latency_p99_s"] * 1e6

    track_latency_p99_k1.unit = "us"


class StandardNetwork:
    """Closed-loop wall time on a reduced standard benchmark network (Brunel 2000: every
    neuron with its own external Poisson drive), compile excluded."""

    params = (STANDARD_NETWORKS, STANDARD_BACKENDS, [10, 100])
    param_names = ["network", "backend", "k"]
    backend: Backend | None = None
    timeout = 180
    number = 1
    repeat = (1, 3, 20.0)

    def setup(self, network: str, backend: str, k: int) -> None:
        self.net = standard_network(network)
        self.backend, _ = build(backend, net=self.net)
        one_pass(self.backend, k, self.net)  # warm-up (per-k compilation)

    def teardown(self, network: str, backend: str, k: int) -> None:
        if self.backend is not None:
            self.backend.close()

    def time_closed_loop_standard(self, network: str, backend: str, k: int) -> None:
        one_pass(self.backend, k, self.net)


class Speedup:
    """Speedup over Brian2 C++ uninterrupted, both measured in this one process: the figure
    that stays meaningful on noisy shared machines."""

    params = (SPEEDUP_BACKENDS, TIMESTEPS)
    param_names = ["backend", "k"]
    backend: Backend | None = None
    reference: Backend | None = None
    timeout = 180
    number = 1
    repeat = 1

    def setup(self, backend: str, k: int) -> None:
        check_fits(backend, k)
        self.backend, _ = build(backend)
        self.reference, _ = build("brian2-cpp-uninterrupted")
        one_pass(self.backend, k)
        one_pass(self.reference, k)

    def teardown(self, backend: str, k: int) -> None:
        for instance in (self.backend, self.reference):
            if instance is not None:
                instance.close()

    def track_speedup_vs_brian2_cpp(self, backend: str, k: int) -> float:
        candidate = min(one_pass(self.backend, k).seconds for _ in range(3))
        reference = min(one_pass(self.reference, k).seconds for _ in range(3))
        return reference / candidate

    track_speedup_vs_brian2_cpp.unit = "x"


class Compile:
    """Code generation + compile seconds, cold (fresh cache) and warm (cache reused)."""

    params = [CLOSED_LOOP_BACKENDS]
    param_names = ["backend"]
    timeout = 300
    number = 1
    repeat = 1

    def setup(self, backend: str) -> None:
        build(backend)[0].close()  # populate the warm cache; raises NotImplementedError if absent

    def track_compile_seconds_cold(self, backend: str) -> float:
        instance, report = build(backend, cold=True)
        instance.close()
        return report.phases.get("codegen_compile", float("nan"))

    track_compile_seconds_cold.unit = "seconds"

    def track_compile_seconds_warm(self, backend: str) -> float:
        instance, report = build(backend)
        instance.close()
        return report.phases.get("codegen_compile", float("nan"))

    track_compile_seconds_warm.unit = "seconds"


class Memory:
    """Peak memory of building the reduced network and running it once at k = 10."""

    params = [CLOSED_LOOP_BACKENDS]
    param_names = ["backend"]
    timeout = 300

    def peakmem_build_and_run(self, backend: str) -> None:
        instance, _ = build(backend)
        try:
            one_pass(instance, 10)
        finally:
            instance.close()
