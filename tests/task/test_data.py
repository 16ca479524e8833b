"""Datasets: MNIST-1D generation and cache, splits, label noise, standardisation, augmentation, the
torchvision datasets on tiny files in their real on-disk formats, and bad input."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import random
import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
import yaml
from papermill.iorw import NoDatesSafeLoader

from sgdlab.task import data
from sgdlab.task.data import augment, load


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A dataset root holding MNIST-1D, generated once for this module."""
    path = tmp_path_factory.mktemp("datasets")
    load(root=path)
    return path


def test_mnist1d_shapes_dtypes_and_classes(root):
    d = load(root=root, standardize=False)
    assert d.name == "mnist1d" and d.num_classes == 10
    assert d.x_train.shape == (4000, 1, 40) and d.x_test.shape == (1000, 1, 40)
    assert d.x_train.dtype == d.x_test.dtype == torch.float32
    assert d.y_train.dtype == d.y_test.dtype == torch.int64
    assert d.input_shape == (1, 40) and not d.is_image
    assert set(d.y_train.tolist()) == set(d.y_test.tolist()) == set(range(10))
    assert d.corrupted.dtype == torch.bool and not d.corrupted.any()


def test_the_real_test_set_is_kept_beside_a_validation_split_and_standardised_like_it(root):
    raw = load(root=root, standardize=False)
    validation = load(root=root, holdout="validation", standardize=False)
    assert torch.equal(validation.test_set[0], raw.x_test) and torch.equal(validation.test_set[1], raw.y_test)
    assert validation.test_set[0].shape[0] != validation.x_test.shape[0]  # not the validation split
    standardised = load(root=root, holdout="validation")
    mean, std = validation.x_train.mean(dim=0), float(validation.x_train.std(correction=0))
    torch.testing.assert_close(standardised.test_set[0], (raw.x_test - mean) / std)
    torch.testing.assert_close(standardised.x_test, (validation.x_test - mean) / std)
    test = load(root=root)
    assert test.test_set[0] is test.x_test and test.test_set[1] is test.y_test


def test_same_arguments_give_identical_tensors(root):
    kwargs = dict(root=root, train_size=500, label_noise=0.3, holdout="validation", seed=3)
    first, second = load(**kwargs), load(**kwargs)
    for field in ("x_train", "y_train", "x_test", "y_test", "corrupted"):
        assert torch.equal(getattr(first, field), getattr(second, field))
    assert not torch.equal(first.y_train, load(**{**kwargs, "seed": 4}).y_train)


def test_mnist1d_is_cached_and_reused(root, monkeypatch):
    assert (root / "mnist1d" / "mnist1d.npz").is_file()
    assert [p.name for p in (root / "mnist1d").iterdir()] == ["mnist1d.npz"]  # no temporary files left
    monkeypatch.setattr(data, "_generate_mnist1d", lambda: pytest.fail("regenerated despite the cache"))
    assert load(root=root).x_train.shape == (4000, 1, 40)


def test_generation_is_reproducible_and_leaves_global_rngs_alone(root, tmp_path):
    np.random.seed(123)
    random.seed(123)
    torch.manual_seed(123)
    expected = (np.random.rand(), random.random(), torch.rand(1))
    np.random.seed(123)
    random.seed(123)
    torch.manual_seed(123)
    fresh = load(root=tmp_path)
    assert (np.random.rand(), random.random(), torch.rand(1)) == expected
    assert torch.equal(fresh.x_train, load(root=root).x_train)


def test_holdout_and_subset_sizes(root):
    assert load(root=root, holdout="validation").x_train.shape[0] == 3600
    validation = load(root=root, holdout="validation", standardize=False)
    assert validation.x_test.shape[0] == len(validation.y_test) == 400
    test = load(root=root, standardize=False)
    # the validation examples come from the training set, not the test set
    assert torch.isin(validation.x_test[:, 0, 0], test.x_train[:, 0, 0]).all()
    small = load(root=root, train_size=100, holdout="validation")
    assert small.x_train.shape == (100, 1, 40) and len(small.y_train) == len(small.corrupted) == 100
    assert small.x_test.shape == (400, 1, 40)


