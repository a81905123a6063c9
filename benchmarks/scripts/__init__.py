"""One-off measurement scripts (``python -m benchmarks.scripts.NAME``): engine profiles and
comparisons whose numbers are quoted in notes. Not part of the library or the sweep."""
