"""Spark: a modular spiking-network engine in plain JAX."""
