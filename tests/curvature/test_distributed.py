"""Two processes (gloo, CPU) each with half of the batches against one process on their union."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from sgdlab import Tracker
from sgdlab.curvature import as_batches, gauss_newton, hessian, spectral_density, top_eigen, trace
from tests.conftest import tiny_mlp
from tests.training.test_tracker import train_steps

WORLD = 2


def problem() -> tuple[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]:
    model = tiny_mlp(torch.float64)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(44, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (44,), generator=g)
    return model, as_batches(x, y, 10)  # 10, 10, 10, 10, 4 examples: unequal shares of the targets


def measure(model: nn.Module, batches) -> dict[str, object]:
    """Every estimator on the Hessian and the Gauss–Newton matrix, and a tracked run of two SGD steps."""
    out: dict[str, object] = {}
    for name, operator in (("hessian", hessian), ("ggn", gauss_newton)):
        with operator(model, batches) as op:
            eig = top_eigen(op, k=3, tol=1e-10)
            out[name] = (eig.values, eig.n_products, trace(op, 12, method="hutch++"),
                         spectral_density(op, n_iter=10, n_vectors=2).nodes)
    with hessian(model, batches, params="2.*") as op:
        out["block"] = top_eigen(op, k=2, tol=1e-10).values
    return out


def tracked(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """λ₁, λ₂ at step 0 and after each of two SGD steps on the mean loss (under DistributedDataParallel the
    ranks' average of their local means' gradients: the union's gradient, for equal shares)."""
    tracker = Tracker(model, (x, y), k=2, every=1, eigen_tol=1e-10, batch_size=8)
    train_steps(model, x, y, tracker, 2)
    return tracker.dataset()["lambda"].values


def worker(rank: int, store: str, results: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    try:
        model, batches = problem()
        out = measure(model, batches[rank::WORLD])
        x = torch.cat([b[0] for b in batches[:4]])[rank::WORLD]
        y = torch.cat([b[1] for b in batches[:4]])[rank::WORLD]
        out["tracked"] = tracked(nn.parallel.DistributedDataParallel(tiny_mlp(torch.float64)), x, y)
        other = tiny_mlp(torch.float64) if rank == 0 else nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
        try:
            with hessian(other.double(), batches[rank::WORLD]):
                out["shapes"] = "no error"
        except ValueError as error:
            out["shapes"] = str(error)
        torch.save(out, f"{results}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_agree_with_one_process_on_the_union(tmp_path):
    mp.spawn(worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    model, batches = problem()
    single = measure(model, batches)
    x, y = torch.cat([b[0] for b in batches[:4]]), torch.cat([b[1] for b in batches[:4]])
    single["tracked"] = tracked(tiny_mlp(torch.float64), x, y)
    for name in ("hessian", "ggn"):
        values, products, (tr, se), nodes = single[name]
        for rank in ranks:
            r_values, r_products, (r_tr, r_se), r_nodes = rank[name]
            assert torch.equal(r_values, ranks[0][name][0])  # replicated: identical on every rank
            torch.testing.assert_close(r_values, values, rtol=1e-9, atol=1e-11)
            assert abs(r_tr - tr) <= 1e-9 * abs(tr) and abs(r_se - se) <= 1e-9 * max(se, 1e-12)
            torch.testing.assert_close(torch.as_tensor(r_nodes), torch.as_tensor(nodes), rtol=1e-8, atol=1e-10)
    for rank in ranks:
        torch.testing.assert_close(rank["block"], single["block"], rtol=1e-9, atol=1e-11)
        torch.testing.assert_close(torch.as_tensor(rank["tracked"]), torch.as_tensor(single["tracked"]),
                                   rtol=1e-7, atol=1e-9)
        assert rank["shapes"].startswith("params: the ranks' parameters differ in shape: rank 0 has ('0.weight', "
                                         "(7, 5)), rank 1 has ('0.weight', (8, 5))")