def test_subsets_of_one_seed_are_nested(root):
    small = load(root=root, train_size=50, standardize=False)
    large = load(root=root, train_size=200, standardize=False)
    assert torch.equal(small.x_train, large.x_train[:50])


def test_label_noise_fraction_and_clean_test_labels(root):
    clean = load(root=root, train_size=1000)
    noisy = load(root=root, train_size=1000, label_noise=0.25)
    assert noisy.corrupted.sum() == 250
    changed = noisy.y_train != clean.y_train
    assert not changed[~noisy.corrupted].any()  # only chosen examples may change ...
    assert 0.8 < changed[noisy.corrupted].float().mean() < 1.0  # ... to a uniform label: ~9/10 differ
    assert noisy.y_train.min() >= 0 and noisy.y_train.max() < 10
    assert torch.equal(noisy.y_test, clean.y_test) and torch.equal(noisy.x_train, clean.x_train)


def test_standardisation_uses_training_statistics(root):
    raw = load(root=root, train_size=300, standardize=False)
    d = load(root=root, train_size=300)
    mean, std = raw.x_train.mean(0), raw.x_train.std(correction=0)  # per-feature mean, one global std
    assert d.x_train.mean(0).abs().max() < 1e-5
    torch.testing.assert_close(d.x_train, (raw.x_train - mean) / std)
    torch.testing.assert_close(d.x_test, (raw.x_test - mean) / std)


def test_augment_is_deterministic_and_keeps_shape():
    x = torch.rand(64, 3, 8, 8, dtype=torch.float64)
    first = augment(x, torch.Generator().manual_seed(0))
    assert torch.equal(first, augment(x, torch.Generator().manual_seed(0)))
    assert not torch.equal(first, augment(x, torch.Generator().manual_seed(1)))
    assert first.shape == x.shape and first.dtype == x.dtype


def _all_shifts_and_flips(image: torch.Tensor) -> torch.Tensor:
    """The 9 x 9 x 2 images (H, W) that a shift of up to 4 pixels and an optional flip can produce."""
    height, width = image.shape
    padded = torch.nn.functional.pad(image, (4, 4, 4, 4))
    shifted = [padded[dy:dy + height, dx:dx + width] for dy in range(9) for dx in range(9)]
    return torch.stack(shifted + [view.flip(-1) for view in shifted])


def test_augment_draws_each_shift_and_flip_per_image():
    image = torch.arange(1.0, 65.0).reshape(8, 8)  # distinct positive values: every outcome is distinct
    out = augment(image.expand(2000, 2, 8, 8), torch.Generator().manual_seed(0))
    assert torch.equal(out[:, 0], out[:, 1])  # one transform per image, shared by its channels
    matches = (out[:, 0, None] == _all_shifts_and_flips(image)[None]).flatten(2).all(-1)  # (2000, 162)
    assert matches.any(1).all()
    counts = torch.bincount(matches.float().argmax(1), minlength=162)
    assert (counts > 0).all()  # every outcome occurs ...
    assert 900 < counts[81:].sum() < 1100  # ... and about half the images are mirrored


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_augment_on_cuda_with_a_cpu_or_cuda_generator():
    x = torch.rand(4, 3, 8, 8, device="cuda")
    for generator in (torch.Generator(), torch.Generator(device="cuda")):
        assert augment(x, generator.manual_seed(0)).device == x.device


