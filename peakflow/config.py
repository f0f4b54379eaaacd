"""Configuration: the simulator, the variational model, the policy network and training.

Every setting lives in a frozen dataclass, so a `Config` is hashable (it can be a static
argument of `jax.jit`) and round-trips through JSON (it is stored beside every checkpoint).

Presets (`preset(name)`):
  * ``paper``   – the paper's recipe: its CNN and mean-field family, ``W * sigmoid`` location,
                  flat priors, ``P_B = 1/(k+1)!``, batch 256, triangular cyclic learning rate.
  * ``compact`` – the CPU recipe: a small CNN anchored at the residual's arg-max, the correlated
                  family, uniform priors and backward policy, Adam with cosine decay.
  * ``broad``   – for real spectra: 256-point windows, up to 8 peaks, noise levels, baselines.
  * ``tiny``    – ``compact`` shrunk for tests and smoke runs.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Any

Range = tuple[float, float]
BASELINE_METHODS = ("arpls", "asls", "snip", "none", "shirley", "shirley-ke")  # measured


@dataclass(frozen=True)
class SimulatorConfig:
    """Synthetic spectra of the paper's Sec. 3.1.

    Attributes:
      num_points: W, the number of grid points (wavenumbers 0..W-1).
      k_min, k_max: the number of peaks is drawn uniformly from {k_min..k_max}.
      amplitude, location, width, lorentzian: uniform ranges of each peak parameter.
      min_separation: peak locations are at least this far apart.
      amplitude_separation: the paper asks amplitudes to be "at least 0.2 apart", which cannot
        hold for 4 peaks in [0.2, 0.8] (it would force exactly 0.2, 0.4, 0.6, 0.8). We read it
        as a gap of ``min(amplitude_separation, (hi - lo) / k)`` between the sorted amplitudes of
        a k-peak spectrum: the paper's 0.2 for k <= 3, 0.15 for k = 4. 0 disables it.
      noise: standard deviation of the additive Gaussian noise (the lower end of its range when
        `noise_max` is set).
      noise_max: when set, each spectrum's noise sd is log-uniform on [noise, noise_max].
      amplitude_scale: ``"linear"`` (uniform amplitudes) or ``"log"`` (log-uniform, so small
        peaks beside large ones are common, as in real spectra).
      baseline: sd of the coefficients of a random cubic baseline on t in [-1, 1] (0: none).
      baseline_wiggle: largest amplitude of a slow sinusoid (period W..4W) added to it.
      normalise: divide each simulated spectrum (and its amplitudes and noise) by
        `peakflow.core.signal.window_scale`, the intensity normalisation applied to real
        windows, so that training and inference see the same scale.
      scale_floor: that normalisation's floor in noise sds (a window of pure noise is scaled
        so its noise sd is 1/scale_floor).
    """

    num_points: int = 500
    k_min: int = 0
    k_max: int = 4
    amplitude: Range = (0.2, 0.8)
    location: Range = (0.0, 499.0)
    width: Range = (5.0, 15.0)
    lorentzian: Range = (0.0, 1.0)
    min_separation: float = 50.0
    amplitude_separation: float = 0.2
    noise: float = 0.01
    noise_max: float | None = None
    amplitude_scale: str = "linear"
    baseline: float = 0.0
    baseline_wiggle: float = 0.0
    normalise: bool = False
    scale_floor: float = 20.0

    def validate(self) -> None:
        if not 0 <= self.k_min <= self.k_max:
            raise ValueError(f"need 0 <= k_min <= k_max, got {self.k_min}, {self.k_max}")
        span = self.location[1] - self.location[0]
        if self.k_max > 1 and span < (self.k_max - 1) * self.min_separation:
            raise ValueError(
                f"{self.k_max} peaks cannot be {self.min_separation} apart in a location range "
                f"of {span}")
        for name in ("amplitude", "location", "width", "lorentzian"):
            lo, hi = getattr(self, name)
            if not lo < hi:
                raise ValueError(f"{name} range must have lo < hi, got ({lo}, {hi})")
        if self.noise <= 0:
            raise ValueError(f"noise must be positive, got {self.noise}")
        if self.noise_max is not None and self.noise_max < self.noise:
            raise ValueError(f"noise_max {self.noise_max} is below noise {self.noise}")
        if self.amplitude_scale not in ("linear", "log"):
            raise ValueError(f"amplitude_scale must be 'linear' or 'log', got "
                             f"{self.amplitude_scale!r}")
        if self.amplitude_scale == "log" and self.amplitude[0] <= 0:
            raise ValueError("log-uniform amplitudes need a positive lower bound")


@dataclass(frozen=True)
class HeadConfig:
    """How the policy's raw outputs map to the variational parameters (Eq. 9).

    Means are ``lo + (hi - lo) * sigmoid(raw)``; the location mean is
    ``anchor + location_span * tanh(raw / 2)``, which is the paper's ``W * sigmoid(raw)`` when
    the anchor is W/2 and the span W/2. Standard deviations are bounded,
    ``lo + (hi - lo) * sigmoid(raw)`` (``sd_transform="sigmoid"``), or unbounded,
    ``lo + exp(raw)`` (``"exp"``). The Beta concentrations of the Lorentzian fraction are
    log-uniformly bounded, ``exp(log lo + (log hi - log lo) * sigmoid(raw))``. The stop logit is
    soft-clipped to ``±stop_logit_bound``.

    The correlated family's mappings (``ModelConfig.family``) are tabulated in
    `peakflow.core.heads`; it needs ``amplitude_mean`` and ``width_mean`` with lo > 0.
    """

    amplitude_mean: Range = (0.1, 1.0)
    amplitude_sd: Range = (1e-4, 0.05)
    location_span: float = 16.0
    location_sd: Range = (1e-3, 5.0)
    width_mean: Range = (2.0, 20.0)
    width_sd: Range = (1e-3, 2.0)
    lorentzian_concentration: Range = (0.5, 1000.0)
    sd_transform: str = "sigmoid"
    stop_logit_bound: float = 12.0
    amplitude_log_sd: Range = (1e-3, 1.0)
    width_log_sd: Range = (1e-3, 1.0)
    lorentzian_logit_sd: Range = (1e-2, 5.0)
    lorentzian_logit_bound: float = 8.0
    max_correlation: float = 0.995


@dataclass(frozen=True)
class ModelConfig:
    """The probabilistic model and the relaxed ELBO (Eqs. 11-15).

    Attributes:
      k_max: K_max, the most peaks the policy adds (a stop is forced after K_max peaks).
      family: the per-peak variational family. ``"mean_field"``: Eq. 9, independent
        Normal(α), Normal(c), Normal(γ), Beta(η) (`peakflow.core.variational.PeakQ`);
        ``"correlated"``: a full-covariance Gaussian over (log α, c, log γ, logit η)
        (`peakflow.core.correlated.CorrelatedQ`), which represents the amplitude-width-shape
        correlation that a mean-field fit ignores (and then under-covers).
      prior: ``"uniform"``: proper priors, uniform over the simulator's ranges (with soft edges
        so that Normal samples outside the range get a finite, steep penalty), a uniform prior
        on K and an exchangeable (unordered) set of peaks; ``"flat"``: the paper's p(θ) ∝ 1.
        The uniform prior ignores the simulator's separation rules (locations ≥ 50 apart,
        amplitude gaps), so it puts some mass where the simulator puts none, more for larger K.
      prior_edge: softness of the uniform priors' edges, as a fraction of each range.
      backward: the backward policy P_B. ``"uniform"`` (default): any of the k peaks may have
        been added last, P_B = 1/k per step, 1/k! per trajectory; with the exchangeable prior
        its k! cancels, so the ELBO bounds the evidence of the unordered peak set.
        ``"paper"``: the paper's Eq. 12 prints a per-step P_B = 1/(k+1)!; we apply 1/(k+1)!
        once per k-peak trajectory (the product of the per-step values would be
        Π_j 1/(j+1)!). Neither reading is a normalised backward policy (the uniform 1/k per
        step is), so with ``"paper"`` the objective is not a bound on the evidence.
      relaxation: ``"gumbel"``: the paper's binary Gumbel-softmax relaxation of the stop
        variables, π̃ = sigmoid((ℓ + logit π) / T), ℓ logistic (Jang et al.; Eq. 6 multiplies
        by T, the same at T = 1). A surrogate, not a bound: E[σ(a + ℓ)] ≠ σ(a) (0.79 vs 0.88
        at a = 2) and its optimal stop probability is sharper than the ELBO's (0.947 vs 0.881
        at a score gap of 2, K_max = 1), so P(K) leans over-confident. ``"enumerated"``: the stop
        variables summed out exactly (ρ_k = P(stop at k)), an unbiased estimate of the ELBO.
        ``"optimal"``: the peaks are trained on E[logsumexp_k A_k] (ρ* = softmax(A) is the
        best stop distribution for the sampled peaks: a tighter bound, but for a stop
        distribution that sees the later peaks) and the stop head by cross-entropy towards ρ*
        on gradient-stopped residuals; that gradient does not vanish when the stop head
        saturates (which stalls ``"enumerated"`` early on), but its optimum for the deployed head,
        E[ρ*_k | θ_{1:k}] / E[Σ_{j≥k} ρ*_j | θ_{1:k}], is not the ELBO's σ(A_k - E[V_{k+1}])
        (`elbo.optimal_stop_loss`). With every relaxation the arg-max anchor of the location
        head is piecewise constant: the pathwise gradient ignores its jumps (biased gradient,
        valid bound).
      temperature: Gumbel-softmax temperature T (π̃ = sigmoid((ℓ + logit π) / T)).
      baseline_degree: -1: no baseline. d >= 0: the spectrum carries an unknown polynomial
        baseline of degree d with a flat prior on its coefficients; it is marginalised exactly
        by projecting every residual onto the complement of the polynomials (the policy reads
        the projected residual and the likelihood scores it).
      prior_amplitude: the amplitude range of the uniform prior, when it differs from the
        simulator's (e.g. after `SimulatorConfig.normalise`); None uses ``sim.amplitude``.
    """

    k_max: int = 4
    family: str = "mean_field"
    prior: str = "uniform"
    prior_edge: float = 0.01
    backward: str = "uniform"
    relaxation: str = "gumbel"
    temperature: float = 1.0
    baseline_degree: int = -1
    prior_amplitude: Range | None = None
    heads: HeadConfig = field(default_factory=HeadConfig)

    def validate(self) -> None:
        choices = {"family": ("mean_field", "correlated"), "prior": ("uniform", "flat"),
                   "backward": ("uniform", "paper"),
                   "relaxation": ("gumbel", "enumerated", "optimal")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"model.{name} must be one of {allowed}, got "
                                 f"{getattr(self, name)!r}")
        if self.heads.sd_transform not in ("sigmoid", "exp"):
            raise ValueError(f"heads.sd_transform must be 'sigmoid' or 'exp', got "
                             f"{self.heads.sd_transform!r}")
        if self.family == "correlated" and min(self.heads.amplitude_mean[0],
                                               self.heads.width_mean[0]) <= 0:
            raise ValueError("the correlated family works on log α and log γ: heads."
                             "amplitude_mean and heads.width_mean need a positive lower bound")
        if self.k_max < 1:
            raise ValueError(f"k_max must be >= 1, got {self.k_max}")


@dataclass(frozen=True)
class PolicyConfig:
    """The CNN that maps a residual (W,) to the raw outputs of the variational family.

    Attributes:
      arch: ``"paper"`` (Conv(100,128) → Conv(1,128) → Dense(128) → Dense(R), tanh) or
        ``"anchored"`` (a global CNN for the stop decision plus a local CNN on a window
        centred at the arg-max of the smoothed residual, which anchors the location head).
      features: channels of the anchored CNN's first layers (doubled in the last).
      hidden: width of the dense layers.
      crop: half-length of the anchored CNN's local window.
      smooth: standard deviation (grid points) of the Gaussian smoothing used to find the anchor.
      input_scale: the residual is multiplied by this before entering the network.
      noise_input: the anchored CNN also reads the residual in noise units (a second channel)
        and log σ, so one network serves spectra of any signal-to-noise ratio.
    """

    arch: str = "anchored"
    features: int = 32
    hidden: int = 128
    crop: int = 64
    smooth: float = 2.0
    input_scale: float = 5.0
    noise_input: bool = False

    def validate(self) -> None:
        if self.arch not in ("paper", "anchored"):
            raise ValueError(f"policy.arch must be 'paper' or 'anchored', got {self.arch!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping.

    Attributes:
      steps: total optimisation steps.
      batch_size: spectra simulated per step (inside the jitted step).
      schedule: ``"cosine"`` (linear warm-up to ``lr``, cosine decay to ``lr_min``) or
        ``"cyclic"`` (the paper's triangular cycle between ``lr`` and ``lr_min`` with period
        ``cycle_period``, all rates ×0.1 after ``cyclic_drop`` of the steps).
      seed: PRNG seed of initialisation and data.
      eval_every, checkpoint_every: intervals in steps.
      validation_size: spectra in the fixed validation batch (its own seed).
      keep: checkpoints kept by the Orbax manager.
    """

    steps: int = 5_000
    batch_size: int = 128
    schedule: str = "cosine"
    lr: float = 1e-3
    lr_min: float = 1e-5
    warmup: int = 200
    cycle_period: int = 4000
    cyclic_drop: float = 2 / 3
    clip_norm: float = 1e4
    seed: int = 0
    eval_every: int = 250
    checkpoint_every: int = 250
    validation_size: int = 500
    validation_seed: int = 12345
    keep: int = 3

    def validate(self) -> None:
        if self.schedule not in ("cosine", "cyclic"):
            raise ValueError(f"train.schedule must be 'cosine' or 'cyclic', got "
                             f"{self.schedule!r}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("train.steps and train.batch_size must be positive")


@dataclass(frozen=True)
class Config:
    """Everything a training run and a trained model need."""

    sim: SimulatorConfig = field(default_factory=SimulatorConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str = "compact"

    def validate(self) -> "Config":
        """Checks every section; returns self so it chains. Raises ValueError."""
        for section in (self.sim, self.model, self.policy, self.train):
            section.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        return _from_dict(cls, data)


def _from_dict(cls, data: dict[str, Any]):
    """Builds a (nested) dataclass from a dict, turning lists back into tuples."""
    if not isinstance(data, dict):
        raise TypeError(f"expected a mapping for {cls.__name__}, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} settings: {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default):
            kwargs[name] = _from_dict(type(default), value)
        elif isinstance(default, tuple) or isinstance(value, list):
            kwargs[name] = tuple(float(v) for v in value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def with_overrides(config: Config, overrides: dict[str, Any]) -> Config:
    """Returns `config` with dotted-key overrides applied, e.g. ``{"train.steps": 10}``.

    Values given as strings (from the command line) are parsed as JSON where possible.
    """
    data = config.to_dict()
    for key, value in overrides.items():
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        node = data
        *path, leaf = key.split(".")
        for part in path:
            if not isinstance(node.get(part), dict):
                raise ValueError(f"unknown setting {key!r}")
            node = node[part]
        if leaf not in node:
            raise ValueError(f"unknown setting {key!r}")
        node[leaf] = value
    return Config.from_dict(data)


def preset(name: str) -> Config:
    """Returns a named preset, one of `PRESETS` (see the module docstring)."""
    if name == "compact":
        return Config(model=ModelConfig(family="correlated"), preset="compact")
    if name == "paper":
        return Config(
            model=ModelConfig(prior="flat", backward="paper", relaxation="gumbel",
                              heads=HeadConfig(amplitude_mean=(0.0, 1.0), width_mean=(0.0, 20.0),
                                               location_span=250.0)),
            policy=PolicyConfig(arch="paper", hidden=128, input_scale=1.0),
            train=TrainConfig(steps=3_000_000, batch_size=256, schedule="cyclic", lr=1e-4,
                              lr_min=1e-6, cycle_period=4000, eval_every=4000,
                              checkpoint_every=4000),
            preset="paper",
        )
    if name == "broad":
        return broad()
    if name == "tiny":
        return Config(model=ModelConfig(family="correlated"),
                      policy=PolicyConfig(features=4, hidden=16, crop=32),
                      train=TrainConfig(steps=20, batch_size=8, warmup=2, eval_every=10,
                                        checkpoint_every=10, validation_size=32),
                      preset="tiny")
    raise ValueError(f"unknown preset {name!r}; choose one of {PRESETS}")


def broad() -> Config:
    """The real-data preset: 256-point windows with up to 8 peaks.

    Widths 2-16 points (real spectra are resampled so their peaks land there), log-uniform
    amplitudes 0.03-1, noise sd log-uniform 0.002-0.03, random cubic baselines plus a slow
    sinusoid (marginalised by a cubic baseline in the model), peaks cut by the window edges,
    peaks as close as 6 points (blends), windows normalised as real windows are, the noise
    level as a network input, and the stop head trained towards the optimal stop distribution
    (``relaxation="optimal"``).
    """
    num_points, k_max = 256, 8
    return Config(
        sim=SimulatorConfig(
            num_points=num_points, k_min=0, k_max=k_max, amplitude=(0.03, 1.0),
            location=(-12.0, num_points + 11.0), width=(2.0, 16.0), min_separation=6.0,
            amplitude_separation=0.0, noise=0.002, noise_max=0.03, amplitude_scale="log",
            baseline=0.3, baseline_wiggle=0.1, normalise=True, scale_floor=20.0),
        model=ModelConfig(
            k_max=k_max, family="correlated", relaxation="optimal", baseline_degree=3,
            prior_amplitude=(0.0, 3.0),
            heads=HeadConfig(amplitude_mean=(0.005, 3.0), amplitude_sd=(1e-4, 0.1),
                             width_mean=(1.5, 20.0), width_sd=(1e-3, 3.0))),
        policy=PolicyConfig(features=32, hidden=128, crop=48, input_scale=2.0, noise_input=True),
        train=TrainConfig(steps=10_000, batch_size=128, warmup=300, eval_every=500,
                          checkpoint_every=250),
        preset="broad",
    )


PRESETS = ("compact", "broad", "paper", "tiny")

