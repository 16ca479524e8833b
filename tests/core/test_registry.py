"""Your own data and model by name: registration, versions, a run end to end, entry points, bad input."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import sgdlab
from sgdlab.task import data, models

ROOT = Path(__file__).resolve().parents[2]


def _tensors(n_train: int = 24, n_test: int = 8, classes: int = 3, features: int = 5):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(n_train, features, generator=g), torch.arange(n_train) % classes,
            torch.randn(n_test, features, generator=g), torch.arange(n_test) % classes)


class _Pairs(torch.utils.data.Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], int(self.y[i])


def _linear(input_shape, num_classes, bias=True):
    return nn.Sequential(nn.Flatten(), nn.Linear(int(torch.Size(input_shape).numel()), num_classes, bias=bias))


def _forget(*registrations) -> None:
    """Unregister each (module, name) that is registered."""
    for module, name in registrations:
        with contextlib.suppress(ValueError):
            module.unregister(name)


@pytest.fixture
def registered():
    """A dataset and a model named "mine", forgotten after the test."""
    data.register("mine", _tensors, version="1", num_classes=3)
    models.register("mine", _linear, version="2")
    yield
    data.unregister("mine")
    models.unregister("mine")


def test_registered_names_versions_and_built_ins(registered):
    assert data.names()[:len(data.DATASETS)] == data.DATASETS and "mine" in data.names()
    assert models.names()[:len(models.MODELS)] == models.MODELS and "mine" in models.names()
    assert data.version("mine") == "1" and models.version("mine") == "2"
    assert data.version("mnist1d") == "" and models.version("mlp") == ""


def test_registered_tensors_are_prepared_like_a_built_in_dataset(registered):
    x_train, y_train, x_test, y_test = _tensors()
    d = data.load("mine", standardize=False)
    assert d.name == "mine" and d.num_classes == 3 and d.input_shape == (5,)
    torch.testing.assert_close(d.x_train, x_train) and torch.testing.assert_close(d.x_test, x_test)
    assert d.y_train.dtype == torch.int64 and d.y_test.tolist() == y_test.tolist()
    noisy = data.load("mine", label_noise=0.5, train_size=10, holdout="validation", seed=1)
    assert len(noisy.y_train) == 10 and len(noisy.y_test) == round(0.1 * 24)  # the default validation share
    assert noisy.corrupted.sum() == 5 and noisy.y_train.max() < 3


def test_a_pair_of_torch_datasets_is_stacked():
    x_train, y_train, x_test, y_test = _tensors()
    data.register("pairs", lambda: (_Pairs(x_train, y_train), _Pairs(x_test, y_test)), version="a", num_classes=3)
    try:
        d = data.load("pairs", standardize=False)
    finally:
        data.unregister("pairs")
    torch.testing.assert_close(d.x_train, x_train)
    assert d.y_train.tolist() == y_train.tolist() and d.x_test.shape == (8, 5)


def test_registered_model_is_built_by_seed_with_its_options(registered):
    a, b = models.build("mine", (5,), 3, seed=4), models.build("mine", (5,), 3, seed=4)
    torch.testing.assert_close(a[1].weight, b[1].weight)
    assert not torch.equal(a[1].weight, models.build("mine", (5,), 3, seed=5)[1].weight)
    assert models.build("mine", (5,), 3, bias=False)[1].bias is None


def test_run_with_registered_dataset_and_model_end_to_end(registered):
    config = sgdlab.RunConfig(dataset="mine", model="mine", epochs=2, batch_size=8, top_k=2, hessian_size=16,
                              hessian_batch_size=16)
    ds = sgdlab.run(config, cache=False)
    assert ds.sizes["eig"] == 2 and ds["lambda"].notnull().all()
    assert float(ds["train_loss"].isel(step=-1)) < float(ds["train_loss"].isel(step=0))


def _half_frozen(input_shape, num_classes):
    """Two linear layers, the first frozen (``requires_grad=False``)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, num_classes))
    model[1].requires_grad_(False)
    return model


