"""The edge of stability of full-batch gradient descent, as pure functions of recorded curves.

Cohen, Kaur, Li, Kolter, Talwalkar, *Gradient Descent on Neural Networks Typically Occurs at the Edge of
Stability*, ICLR 2021 (arXiv:2103.00065). Gradient descent with step η on a quadratic of curvature λ is
stable iff ηλ < 2: the iterate is multiplied by (1 − ηλ) each step. On neural networks the sharpness
λ₁ (top eigenvalue of the training-loss Hessian) rises (*progressive sharpening*) until it reaches the
threshold 2/η, then hovers at or just above it, while the training loss keeps falling over long
timescales but not monotonically over short ones.

With heavy-ball momentum β (PyTorch's form, v ← βv + g, θ ← θ − ηv) the quadratic is stable iff
ηλ < 2 + 2β, so the threshold is (2 + 2β)/η. **[verify]**: the paper states this threshold for
momentum from the heavy-ball recursion; we have not checked its exact convention against its code.

>>> stability_threshold(0.01)
200.0
>>> stability_threshold(0.01, momentum=0.9)
380.0
>>> float(normalised_sharpness([100.0, 200.0], 0.01)[1])
1.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sgdlab.core import checks

ArrayLike = Sequence[float] | np.ndarray


def stability_threshold(lr: float, momentum: float = 0.0) -> float:
    """The sharpness (2 + 2β)/η above which gradient descent with step ``lr`` and momentum β diverges on
    a quadratic (2/η without momentum)."""
    checks.number("lr", lr, positive=True)
    checks.number("momentum", momentum, low=0, below=1)
    return (2 + 2 * momentum) / lr


def normalised_sharpness(sharpness: ArrayLike, lr: float | ArrayLike, momentum: float = 0.0) -> np.ndarray:
    """λ₁ over the threshold: ηλ₁/(2 + 2β) (ηλ₁/2 without momentum); 1 is the edge of stability.

    ``lr`` may be one step size or one per entry of ``sharpness`` (a tuner's η_t).
    """
    checks.number("momentum", momentum, low=0, below=1)
    lr = np.asarray(lr, dtype=float)
    if not np.all(lr > 0):
        raise ValueError(f"lr must be positive, got {lr!r}")
    return np.asarray(sharpness, dtype=float) * lr / (2 + 2 * momentum)


def _measured(steps: ArrayLike, values: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The (step, value) pairs where the value was measured (not NaN), in step order."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if steps.shape != values.shape or steps.ndim != 1:
        raise ValueError(f"steps and values must be 1-D of one length, got shapes {steps.shape} and {values.shape}")
    keep = ~np.isnan(values)
    order = np.argsort(steps[keep], kind="stable")
    return steps[keep][order], values[keep][order]


def edge_step(steps: ArrayLike, sharpness: ArrayLike, lr: float, momentum: float = 0.0,
              fraction: float = 1.0) -> float | None:
    """The first measured step at which λ₁ reaches ``fraction`` of the threshold; ``None`` if it never does."""
    checks.number("fraction", fraction, positive=True)
    steps, lam = _measured(steps, sharpness)
    reached = np.flatnonzero(lam >= fraction * stability_threshold(lr, momentum))
    return float(steps[reached[0]]) if len(reached) else None


def median_after_edge(steps: ArrayLike, sharpness: ArrayLike, lr: float, momentum: float = 0.0,
                      fraction: float = 1.0) -> float:
    """The median of ηλ₁/(2 + 2β) over the measurements from :func:`edge_step` on; NaN if never reached."""
    start = edge_step(steps, sharpness, lr, momentum, fraction)
    if start is None:
        return float("nan")
    steps, lam = _measured(steps, sharpness)
    return float(np.median(normalised_sharpness(lam[steps >= start], lr, momentum)))


def rise_fraction(loss: ArrayLike) -> float:
    """The fraction of consecutive steps at which the loss went up: #{t : L_{t+1} > L_t} / (T − 1)."""
    loss = np.asarray(loss, dtype=float)
    if loss.ndim != 1 or len(loss) < 2:
        raise ValueError(f"loss must be 1-D with at least 2 steps, got shape {loss.shape}")
    return float(np.mean(np.diff(loss) > 0))


def window_means(loss: ArrayLike, windows: int) -> np.ndarray:
    """The mean loss over ``windows`` consecutive windows of (nearly) equal length, in order."""
    loss = np.asarray(loss, dtype=float)
    checks.integer("windows", windows, low=1)
    if loss.ndim != 1 or len(loss) < windows:
        raise ValueError(f"loss must be 1-D with at least windows={windows} steps, got shape {loss.shape}")
    return np.array([part.mean() for part in np.array_split(loss, windows)])


def decreases_over_windows(loss: ArrayLike, windows: int) -> bool:
    """Whether the window means of :func:`window_means` fall strictly from each window to the next."""
    return bool(np.all(np.diff(window_means(loss, windows)) < 0))


def cycle_step_size(step_lr: ArrayLike, states: ArrayLike, span: int = 2) -> np.ndarray:
    """The mean step size over the ``span`` steps taken from each of ``states``: mean(η_t, …, η_{t+span−1}).

    A tuner's η_t can alternate from step to step (period two at the greedy σ = 1 of CDAT); its value at
    a single step then depends on the parity of the measurement step, its mean over the cycle does not.

    >>> cycle_step_size([0.1, 0.3, 0.1, 0.3], [0, 1, 2]).round(6).tolist()
    [0.2, 0.2, 0.2]
    """
    step_lr = np.asarray(step_lr, dtype=float)
    checks.integer("span", span, low=1)
    states = np.asarray(states, dtype=int)
    if step_lr.ndim != 1 or states.ndim != 1 or np.any(states < 0) or np.any(states + span > len(step_lr)):
        raise ValueError(f"states must be steps 0..{len(step_lr) - span} of step_lr (span={span} steps each), "
                         f"got {states.tolist()!r}")
    return np.array([step_lr[t:t + span].mean() for t in states])


def edge_learning_rates(sharpness: float, ratios: Sequence[float], digits: int = 2) -> list[float]:
    """Step sizes η whose edge 2/η lies ``ratios`` times the sharpness λ₁ at initialisation:
    η = 2/(r·λ₁), rounded to ``digits`` significant digits (so a run's configuration, and its cached
    result, does not hinge on the last bits of a Lanczos estimate).

    A ratio r > 1 leaves room for progressive sharpening before the edge; the larger r, the longer GD
    sharpens before it reaches 2/η.

    >>> edge_learning_rates(4.08, [2.5, 2.0, 1.5])
    [0.2, 0.25, 0.33]
    """
    checks.number("sharpness", sharpness, positive=True)
    checks.integer("digits", digits, low=1)
    if not ratios:
        raise ValueError("ratios must be a non-empty list of numbers > 0")
    for r in ratios:
        checks.number("ratios[]", r, positive=True)
    return [float(f"{2 / (r * sharpness):.{digits}g}") for r in ratios]
