"""The materialised network (the shared IR) -> Spark's own :class:`spark.NetworkDef`.

Translation by tables: each table maps a spec kind to its Spark counterpart, and the
tables' keys are exactly what the Spark backends support (their capabilities). Nothing is
re-derived: refractory steps, receptor time constants, delays in steps, initial state and
synapse arrays are read off the IR.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

import spark

from ..spec.materialise import MaterialisedNetwork


def _same_fields(target: type) -> Callable[[object], object]:
    """Copy every field ``target`` declares from the spec object (same names, same units;
    spec-only fields such as ``t_ref`` are facts of the IR, not of Spark's model)."""
    names = tuple(f.name for f in fields(target))

    def translate(spec_obj: object) -> object:
        return target(**{name: getattr(spec_obj, name) for name in names})

    return translate


NEURON_MODELS: dict[str, Callable[[object], spark.models.NeuronModel]] = {
    "lif": _same_fields(spark.LIF),
    "alif": _same_fields(spark.ALIF),
    "adex": _same_fields(spark.AdEx),
    "izhikevich": _same_fields(spark.Izhikevich),
}
RECEPTORS: dict[str, Callable[[int | None], str | int]] = {
    "delta": lambda index: "delta",
    "exponential": lambda index: index,  # the target's receptor r (one per distinct synapse)
    "conductance": lambda index: index,  # the same, with the population's reversal for r
}
PLASTICITY: dict[str, Callable[[object], spark.models.PlasticityRule]] = {
    "stdp": _same_fields(spark.STDP),
    "reward_stdp": _same_fields(spark.RewardSTDP),
}


def to_spark(net: MaterialisedNetwork) -> spark.NetworkDef:
    """Spark's description of one materialised instance (arrays shared, not copied)."""
    populations = tuple(
        spark.Population(name=pop.name, model=NEURON_MODELS[pop.model.kind](pop.model),
                         initial=pop.initial, refractory_steps=pop.refractory_steps,
                         receptors=pop.receptor_taus, reversals=pop.receptor_reversals)
        for pop in net.populations)
    synapses = tuple(
        spark.Synapses(source=proj.spec.source, target=proj.spec.target, pre=proj.pre,
                       post=proj.post, weight=proj.weight, delay_steps=proj.delay_steps,
                       receptor=RECEPTORS[proj.receptor](proj.receptor_index),
                       plasticity=(None if proj.spec.plasticity is None
                                   else PLASTICITY[proj.spec.plasticity.kind](proj.spec.plasticity)))
        for proj in net.projections)
    drives = tuple(
        spark.Drive(target=drive.target, counts=net.drive_counts(i), weight=drive.spec.weight,
                    receptor=RECEPTORS[drive.receptor](drive.receptor_index))
        for i, drive in enumerate(net.drives))
    return spark.NetworkDef(name=net.spec.name, dt=net.dt, dtype=net.dtype,
                            populations=populations, n_inputs=net.n_inputs, synapses=synapses,
                            drives=drives, readouts=net.spec.readout_names,
                            input_name=net.input_name)