def test_distance_from_init_is_over_the_trainable_parameters_of_a_partly_frozen_model(registered):
    models.register("half_frozen", _half_frozen, version="1")
    try:
        config = sgdlab.RunConfig(dataset="mine", model="half_frozen", epochs=2, batch_size=8, save_parameters=True,
                                  probes=("losses", "distance_from_init"))
        ds = sgdlab.run(config, cache=False)
    finally:
        models.unregister("half_frozen")
    moved = ds["final_state"] - ds["initial_state"]  # every parameter; the frozen ones have not moved
    assert float(abs(moved[:24]).max()) == 0.0 and float(abs(moved[24:]).max()) > 0  # 5·4 + 4 frozen first
    assert float(ds["distance_from_init"][0]) == 0.0
    np.testing.assert_allclose(float(ds["distance_from_init"][-1]), float(np.linalg.norm(moved)), rtol=1e-6)


def test_registering_a_name_twice_needs_replace(registered):
    with pytest.raises(ValueError, match="dataset 'mine' is already registered .*replace=True"):
        data.register("mine", _tensors, version="3", num_classes=3)
    with pytest.raises(ValueError, match="model 'mine' is already registered .*replace=True"):
        models.register("mine", _linear, version="3")
    data.register("mine", _tensors, version="3", num_classes=3, replace=True)
    assert data.version("mine") == "3"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(name="mnist1d"), "dataset 'mnist1d' is built in"),
        (dict(version=""), "version of dataset 'x' must be a non-empty string"),
        (dict(version=1), "version of dataset 'x' must be a non-empty string"),
        (dict(num_classes=0), "num_classes of dataset 'x' must be a positive integer"),
        (dict(validation_fraction=1.0), r"validation_fraction of dataset 'x' must be in \(0, 1\)"),
        (dict(loader="not callable"), "loader of dataset 'x' must be callable"),
    ],
)
def test_bad_dataset_registrations(kwargs, match):
    arguments = dict(name="x", loader=_tensors, version="1", num_classes=3) | kwargs
    with pytest.raises(ValueError, match=match):
        data.register(arguments.pop("name"), arguments.pop("loader"), **arguments)
    assert "x" not in data.names()


def _with(index: int, value):
    def loader():
        tensors = list(_tensors())
        tensors[index] = value
        return tuple(tensors)
    return loader


@pytest.mark.parametrize(
    ("loader", "match"),
    [
        (lambda: _tensors()[:3], r"must return \(x_train, y_train, x_test, y_test\) tensors .*tuple of 3"),
        (_with(0, torch.zeros(24, 5, dtype=torch.int64)), "train split: inputs must be a floating-point tensor"),
        (_with(0, torch.zeros(24)), r"train split: inputs .* got torch.float32 of shape \(24,\)"),
        (_with(1, torch.zeros(24)), "train split: labels must be an integer tensor"),
        (_with(1, torch.zeros(24, 1, dtype=torch.int64)), r"labels must be an integer tensor \(n,\)"),
        (_with(3, torch.zeros(7, dtype=torch.int64)), "test split: 8 inputs but 7 labels"),
        (_with(3, torch.full((8,), 3)), r"test split: labels must be in 0..2 \(num_classes=3\); found 3"),
        (_with(1, torch.full((24,), -1)), "train split: labels must be in 0..2.*found -1"),
        (_with(2, torch.zeros(8, 6)), r"test examples have shape \(6,\), training examples \(5,\)"),
        (_with(0, torch.full((24, 5), float("nan"))), "inputs hold NaN or infinite values"),
        (lambda: (_Pairs(*_tensors()[:2]), [1, 2]), "must return .*tensors or \\(train, test\\) torch Datasets"),
        (lambda: (torch.utils.data.TensorDataset(torch.zeros(2, 3), torch.zeros(2)),) * 2,
         "train split: labels must be an integer tensor"),
        (lambda: (torch.utils.data.TensorDataset(torch.zeros(2, 3)),) * 2, r"must hold \(x, y\) pairs, at least one"),
        (lambda: open("/nonexistent/mine.csv"), "the loader of dataset 'bad' failed: FileNotFoundError: .*mine.csv"),
    ],
)
def test_a_loader_returning_wrong_shapes_dtypes_or_labels_is_named(loader, match):
    data.register("bad", loader, version="1", num_classes=3)
    try:
        with pytest.raises(ValueError, match=match):
            data.load("bad")
    finally:
        data.unregister("bad")


