"""BrainPy (brainpy 2.8 on brainstate and brainevent) behind the common Backend interface.

Two labels of the native comparison class (:mod:`.plan`: BrainPy's standard models, its
integrators and its Poisson inputs; fidelity is statistical): ``brainpy`` on the CPU and
``brainpy-gpu`` on the first GPU JAX sees. One chunk of k steps is one ``bm.for_loop`` over
``step_run``, jitted once per k (``bm.jit``), the way BrainPy's examples run a network; its
counts are copied to the host before ``run_chunk`` returns, which synchronises JAX.

BrainPy's settings are process-wide (``bm.set_platform``, ``bm.set_dt``, x64 through
``bm.enable_x64``, its random state); the harness runs each backend in a worker process of
its own, and these labels set them in ``prepare``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..base import (Backend, BackendFailed, BackendOptions, BackendUnavailable, BuildReport,
                    Capabilities, ChunkInput, check_supported, sorted_spikes)
from ..spec.materialise import MaterialisedNetwork
from .plan import FEATURES, Connection, check, connections, groups


def import_brainpy(backend: str):
    """``(brainpy, brainpy.math)``, or BackendUnavailable naming the extra to install."""
    try:
        import brainpy as bp
        import brainpy.math as bm
    except ImportError as err:
        raise BackendUnavailable(backend, f"BrainPy is not installed ({err}); "
                                          "pip install -e '.[brainpy]'") from None
    return bp, bm


def build_network(bp, bm, net: MaterialisedNetwork, record: bool):
    """The network as a ``bp.DynSysGroup`` written the way BrainPy's E/I examples write it:
    one ``LifRef`` per group of populations that share their parameters (:func:`.groups`),
    one projection per source, target, receptor and delay."""
    grouped = groups(net)
    conns = connections(net, grouped)
    by_group = {g.name: g for g in grouped}
    member = {m.name: (g.name, m) for g in grouped for m in g.members}

    from brainpy.dyn.projections.align_post import align_post_add_bef_update

    class Network(bp.DynSysGroup):
        def __init__(self):
            super().__init__()
            self.pops = bm.NodeDict()  # containers BrainPy walks (reset, state collection)
            for g in grouped:
                m = g.model
                self.pops[g.name] = bp.dyn.LifRef(
                    g.size, V_rest=m.v_rest, V_reset=m.v_reset, V_th=m.v_thresh, tau=m.tau_m,
                    tau_ref=m.t_ref, R=1.0, method="exp_auto",
                    V_initializer=bm.asarray(g.initial["v"]))
            self.inp = bp.dyn.InputGroup(net.n_inputs)
            sources = {**self.pops, net.input_name: self.inp}
            self.receptors: dict = {}
            self.projs = bm.NodeList([self._projection(c, sources) for c in conns])
            self.drives = [self._drive(g.name, d) for g in grouped for d in g.drives]
            self.initial_g = []  # (Expon, initial g): the spec's initial receptor values
            for (target, index), (desc, out) in self.receptors.items():
                initial = by_group[target].initial.get(f"g{index}")
                if initial is not None:
                    syn, _ = align_post_add_bef_update(None, desc, out, self.pops[target], "")
                    self.initial_g.append((syn, bm.asarray(initial)))

        def start(self):
            """BrainPy's reset of every node, then the spec's initial receptor values
            (Expon resets its g to 0; COBA's start random)."""
            self.reset()
            for syn, initial in self.initial_g:
                syn.g.value = initial

        def _projection(self, c: Connection, sources: dict):
            comm = bp.dnn.EventCSRLinear(
                bp.conn.CSRConn(c.indices, c.indptr)(c.pre_size, c.post_size),
                c.weight if np.isscalar(c.weight) else bm.asarray(c.weight))
            pre, post = sources[c.source], sources[c.target]
            delay = c.delay_ms if c.delay_ms > 0 else None
            if c.synapse == "delta":
                return bp.dyn.FullProjDelta(pre, delay, comm, post)
            syn, out = self._receptor(c.target, c.receptor_index, c.synapse)
            return bp.dyn.FullProjAlignPostMg(pre=pre, delay=delay, comm=comm, syn=syn, out=out,
                                              post=post)

        def _receptor(self, target: str, index: int, kind: str):
            """One (synapse, output) description per receptor of group ``target``, made
            once, so that BrainPy merges every projection and drive into it into one
            variable."""
            key = (target, index)
            if key not in self.receptors:
                g = by_group[target]
                syn = bp.dyn.Expon.desc(g.size, tau=float(g.receptor_taus[index]))
                e_rev = g.receptor_reversals[index]
                out = (bp.dyn.COBA.desc(E=float(e_rev)) if kind == "conductance"
                       else bp.dyn.CUBA.desc())
                self.receptors[key] = (syn, out)
            return self.receptors[key]

        def _drive(self, target: str, drive):
            """A drive of every neuron of group ``target`` (its members receive the same
            drives): into V a delta half-projection (BrainPy applies delta inputs after the
            integration and drops them while refractory, as the spec's delta synapses);
            into a receptor a ``PoissonInput`` adding to its merged variable."""
            post = self.pops[target]
            syn, spec = drive.spec.synapse, drive.spec
            if syn.kind == "delta":
                proj = bp.dyn.HalfProjDelta(bp.dnn.OneToOne(post.num, spec.weight), post)
                p = spec.rate * net.dt / 1e3
                return lambda: proj(bm.random.binomial(spec.n_sources, p, post.num)
                                    .astype(bm.float_))
            desc, out = self._receptor(target, drive.receptor_index, syn.kind)
            g, _ = align_post_add_bef_update(None, desc, out, post, f"drive_{drive.name}")
            return bp.dyn.PoissonInput(g.g, num_input=spec.n_sources, freq=spec.rate,
                                       weight=spec.weight)

        def _spikes(self, name: str):
            group, m = member[name]
            return self.pops[group].spike.value[m.start:m.stop]

        def update(self, x):
            for proj in self.projs:
                proj()
            for drive in self.drives:
                drive()
            self.inp(x)
            for g in grouped:
                self.pops[g.name](g.model.i_offset)
            if record:
                return tuple(self._spikes(p.name) for p in net.populations)
            return bm.stack([self._spikes(r).sum() for r in net.spec.readout_names])

    return Network()


class BrainPyBackend(Backend):
    """BrainPy on the CPU (see the module docstring)."""

    name: ClassVar[str] = "brainpy"
    comparison: ClassVar[str] = "native"
    device: ClassVar[str] = "cpu"
    capabilities: ClassVar[Capabilities] = Capabilities(closed_loop=True, open_loop=True,
                                                        **FEATURES)

    def __init__(self) -> None:
        self._model = None
        self._net: MaterialisedNetwork | None = None
        self._run = None
        self._step = 0
        self._record = False
        self._spikes: dict[str, tuple[list, list]] = {}

    def prepare(self, net: MaterialisedNetwork, options: BackendOptions) -> BuildReport:
        check_supported(type(self), net)
        check(net)  # what only the materialised network shows (delays per projection)
        bp, bm = import_brainpy(self.name)
        import jax

        try:
            jax.devices(self.device)
        except RuntimeError as err:
            raise BackendUnavailable(self.name, f"no {self.device.upper()} visible to JAX: "
                                                f"{err}") from None
        bm.set_platform(self.device)
        if net.dtype == "float64":
            bm.enable_x64()
        else:
            bm.disable_x64()
        bm.set_dt(net.dt)
        cache = Path(options.cache_dir) / "jax-brainpy"
        if not options.cold:
            jax.config.update("jax_compilation_cache_dir", str(cache))
        self.close()
        start = time.perf_counter()
        try:
            model = build_network(bp, bm, net, options.record_spikes)
        except (ValueError, TypeError) as err:  # a parameter BrainPy rejects
            raise BackendFailed(self.name, f"BrainPy rejected the network: {err}") from None
        construct = time.perf_counter() - start
        self._bm, self._model, self._net = bm, model, net
        self._run = self._chunk_program()
        self._record = options.record_spikes
        self._spikes = {p.name: ([], []) for p in net.populations}
        k = int(min(net.spec.simulation.timesteps, default=1))
        start = time.perf_counter()
        self.run_chunk(ChunkInput(spikes=np.zeros((k, net.n_inputs), dtype=bool)))
        compiled = time.perf_counter() - start
        self.reset()
        return BuildReport(
            phases={"codegen_compile": compiled, "construct": construct}, cache_hit=None,
            notes=f"native class: BrainPy {bp.__version__} LifRef (exp_auto), Expon + "
                  f"CUBA/COBA, EventCSRLinear, binomial drives; {len(self._model.projs)} "
                  f"projection(s); {net.dtype} on {self.device}; first chunk (k={k}, compile "
                  f"included) {compiled:.3f} s")

    def _chunk_program(self):
        """One jitted ``for_loop`` over the chunk's steps; JAX compiles it once per k (the
        shape of its inputs) and keeps each."""
        model, bm = self._model, self._bm

        def chunk(steps, xs):
            return bm.for_loop(model.step_run, (steps, xs))

        return bm.jit(chunk)

    def reset(self) -> None:
        if self._model is None:
            raise BackendFailed(self.name, "not prepared (call prepare first)")
        self._model.start()
        self._bm.random.seed(int(self._net.instance_seed))
        self._step = 0
        self._spikes = {p.name: ([], []) for p in self._net.populations}

    def run_chunk(self, chunk: ChunkInput) -> np.ndarray:
        if self._model is None:
            raise BackendFailed(self.name, "not prepared (call prepare first)")
        bm = self._bm
        k = chunk.k
        steps = bm.arange(self._step, self._step + k)
        # InputGroup's delay holds floats (BrainPy's place holder), so spikes enter as 0/1
        xs = bm.asarray(np.asarray(chunk.spikes, dtype=self._net.dtype))
        out = self._run(steps, xs)
        if self._record:
            totals = {}
            for pop, spikes in zip(self._net.populations, out):
                t, i = np.nonzero(np.asarray(spikes))  # (k, size) bool, on the host
                self._spikes[pop.name][0].append(t + self._step)
                self._spikes[pop.name][1].append(i)
                totals[pop.name] = t.size
            result = np.asarray([totals[r] for r in self._net.spec.readout_names], dtype=np.int64)
        else:
            result = np.asarray(out).sum(axis=0).astype(np.int64)  # (k, readouts) -> host
        self._step += k
        return result

    def recorded_spikes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if not self._record:
            raise BackendFailed(self.name, "built without record_spikes=True")
        return {name: sorted_spikes(s, i) for name, (s, i) in self._spikes.items()}

    def close(self) -> None:
        self._model = None
        self._run = None


class BrainPyGpuBackend(BrainPyBackend):
    """BrainPy on the first GPU JAX sees."""

    name: ClassVar[str] = "brainpy-gpu"
    device: ClassVar[str] = "gpu"
    capabilities: ClassVar[Capabilities] = Capabilities(closed_loop=True, open_loop=True,
                                                        needs_gpu=True, **FEATURES)
