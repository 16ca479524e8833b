"""Device placement, checked where a CPU can check it: every tensor and generator that sgdlab creates on a
run's path says on which device, so a run with ``device="cuda"`` never mixes devices or syncs on a stray
CPU tensor. Data preparation and sampled indices stay on the CPU by design (the same examples and the same
random draws on every device) and are moved by ``.to(...)`` where they meet the model."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sgdlab

PACKAGE = Path(sgdlab.__file__).parent
FACTORIES = {"zeros", "ones", "empty", "full", "eye", "arange", "linspace", "rand", "randn", "randint", "randperm",
             "tensor", "as_tensor", "Generator"}
CPU_BY_DESIGN = {  # module: functions whose tensors stay on the CPU (data, seeded index permutations)
    "data.py": "every function: datasets are prepared on the CPU and moved once per run",
    "models.py": "every function: shapes are probed on the CPU before the model is moved",
    "loop.py:BatchStream": "mini-batch indices, drawn on the CPU and moved in _batches",
    "loop.py:_fixed_subset": "the fixed Hessian and evaluation subsets' indices, moved where used",
    "loop.py:_batches": "the full batch's indices, moved on the next line",
}


def factory_calls_without_device(path: Path) -> list[str]:
    """``function: line`` of each torch factory call in ``path`` with no ``device=`` and no ``.to(...)`` on it."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FACTORIES
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"):
            continue
        parent = parents.get(node)
        while isinstance(parent, ast.Subscript):  # torch.randperm(n)[:k].to(device)
            parent = parents.get(parent)
        moved = isinstance(parent, ast.Attribute) and parent.attr == "to"
        if moved or any(k.arg == "device" for k in node.keywords):
            continue
        scope, up = [], parents.get(node)
        while up is not None:
            if isinstance(up, (ast.FunctionDef, ast.ClassDef)):
                scope.insert(0, up.name)
            up = parents.get(up)
        found.append(f"{':'.join([path.name, *scope[:1]])}: line {node.lineno}")
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_tensor_on_a_runs_path_names_its_device(module):
    stray = [site for site in factory_calls_without_device(module)
             if site.split(": line")[0] not in CPU_BY_DESIGN and module.name not in CPU_BY_DESIGN]
    assert not stray, f"torch factory calls without device=: {stray}"


def test_the_check_finds_a_tensor_without_its_device(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("import torch\n\ndef f(x):\n    a = torch.zeros(3, device=x.device)\n"
                      "    b = torch.randn(3).to(x.device) + torch.randperm(5)[:3].to(x.device)\n"
                      "    return a + b + torch.ones(3)\n")
    assert factory_calls_without_device(source) == ["probe.py:f: line 6"]
