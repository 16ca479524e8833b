"""CF-style attributes of every variable a run records: ``long_name``, ``units`` and a one-line
``description``, declared by the probe or trace that produces it and attached to the run's Dataset."""

from __future__ import annotations

from dataclasses import dataclass

import xarray as xr


@dataclass(frozen=True)
class Variable:
    """The attributes of one data variable or coordinate."""

    long_name: str
    description: str
    units: str = "1"

    def attrs(self) -> dict[str, str]:
        return {"long_name": self.long_name, "units": self.units, "description": self.description}


VARIABLES: dict[str, Variable] = {
    "step": Variable("step", "number of optimizer steps taken before the measurement", "steps"),
    "epoch": Variable("epoch", "training time in epochs of epoch_size examples", "epochs"),
    "iteration": Variable("optimizer step", "index t of the optimizer step from state t to state t + 1", "steps"),
    "iteration_epoch": Variable("epoch at the optimizer step", "training time before optimizer step t", "epochs"),
    "initial_state": Variable("initial state", "flat parameters then floating-point buffers at initialisation"),
    "final_state": Variable("final state", "flat parameters then floating-point buffers at the end"),
    "state": Variable("state index", "position in the flat state vector"),
}


def declare(**variables: Variable) -> None:
    """Declare the attributes of new variables (each name once)."""
    clash = sorted(set(variables) & set(VARIABLES))
    if clash:
        raise ValueError(f"variables {clash} are declared already")
    VARIABLES.update(variables)


def annotate(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the declared attributes on every variable and coordinate that has them."""
    for name in list(ds.variables):
        if name in VARIABLES:
            ds[name].attrs.update(VARIABLES[name].attrs())
    return ds
