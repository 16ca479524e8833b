"""Datasets as in-memory tensors: MNIST-1D (generated offline), MNIST, Fashion-MNIST and CIFAR-10.

:func:`load` applies the papers' preparation in this order: hold-out split, training subset, random-label
corruption, standardisation (statistics of the final training set). :func:`augment` is the CIFAR
augmentation of Jastrzębski et al. (4-pixel shifts, horizontal flips), applied per batch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sgdlab import atomic
from sgdlab.paths import datasets_dir

DATASETS: tuple[str, ...] = ("mnist1d", "mnist", "fashion_mnist", "cifar10")
HOLDOUTS: tuple[str, ...] = ("test", "validation")
NUM_CLASSES = 10  # all four datasets

# Share of the training set held out by ``holdout="validation"``: the papers' 45k/5k (CIFAR-10) and 50k/10k
# (MNIST, Fashion-MNIST) splits, and 3600/400 for MNIST-1D.
_VALIDATION_FRACTION = {"mnist1d": 0.1, "mnist": 1 / 6, "fashion_mnist": 1 / 6, "cifar10": 0.1}

# Independent random streams derived from ``seed``, one per preparation step.
_SPLIT, _SUBSET, _NOISE = 0, 1, 2

_SHIFT = 4  # augmentation: largest shift in pixels


@dataclass(frozen=True)
class _Files:
    """Where torchvision keeps a dataset under the root, and what a user can put there by hand."""

    torchvision_class: str
    folder: str
    files: tuple[str, ...]
    archives: str


_TORCHVISION = {
    "mnist": _Files(
        "MNIST", "MNIST/raw",
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        "or the official .gz files of the same names, which are extracted",
    ),
    "fashion_mnist": _Files(
        "FashionMNIST", "FashionMNIST/raw",
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        "or the official .gz files of the same names, which are extracted",
    ),
    "cifar10": _Files(
        "CIFAR10", "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta"),
        "or put the official cifar-10-python.tar.gz directly in the root, which is extracted",
    ),
}


@dataclass(frozen=True, eq=False)
class Data:
    """A prepared dataset, all in memory on the CPU.

    ``x_*`` are float32, ``(n, C, L)`` for MNIST-1D (``(n, 1, 40)``) and ``(n, C, H, W)`` for images;
    ``y_*`` are int64 class indices. ``y_train`` holds the labels after random-label corruption and
    ``corrupted`` (bool, ``(n,)``) marks the examples whose label was redrawn; ``y_test`` is always clean.
    ``x_test``/``y_test`` are the real test set or the validation split, depending on ``holdout``.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    corrupted: torch.Tensor

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, e.g. ``(1, 40)`` or ``(3, 32, 32)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def is_image(self) -> bool:
        """Whether examples are images ``(C, H, W)``."""
        return len(self.input_shape) == 3


def load(
    name: str = "mnist1d",
    *,
    root: str | Path | None = None,
    train_size: int | None = None,
    label_noise: float = 0.0,
    holdout: str = "test",
    standardize: bool = True,
    seed: int = 0,
) -> Data:
    """Load and prepare a dataset; the same arguments always give identical tensors.

    root: dataset folder (default ``sgdlab.paths.datasets_dir()``); MNIST-1D is generated once into
    ``<root>/mnist1d/mnist1d.npz``, the others use torchvision's layout and are downloaded only when missing.
    holdout: ``"test"`` (the real test set) or ``"validation"`` (a seeded split of the training set).
    train_size: keep a seeded random subset of this many training examples (subsets of one seed are nested).
    label_noise: fraction in [0, 1) of training examples whose label is redrawn uniformly from all classes.
    standardize: subtract the per-feature training mean and divide by the global std of the training set
    (``np.std`` of the raw training data, as in the papers' code); the test set gets the same transform.
    """
    _check_arguments(name, train_size, label_noise, holdout, seed)
    root = datasets_dir() if root is None else Path(root).expanduser()
    x_train, y_train, x_test, y_test = _read_mnist1d(root) if name == "mnist1d" else _read_torchvision(name, root)
    if holdout == "validation":
        x_train, y_train, x_test, y_test = _validation_split(x_train, y_train, _VALIDATION_FRACTION[name], seed)
    if train_size is not None:
        keep = _subset(len(y_train), train_size, seed)
        x_train, y_train = x_train[keep], y_train[keep]
    y_train, corrupted = _corrupt_labels(y_train, label_noise, NUM_CLASSES, seed)
    if standardize:
        x_train, x_test = _standardize(x_train, x_test)
    return Data(name, x_train, y_train, x_test, y_test, NUM_CLASSES, corrupted)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 4 pixels (zero padding, then crop) and horizontal flips of an image batch.

    x: ``(N, C, H, W)``; returns a new tensor of the same shape, dtype and device. All randomness is drawn
    from ``generator`` (which may live on another device than ``x``).
    """
    if x.dim() != 4:
        raise ValueError(f"augment expects an image batch of shape (N, C, H, W); got shape {tuple(x.shape)}")
    n, channels, height, width = x.shape
    draw = {"generator": generator, "device": generator.device}
    shift = torch.randint(0, 2 * _SHIFT + 1, (2, n), **draw).to(x.device)
    flip = torch.randint(0, 2, (n,), **draw).to(x.device, torch.bool)
    cols = torch.arange(width, device=x.device).expand(n, width)
    cols = torch.where(flip[:, None], cols.flip(1), cols) + shift[1][:, None]
    rows = torch.arange(height, device=x.device) + shift[0][:, None]
    padded = torch.nn.functional.pad(x, (_SHIFT,) * 4)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(channels, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


def _check_arguments(name: str, train_size: int | None, label_noise: float, holdout: str, seed: int) -> None:
    if name not in DATASETS:
        raise ValueError(f"dataset {name!r} is unknown; choose one of: {', '.join(DATASETS)}")
    if holdout not in HOLDOUTS:
        raise ValueError(f"holdout {holdout!r} is unknown; choose one of: {', '.join(HOLDOUTS)}")
    if not 0.0 <= label_noise < 1.0:
        raise ValueError(f"label_noise must be in [0, 1); got {label_noise!r}")
    if train_size is not None and (not _is_int(train_size) or train_size < 1):
        raise ValueError(f"train_size must be None or a positive integer; got {train_size!r}")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _validation_split(
    x: torch.Tensor, y: torch.Tensor, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split a training set into (x_train, y_train, x_val, y_val) with ``round(fraction * n)`` held out."""
    order = torch.from_numpy(_rng(seed, _SPLIT).permutation(len(y)))
    n_val = round(fraction * len(y))
    train, val = order[n_val:], order[:n_val]
    return x[train], y[train], x[val], y[val]


