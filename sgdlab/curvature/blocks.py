"""Parameter blocks: which of a model's parameters a curvature operator differentiates.

``params`` selects by name over ``model.named_parameters()``:

- ``None``: every parameter that requires gradients (the whole Hessian);
- a glob pattern such as ``"features.0.*"`` (:func:`fnmatch.fnmatchcase`), or a list of patterns
  (their union); every pattern must match some parameter;
- a predicate ``(name, parameter) -> bool``.

The operator of a block ``B`` holds the other parameters fixed: its Hessian is the diagonal block
``H_BB = ∂²L/∂θ_B²`` of the full Hessian, in the order of ``named_parameters()``.

>>> from torch import nn
>>> model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
>>> [name for name, _ in select(model, "2.*")]
['2.weight', '2.bias']

A mapping ``{block name: params}`` names several blocks at once (the ``block`` dimension of a tracked
run); they may not share a parameter (:func:`check_blocks`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence

from torch import nn

Predicate = Callable[[str, nn.Parameter], bool]
ParamSpec = None | str | Sequence[str] | Predicate


def _patterns(params: str | Sequence[str]) -> list[str]:
    patterns = [params] if isinstance(params, str) else list(params) if isinstance(params, Sequence) else []
    if not patterns or not all(isinstance(p, str) for p in patterns):
        raise ValueError(f"params must be None, a glob pattern, a non-empty list of patterns or a predicate "
                         f"(name, parameter) -> bool, got {params!r}")
    return patterns


def _matching(named: list[tuple[str, nn.Parameter]], params: ParamSpec) -> list[tuple[str, nn.Parameter]]:
    if params is None:
        return named
    if callable(params):
        return [(n, p) for n, p in named if params(n, p)]
    patterns = _patterns(params)
    names = [n for n, _ in named]
    for pattern in patterns:
        if not fnmatch.filter(names, pattern):
            shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            raise ValueError(f"params: pattern {pattern!r} matches no parameter of the model ({shown})")
    return [(n, p) for n, p in named if any(fnmatch.fnmatchcase(n, pat) for pat in patterns)]


def select(model: nn.Module, params: ParamSpec = None) -> list[tuple[str, nn.Parameter]]:
    """The ``(name, parameter)`` pairs of the block ``params`` that require gradients, in model order;
    ``ValueError`` naming ``params`` when the block is empty or a pattern matches nothing."""
    named = list(model.named_parameters())
    if not named:
        raise ValueError("params: the model has no parameters")
    chosen = [(n, p) for n, p in _matching(named, params) if p.requires_grad]
    if not chosen:
        what = "the model" if params is None else f"the block {params!r}"
        raise ValueError(f"params: {what} has no parameter that requires gradients")
    return chosen


def check_blocks(model: nn.Module, blocks: Mapping[str, ParamSpec]) -> dict[str, list[str]]:
    """Each block's parameter names; ``ValueError`` naming ``params`` when blocks overlap or one is empty."""
    if not isinstance(blocks, Mapping) or not blocks or not all(isinstance(k, str) for k in blocks):
        raise ValueError(f"params: blocks must be a non-empty mapping from block names to parameter "
                         f"selections, got {blocks!r}")
    owner: dict[str, str] = {}
    names: dict[str, list[str]] = {}
    for block, spec in blocks.items():
        names[block] = [n for n, _ in select(model, spec)]
        for name in names[block]:
            if name in owner:
                raise ValueError(f"params: blocks {owner[name]!r} and {block!r} overlap (both hold {name!r})")
            owner[name] = block
    return names
