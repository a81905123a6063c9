"""Brian2 in every mode a researcher would compare, each labelled for what it measures.

=========================  ===========================================================
``brian2-runtime``         runtime device, Cython; one ``run()``, a network operation per chunk
``brian2-numpy``           runtime device, numpy target; same loop
``brian2-runtime-run-per-chunk`` runtime device, Cython; ``Network.run(k*dt)`` per chunk
``brian2-cpp``             one resident ``cpp_standalone`` binary, chunks through a pipe
``brian2-cpp-uninterrupted`` the same binary, whole run in one call (open loop)
``brian2-cpp-relaunch``    ``device.run(run_args=...)`` per chunk, state carried by files
``brian2-cuda``            one resident brian2cuda binary on the GPU, chunks through a pipe
``brian2-cuda-uninterrupted`` brian2cuda's open-loop project, one launch per run (GPU)
=========================  ===========================================================

Modules: :mod:`.translate` (spec -> Brian2 objects, shared, by tables), :mod:`.device_context`
(global device/preferences), :mod:`.builds` (build directories), :mod:`.standalone`
(project generation), one module per mode. Brian2 itself is imported only when a mode is
prepared; :mod:`adapters.registry` lists the modes. See ``NOTES.md`` for measured numbers.
"""
