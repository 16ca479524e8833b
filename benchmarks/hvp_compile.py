"""Does ``torch.compile`` make a Hessian-vector product cheaper? One product on 1,000 MNIST-1D examples,
as a ratio to one gradient of the same loss, for three ways of computing it:

- graph reuse (sgdlab's default, :class:`sgdlab.curvature.HessianOperator`): the gradient's graph built
  once, each product one backward pass through it;
- forward-over-reverse, ``torch.func.jvp(torch.func.grad(loss), θ, v)``, eager;
- the same function under ``torch.compile`` (double backward through a compiled graph is not
  supported, so forward-over-reverse is the form that compiles).

The compiled product is checked against graph reuse (relative error) and its compile time reported.
Medians over interleaved repeats, one torch thread; on CUDA each call is timed to its end
(``torch.cuda.synchronize``).

    python benchmarks/hvp_compile.py --models mlp cnn
    python benchmarks/hvp_compile.py --device cuda --json benchmarks/results/hvp_compile-cuda.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call, grad, jvp

from sgdlab import curvature
from sgdlab.task import data, models


def seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall seconds of one call (to its end on the device), after two warm-up calls."""

    def call() -> None:
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    call(), call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def forward_over_reverse(model: torch.nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """The flat parameters θ and ``v ↦ H v`` of the mean cross-entropy at θ, by ``jvp`` of ``grad``."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(flat: Tensor) -> Tensor:
        parts = torch.split(flat, [s.numel() for s in shapes])
        return F.cross_entropy(functional_call(model, {n: t.view(s) for n, t, s in zip(names, parts, shapes)}, (x,)), y)

    return theta, lambda v: jvp(grad(loss), (theta,), (v,))[1]


def compare(name: str, repeats: int, device: str = "cpu", compile_: bool = True) -> dict[str, float]:
    d = data.load("mnist1d", train_size=1000, seed=0)
    x, y = d.x_train.to(device), d.y_train.to(device)
    model = models.build(name, d.input_shape, d.num_classes, seed=0).to(device).eval()

    def gradient() -> None:
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()

    theta, product = forward_over_reverse(model, x, y)
    v = torch.randn(theta.shape, generator=torch.Generator().manual_seed(0)).to(device)
    with curvature.hessian(model, [(x, y)]) as H:
        reference = H.matvec(v)
        reuse = seconds(lambda: H.matvec(v), repeats)
    g = seconds(gradient, repeats)
    result = {"model": name, "device": device, "gradient_ms": 1e3 * g, "graph_reuse": reuse / g,
              "forward_over_reverse": seconds(lambda: product(v), repeats) / g,
              "compiled": float("nan"), "compile_s": float("nan"), "error": float("nan")}
    if compile_:
        start = time.perf_counter()
        compiled = torch.compile(product)
        error = float((compiled(v) - reference).norm() / reference.norm())
        result |= {"compile_s": time.perf_counter() - start, "error": error,
                   "compiled": seconds(lambda: compiled(v), repeats) / g}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"], choices=["mlp", "cnn"])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (its column is nan)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| model | gradient (ms) | graph reuse | forward-over-reverse | compiled | compile (s) | error |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for name in args.models:
        r = compare(name, args.repeats, args.device, not args.no_compile)
        rows.append(r)
        print(f"| {name} | {r['gradient_ms']:.1f} | {r['graph_reuse']:.2f}× | {r['forward_over_reverse']:.2f}× | "
              f"{r['compiled']:.2f}× | {r['compile_s']:.0f} | {r['error']:.1e} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": "python benchmarks/hvp_compile.py " + " ".join(sys.argv[1:]),
                                         "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
