"""The tracker in a plain PyTorch loop and in a Lightning Trainer, against the engine called directly."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import sgdlab
from sgdlab.training.tracker import Tracker


def problem(n: int = 64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)), x, y


def fit(lightning, model: nn.Module, x: torch.Tensor, y: torch.Tensor, callback, epochs: int) -> None:
    """``epochs`` of a Lightning Trainer (SGD, lr 0.1, batches of 8) on a module holding ``model`` as ``net``."""

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, inputs):
            return self.net(inputs)

        def training_step(self, batch, batch_idx):
            return F.cross_entropy(self(batch[0]), batch[1])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    trainer = lightning.Trainer(max_epochs=epochs, callbacks=[callback], accelerator="cpu", logger=False,
                                enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Module(), DataLoader(TensorDataset(x, y), batch_size=8))


def test_tracker_measures_when_due_warm_started_and_matches_the_engine():
    model, x, y = problem()
    tracker = Tracker(model, (x, y), k=3, every=5, eigen_tol=1e-6)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(10):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        tracker.step(lr=0.1)
    ds = tracker.dataset()
    assert ds.step.values.tolist() == [0, 5, 10]
    assert ds["lambda"].dims == ("step", "eig") and ds.eig.values.tolist() == [1, 2, 3]
    with sgdlab.hessian(model, [(x, y)]) as H:
        direct = sgdlab.top_eigen(H, k=3, tol=1e-6).values
    torch.testing.assert_close(torch.as_tensor(ds["lambda"].isel(step=-1).values, dtype=direct.dtype), direct,
                               rtol=1e-4, atol=1e-6)
    assert ds["lambda"].attrs["long_name"] and ds["lambda"].attrs["description"]


def test_tracker_reads_a_dataloader_once_and_tracks_other_probes():
    model, x, y = problem()
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    ds = Tracker(model, loader, k=2, every=1, probes=("losses", "eigen", "hessian_norm")).dataset()
    assert {"train_loss", "lambda", "hessian_trace"} <= set(ds.data_vars)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 1000}, r"k must be between 1 and the number of parameters \(83\)"),
        ({"every": 0}, "every must be at least 1"),
        ({"probes": ("telepathy",)}, r"probes \['telepathy'\] are unknown"),
        ({"loss": "hinge"}, "loss 'hinge' is unknown"),
    ],
)
def test_tracker_rejects_bad_settings(kwargs, message):
    model, x, y = problem()
    with pytest.raises(ValueError, match=message):
        Tracker(model, (x, y), **kwargs)


def test_tracker_refuses_a_model_whose_parameters_changed_size():
    model, x, y = problem()
    tracker = Tracker(model, (x, y), k=2, every=1)
    model[2] = nn.Linear(8, 3, bias=False)
    with pytest.raises(ValueError, match="the model's parameters changed size: 80 now, 83 when tracking began"):
        tracker.step()


def test_tracker_rejects_mismatched_data():
    model, x, y = problem()
    with pytest.raises(ValueError, match="as many labels as examples"):
        Tracker(model, (x, y[:10]))


def test_lightning_callback_tracks_a_real_trainer():
    lightning = pytest.importorskip("lightning")
    from sgdlab.training.lightning import CurvatureCallback

    model, x, y = problem()
    callback = CurvatureCallback((x, y), k=2, every=4)
    fit(lightning, model, x, y, callback, epochs=2)
    ds = callback.dataset()
    assert ds.step.values.tolist() == [0, 4, 8, 12, 16]
    assert (ds["lambda"].sel(eig=1) > 0).all()


def train_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, tracker: Tracker, steps: int) -> None:
    """``steps`` full-batch SGD steps (lr 0.1), each counted by ``tracker``."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        tracker.step(lr=0.1)


def test_tracker_tracks_blocks_of_parameters_along_a_block_dimension():
    model, x, y = problem()
    tracker = Tracker(model, (x, y), k=2, every=2, eigen_tol=1e-8, params={"first": "0.*", "last": ["2.weight", "2.bias"]})
    train_steps(model, x, y, tracker, 2)
    ds = tracker.dataset()
    assert ds["lambda"].dims == ("step", "block", "eig") and ds.block.values.tolist() == ["first", "last"]
    assert ds["hvp_count"].dims == ("step", "block") and ds.block.attrs["long_name"] == "parameter block"
    for block, pattern in (("first", "0.*"), ("last", "2.*")):
        with sgdlab.hessian(model, [(x, y)], params=pattern) as H:
            direct = sgdlab.top_eigen(H, k=2, tol=1e-8).values
        torch.testing.assert_close(torch.as_tensor(ds["lambda"].sel(block=block).isel(step=-1).values,
                                                   dtype=direct.dtype), direct, rtol=1e-4, atol=1e-6)