def _subset(n: int, size: int, seed: int) -> torch.Tensor:
    """Indices of a seeded random subset of ``size`` out of ``n``; prefixes of one permutation, so nested."""
    if size > n:
        raise ValueError(f"train_size must be in 1..{n} for this training set; got {size}")
    return torch.from_numpy(_rng(seed, _SUBSET).permutation(n)[:size])


def _corrupt_labels(
    y: torch.Tensor, fraction: float, num_classes: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Redraw ``round(fraction * n)`` seeded-chosen labels uniformly; returns (labels, corrupted mask)."""
    rng = _rng(seed, _NOISE)
    chosen = torch.from_numpy(rng.permutation(len(y))[: round(fraction * len(y))])
    labels = y.clone()
    labels[chosen] = torch.from_numpy(rng.integers(0, num_classes, len(chosen)))
    corrupted = torch.zeros(len(y), dtype=torch.bool)
    corrupted[chosen] = True
    return labels, corrupted


def _standardize(x_train: torch.Tensor, x_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Subtract the per-feature training mean, divide by the global std of the raw training set."""
    mean = x_train.mean(dim=0)
    std = float(x_train.std(correction=0)) or 1.0  # a constant training set is only centred
    return (x_train - mean) / std, (x_test - mean) / std


def _read_mnist1d(root: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """MNIST-1D (4000 train / 1000 test, length 40) from ``<root>/mnist1d/mnist1d.npz``, generated if absent."""
    path = root / "mnist1d" / "mnist1d.npz"
    if not path.is_file():
        _save_npz(path, _generate_mnist1d())
    with np.load(path) as arrays:
        signals = {key: torch.from_numpy(arrays[key].astype(np.float32)).unsqueeze(1) for key in ("x", "x_test")}
        labels = {key: torch.from_numpy(arrays[key].astype(np.int64)) for key in ("y", "y_test")}
    return signals["x"], labels["y"], signals["x_test"], labels["y_test"]


def _generate_mnist1d() -> dict[str, np.ndarray]:
    """Generate MNIST-1D with the package's default arguments, leaving the caller's RNGs as they were.

    ``mnist1d.data.make_dataset`` reseeds the global ``random`` and ``numpy.random`` generators (and draws
    only from ``numpy.random``); torch's generators are untouched.
    """
    from mnist1d.data import get_dataset_args, make_dataset  # imports matplotlib and scipy: only when needed

    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        generated = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {key: np.asarray(generated[key]) for key in ("x", "y", "x_test", "y_test")}


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays to ``path`` atomically, with the mode the process umask gives (see :mod:`sgdlab.atomic`)."""

    def write_to(tmp: Path) -> None:
        with open(tmp, "wb") as file:  # a file object: np.savez would append ".npz" to a path
            np.savez(file, **arrays)

    atomic.write(path, write_to)


def _read_torchvision(name: str, root: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train and test tensors through ``torchvision.datasets``: images float32 in [0, 1], ``(n, C, H, W)``."""
    import torchvision  # slow to import: only when an image dataset is asked for

    files = _TORCHVISION[name]
    dataset_class = getattr(torchvision.datasets, files.torchvision_class)
    download = not all((root / files.folder / file).is_file() for file in files.files)
    try:
        train = dataset_class(root, train=True, download=download)
        test = dataset_class(root, train=False, download=False)
    except (OSError, RuntimeError) as error:
        if not download:
            raise
        raise FileNotFoundError(_missing_message(name, root, files)) from error
    return (*_images_and_labels(train), *_images_and_labels(test))


def _missing_message(name: str, root: Path, files: _Files) -> str:
    return (
        f"dataset {name!r} is not in {root} and could not be downloaded. Put the files "
        f"{', '.join(files.files)} in {root / files.folder} ({files.archives}), "
        f"or pass root= pointing at a folder that has them."
    )


def _images_and_labels(dataset: object) -> tuple[torch.Tensor, torch.Tensor]:
    """torchvision's raw arrays as float32 ``(n, C, H, W)`` in [0, 1] and int64 labels."""
    images = torch.as_tensor(dataset.data)  # MNIST-like: uint8 (n, H, W); CIFAR-10: uint8 (n, H, W, C)
    images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)
    labels = torch.as_tensor(dataset.targets, dtype=torch.int64)
    return images.to(torch.float32).div_(255).contiguous(), labels
