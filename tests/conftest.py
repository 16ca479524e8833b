"""Shared fixtures and builders: every test's data folder, and the tiny models the unit tests share."""

from __future__ import annotations

import pytest
import torch
from torch import nn


def tiny_mlp(dtype: torch.dtype = torch.float32) -> nn.Module:
    """A seeded 5-7-3 tanh MLP (59 parameters): small enough for a dense Hessian."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).to(dtype)


@pytest.fixture(autouse=True)
def data_dir(tmp_path_factory, monkeypatch):
    """Generated datasets are shared across tests; runs never touch the user's cache. A test module that
    needs a fresh cache per test defines its own ``data_dir``."""
    monkeypatch.setenv("SGDLAB_DATA", str(tmp_path_factory.getbasetemp() / "sgdlab-data"))
