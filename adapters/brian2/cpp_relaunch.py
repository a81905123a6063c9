"""``brian2-cpp-relaunch``: one ``cpp_standalone`` launch per chunk, state carried by files.

What users try first: build once, then per chunk run the binary again with every state
variable set from the last chunk's results. We do what ``device.run(run_args={var:
array})`` does - write each array to a file and pass ``<group>.<var>=<file>`` on the
binary's command line, where Brian2's ``set_from_command_line`` loads it before the first
run - without keeping Brian2's global standalone device alive between chunks (it is
released after the build, see :mod:`.device_context`). Each launch therefore costs
process start, loading every static array (synapses included), the chunk, and
``brian_end`` writing every array to ``results/``: the finding.

Carried per (merged) ``NeuronGroup`` (see :func:`.translate.merge_plan`; its member
populations concatenated): every model state variable, ``g``, ``lastspike`` (t restarts
at 0 in every launch, so it is shifted by the chunk offset) and ``not_refractory``.
Spikes are read per population from the monitors on the slices (local indices).
Spikes in flight in the delay queues: the host keeps the last ``max_delay`` steps of
spikes of every source (spike monitors record them), and the inserted code pushes the
still-undelivered synapse indices (of the merged ``Synapses``) into each pathway's ``CSpikeQueue`` slot
``(offset + 1 + step_of_delivery) % size`` after ``run(0 ms)`` (Brian2 advances the
queue at the start of every step, before pushing and delivering) - in emission-step, neuron,
synapse order, the order Brian2 itself pushes them - so the chunked run equals the
uninterrupted one. Single-threaded only (one queue per pathway).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import deque

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
from .standalone import NET_NAME, Layout, generate_and_compile
from .translate import RELAUNCH_FEATURES, merge_plan

FLAVOUR = "cpp-relaunch"
NEVER = -1e4  # Brian2's initial lastspike (seconds)


def relaunch_insert(net: MaterialisedNetwork):
    """C++ after ``run(0 ms)``: read the chunk file, push in-flight synapses, run k steps."""

    def insert(model, device, layout: Layout):
        n_in = int(layout.n_inputs)
        paths = [f"{model.synapses[pw.name].name}_pre" for pw in model.plan.pathways]
        queues = ", ".join(f"{p}.queue[0]" for p in paths) or "NULL"
        code = f"""
    // ---- spark-bench relaunch chunk (adapters/brian2/cpp_relaunch.py) ----
    {{
        const char* spark_path = std::getenv("SPARK_CHUNK_FILE");
        FILE* spark_f = spark_path ? std::fopen(spark_path, "rb") : NULL;
        if (!spark_f) {{ std::fprintf(stderr, "spark: no chunk file\\n"); std::exit(5); }}
        int64_t spark_hdr[3];
        if (std::fread(spark_hdr, sizeof(int64_t), 3, spark_f) != 3) std::exit(6);
        const int64_t spark_k = spark_hdr[0], spark_nev = spark_hdr[1], spark_nfl = spark_hdr[2];
        std::vector<int32_t> spark_ev((size_t)(2 * spark_nev) + 1);
        if (spark_nev > 0 && std::fread(spark_ev.data(), sizeof(int32_t), 2 * spark_nev, spark_f) != (size_t)(2 * spark_nev)) std::exit(7);
        spark_io::n_inputs = {n_in};
        spark_io::input.assign((size_t)spark_k * {n_in}, 0);
        for (int64_t e = 0; e < spark_nev; ++e) {{
            const int64_t row = spark_ev[2 * e], col = spark_ev[2 * e + 1];
            if (row >= 0 && row < spark_k && col >= 0 && col < {n_in})
                spark_io::input[(size_t)row * {n_in} + (size_t)col] = 1;
        }}
        spark_io::chunk_start = 0;
        spark_io::chunk_len = spark_k;
        CSpikeQueue* spark_queues[] = {{{queues}}};
        const int64_t spark_nq = {len(paths)};
        std::vector<int32_t> spark_fl((size_t)(3 * spark_nfl) + 1);
        if (spark_nfl > 0 && std::fread(spark_fl.data(), sizeof(int32_t), 3 * spark_nfl, spark_f) != (size_t)(3 * spark_nfl)) std::exit(8);
        std::fclose(spark_f);
        for (int64_t e = 0; e < spark_nfl; ++e) {{
            const int32_t proj = spark_fl[3 * e], slot = spark_fl[3 * e + 1], syn = spark_fl[3 * e + 2];
            if (proj < 0 || proj >= spark_nq) std::exit(9);
            // Each step's push code advances the queue *before* pushing and delivering,
            // so step u of this launch reads slot offset + 1 + u.
            CSpikeQueue* q = spark_queues[proj];
            q->ensure_delay(slot + 1);
            q->queue[(q->offset + 1 + slot) % q->queue.size()].push_back(syn);
        }}
        {NET_NAME}.run(spark_k * {layout.dt_s!r}, NULL, 10.0);
    }}
    // ---- end spark-bench relaunch chunk ----