def test_augment_rejects_non_images():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        augment(torch.zeros(4, 1, 40), torch.Generator())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(name="foo"), "dataset 'foo' is unknown; choose one of: mnist1d, mnist, fashion_mnist, cifar10"),
        (dict(holdout="val"), "holdout 'val' is unknown; choose one of: test, validation"),
        (dict(label_noise=1.0), r"label_noise must be in \[0, 1\)"),
        (dict(label_noise=-0.1), r"label_noise must be in \[0, 1\)"),
        (dict(train_size=0), "train_size must be None or a positive integer"),
        (dict(train_size=2.5), "train_size must be None or a positive integer"),
        (dict(train_size=4001), r"train_size must be in 1\.\.4000"),
        (dict(train_size=3601, holdout="validation"), r"train_size must be in 1\.\.3600"),
        (dict(seed=-1), "seed must be a non-negative integer"),
        (dict(seed=2**63), r"seed must be below 2\*\*63"),
        (dict(seed=2**70), r"seed must be below 2\*\*63"),
    ],
)
def test_bad_input_raises_value_error(root, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load(root=root, **kwargs)


# --- torchvision datasets on tiny files in their real formats --------------------------------------

def _write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file as distributed by MNIST/Fashion-MNIST: magic (0, 0, 0x08 = uint8, ndim), big-endian
    uint32 sizes, then the uint8 data."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_mnist_like(root: Path, folder: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for split, n in (("train", 12), ("t10k", 6)):
        arrays[split] = (rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n))
        _write_idx(raw / f"{split}-images-idx3-ubyte", arrays[split][0])
        _write_idx(raw / f"{split}-labels-idx1-ubyte", arrays[split][1])
    return arrays


