"""When things happen in a run: the steps laid out in time (:func:`clock_of`), and the schedule of each
probe and trace (:func:`steps_of`).

Time is counted in epochs of ``epoch_size`` examples; step ``k`` is the state after ``k`` optimizer
steps (0: initialisation). Probes measure the state at steps ``0..total``; traces see the optimizer
steps ``t = 0..total−1`` (the step from state ``t`` to ``t + 1``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sgdlab.core import checks
from sgdlab.training import schedules
from sgdlab.training.schedules import Schedule


@dataclass(frozen=True)
class Clock:
    """A run's steps: the batch size of each step, and the time in epochs after each number of steps.

    ``steps_per_epoch`` is set when the batch size is constant (an epoch is then a whole number of steps).
    """

    batch_sizes: np.ndarray  # (total_steps,) int
    epochs: np.ndarray  # (total_steps + 1,) float, epochs[k] = time after k steps
    steps_per_epoch: int | None

    @property
    def total_steps(self) -> int:
        return len(self.batch_sizes)

    def step_at(self, epoch: float) -> int:
        """The step whose time is nearest ``epoch``."""
        return int(np.abs(self.epochs - epoch).argmin())


def layout(epochs: float, epoch_size: int, batch_size: int, batch_schedule: Schedule | None = None) -> Clock:
    """Lay out every step of a run; with a batch schedule the run ends at the step nearest ``epochs``.

    A step at batch size S advances time by 1/⌈epoch_size/S⌉ epochs, so time counts examples seen.
    """
    if batch_schedule is None:
        steps_per_epoch = math.ceil(epoch_size / batch_size)
        total_steps = max(1, round(epochs * steps_per_epoch))
        return Clock(np.full(total_steps, batch_size), np.arange(total_steps + 1) / steps_per_epoch, steps_per_epoch)
    sizes, times = [], [0.0]
    while True:
        size = schedules.batch_size_at(batch_schedule, times[-1])
        advance = 1 / math.ceil(epoch_size / size)
        if sizes and times[-1] + advance / 2 > epochs:
            break
        sizes.append(size)
        times.append(times[-1] + advance)
    return Clock(np.asarray(sizes), np.asarray(times), None)


@dataclass(frozen=True)
class Every:
    """A probe's or trace's own schedule: every ``steps`` steps or every ``epochs`` epochs (one of the two),
    within the window ``[start, stop]`` in epochs (``stop=None``: to the end). A probe also measures at
    the window's last step when ``stop`` is None (the end of the run)."""

    steps: int | None = None
    epochs: float | None = None
    start: float = 0.0
    stop: float | None = None

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.epochs is None):
            raise ValueError(f"Every needs exactly one of steps or epochs, got steps={self.steps!r}, "
                             f"epochs={self.epochs!r}")
        if self.steps is not None:
            checks.integer("Every.steps", self.steps, low=1)
        else:
            checks.number("Every.epochs", self.epochs, positive=True)
        checks.number("Every.start (epochs)", self.start, low=0)
        if self.stop is not None:
            checks.number("Every.stop (epochs)", self.stop, low=self.start)

    def state_steps(self, clock: Clock) -> list[int]:
        """The states ``0..total`` this schedule measures (for probes)."""
        if self.start > clock.epochs[-1] + 1e-9:
            return []
        first, last = clock.step_at(self.start), clock.total_steps if self.stop is None else clock.step_at(self.stop)
        if self.steps is not None:
            chosen = set(range(first, last + 1, self.steps))
        else:
            targets = np.arange(self.start, float(clock.epochs[last]) + 1e-9, self.epochs)
            chosen = {clock.step_at(t) for t in targets}
        if self.stop is None:
            chosen.add(clock.total_steps)
        return sorted(s for s in chosen if first <= s <= last)

    def optimizer_steps(self, clock: Clock) -> list[int]:
        """The optimizer steps ``0..total−1`` this schedule sees (for traces)."""
        return [s for s in self.state_steps(clock) if s < clock.total_steps]


def measurement_steps(measure_every: float, zoom_until: float, zoom_every: float, clock: Clock) -> list[int]:
    """The default schedule of probes: every ``measure_every`` epochs, every ``zoom_every`` before
    ``zoom_until``, and the end; the steps nearest those epochs."""
    if clock.steps_per_epoch is not None:
        spe, total = clock.steps_per_epoch, clock.total_steps
        every, zoom = max(1, round(measure_every * spe)), max(1, round(zoom_every * spe))
        zoom_end = min(total, round(zoom_until * spe))
        return sorted(set(range(0, total + 1, every)) | set(range(0, zoom_end + 1, zoom)) | {total})
    end = float(clock.epochs[-1])
    targets = np.concatenate([np.arange(0, end, measure_every),
                              np.arange(0, min(zoom_until, end) + 1e-12, zoom_every), [end]])
    return sorted({clock.step_at(t) for t in targets})


def clock_of(config: Any, n_train: int) -> Clock:
    """The steps of a run (a :class:`~sgdlab.training.config.RunConfig`) on ``n_train`` examples (a
    full-batch step covers the whole set: one epoch)."""
    batch = n_train if config.batch_size is None else config.batch_size
    return layout(config.epochs, config.epoch_size or n_train, batch, config.batch_schedule)


def steps_of(config: Any, name: str, clock: Clock, *, probe: bool) -> list[int]:
    """The steps at which probe (or trace) ``name`` of a run runs, on the run's ``clock``; ``ValueError``
    if it would never run."""
    when = config.every.get(name)
    if when is None:
        return (measurement_steps(config.measure_every, config.zoom_until, config.zoom_every, clock)
                if probe else list(range(clock.total_steps)))
    steps: set[int] = set()
    for window in (when,) if isinstance(when, Every) else when:
        fired = window.state_steps(clock) if probe else window.optimizer_steps(clock)
        if not fired:
            raise ValueError(f"every[{name!r}]: {window} never fires in this run of {clock.total_steps} steps "
                             f"({float(clock.epochs[-1]):g} epochs)")
        steps.update(fired)
    return sorted(steps)