@pytest.mark.parametrize(
    ("builder", "options", "match"),
    [
        (_linear, dict(width=3), r"model 'bad' does not take the options \{'width': 3\}"),
        (lambda shape, classes: "a module", {}, "must return a torch.nn.Module; got str"),
        (lambda shape, classes: nn.Linear(5, classes + 1), {}, r"to logits \(N, 3\); for N=2 it returned \(2, 4\)"),
        (lambda shape, classes: nn.Linear(4, classes), {}, r"model 'bad' fails on inputs of shape \(N, \*\(5,\)\)"),
        (lambda shape, classes: 1 / 0, {}, "the builder of model 'bad' failed: ZeroDivisionError: division by zero"),
        (lambda shape, classes: nn.Bilinear(5, 5, classes), {}, r"model 'bad' fails on inputs .*: .*missing"),
    ],
)
def test_a_bad_model_builder_is_named(builder, options, match):
    models.register("bad", builder, version="1")
    try:
        with pytest.raises(ValueError, match=match):
            models.build("bad", (5,), 3, **options)
    finally:
        models.unregister("bad")


def test_unknown_names_say_how_to_register():
    with pytest.raises(ValueError, match="dataset 'nope' is unknown; choose one of: mnist1d.*sgdlab.task.data.register"
                                         ".*'sgdlab.datasets'"):
        data.load("nope")
    with pytest.raises(ValueError, match="model 'nope' is unknown; choose one of: mlp.*'sgdlab.task.models'"):
        models.build("nope", (5,), 3)
    with pytest.raises(ValueError, match="dataset 'nope' is unknown"):
        sgdlab.run(sgdlab.RunConfig(dataset="nope"), cache=False)
    with pytest.raises(ValueError, match="dataset 'nope' is not registered"):
        data.unregister("nope")


PLUGIN = '''
import torch
from torch import nn

from sgdlab.task import data, models


def _load():
    g = torch.Generator().manual_seed(1)
    return torch.randn(20, 1, 6, generator=g), torch.arange(20) % 2, torch.randn(4, 1, 6, generator=g), torch.arange(4) % 2


data.register("plugin_data", _load, version="0.3", num_classes=2)
models.register("plugin_model", lambda shape, classes: nn.Sequential(nn.Flatten(), nn.Linear(6, classes)), version="0.3")
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch) -> Path:
    """An installed package (a module and its ``.dist-info`` with entry points) on sys.path."""
    (tmp_path / "sgdlab_plugin_demo.py").write_text(PLUGIN)
    info = tmp_path / "sgdlab_plugin_demo-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sgdlab-plugin-demo\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[sgdlab.datasets]\nplugin_data = sgdlab_plugin_demo\n\n"
                                           "[sgdlab.task.models]\nplugin_model = sgdlab_plugin_demo\n"
                                           "unregistering = sgdlab_plugin_demo\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("sgdlab_plugin_demo", None)
    _forget((data, "plugin_data"), (models, "plugin_model"))


def test_entry_points_are_found_and_loaded_on_first_lookup(plugin):
    assert "plugin_data" in data.names() and "plugin_model" in models.names()
    assert "sgdlab_plugin_demo" not in sys.modules  # listed, not imported
    config = sgdlab.RunConfig(dataset="plugin_data", model="plugin_model", epochs=1, batch_size=10, top_k=1,
                              hessian_size=10, hessian_batch_size=10)
    assert sgdlab.run(config, cache=False)["lambda"].notnull().all()
    assert data.version("plugin_data") == models.version("plugin_model") == "0.3"
    with pytest.raises(ValueError, match="entry point 'sgdlab_plugin_demo' .* did not register model 'unregistering'"):
        models.build("unregistering", (1, 6), 2)


def test_entry_points_reach_a_fresh_process_without_code(plugin):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), str(ROOT)])}
    code = "import sgdlab; d = sgdlab.task.data.load('plugin_data'); print(d.input_shape, sgdlab.task.data.version('plugin_data'))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 6) 0.3"


def test_readme_example_runs(tmp_path, monkeypatch):
    """The README's section "Your own data and model" runs as it is written."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- example: your own data and model -->")
    block = readme[start:].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("SGDLAB_DATA", str(tmp_path))
    try:
        exec(compile(textwrap.dedent(block), "README.md", "exec"), {"__name__": "readme"})
    finally:
        _forget((data, "blobs"), (models, "small_mlp"))