"""
        state = {}
        for gp in model.plan.groups:
            group = model.groups[gp.name]
            names = list(gp.code.state_variables) + ["lastspike", "not_refractory"]
            state[gp.name] = {
                var: {"cli": f"{group.name}.{var}",
                      "file": device.get_array_filename(group.variables[var]),
                      "dtype": np.dtype(group.variables[var].dtype).str}
                for var in names}
        monitors = {
            p: {var: {"file": device.get_array_filename(model.spike_monitors[p].variables[var]),
                      "dtype": np.dtype(model.spike_monitors[p].variables[var].dtype).str}
                for var in ("i", "t")}
            for p in layout.recorded}
        return code, {"state": state, "monitors": monitors,
                      "pathways": [pw.name for pw in model.plan.pathways]}

    return insert


class Brian2CppRelaunchBackend(Backend):
    """``cpp_standalone`` binary relaunched per chunk with the full state carried."""

    name = "brian2-cpp-relaunch"
    capabilities = Capabilities(closed_loop=True, open_loop=True,  # one thread: see prepare
                                **RELAUNCH_FEATURES)

    def prepare(self, net: MaterialisedNetwork, options: BackendOptions) -> BuildReport:
        check_supported(type(self), net)
        from dataclasses import asdict, replace

        self.close()
        options = replace(options, threads=1)
        bdir = build_dir(net, FLAVOUR, options)
        key = build_key(net, FLAVOUR, options)
        with locked(bdir):
            info_file = bdir.path / "spark_relaunch.json"
            if bdir.is_built(key):
                saved = json.loads(info_file.read_text())
                phases = {"construct": 0.0, "codegen_compile": 0.0}
                cache_hit = True
            else:
                layout, phases, info = generate_and_compile(
                    net, options, bdir, self.name, insert=relaunch_insert(net), record_all=True,
                    extra_prefs={"devices.cpp_standalone.openmp_threads": 0})
                saved = {"layout": asdict(layout), **info}
                info_file.write_text(json.dumps(saved))
                bdir.mark_built(key)
                cache_hit = False
        lay = saved["layout"]
        self._layout = Layout(n_inputs=lay["n_inputs"], readouts=tuple(lay["readouts"]),
                              recorded=tuple(lay["recorded"]), dt_s=lay["dt_s"])
        self._state_files, self._monitor_files = saved["state"], saved["monitors"]
        self._net, self._bdir, self._record = net, bdir, options.record_spikes
        self._work = bdir.path / f"spark_work_{os.getpid()}_{id(self)}"
        self._work.mkdir(exist_ok=True)
        self._results = self._work / "results"
        self._results.mkdir(exist_ok=True)
        self._plan = merge_plan(net)
        if saved.get("pathways") != [pw.name for pw in self._plan.pathways] or \
                set(self._state_files) != {gp.name for gp in self._plan.groups}:
            raise BackendFailed(self.name, "build directory does not match the merge plan", bdir.log)
        self._sources = {net.input_name: None, **{p.name: None for p in net.populations}}
        self._path_rows = []
        for pw in self._plan.pathways:  # synapse indices per presynaptic neuron, in index order
            n_src = (net.n_inputs if pw.source == net.input_name
                     else self._plan.group(pw.source).size)
            order = np.argsort(pw.pre, kind="stable")
            starts = np.searchsorted(pw.pre[order], np.arange(n_src + 1))
            self._path_rows.append((order, starts))
        self.reset()
        return BuildReport(phases=phases, cache_hit=cache_hit, log_path=bdir.log,
                           notes=f"build dir {bdir.path}")

    def reset(self) -> None:
        net = self._net
        self._offset = 0
        self._state = {}
        for gp in self._plan.groups:  # state per merged NeuronGroup, members concatenated
            pops = [net.population(name) for name, _, _ in gp.members]
            st = {var: np.concatenate([np.asarray(p.initial[var]) for p in pops])
                  for var in pops[0].spec.model.state_variables}
            for r, g in enumerate(gp.code.receptors):  # receptors as materialised
                st[g] = np.concatenate([p.initial.get(f"g{r}", np.zeros(p.size)) for p in pops])
            st["last_step"] = np.full(gp.size, np.iinfo(np.int64).min // 2, dtype=np.int64)
            st["not_refractory"] = np.ones(gp.size, dtype=bool)
            self._state[gp.name] = st
        # recent spikes per source: deque of (abs_step array, index array)
        self._history = {name: deque() for name in self._sources}
        self._recorded = {p.name: ([], []) for p in net.populations}

    def _write_state(self) -> list[str]:
        args = []
        dt_s = self._layout.dt_s
        for group, files in self._state_files.items():
            st = self._state[group]
            for var, meta in files.items():
                if var == "lastspike":
                    last = st["last_step"]
                    value = np.where(last < -(1 << 40), NEVER, (last - self._offset) * dt_s)
                elif var == "not_refractory":
                    value = st["not_refractory"]
                else:
                    value = st[var]
                path = self._work / f"{group}.{var}.dat"
                np.ascontiguousarray(value, dtype=np.dtype(meta["dtype"])).tofile(path)
                args.append(f"{meta['cli']}={path}")
        return args

    def _source_spikes(self, source: str) -> tuple[np.ndarray, np.ndarray]:
        """Recent spikes of a pathway's source (the input, or a merged group with its
        members' indices shifted to the group), sorted by (step, index)."""
        if source == self._net.input_name:
            parts = [(s, i) for s, i in self._history[source]]
        else:
            parts = [(s, np.asarray(i, np.int64) + start)
                     for name, start, _ in self._plan.group(source).members
                     for s, i in self._history[name]]
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        steps = np.concatenate([np.asarray(s, np.int64) for s, _ in parts])
        idx = np.concatenate([np.asarray(i, np.int64) for _, i in parts])
        order = np.lexsort((idx, steps))
        return steps[order], idx[order]

    def _in_flight(self) -> np.ndarray:
        """(pathway, slot, synapse) int32 rows for deliveries at steps >= offset, in push
        order (emission step, presynaptic index, synapse index)."""
        rows = []
        for p_id, (pw, (order, starts)) in enumerate(zip(self._plan.pathways, self._path_rows)):
            steps, idx = self._source_spikes(pw.source)
            if steps.size == 0:
                continue
            lo, n = starts[idx], starts[idx + 1] - starts[idx]
            total = int(n.sum())
            if total == 0:
                continue
            first = np.repeat(np.cumsum(n) - n, n)
            syns = order[np.arange(total) - first + np.repeat(lo, n)]
            slot = np.repeat(steps, n) + pw.delay_steps[syns] - self._offset
            keep = slot >= 0
            if keep.any():
                rows.append(np.stack([np.full(int(keep.sum()), p_id), slot[keep], syns[keep]], axis=1))
        return (np.concatenate(rows).astype("<i4") if rows else np.zeros((0, 3), "<i4"))

    def run_chunk(self, chunk: ChunkInput) -> np.ndarray:
        k = chunk.k
        steps, idx = np.nonzero(chunk.spikes)
        flight = self._in_flight()
        chunk_file = self._work / "chunk.bin"
        with open(chunk_file, "wb") as fh:
            fh.write(np.array([k, steps.size, flight.shape[0]], dtype="<i8").tobytes())
            fh.write(np.stack([steps, idx], axis=1).astype("<i4").tobytes())
            fh.write(flight.tobytes())
        args = [str(self._bdir.path / "main"), "--results_dir", str(self._results) + "/",
                *self._write_state()]
        env = dict(os.environ, SPARK_CHUNK_FILE=str(chunk_file))
        proc = subprocess.run(args, cwd=str(self._bdir.path), env=env, capture_output=True)
        if proc.returncode != 0:
            log = self._bdir.path / f"spark_last_failed_launch_{os.getpid()}.log"
            log.write_bytes(proc.stdout + proc.stderr)
            raise BackendFailed(self.name, f"binary exited with {proc.returncode}", log)
        counts = self._read_results(steps, idx, k)
        self._offset += k
        return counts

    def _read(self, meta) -> np.ndarray:
        return np.fromfile(self._results / meta["file"], dtype=np.dtype(meta["dtype"]))

    def _read_results(self, in_steps, in_idx, k) -> np.ndarray:
        dt_s = self._layout.dt_s
        spikes = {self._net.input_name: (in_steps.astype(np.int64) + self._offset, in_idx)}
        for group, files in self._state_files.items():
            st = self._state[group]
            for var in files:
                value = self._read(files[var])
                if var == "lastspike":
                    fired = value > NEVER / 2
                    st["last_step"] = np.where(fired, np.rint(value / dt_s).astype(np.int64) + self._offset,
                                               st["last_step"])
                else:
                    st[var] = value
        for pop in self._monitor_files:  # per spec population (monitors on its slice)
            t = self._read(self._monitor_files[pop]["t"])
            i = self._read(self._monitor_files[pop]["i"]).astype(np.int64)
            s = np.rint(t / dt_s).astype(np.int64) + self._offset
            spikes[pop] = (s, i)
            if self._record:
                self._recorded[pop][0].append(s)
                self._recorded[pop][1].append(i)
        horizon = self._offset + k - self._net.max_delay_steps
        for name, (s, i) in spikes.items():
            hist = self._history[name]
            hist.append((s, i))
            while hist and (hist[0][0].size == 0 or hist[0][0].max() < horizon):
                hist.popleft()
        return np.array([spikes[r][0].size for r in self._layout.readouts], dtype=np.int64)

    def recorded_spikes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if not self._record:
            raise NotImplementedError(f"{self.name}: built without record_spikes=True")
        return {name: sorted_spikes(steps, idx) for name, (steps, idx) in self._recorded.items()}

    def close(self) -> None:
        work = getattr(self, "_work", None)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
            self._work = None
