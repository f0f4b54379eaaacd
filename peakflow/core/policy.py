"""Policy networks: a residual (B, W) and its noise sd (B,) → raw outputs (B, R), anchor (B,)
(R = 9 for the mean-field family, 15 for the correlated one; see `peakflow.core.heads`).

`PaperCNN` is the architecture of the paper's Sec. 3.1. `AnchoredCNN` is the cheaper CPU
architecture: the location head is anchored at the arg-max of the smoothed residual (the
arg-max is a function of the input, so q stays an amortized posterior), a local CNN reads a
window centred there to refine location, width, amplitude and shape, and a global CNN reads the
whole residual to decide whether any peak is left.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from peakflow.config import PolicyConfig
from peakflow.core.heads import num_raw
from peakflow.core.signal import smooth


class PaperCNN(nn.Module):
    """Conv1D(k=100, 128, tanh) → Conv1D(k=1, 128, tanh) → flatten → Dense(128, tanh) → Dense(R).

    The location head is the paper's ``W · sigmoid``: the anchor is W/2 (with the head's span
    W/2, ``W/2 + W/2 · tanh(raw/2) = W · sigmoid(raw)``).
    """

    config: PolicyConfig
    outputs: int = num_raw("mean_field")

    @nn.compact
    def __call__(self, residual: jax.Array, noise: jax.Array) -> tuple[jax.Array, jax.Array]:
        del noise  # the paper's network is trained at one noise level
        batch, num_points = residual.shape
        h = residual[..., None] * self.config.input_scale
        h = jnp.tanh(nn.Conv(128, (100,), padding="SAME")(h))
        h = jnp.tanh(nn.Conv(128, (1,))(h))
        h = jnp.tanh(nn.Dense(self.config.hidden)(h.reshape(batch, -1)))
        raw = nn.Dense(self.outputs)(h)
        return raw, jnp.full((batch,), num_points / 2.0)


def anchor_of(residual: jax.Array, sigma: float) -> jax.Array:
    """Arg-max of the Gaussian-smoothed residual.

    Args:
      residual: (B, W).
      sigma: smoothing standard deviation in grid points.

    Returns:
      (B,) int32 index, outside the gradient path.
    """
    return jax.lax.stop_gradient(jnp.argmax(smooth(residual, sigma), axis=-1).astype(jnp.int32))


def crop_at(residual: jax.Array, centre: jax.Array, half: int) -> jax.Array:
    """Windows of length 2·half+1 centred at `centre`, zero-padded beyond the edges.

    Args:
      residual: (B, W).
      centre: (B,) int indices.
      half: half-length of the window.

    Returns:
      (B, 2·half+1, 2): the window and a channel that is 1 inside the spectrum, 0 outside.
    """
    padded = jnp.pad(residual, ((0, 0), (half, half)))
    inside = jnp.pad(jnp.ones_like(residual), ((0, 0), (half, half)))
    take = jax.vmap(lambda row, c: jax.lax.dynamic_slice(row, (c,), (2 * half + 1,)))
    return jnp.stack([take(padded, centre), take(inside, centre)], axis=-1)


class AnchoredCNN(nn.Module):
    """Local CNN at the residual's arg-max plus a global CNN; see the module docstring.

    With ``noise_input`` both CNNs also read the residual in noise units, compressed as
    asinh(r/σ)/4 (linear within the noise, logarithmic for tall peaks), and the dense layers
    log σ, so the stop decision can weigh a bump against the noise level.
    """

    config: PolicyConfig
    outputs: int = num_raw("mean_field")

    @nn.compact
    def __call__(self, residual: jax.Array, noise: jax.Array) -> tuple[jax.Array, jax.Array]:
        cfg = self.config
        batch, num_points = residual.shape
        act = nn.gelu
        scaled = residual * cfg.input_scale
        anchor = anchor_of(residual, cfg.smooth)

        local = crop_at(scaled, anchor, cfg.crop)
        glob = scaled[..., None]
        extra = []
        if cfg.noise_input:
            noise = jnp.broadcast_to(noise, (batch,))
            snr = 0.25 * jnp.arcsinh(residual / noise[:, None])
            local = jnp.concatenate([local, crop_at(snr, anchor, cfg.crop)[..., :1]], axis=-1)
            glob = jnp.concatenate([glob, snr[..., None]], axis=-1)
            extra = [jnp.log(noise)[:, None]]
        local = act(nn.Conv(cfg.features, (9,))(local))
        local = act(nn.Conv(cfg.features, (9,), strides=(2,))(local))
        local = act(nn.Conv(2 * cfg.features, (9,), strides=(2,))(local))
        local = act(nn.Dense(cfg.hidden)(local.reshape(batch, -1)))

        glob = act(nn.Conv(cfg.features, (9,), strides=(2,))(glob))
        glob = act(nn.Conv(cfg.features, (9,), strides=(2,))(glob))
        glob = act(nn.Conv(2 * cfg.features, (9,), strides=(2,))(glob))
        glob = jnp.concatenate([jnp.max(glob, axis=1), jnp.mean(glob, axis=1)], axis=-1)

        height = jnp.take_along_axis(scaled, anchor[:, None], axis=1)
        position = (anchor[:, None] / num_points) * 2.0 - 1.0
        h = jnp.concatenate([local, glob, height, position, *extra], axis=-1)
        h = act(nn.Dense(cfg.hidden)(h))
        h = act(nn.Dense(cfg.hidden)(h))
        raw = nn.Dense(self.outputs)(h)
        return raw, anchor.astype(jnp.float32)


def init_policy(policy: nn.Module, key: jax.Array, num_points: int) -> dict:
    """Initial variables of `policy` for spectra of `num_points` points."""
    return policy.init(key, jnp.zeros((1, num_points), jnp.float32), jnp.ones((1,), jnp.float32))


def make_policy(config: PolicyConfig, family: str = "mean_field") -> nn.Module:
    """The policy module named by ``config.arch``, with the outputs of the variational `family`."""
    config.validate()
    return {"paper": PaperCNN, "anchored": AnchoredCNN}[config.arch](config, num_raw(family))
