"""The statistics of *Three Factors Influencing Minima in SGD* (Jastrzębski, Kenton, Arpit, Ballas, Fischer,
Bengio & Storkey, 2017, arXiv:1711.04623), as pure functions of measured numbers.

- The shape of the loss on the line θ(α) = (1 − α)·θ₁ + α·θ₂ through two endpoints
  (:func:`line_asymmetry`): how much wider one end is than the other.
- Where the invariance of the family η = η₀β, S = S₀β breaks (:func:`breakdown`): the smallest β > 1 whose
  accuracy fell below β = 1's by more than a test set of that size resolves (:func:`difference_tolerance`).
- Whether a cyclic schedule alternates between sharper and wider regions (:func:`alternation_contrasts`).
- Which runs to compare at a matched level of memorisation (:func:`matched_runs`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import xarray as xr


def line_asymmetry(loss: xr.DataArray, dim: str = "alpha") -> xr.DataArray:
    """|log(L(2)/L(1)) − log(L(−1)/L(0))| of a line's loss, along the other dims: the log-factor by which the
    loss grows one segment length beyond θ₂ (α = 1), less the one beyond θ₁ (α = 0). Zero when both endpoints
    are equally wide along the line; for rises h₁ and h₂ over a floor L₀ at both ends it is
    |log((L₀ + h₂)/(L₀ + h₁))|, near |log(h₂/h₁)| once the rises dominate. A factor, unlike a ratio of the two
    rises, stays defined and small on a nearly flat line, where both rises are small and either can be
    negative. NaN where the loss is not positive.

    loss: the loss at α ∈ {−1, 0, 1, 2} (and any others) along ``dim``.
    """
    missing = [a for a in (-1.0, 0.0, 1.0, 2.0) if not np.isclose(loss[dim].values, a).any()]
    if missing:
        raise ValueError(f"loss must hold alpha = -1, 0, 1 and 2 along {dim!r}; missing {missing}")
    at = {a: loss.sel({dim: a}, method="nearest").drop_vars(dim) for a in (-1.0, 0.0, 1.0, 2.0)}
    at = {a: value.where(value > 0) for a, value in at.items()}
    return np.abs(np.log(at[2.0] / at[1.0]) - np.log(at[-1.0] / at[0.0]))


def difference_tolerance(accuracy: float, n: int) -> float:
    """Two binomial standard errors of a difference of two accuracies near ``accuracy``, each on ``n``
    examples: 2·√(2p(1 − p)/n). A drop smaller than this is within what the test set resolves."""
    if not 0.0 <= accuracy <= 1.0 or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"accuracy must be in [0, 1] and n a positive count, got {accuracy!r} and {n!r}")
    return 2.0 * math.sqrt(2.0 * accuracy * (1.0 - accuracy) / n)


def breakdown(betas: Sequence[float], accuracy: Sequence[float], n: int, reference: float = 1.0) -> tuple[float, float]:
    """The breakdown point of a family η = η₀β, S = S₀β and its tolerance: the smallest β > ``reference``
    whose accuracy is below the reference's by more than :func:`difference_tolerance` of the reference's
    accuracy on ``n`` test examples (``inf`` when none is), and that tolerance.

    betas, accuracy: one accuracy per β (same length), ``reference`` among the β.
    """
    b, acc = np.asarray(betas, dtype=float), np.asarray(accuracy, dtype=float)
    if b.ndim != 1 or b.shape != acc.shape or not np.isclose(b, reference).any():
        raise ValueError(f"betas and accuracy must be two lists of one length with the reference β = {reference:g}; "
                         f"got betas {b.tolist()} and {acc.size} accuracies")
    p = float(acc[np.isclose(b, reference)][0])
    tolerance = difference_tolerance(p, n)
    fallen = b[(b > reference) & (acc < p - tolerance)]
    return (float(fallen.min()) if fallen.size else math.inf), tolerance


def alternation_contrasts(stage_ends: Sequence[float], cycles: int) -> list[float]:
    """How much lower log λ₁ is at the end of each high-noise stage after the first cycle than on either side
    of it: ½(e_{k−1} + e_{k+1}) − e_k for k = 2, 4, …, 2·cycles − 2 (the mean of the two neighbouring
    low-noise stage ends cancels a steady trend). Positive everywhere: the schedule alternates between
    wider regions (high noise) and sharper ones (low noise).

    stage_ends: log λ₁ at the end of stages 0, 1, …, 2·cycles − 1 (a high-noise stage first, then a
    low-noise one, each cycle), shape ``(2·cycles,)``.
    """
    ends = np.asarray(stage_ends, dtype=float)
    if not isinstance(cycles, (int, np.integer)) or cycles < 2 or ends.shape != (2 * cycles,):
        raise ValueError(f"stage_ends must hold one value per stage of at least 2 cycles (2·cycles values); "
                         f"got cycles={cycles!r} and shape {ends.shape}")
    return [float((ends[k - 1] + ends[k + 1]) / 2 - ends[k]) for k in range(2, 2 * cycles - 1, 2)]


def matched_runs(ratio: Sequence[float], values: Sequence[float],
                 min_runs: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The runs to rank at one memorisation level: the pairs (η/S, value) whose value is finite (e.g. the clean
    accuracy of a run when it first reached the level, NaN where it never did), or None when fewer than
    ``min_runs`` remain: a rank correlation over fewer runs is not read."""
    x, y = np.asarray(ratio, dtype=float).ravel(), np.asarray(values, dtype=float).ravel()
    if not isinstance(min_runs, (int, np.integer)) or min_runs < 2 or x.shape != y.shape:
        raise ValueError(f"min_runs must be an integer of at least 2 (a ranking needs two runs) and ratio and values "
                         f"of one length; got {min_runs!r}, {x.size} ratios and {y.size} values")
    keep = np.isfinite(y)
    return (x[keep], y[keep]) if keep.sum() >= min_runs else None
