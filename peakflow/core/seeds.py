"""One convention for randomness at the API boundary: every entry point that draws takes
``seed``, either an int or a JAX PRNG key, and turns it into what its code needs (a key for
JAX, a numpy `Generator` for host-side draws). Draws are deterministic given the seed."""

from __future__ import annotations

import jax
import numpy as np

Seed = int | jax.Array


def as_key(seed: Seed) -> jax.Array:
    """A JAX PRNG key: `seed` itself when it is a key, else ``PRNGKey(seed)``."""
    if isinstance(seed, (int, np.integer)):
        return jax.random.PRNGKey(int(seed))
    return seed


def as_generator(seed: Seed) -> np.random.Generator:
    """A numpy `Generator` seeded by an int, or by a JAX key's raw bits."""
    if isinstance(seed, (int, np.integer)):
        return np.random.default_rng(int(seed))
    data = jax.random.key_data(seed) if jax.dtypes.issubdtype(seed.dtype, jax.dtypes.prng_key) \
        else seed
    return np.random.default_rng(np.asarray(data, np.uint32).ravel().tolist())
