"""Schedules of the learning rate or the batch size over training time, measured in epochs.

A schedule is a frozen dataclass with ``at(epoch) -> value`` and ``bounds() -> (lowest, highest)``.
Bad arguments raise ``ValueError`` on construction, before any training. Schedules are stored in a
run's configuration JSON as ``{"kind": ..., <fields>}`` and read back with :func:`from_dict`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from sgdlab.core import checks
from sgdlab.core.kinds import Kinds

SCHEDULES = Kinds("schedule")


def _check_positive(name: str, *values: float) -> None:
    for value in values:
        checks.number(name, value, positive=True)


@SCHEDULES.register("constant")
@dataclass(frozen=True)
class Constant:
    """The same value throughout."""

    value: float

    def __post_init__(self) -> None:
        _check_positive("Constant.value", self.value)

    def at(self, epoch: float) -> float:
        return self.value

    def bounds(self) -> tuple[float, float]:
        return self.value, self.value


@SCHEDULES.register("step")
@dataclass(frozen=True)
class Step:
    """``values[i]`` from epoch ``boundaries[i - 1]`` (0 for the first) until ``boundaries[i]``.

    Example: ``Step((0.1, 0.01), (50,))`` is 0.1 for 50 epochs, then 0.01.
    """

    values: tuple[float, ...]
    boundaries: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))
        object.__setattr__(self, "boundaries", tuple(self.boundaries))
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(f"Step needs one more value than boundaries, got {len(self.values)} values "
                             f"and {len(self.boundaries)} boundaries")
        _check_positive("Step.values", *self.values)
        _check_positive("Step.boundaries", *self.boundaries)
        if any(b >= c for b, c in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"Step.boundaries must increase strictly, got {self.boundaries}")

    def at(self, epoch: float) -> float:
        return self.values[bisect.bisect_right(self.boundaries, epoch)]

    def bounds(self) -> tuple[float, float]:
        return min(self.values), max(self.values)


@SCHEDULES.register("triangular")
@dataclass(frozen=True)
class Triangular:
    """A cycle from ``start`` to ``turn`` in ``step_size`` epochs and back in as many, repeated.

    ``start`` may be above or below ``turn``. With ``reciprocal`` the reciprocal 1/value moves
    linearly instead of the value: a batch-size cycle whose η/S follows the same triangle as a
    learning-rate cycle (S between 128 and 640 with η fixed ↔ η between two values with S fixed).
    """

    start: float
    turn: float
    step_size: float
    reciprocal: bool = False

    def __post_init__(self) -> None:
        _check_positive("Triangular.step_size (half a cycle, in epochs)", self.step_size)
        _check_positive("Triangular.start and turn", self.start, self.turn)
        checks.boolean("Triangular.reciprocal", self.reciprocal)

    def at(self, epoch: float) -> float:
        phase = (epoch / self.step_size) % 2.0
        weight = phase if phase <= 1.0 else 2.0 - phase  # 0 at start, 1 at the turn
        if self.reciprocal:
            return 1.0 / ((1 - weight) / self.start + weight / self.turn)
        return (1 - weight) * self.start + weight * self.turn

    def bounds(self) -> tuple[float, float]:
        return min(self.start, self.turn), max(self.start, self.turn)


@SCHEDULES.register("alternating")
@dataclass(frozen=True)
class Alternating:
    """``first`` for ``stage`` epochs, then ``second`` for ``stage`` epochs, repeated: a discrete cycle.

    Example: ``Alternating(0.005, 0.001, 15)`` is 0.005 in epochs [0, 15), 0.001 in [15, 30), 0.005
    again from 30. A learning-rate cycle ``Alternating(η_high, η_low, L)`` at batch size S_low and a
    batch-size cycle ``Alternating(S_low, S_high, L)`` at η_high with η_high/S_high = η_low/S_low give
    the same η/S in every stage.
    """

    first: float
    second: float
    stage: float

    def __post_init__(self) -> None:
        _check_positive("Alternating.stage (one stage, in epochs)", self.stage)
        _check_positive("Alternating.first and second", self.first, self.second)

    def at(self, epoch: float) -> float:
        return self.first if int(epoch // self.stage) % 2 == 0 else self.second

    def bounds(self) -> tuple[float, float]:
        return min(self.first, self.second), max(self.first, self.second)


Schedule = Constant | Step | Triangular | Alternating


PLATEAUS = Kinds("plateau rule")
_MODES = ("min", "max")


def _check_rule(name: str, monitor: str, patience: float, mode: str) -> None:
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(f"{name}.monitor must be the name of a measured variable (e.g. 'test_loss'), got {monitor!r}")
    _check_positive(f"{name}.patience (epochs)", patience)
    checks.choice(f"{name}.mode", mode, _MODES)


@PLATEAUS.register("reduce_on_plateau")
@dataclass(frozen=True)
class ReduceOnPlateau:
    """The learning rate ×``factor`` each time the measured variable ``monitor`` has not improved (below
    its best for ``mode="min"``, above for ``"max"``) for ``patience`` epochs, as Keras's
    ``ReduceLROnPlateau``; the wait restarts after each cut. Under ``holdout="validation"`` the losses
    probe's ``test_loss`` is the validation loss (Jastrzębski et al. 2019: ×0.1 after 100 epochs)."""

    monitor: str = "test_loss"
    patience: float = 100.0
    factor: float = 0.1
    mode: str = "min"

    def __post_init__(self) -> None:
        _check_rule("ReduceOnPlateau", self.monitor, self.patience, self.mode)
        checks.number("ReduceOnPlateau.factor", self.factor, positive=True, below=1)


@PLATEAUS.register("early_stopping")
@dataclass(frozen=True)
class EarlyStopping:
    """Stop the run once the measured variable ``monitor`` has not improved for ``patience`` epochs, as
    Keras's ``EarlyStopping`` (Jastrzębski et al. 2019: validation accuracy, 200 epochs)."""

    monitor: str = "test_acc"
    patience: float = 200.0
    mode: str = "max"

    def __post_init__(self) -> None:
        _check_rule("EarlyStopping", self.monitor, self.patience, self.mode)


Plateau = ReduceOnPlateau | EarlyStopping
KINDS: dict[str, type] = SCHEDULES.classes


def to_dict(schedule: Schedule) -> dict[str, Any]:
    """``{"kind": "triangular", "start": ..., ...}``: JSON-ready, read back by :func:`from_dict`."""
    return SCHEDULES.to_dict(schedule)


def from_dict(spec: dict[str, Any]) -> Schedule:
    """The schedule that :func:`to_dict` described."""
    return SCHEDULES.from_dict(spec)


def batch_size_at(schedule: Schedule, epoch: float) -> int:
    """The batch size a schedule gives at ``epoch``, rounded to the nearest integer (at least 1)."""
    return max(1, round(schedule.at(epoch)))
