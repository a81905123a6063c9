"""NEST prints a banner on import unless told not to; keep test output clean."""

import os

os.environ.setdefault("PYNEST_QUIET", "1")
