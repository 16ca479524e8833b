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


# --- A tuner's step size against the sharpness (Roulet et al., NeurIPS 2024, arXiv:2407.06183)


def cycle_pairs(steps: ArrayLike, values: ArrayLike, step_lr: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A quantity measured at both states t, t + 1 of pairs of consecutive states, read per step of a
    period-two cycle of the step size (greedy CDAT's η_t alternates short, long): each pair ordered by the
    step taken from its state, so that λ₁(s)·η_s gives η_tλ₁ at the short and at the long step.

    steps, values: the measured states and the value there (NaN: not measured); step_lr: η_s of every step s
    (the step taken from state s). Returns ``(states, values, lr)``: the first state t of each pair whose
    two states were measured (P,), the values (P, 2) and η_s (P, 2), each pair's columns ordered (shorter
    step, longer step).

    >>> states, lam, lr = cycle_pairs([0, 1, 4, 5], [10.0, 10.0, 12.0, 10.0], [0.3, 0.1] * 3)
    >>> states.tolist(), (lam * lr).round(6).tolist()
    ([0, 4], [[1.0, 3.0], [1.0, 3.6]])
    """
    steps, measured = _measured(steps, values)
    step_lr = np.asarray(step_lr, dtype=float)
    if step_lr.ndim != 1 or np.any(steps < 0) or np.any(steps >= len(step_lr)) or np.any(steps != np.round(steps)):
        raise ValueError(f"steps must be states 0..{len(step_lr) - 1} of step_lr (one η per step), got "
                         f"{steps.tolist()!r}")
    at = dict(zip(steps.astype(int).tolist(), measured))
    states = np.array([t for t in at if t + 1 in at], dtype=int)
    if not len(states):
        raise ValueError("cycle_pairs needs values at two consecutive states at least once (e.g. steps t and t + 1)")
    lr = np.stack([step_lr[states], step_lr[states + 1]], axis=1)
    pairs = np.array([[at[t], at[t + 1]] for t in states])
    order = np.argsort(lr, axis=1, kind="stable")
    return states, np.take_along_axis(pairs, order, axis=1), np.take_along_axis(lr, order, axis=1)


def trend_factor(steps: ArrayLike, values: ArrayLike) -> float:
    """The factor by which a positive series changes over its span, exp(b·(t_last − t_first)) with b the
    least-squares slope of log(value) on t: it reads a trend through step-to-step oscillations.

    >>> round(trend_factor([0, 1, 2], [1.0, 2.0, 4.0]), 6)
    4.0
    """
    t, v = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if t.ndim != 1 or t.shape != v.shape or len(t) < 2 or np.ptp(t) == 0:
        raise ValueError(f"steps and values must be 1-D of one length with at least 2 distinct steps, got shapes "
                         f"{t.shape} and {v.shape}")
    if not np.all(v > 0):
        raise ValueError(f"values must be positive to read a factor, got min {v.min()!r}")
    slope = np.polyfit(t, np.log(v), 1)[0]
    return float(np.exp(slope * np.ptp(t)))


def undershoot_mechanism(sharpness: float, lr: float, products: Sequence[float], rise: float = 1.2) -> bool:
    """The mechanism by which a greedy tuner undershoots the edge, from trend factors (:func:`trend_factor`)
    over one window: λ₁ rises by at least ``rise``, η_t falls, and η_tλ₁ stays roughly constant — at each
    step of the cycle (``products``, one factor per phase) it moves by at most half as much as λ₁, in log
    scale (|log f_ηλ| ≤ ½ log f_λ: η_t's fall compensates most of the sharpening)."""
    checks.number("rise", rise, positive=True)
    products = np.asarray(products, dtype=float)
    if products.ndim != 1 or not len(products) or not np.all(products > 0) or not (sharpness > 0 and lr > 0):
        raise ValueError(f"factors must be positive, got sharpness={sharpness!r}, lr={lr!r}, "
                         f"products={products.tolist()!r}")
    return bool(sharpness >= rise and lr < 1
                and np.all(np.abs(np.log(products)) <= 0.5 * np.log(sharpness)))


def initial_excess(steps: ArrayLike, sharpness: ArrayLike) -> float:
    """λ₁ at the first measurement over the largest later one: above 1 when the sharpness falls early and
    never comes back to its initial value (where σ = 2 tuning can warm up: η_t ≈ 2/λ₁ rises as λ₁ falls)."""
    _, lam = _measured(steps, sharpness)
    if len(lam) < 2 or not np.all(lam[1:] > 0):
        raise ValueError(f"sharpness needs at least 2 measurements, the later ones positive, got {lam.tolist()!r}")
    return float(lam[0] / lam[1:].max())


def warm_up_ratio(step_lr: ArrayLike, head: float = 0.05, tail: float = 0.5) -> float:
    """The median step size over the last ``tail`` of the steps over its median over the first ``head``:
    above 1 when η_t starts small and grows, as a warm-up (medians: a one-step transient does not count).

    >>> warm_up_ratio([0.1] * 10 + [0.4] * 10, head=0.1)
    4.0
    """
    step_lr = np.asarray(step_lr, dtype=float)
    checks.number("head", head, positive=True, below=1)
    checks.number("tail", tail, positive=True, high=1)
    if step_lr.ndim != 1 or len(step_lr) < 2 or not np.all(step_lr > 0):
        raise ValueError(f"step_lr must be 1-D, positive, with at least 2 steps, got shape {step_lr.shape}")
    n = len(step_lr)
    first, last = step_lr[:max(1, round(head * n))], step_lr[n - max(1, round(tail * n)):]
    return float(np.median(last) / np.median(first))
