/* Callgrind client requests for the gate's counted workloads (benchmarks/gate/measure.py).
 *
 * Why: the counted workloads run in Python on JAX, and importing JAX under callgrind costs
 * ~75 s of valgrind time. One process now counts every workload, one named dump each:
 * counters zeroed after a backend's prepare, dumped after its counted chunks.
 * Instrumentation stays on throughout: with --instr-atstart=no the toggled kernel symbols
 * lost calls on XLA's threads (the k = 100 chunks of a second network went uncounted).
 *
 * Built by measure.py into its scratch directory with the system's valgrind headers and
 * loaded through ctypes; not part of any simulator. */
#include <valgrind/callgrind.h>

void gate_zero(void) { CALLGRIND_ZERO_STATS; }

void gate_dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
