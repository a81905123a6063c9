"""The asv suite. Every measurement goes through :mod:`benchmarks.protocol` (the same code
as ``spark-bench run``); this package only parameterises it for asv."""
