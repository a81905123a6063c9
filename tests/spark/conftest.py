"""Strict dtype promotion for every spark test (an implicit promotion is a bug here)."""

import jax
import pytest


@pytest.fixture(autouse=True)
def _strict_dtype_promotion():
    with jax.numpy_dtype_promotion("strict"):
        yield