def _write_cifar10(root: Path, rng: np.random.Generator) -> dict[str, list[tuple[np.ndarray, list[int]]]]:
    """CIFAR-10's python version: pickled dicts whose ``data`` rows are 1024 red, 1024 green, 1024 blue
    values (row-major 32x32) and whose ``labels`` are a list of ints."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {"train": [], "test": []}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = (rng.integers(0, 256, (4, 3072)).astype(np.uint8), rng.integers(0, 10, 4).tolist())
        batches["test" if name == "test_batch" else "train"].append(batch)
        entry = {"batch_label": name, "data": batch[0], "labels": batch[1],
                 "filenames": [f"{name}_{i}.png" for i in range(4)]}
        (folder / name).write_bytes(pickle.dumps(entry))
    meta = {"num_cases_per_batch": 4, "label_names": [f"class{i}" for i in range(10)], "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return batches


@pytest.fixture
def offline(monkeypatch) -> list[str]:
    """No network: every URL torchvision opens fails as it does without internet; the URLs are recorded."""
    opened = []

    def refuse(request, *args, **kwargs):
        opened.append(getattr(request, "full_url", request))
        raise urllib.error.URLError("network is unreachable (test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return opened


@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_like_from_idx_files(tmp_path, offline, name, folder):
    arrays = _write_mnist_like(tmp_path, folder, np.random.default_rng(0))
    d = load(name, root=tmp_path, standardize=False)
    assert d.input_shape == (1, 28, 28) and d.is_image and d.num_classes == 10
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    torch.testing.assert_close(d.x_train, torch.tensor(arrays["train"][0] / 255, dtype=torch.float32)[:, None])
    assert d.y_train.tolist() == arrays["train"][1].tolist()
    assert d.y_test.tolist() == arrays["t10k"][1].tolist() and d.x_test.shape == (6, 1, 28, 28)
    assert load(name, root=tmp_path, holdout="validation").x_test.shape == (2, 1, 28, 28)  # 1/6 held out
    assert not offline  # the files were there: nothing was downloaded


def test_cifar10_from_python_pickles(tmp_path, offline, monkeypatch):
    batches = _write_cifar10(tmp_path, np.random.default_rng(0))
    # torchvision verifies the md5 of every CIFAR file against the real release, which tiny files cannot
    # match. Drop only the checksum comparison (files must still exist); the reading code stays torchvision's.
    check_exists = torchvision.datasets.cifar.check_integrity
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda fpath, md5=None: check_exists(fpath))
    d = load("cifar10", root=tmp_path, standardize=False)
    assert d.x_train.shape == (20, 3, 32, 32) and d.x_test.shape == (4, 3, 32, 32)
    expected = np.concatenate([data for data, _ in batches["train"]]).reshape(20, 3, 32, 32) / 255
    torch.testing.assert_close(d.x_train, torch.tensor(expected, dtype=torch.float32))  # channel-first
    assert d.y_train.tolist() == sum((labels for _, labels in batches["train"]), [])
    assert d.y_test.tolist() == batches["test"][0][1]
    split = load("cifar10", root=tmp_path, holdout="validation", seed=1)
    assert split.x_train.shape == (18, 3, 32, 32) and split.x_test.shape == (2, 3, 32, 32)  # 10% held out
    assert split.x_train.mean(dim=0).abs().max() < 1e-5
    assert not offline


@pytest.mark.parametrize(
    ("name", "folder", "file"),
    [
        ("mnist", "MNIST/raw", "train-images-idx3-ubyte"),
        ("fashion_mnist", "FashionMNIST/raw", "t10k-labels-idx1-ubyte"),
        ("cifar10", "cifar-10-batches-py", "data_batch_1"),
    ],
)
def test_missing_dataset_without_network_says_what_to_put_where(tmp_path, offline, name, folder, file):
    with pytest.raises(FileNotFoundError) as error:
        load(name, root=tmp_path)
    message = str(error.value)
    assert str(tmp_path / folder) in message and file in message
    assert offline  # a download was attempted, and refused


def test_incomplete_dataset_is_downloaded_or_explained(tmp_path, offline):
    _write_mnist_like(tmp_path, "MNIST", np.random.default_rng(0))
    os.remove(tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte")
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load("mnist", root=tmp_path)


# --- damaged dataset files: the file is named, with what to do ----------------------------------------

def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


_SIGNALS = dict(x=np.zeros((4, 40)), y=np.zeros(4), x_test=np.zeros((2, 40)), y_test=np.zeros(2))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not a zip file at all", "cannot be read"),
        (_npz_bytes(**_SIGNALS)[:100], "cannot be read"),  # truncated
        (_npz_bytes(x=np.zeros((4, 40))), "KeyError"),  # a key missing
        (_npz_bytes(**_SIGNALS | {"y": np.zeros(3)}), r"y \(3,\)"),  # labels do not match the signals
        (b"", "cannot be read"),
        (_npz_bytes(**_SIGNALS), "labels must be integers; got float64"),
        (_npz_bytes(**_SIGNALS | {"y": np.array([0, 1, 10, 2])}), r"labels must be in 0..9; found 10 \(1 labels"),
        (_npz_bytes(**_SIGNALS | {"y": np.zeros(4, int), "y_test": np.array([-1, 0])}), "must be in 0..9; found -1"),
    ],
)
def test_damaged_mnist1d_file_is_named_with_what_to_do(tmp_path, content, reason):
    path = tmp_path / "mnist1d" / "mnist1d.npz"
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(ValueError, match=reason) as error:
        load(root=tmp_path)
    assert str(path) in str(error.value) and "delete it and it is generated again" in str(error.value)
    assert str(error.value).startswith("dataset 'mnist1d': ")


def test_mnist_labels_outside_the_classes_are_named(tmp_path, offline):
    _write_mnist_like(tmp_path, "MNIST", np.random.default_rng(0))
    _write_idx(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte", np.full(6, 12))
    with pytest.raises(ValueError, match=f"dataset 'mnist' cannot be read from {tmp_path / 'MNIST/raw'} "
                                         r"\(ValueError: labels must be in 0..9; found 12 \(6 labels outside\)\)"):
        load("mnist", root=tmp_path)


@pytest.mark.parametrize(
    ("file", "damage"),
    [
        ("train-images-idx3-ubyte", lambda b: b[: len(b) // 2]),  # truncated: torchvision's reshape fails
        ("t10k-labels-idx1-ubyte", lambda b: b"\x00\x00\x07\x07" + b[4:]),  # bad magic: a bare assert
        ("t10k-images-idx3-ubyte", lambda b: b""),
    ],
)
def test_damaged_mnist_file_is_named_with_what_to_do(tmp_path, offline, file, damage):
    _write_mnist_like(tmp_path, "FashionMNIST", np.random.default_rng(0))
    path = tmp_path / "FashionMNIST" / "raw" / file
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError) as error:
        load("fashion_mnist", root=tmp_path)
    message = str(error.value)
    assert message.startswith(f"dataset 'fashion_mnist': {path} cannot be read")
    assert "delete it and it is downloaded again" in message and not offline


def _declare_official(folder: Path, monkeypatch) -> None:
    """Make the files now in ``folder`` the official CIFAR-10 release: their sizes and md5 sums."""
    sums = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    monkeypatch.setattr(data, "_CIFAR10_SIZES", {p.name: p.stat().st_size for p in folder.iterdir()})
    cifar = torchvision.datasets.CIFAR10
    for attr in ("train_list", "test_list"):
        monkeypatch.setattr(cifar, attr, [[name, sums[name]] for name, _ in getattr(cifar, attr)])
    monkeypatch.setattr(cifar, "meta", cifar.meta | {"md5": sums["batches.meta"]})


def test_damaged_cifar10_file_is_named_with_what_to_do(tmp_path, offline, monkeypatch):
    _write_cifar10(tmp_path, np.random.default_rng(0))
    _declare_official(tmp_path / "cifar-10-batches-py", monkeypatch)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ValueError, match=f"dataset 'cifar10': {path} cannot be read .*delete it and it is downloaded"):
        load("cifar10", root=tmp_path)


class _Touch:
    """Unpickling this creates ``marker``: what a crafted file in a dataset folder could run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.mark.parametrize("file", ["data_batch_2", "batches.meta"])
