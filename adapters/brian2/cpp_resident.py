"""``brian2-cpp`` (resident binary, closed loop) and ``brian2-cpp-uninterrupted``.

One compiled ``cpp_standalone`` binary stays running; each chunk the host writes the
step count and the chunk's input spikes to its stdin, the binary runs
``spark_net.run(k*dt)`` (state, delay queues and t simply carry on) and writes the
readout counts to a result pipe (see :mod:`.standalone`). ``reset()`` restarts the
process (kill + start + wait for its hello): the binary's start-up (loading the
materialised arrays, ``run(0 ms)``) is paid in ``reset``, never inside a chunk.

``brian2-cpp-uninterrupted`` is the same binary driven once with the whole input: one
``run(n_steps*dt)`` with the inputs known in advance (the open-loop normaliser). Both
share one build directory, because the generated project is identical.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import struct
import subprocess
import time

import numpy as np

from ..base import (
    sorted_spikes,
    Backend,
    BackendFailed,
    BackendOptions,
    BuildReport,
    Capabilities,
    ChunkInput,
    check_supported,
)
from ..spec.materialise import MaterialisedNetwork
from .builds import build_dir, build_key, locked
from .standalone import Layout, generate_and_compile
from .translate import PLASTIC_FEATURES

HELLO = 0x5350524B
FLAVOUR = "cpp-resident"


def encode_chunk(spikes: np.ndarray, modulator: float | None = None) -> bytes:
    """One chunk's request on the binary's stdin (the protocol of
    :func:`adapters.brian2.standalone.serve_loop`, C++ and CUDA alike): ``int64[3] = {1, k,
    n_events}`` then the events as ``int32 (step_in_chunk, input_index)`` pairs; with a
    ``modulator`` (networks with reward-modulated synapses), ``{2, k, n_events}``, the
    modulator as ``float64``, then the events."""
    steps, idx = np.nonzero(spikes)
    ev = np.empty((steps.size, 2), dtype="<i4")
    ev[:, 0] = steps
    ev[:, 1] = idx
    if modulator is None:
        return struct.pack("<3q", 1, int(spikes.shape[0]), steps.size) + ev.tobytes()
    return (struct.pack("<3qd", 2, int(spikes.shape[0]), steps.size, float(modulator))
            + ev.tobytes())


def read_answer(read_i64, n_readouts: int, n_recorded: int,
                ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """The binary's answer to one chunk, read with ``read_i64(n)``: the readout counts, then
    per recorded population ``n`` and ``n`` steps and ``n`` indices."""
    counts = read_i64(n_readouts).astype(np.int64)
    recorded = []
    for _ in range(n_recorded):
        n = int(read_i64(1)[0])
        if n:
            data = read_i64(2 * n)
            recorded.append((data[:n].copy(), data[n:].copy()))
        else:
            recorded.append((np.zeros(0, np.int64), np.zeros(0, np.int64)))
    return counts, recorded


class ResidentProcess:
    """One running binary and its two pipes."""

    def __init__(self, directory, layout: Layout, threads: int, name: str, log_path):
        self.layout = layout
        self.name = name
        self.log_path = log_path
        read_fd, write_fd = os.pipe()
        env = dict(os.environ, SPARK_RESULT_FD=str(write_fd), OMP_NUM_THREADS=str(threads))
        self._stderr = open(directory / "spark_resident.stderr", "ab")
        try:
            self.proc = subprocess.Popen([str(directory / "main")], cwd=str(directory),
                                         stdin=subprocess.PIPE, stdout=self._stderr,
                                         stderr=self._stderr, pass_fds=(write_fd,), env=env)
        finally:
            os.close(write_fd)
        self._out = os.fdopen(read_fd, "rb", buffering=0)
        hello = self._read_i64(2)
        if hello[0] != HELLO or hello[1] != len(layout.readouts):
            raise BackendFailed(name, f"resident binary said {hello.tolist()}", log_path)

    def _read_exact(self, n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            b = self._out.read(n - got)
            if not b:
                code = self.proc.poll()
                raise BackendFailed(self.name, f"resident binary exited (code {code}); see "
                                               f"spark_resident.stderr", self.log_path)
            chunks.append(b)
            got += len(b)
        return b"".join(chunks)

    def _read_i64(self, n: int) -> np.ndarray:
        return np.frombuffer(self._read_exact(8 * n), dtype="<i8")

    def run(self, spikes: np.ndarray, modulator: float | None = None,
            ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        self.proc.stdin.write(encode_chunk(spikes, modulator))
        self.proc.stdin.flush()
        return read_answer(self._read_i64, len(self.layout.readouts), len(self.layout.recorded))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        for fh in (self.proc.stdin, self._out, self._stderr):
            try:
                fh.close()
            except OSError:
                pass


class _ResidentBinaryBackend(Backend):
    """Shared body of the two resident-binary modes (abstract: not registered)."""

    def __init__(self) -> None:
        self._proc: ResidentProcess | None = None
        self._layout: Layout | None = None

    def prepare(self, net: MaterialisedNetwork, options: BackendOptions) -> BuildReport:
        check_supported(type(self), net)
        self.close()
        bdir = build_dir(net, FLAVOUR, options)
        key = build_key(net, FLAVOUR, options)
        layout_file = bdir.path / "spark_layout.json"
        with locked(bdir):
            if bdir.is_built(key):
                saved = json.loads(layout_file.read_text())
                layout = Layout(n_inputs=saved["n_inputs"], readouts=tuple(saved["readouts"]),
                                recorded=tuple(saved["recorded"]), dt_s=saved["dt_s"],
                                modulated=bool(saved["modulated"]))
                phases = {"construct": 0.0, "codegen_compile": 0.0}
                cache_hit = True
            else:
                layout, phases, _ = generate_and_compile(net, options, bdir, self.name)
                layout_file.write_text(json.dumps(dataclasses.asdict(layout)))
                bdir.mark_built(key)
                cache_hit = False
        self._bdir, self._layout, self._threads = bdir, layout, int(options.threads)
        self._recording = bool(layout.recorded)
        t0 = time.perf_counter()
        self.reset()
        phases["start_binary"] = time.perf_counter() - t0
        return BuildReport(phases=phases, cache_hit=cache_hit, log_path=bdir.log,
                           notes=f"build dir {bdir.path}")

    def reset(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None
        self._proc = ResidentProcess(self._bdir.path, self._layout, self._threads, self.name,
                                     self._bdir.log)
        self._recorded = {p: ([], []) for p in self._layout.recorded}
        self._step = 0

    def _run(self, spikes: np.ndarray, modulator: float = 0.0) -> np.ndarray:
        """One ``run`` of the binary; a modulated network's chunk always carries its
        modulator (0 included: the end-of-chunk update also clips, as Spark's does)."""
        counts, recorded = self._proc.run(spikes, modulator if self._layout.modulated else None)
        for name, (steps, idx) in zip(self._layout.recorded, recorded):
            self._recorded[name][0].append(steps)
            self._recorded[name][1].append(idx)
        self._step += int(spikes.shape[0])
        return counts

    def recorded_spikes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if not self._recording:
            raise NotImplementedError(f"{self.name}: built without record_spikes=True")
        return {name: sorted_spikes(steps, idx) for name, (steps, idx) in self._recorded.items()}

    def close(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None


class Brian2CppResidentBackend(_ResidentBinaryBackend):
    """Resident ``cpp_standalone`` binary fed chunk by chunk through a pipe (closed loop)."""

    name = "brian2-cpp"
    capabilities = Capabilities(closed_loop=True, open_loop=True, threads=True, **PLASTIC_FEATURES)

    def run_chunk(self, chunk: ChunkInput) -> np.ndarray:
        return self._run(chunk.spikes, chunk.modulator)


class Brian2CppUninterruptedBackend(_ResidentBinaryBackend):
    """The same binary, whole run in one ``run(n_steps*dt)`` with inputs known in advance
    (open loop only): the normaliser."""

    name = "brian2-cpp-uninterrupted"
    capabilities = Capabilities(closed_loop=False, open_loop=True, threads=True, **PLASTIC_FEATURES)

    def run_chunk(self, chunk: ChunkInput) -> np.ndarray:
        raise NotImplementedError(f"{self.name} is open loop only: use run_uninterrupted")

    def run_uninterrupted(self, spikes: np.ndarray) -> np.ndarray:
        return self._run(spikes)