def test_tracker_reads_token_batches_through_a_forward_hook():
    from tests.curvature.reference import next_token, tiny_lm, token_batches

    model, batches = tiny_lm(), token_batches()
    ds = Tracker(model, batches, k=2, every=1, forward=next_token, probes=("eigen", "hessian_norm"),
                 params="head.*").dataset()
    with sgdlab.hessian(model, batches, forward=next_token, params="head.*") as H:
        direct = sgdlab.top_eigen(H, k=2, tol=1e-3).values
    torch.testing.assert_close(torch.as_tensor(ds["lambda"].isel(step=0).values), direct, rtol=1e-6, atol=0)
    assert "hessian_trace" in ds
    with pytest.raises(ValueError, match=r"probes \['losses'\] read \(x, y\) tensors; with forward= choose among"):
        Tracker(model, batches, forward=next_token, probes=("losses",))


def test_a_short_loop_still_gives_a_curve_that_plots():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    model, x, y = problem()
    tracker = Tracker(model, (x, y), k=2, every=100)
    train_steps(model, x, y, tracker, 3)
    ds = tracker.dataset()
    assert ds.step.values.tolist() == [0, 3]
    ds["lambda"].sel(eig=1).plot()
    assert tracker.dataset(final=False).step.values.tolist() == [0, 3]  # measured once, kept


def test_frozen_parameters_and_distance_from_init():
    model, x, y = problem()
    model[0].weight.requires_grad_(False)
    tracker = Tracker(model, (x, y), k=2, every=1, probes=("eigen", "distance_from_init"))
    with torch.no_grad():
        model[2].bias.add_(torch.tensor([3.0, 4.0, 0.0]))
    tracker.step()
    assert tracker.dataset()["distance_from_init"].values.tolist() == pytest.approx([0.0, 5.0])


@pytest.mark.parametrize("case, message", [
    ("frozen", "model has no trainable parameters"),
    ("nan", r"data: the measurement set's inputs hold non-finite values \(nan or inf\)"),
    ("inf", r"data: the measurement set's inputs hold non-finite values"),
    ("block", "params: pattern 'head.*' matches no parameter"),
    ("overlap", "params: blocks 'a' and 'b' overlap"),
    ("directions", r"params='0.\*' measures a block of parameters, but the direction probes need"),
])
def test_tracker_names_bad_models_data_and_blocks(case, message):
    model, x, y = problem()
    options = {}
    if case == "frozen":
        model.requires_grad_(False)
    elif case in ("nan", "inf"):
        x[3, 2] = float(case)
    elif case == "block":
        options["params"] = "head.*"
    elif case == "overlap":
        options["params"] = {"a": "2.*", "b": "*.bias"}
    else:
        options |= {"params": "0.*", "probes": ("eigen", "alignment")}
    with pytest.raises(ValueError, match=message):
        Tracker(model, (x, y), k=2, **options)


def test_a_failed_cpu_allocation_falls_back_to_recomputing_products(monkeypatch):
    from sgdlab.measure import probes

    model, x, y = problem()
    reference = Tracker(model, (x, y), k=2, eigen_tol=1e-8).dataset()["lambda"].values
    engine = probes.curvature.hessian
    calls = []

    def short_of_memory(*args, reuse_graph, **kwargs):
        calls.append(reuse_graph)
        if reuse_graph:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:121] data. DefaultCPUAllocator: can't allocate "
                               "memory: you tried to allocate 1099511627776 bytes.")
        return engine(*args, reuse_graph=reuse_graph, **kwargs)

    monkeypatch.setattr(probes.curvature, "hessian", short_of_memory)
    tracker = Tracker(model, (x, y), k=2, every=1, eigen_tol=1e-8)
    tracker.step()
    assert calls == [True, False, False]  # tried once with the graph, then recomputed from then on
    torch.testing.assert_close(tracker.dataset()["lambda"].values[0], reference[0], rtol=1e-5, atol=1e-7)


def test_lightning_callback_passes_a_block_through():
    lightning = pytest.importorskip("lightning")
    from sgdlab.training.lightning import CurvatureCallback

    model, x, y = problem()
    callback = CurvatureCallback((x, y), k=2, every=4, params={"first": "net.0.*", "last": "net.2.*"})
    fit(lightning, model, x, y, callback, epochs=1)
    ds = callback.dataset()
    assert ds.step.values.tolist() == [0, 4, 8] and ds.block.values.tolist() == ["first", "last"]
    assert (ds["lambda"].sel(eig=1) > 0).all()
