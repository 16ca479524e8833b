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

    callback = CurvatureCallback((x, y), k=2, every=4)
    trainer = lightning.Trainer(max_epochs=2, callbacks=[callback], accelerator="cpu", logger=False,
                                enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Module(), DataLoader(TensorDataset(x, y), batch_size=8))
    ds = callback.dataset()
    assert ds.step.values.tolist() == [0, 4, 8, 12, 16]
    assert (ds["lambda"].sel(eig=1) > 0).all()