def test_a_crafted_cifar10_pickle_is_named_and_never_unpickled(tmp_path, offline, monkeypatch, file):
    _write_cifar10(tmp_path, np.random.default_rng(0))
    _declare_official(tmp_path / "cifar-10-batches-py", monkeypatch)
    marker = tmp_path / "executed"
    path = tmp_path / "cifar-10-batches-py" / file
    path.write_bytes(pickle.dumps(_Touch(marker)))
    with pytest.raises(ValueError, match=f"dataset 'cifar10': {path} cannot be read \\(it has .* bytes, the "
                                         "official file .*\\); the file is damaged: delete it"):
        load("cifar10", root=tmp_path)
    assert not marker.exists()


def test_a_cifar10_file_of_the_official_size_is_checked_by_md5(tmp_path, offline, monkeypatch):
    _write_cifar10(tmp_path, np.random.default_rng(0))
    _declare_official(tmp_path / "cifar-10-batches-py", monkeypatch)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(bytes(path.stat().st_size))  # the right size, other bytes
    with pytest.raises(ValueError, match=f"{path} cannot be read \\(its md5 is {hashlib.md5(path.read_bytes()).hexdigest()}"):
        load("cifar10", root=tmp_path)


def test_the_package_unpickles_no_file():
    package = Path(data.__file__).parents[1]
    unsafe = ["pickle.load", "torch.load(", "yaml.load(", "allow_pickle=True", " eval(", "marshal.load"]
    found = [(p.name, u) for p in package.rglob("*.py") for u in unsafe if u in p.read_text()]
    assert set(found) <= {("cli.py", "yaml.load(")}, found  # that one with papermill's NoDatesSafeLoader:
    assert issubclass(NoDatesSafeLoader, yaml.SafeLoader)


def test_cifar10_files_failing_the_checksum_name_the_folder(tmp_path, offline):
    _write_cifar10(tmp_path, np.random.default_rng(0))  # readable files, but not the official ones
    folder = tmp_path / "cifar-10-batches-py"
    with pytest.raises(ValueError, match=f"cannot be read from {folder} .*delete the folder and it is downloaded"):
        load("cifar10", root=tmp_path)
    assert not offline


def test_the_larger_mnist1d_asks_the_generator_for_20000_examples_and_is_cached_apart(tmp_path, monkeypatch):
    asked = []

    def generate(samples: int) -> dict[str, np.ndarray]:  # a small stand-in for the 20,000-example generator
        asked.append(samples)
        rng = np.random.default_rng(0)
        return {"x": rng.normal(size=(16, 40)), "y": np.arange(16) % 10,
                "x_test": rng.normal(size=(4, 40)), "y_test": np.arange(4)}

    monkeypatch.setattr(data, "_generate_mnist1d", generate)
    d = load("mnist1d_20k", root=tmp_path)
    assert asked == [20000] and d.name == "mnist1d_20k"
    assert d.x_train.shape == (16, 1, 40) and d.x_test.shape == (4, 1, 40)
    assert (tmp_path / "mnist1d_20k" / "mnist1d_20k.npz").is_file() and not (tmp_path / "mnist1d").exists()
    load("mnist1d_20k", root=tmp_path)
    assert asked == [20000]  # read from the cache the second time
