"""CDAT's step cost as a ratio to a plain gradient-descent step on the same model and batch.

A CDAT step (:class:`sgdlab.optim.CurvatureAwareGD`) takes the gradient with its graph kept and one
exact Hessian-vector product uᵀ∇²L u along the step; a plain step (``torch.optim.SGD``) takes the
gradient only. Both run on the same model (notebook 07's quick setting: a 2×100 tanh MLP, MSE, the
whole 1,000-example MNIST-1D subset as one batch) from the same parameters; the median over
interleaved repeats is reported, CPU time and wall time.

    python benchmarks/cdat_step.py                      # CPU, 1 torch thread
    python benchmarks/cdat_step.py --device cuda --train-size 5000 --dataset cifar10 --width 200
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from sgdlab.optim import CurvatureAwareGD
from sgdlab.task import data, losses, models


def timed(fn: Callable[[], None], device: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one call, synchronised on CUDA."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist1d")
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ds = data.load(args.dataset, train_size=args.train_size)
    model = models.build("mlp", ds.input_shape, ds.num_classes, width=args.width, activation="tanh",
                         init="torch").to(args.device)
    batch = (ds.x_train.to(args.device), ds.y_train.to(args.device))
    start = [p.detach().clone() for p in model.parameters()]

    def forward(b):
        logits = model(b[0])
        return losses.mse(logits, b[1]), logits

    def reset() -> None:
        with torch.no_grad():
            for p, s in zip(model.parameters(), start):
                p.copy_(s)

    sgd = torch.optim.SGD(model.parameters(), lr=0.01)
    cdat = CurvatureAwareGD(model.parameters(), sigma=2.0)

    def plain_step() -> None:
        sgd.zero_grad(set_to_none=True)
        forward(batch)[0].backward()
        sgd.step()

    def cdat_step() -> None:
        cdat.step_on([batch], forward)

    steps = {"gd": plain_step, "cdat": cdat_step}
    for fn in steps.values():  # warm-up
        reset()
        fn()
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, fn in steps.items():
            reset()
            times[name].append(timed(fn, args.device))
    median = {name: [statistics.median(t[i] for t in ts) for i in (0, 1)] for name, ts in times.items()}
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{args.dataset}, {args.train_size} examples, 2x{args.width} tanh MLP ({n_params} parameters), MSE, "
          f"{args.device}, {args.threads} thread(s), median of {args.repeats}")
    for name, (cpu, wall) in median.items():
        print(f"  {name:>4} step: {1e3 * cpu:8.2f} ms CPU  {1e3 * wall:8.2f} ms wall")
    print(f"CDAT / GD step cost: {median['cdat'][0] / median['gd'][0]:.2f}x CPU time, "
          f"{median['cdat'][1] / median['gd'][1]:.2f}x wall time")


if __name__ == "__main__":
    main()
