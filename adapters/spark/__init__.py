"""Spark behind the Backend interface: :mod:`.translate` (IR -> :class:`spark.NetworkDef`,
by tables) and :mod:`.backend` (the ``spark`` and ``spark-native`` backends)."""
