"""Datasets as in-memory tensors: MNIST-1D (generated offline), MNIST, Fashion-MNIST, CIFAR-10 and your own.

:func:`load` applies the papers' preparation in this order: hold-out split, training subset, random-label
corruption, standardisation (statistics of the final training set). :func:`augment` is the CIFAR
augmentation of Jastrzębski et al. (4-pixel shifts, horizontal flips), applied per batch.
:func:`register` adds a dataset of your own under a name (also through the entry-point group
``sgdlab.datasets``, see :mod:`sgdlab.core.registry`); :func:`names` lists every name.
"""

from __future__ import annotations

import hashlib
import random
import threading
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sgdlab.core import atomic, seeds
from sgdlab.core.checks import is_int
from sgdlab.core.paths import datasets_dir
from sgdlab.core.registry import Registry

DATASETS: tuple[str, ...] = ("mnist1d", "mnist", "fashion_mnist", "cifar10",  # built in; names() adds yours
                             "fake_mnist", "fake_fashion_mnist", "fake_cifar10", "mnist1d_20k")
# MNIST-1D's generator at its default arguments, 80% for training: 5,000 examples (4,000 / 1,000) or 20,000
# (16,000 / 4,000, for runs that need more distinct examples than the standard set holds)
MNIST1D_SAMPLES = {"mnist1d": 5000, "mnist1d_20k": 20000}
# torchvision.datasets.FakeData of each image dataset's shape and classes, for smoke runs of the paper profiles
FAKE = {"fake_mnist": (1, 28, 28), "fake_fashion_mnist": (1, 28, 28), "fake_cifar10": (3, 32, 32)}
FAKE_SIZES = (1000, 200)  # training and test examples
HOLDOUTS: tuple[str, ...] = ("test", "validation")
NUM_CLASSES = 10  # all four built-in datasets

Tensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
# What a registered loader returns: (x_train, y_train, x_test, y_test), or (train, test) Datasets of (x, y) pairs.
Loaded = Tensors | tuple[torch.utils.data.Dataset, torch.utils.data.Dataset]

# Share of the training set held out by ``holdout="validation"``: the papers' 45k/5k (CIFAR-10) and 50k/10k
# (MNIST, Fashion-MNIST) splits, and 3600/400 for MNIST-1D.
_VALIDATION_FRACTION = {"mnist1d": 0.1, "mnist1d_20k": 0.1, "mnist": 1 / 6, "fashion_mnist": 1 / 6, "cifar10": 0.1,
                        "fake_mnist": 1 / 6, "fake_fashion_mnist": 1 / 6, "fake_cifar10": 0.1}

# Independent random streams derived from ``seed``, one per preparation step.
_SPLIT, _SUBSET, _NOISE = 0, 1, 2

_SHIFT = 4  # augmentation: largest shift in pixels


def _idx_problem(path: Path) -> str | None:
    """Why one MNIST-like IDX file does not read as torchvision reads it (a plain binary format), or None."""
    from torchvision.datasets import mnist

    try:
        (mnist.read_image_file if "images" in path.name else mnist.read_label_file)(str(path))
    except _DAMAGED as error:
        return _reason(error)
    return None


# Bytes of each file of the official cifar-10-python.tar.gz; the md5 sums are torchvision's own lists.
_CIFAR10_SIZES = {"data_batch_1": 31035704, "data_batch_2": 31035320, "data_batch_3": 31035999,
                  "data_batch_4": 31035696, "data_batch_5": 31035623, "test_batch": 31035526, "batches.meta": 158}


def _cifar10_problem(path: Path) -> str | None:
    """How one file of CIFAR-10's python version differs from the official one (size, then md5), or None.

    The files are pickles: they are compared, never unpickled, since unpickling a file that is not the
    official one can run any code it holds.
    """
    from torchvision.datasets import CIFAR10

    official = dict(CIFAR10.train_list + CIFAR10.test_list) | {CIFAR10.meta["filename"]: CIFAR10.meta["md5"]}
    if not path.is_file():
        return "it is missing"
    size = path.stat().st_size
    if size != _CIFAR10_SIZES[path.name]:
        return f"it has {size} bytes, the official file {_CIFAR10_SIZES[path.name]}"
    with open(path, "rb") as file:
        md5 = hashlib.file_digest(file, "md5").hexdigest()
    if md5 != official[path.name]:
        return f"its md5 is {md5}, the official file's {official[path.name]}"
    return None


@dataclass(frozen=True)
class _Files:
    """Where torchvision keeps a dataset under the root, what a user can put there by hand, and what is
    wrong with one file there (None: nothing found)."""

    torchvision_class: str
    folder: str
    files: tuple[str, ...]
    archives: str
    problem: Callable[[Path], str | None]


_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_TORCHVISION = {
    "mnist": _Files("MNIST", "MNIST/raw", _MNIST_FILES,
                    "or the official .gz files of the same names, which are extracted", _idx_problem),
    "fashion_mnist": _Files("FashionMNIST", "FashionMNIST/raw", _MNIST_FILES,
                            "or the official .gz files of the same names, which are extracted", _idx_problem),
    "cifar10": _Files(
        "CIFAR10", "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta"),
        "or put the official cifar-10-python.tar.gz directly in the root, which is extracted", _cifar10_problem,
    ),
}
# What reading a damaged file raises, in numpy and torchvision's readers (which also assert).
_DAMAGED = (OSError, EOFError, ValueError, KeyError, TypeError, RuntimeError, AssertionError, zipfile.BadZipFile)


@dataclass(frozen=True, eq=False)
class Data:
    """A prepared dataset, all in memory on the CPU.

    ``x_*`` are float32, ``(n, C, L)`` for MNIST-1D (``(n, 1, 40)``) and ``(n, C, H, W)`` for images;
    ``y_*`` are int64 class indices. ``y_train`` holds the labels after random-label corruption and
    ``corrupted`` (bool, ``(n,)``) marks the examples whose label was redrawn; ``y_test`` is always clean.
    ``x_test``/``y_test`` are the real test set or the validation split, depending on ``holdout``;
    ``test_set`` is always the real test set ``(x, y)`` (under ``holdout="validation"`` too, standardised
    like the rest), so a run can select on the validation split and report on the test set.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    corrupted: torch.Tensor
    test_set: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, e.g. ``(1, 40)`` or ``(3, 32, 32)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def is_image(self) -> bool:
        """Whether examples are images ``(C, H, W)``."""
        return len(self.input_shape) == 3


@dataclass(frozen=True)
class _Registered:
    loader: Callable[[], Loaded]
    num_classes: int
    validation_fraction: float


_USER: Registry[_Registered] = Registry("dataset", "sgdlab.datasets", "sgdlab.task.data", DATASETS)


def register(
    name: str,
    loader: Callable[[], Loaded],
    *,
    version: str,
    num_classes: int,
    validation_fraction: float = 0.1,
    replace: bool = False,
) -> None:
    """Make ``loader`` available as dataset ``name`` to :func:`load` and ``RunConfig(dataset=name)``.

    loader: called without arguments each time the dataset is loaded; returns ``(x_train, y_train, x_test,
    y_test)`` (floating-point inputs ``(n, ...)``, the same example shape in both splits, integer labels
    ``(n,)`` in ``0..num_classes - 1``) or ``(train, test)`` map-style ``torch.utils.data.Dataset`` objects of
    ``(x, y)`` pairs, which are stacked. Inputs become float32, labels int64; a wrong shape, dtype or label
    is a ValueError when the dataset is loaded. version: a non-empty string that enters the hash of every
    run on this dataset; change it whenever the loader's data change. validation_fraction: the share of
    the training set that ``holdout="validation"`` holds out. replace: allow replacing a registration.
    """
    if not callable(loader):
        raise ValueError(f"loader of dataset {name!r} must be callable; got {loader!r}")
    if not is_int(num_classes) or num_classes < 1:
        raise ValueError(f"num_classes of dataset {name!r} must be a positive integer; got {num_classes!r}")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction of dataset {name!r} must be in (0, 1); got {validation_fraction!r}")
    _USER.add(name, _Registered(loader, num_classes, validation_fraction), version, replace)


# Forget a registration; every dataset name (built in, registered, declared by an entry point); the version
# of a dataset that enters a run's hash ("" for a built-in one).
unregister, names, version = _USER.remove, _USER.names, _USER.version


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

    root: dataset folder (default ``sgdlab.core.paths.datasets_dir()``); MNIST-1D is generated once into
    ``<root>/mnist1d/mnist1d.npz``, the others use torchvision's layout and are downloaded only when missing.
    holdout: ``"test"`` (the real test set) or ``"validation"`` (a seeded split of the training set).
    train_size: keep a seeded random subset of this many training examples (subsets of one seed are nested).
    label_noise: fraction in [0, 1) of training examples whose label is redrawn uniformly from all classes.
    standardize: subtract the per-feature training mean and divide by the global std of the training set
    (``np.std`` of the raw training data, as in the papers' code); the test set gets the same transform.
    """
    registered = _USER.get(name)  # ValueError for an unknown name; None for a built-in one
    _check_arguments(train_size, label_noise, holdout, seed)
    root = datasets_dir() if root is None else Path(root).expanduser()
    if registered is not None:
        x_train, y_train, x_test, y_test = _read_registered(name, registered)
        num_classes, fraction = registered.num_classes, registered.validation_fraction
    else:
        x_train, y_train, x_test, y_test = (_read_mnist1d(root, name) if name in MNIST1D_SAMPLES
                                            else _read_fake(name, root) if name in FAKE
                                            else _read_torchvision(name, root))
        num_classes, fraction = NUM_CLASSES, _VALIDATION_FRACTION[name]
    x_real_test, y_real_test = x_test, y_test
    if holdout == "validation":
        x_train, y_train, x_test, y_test = _validation_split(x_train, y_train, fraction, seed)
    if train_size is not None:
        keep = _subset(len(y_train), train_size, seed)
        x_train, y_train = x_train[keep], y_train[keep]
    y_train, corrupted = _corrupt_labels(y_train, label_noise, num_classes, seed)
    if standardize:
        _, x_real_test = _standardize(x_train, x_real_test)
        x_train, x_test = _standardize(x_train, x_test)
    if holdout == "test":
        x_real_test = x_test
    return Data(name, x_train, y_train, x_test, y_test, num_classes, corrupted, (x_real_test, y_real_test))


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


def _check_arguments(train_size: int | None, label_noise: float, holdout: str, seed: int) -> None:
    if holdout not in HOLDOUTS:
        raise ValueError(f"holdout {holdout!r} is unknown; choose one of: {', '.join(HOLDOUTS)}")
    if not 0.0 <= label_noise < 1.0:
        raise ValueError(f"label_noise must be in [0, 1); got {label_noise!r}")
    if train_size is not None and (not is_int(train_size) or train_size < 1):
        raise ValueError(f"train_size must be None or a positive integer; got {train_size!r}")
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    seeds.check(seed)



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


def _read_mnist1d(root: Path, name: str = "mnist1d") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """MNIST-1D (length 40; 4000 train / 1000 test, or 16000 / 4000 for ``mnist1d_20k``) from
    ``<root>/<name>/<name>.npz``, generated if absent."""
    path = root / name / f"{name}.npz"
    with _GENERATING:  # the generator draws from numpy's global RNG: one thread of a process at a time
        if not path.is_file():
            _save_npz(path, _generate_mnist1d(MNIST1D_SAMPLES[name]))
    x, y, x_test, y_test = _read_npz(name, path, "signals (n, length)")
    signals = [torch.from_numpy(a.astype(np.float32)).unsqueeze(1) for a in (x, x_test)]
    labels = [torch.from_numpy(a.astype(np.int64)) for a in (y, y_test)]
    return signals[0], labels[0], signals[1], labels[1]


_NDIM = {"signals (n, length)": 2, "images (n, C, H, W)": 4}


def _read_npz(name: str, path: Path, examples: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The arrays ``x, y, x_test, y_test`` that sgdlab generated into ``path``: ``examples`` (a key of
    :data:`_NDIM`) with as many integer labels in ``0..9``; ValueError naming the file otherwise."""
    try:
        with np.load(path) as arrays:
            x, y, x_test, y_test = (arrays[key] for key in ("x", "y", "x_test", "y_test"))
        if (x.ndim != _NDIM[examples] or x_test.ndim != x.ndim or y.shape != x.shape[:1]
                or y_test.shape != x_test.shape[:1]):
            raise ValueError(f"arrays of shapes x {x.shape}, y {y.shape}, x_test {x_test.shape}, "
                             f"y_test {y_test.shape} are not {examples} with n labels")
        if problem := _label_problem(y) or _label_problem(y_test):
            raise ValueError(problem)
    except _DAMAGED as error:
        raise ValueError(f"dataset {name!r}: " + _damaged_message(path, _reason(error),
                                                                   "delete it and it is generated again")) from error
    return x, y, x_test, y_test


def _label_problem(labels: np.ndarray) -> str | None:
    """What is wrong with the class labels of a built-in dataset (integers in ``0..9``), or None."""
    if labels.dtype.kind not in "iu":
        return f"labels must be integers; got {labels.dtype}"
    outside = labels[(labels < 0) | (labels >= NUM_CLASSES)]
    if len(outside):
        return f"labels must be in 0..{NUM_CLASSES - 1}; found {outside[0]} ({len(outside)} labels outside)"
    return None


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _damaged_message(path: Path, reason: str, remedy: str) -> str:
    return f"{path} cannot be read ({reason}); the file is damaged: {remedy}"


_GENERATING = threading.Lock()


def _generate_mnist1d(samples: int = 5000) -> dict[str, np.ndarray]:
    """Generate ``samples`` MNIST-1D examples (80% for training) with the package's other arguments at their
    defaults, leaving the caller's RNGs as they were.

    ``mnist1d.data.make_dataset`` reseeds the global ``random`` and ``numpy.random`` generators (and draws
    only from ``numpy.random``); torch's generators are untouched.
    """
    from mnist1d.data import get_dataset_args, make_dataset  # imports matplotlib and scipy: only when needed

    numpy_state, python_state = np.random.get_state(), random.getstate()
    args = get_dataset_args()
    args.num_samples = samples
    try:
        generated = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {key: np.asarray(generated[key]) for key in ("x", "y", "x_test", "y_test")}


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays to ``path`` atomically, with the mode the process umask gives (see :mod:`sgdlab.core.atomic`)."""

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
        arrays = (*_images_and_labels(train), *_images_and_labels(test))
        if problem := _label_problem(arrays[1].numpy()) or _label_problem(arrays[3].numpy()):
            raise ValueError(problem)
    except _DAMAGED as error:
        if download and isinstance(error, (OSError, RuntimeError)):
            raise FileNotFoundError(_missing_message(name, root, files)) from error
        raise ValueError(_unreadable_message(name, root, files, error)) from error
    return arrays


def _unreadable_message(name: str, root: Path, files: _Files, error: BaseException) -> str:
    """Name the file of ``files`` that is damaged, or the folder when several are or each looks right."""
    folder = root / files.folder
    problems = {file: problem for file in files.files if (problem := files.problem(folder / file)) is not None}
    if len(problems) == 1:
        ((file, problem),) = problems.items()
        return f"dataset {name!r}: " + _damaged_message(
            folder / file, problem, "delete it and it is downloaded again (or put the official file there)")
    if problems:
        file, problem = next(iter(problems.items()))
        reason = f"{len(problems)} files are not the official ones, first {folder / file}: {problem}"
    else:
        reason = _reason(error)
    return (f"dataset {name!r} cannot be read from {folder} ({reason}); "
            f"a file there is damaged or not the official one: delete the folder and it is downloaded again")


def _missing_message(name: str, root: Path, files: _Files) -> str:
    return (
        f"dataset {name!r} is not in {root} and could not be downloaded. Put the files "
        f"{', '.join(files.files)} in {root / files.folder} ({files.archives}), "
        f"or pass root= pointing at a folder that has them."
    )


def _read_fake(name: str, root: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``torchvision.datasets.FakeData`` of the real dataset's shape and 10 classes: images float32 in
    [0, 1]; the same tensors every time (FakeData seeds each image by its index), kept in
    ``<root>/<name>/<name>.npz`` after the first generation."""
    path = root / name / f"{name}.npz"
    if not path.is_file():
        import torchvision

        def generate(size: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
            fake = torchvision.datasets.FakeData(size, FAKE[name], NUM_CLASSES, random_offset=offset,
                                                 transform=torchvision.transforms.PILToTensor())
            images, labels = zip(*(fake[i] for i in range(size)))
            return torch.stack(images).numpy(), np.asarray(labels, dtype=np.int64)

        (x, y), (x_test, y_test) = generate(FAKE_SIZES[0], 0), generate(FAKE_SIZES[1], FAKE_SIZES[0])
        _save_npz(path, {"x": x, "y": y, "x_test": x_test, "y_test": y_test})
    x, y, x_test, y_test = map(torch.from_numpy, _read_npz(name, path, "images (n, C, H, W)"))
    return x.to(torch.float32).div_(255), y.to(torch.int64), x_test.to(torch.float32).div_(255), y_test.to(torch.int64)


def _images_and_labels(dataset: object) -> tuple[torch.Tensor, torch.Tensor]:
    """torchvision's raw arrays as float32 ``(n, C, H, W)`` in [0, 1] and int64 labels."""
    images = torch.as_tensor(dataset.data)  # MNIST-like: uint8 (n, H, W); CIFAR-10: uint8 (n, H, W, C)
    images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)
    labels = torch.as_tensor(dataset.targets, dtype=torch.int64)
    return images.to(torch.float32).div_(255).contiguous(), labels


def _read_registered(name: str, registered: _Registered) -> Tensors:
    """A registered loader's output as checked float32 inputs and int64 labels."""
    try:
        loaded = registered.loader()
    except Exception as error:  # noqa: BLE001 (the user's code: whatever it raises, the dataset is named)
        raise ValueError(f"the loader of dataset {name!r} failed: {_reason(error)}") from error
    if _is_pair_of_datasets(loaded):
        loaded = (*_stack(name, "train", loaded[0]), *_stack(name, "test", loaded[1]))
    if not (isinstance(loaded, Sequence) and len(loaded) == 4 and all(isinstance(t, torch.Tensor) for t in loaded)):
        raise ValueError(f"the loader of dataset {name!r} must return (x_train, y_train, x_test, y_test) tensors "
                         f"or (train, test) torch Datasets; got {_describe(loaded)}")
    x_train, y_train, x_test, y_test = loaded
    x_train, y_train = _checked_split(name, "train", x_train, y_train, registered.num_classes)
    x_test, y_test = _checked_split(name, "test", x_test, y_test, registered.num_classes)
    if x_test.shape[1:] != x_train.shape[1:]:
        raise ValueError(f"dataset {name!r}: test examples have shape {tuple(x_test.shape[1:])}, training examples "
                         f"{tuple(x_train.shape[1:])}; they must be the same")
    return x_train, y_train, x_test, y_test


def _is_pair_of_datasets(loaded: object) -> bool:
    return (isinstance(loaded, Sequence) and len(loaded) == 2
            and all(isinstance(d, torch.utils.data.Dataset) for d in loaded))


def _describe(value: object) -> str:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return f"{type(value).__name__} of {len(value)}: ({', '.join(type(v).__name__ for v in value)})"
    return type(value).__name__


def _stack(name: str, split: str, dataset: torch.utils.data.Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """A map-style Dataset of ``(x, y)`` pairs as stacked tensors ``(n, ...)`` and ``(n,)``."""
    try:
        items = [dataset[i] for i in range(len(dataset))]
    except TypeError as error:
        raise ValueError(f"dataset {name!r}: the {split} Dataset must have a length and be indexable by "
                         f"position: {error}") from error
    if not items or not all(isinstance(item, Sequence) and len(item) == 2 for item in items):
        raise ValueError(f"dataset {name!r}: the {split} Dataset must hold (x, y) pairs, at least one")
    try:
        return (torch.stack([torch.as_tensor(x) for x, _ in items]),
                torch.stack([torch.as_tensor(y) for _, y in items]))
    except (RuntimeError, TypeError, ValueError) as error:
        raise ValueError(f"dataset {name!r}: the {split} Dataset's pairs do not stack into tensors: {error}") from error


def _checked_split(
    name: str, split: str, x: torch.Tensor, y: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs as float32 ``(n, ...)`` and labels as int64 ``(n,)``; ValueError saying what is wrong."""
    where = f"dataset {name!r}, {split} split"
    if not x.is_floating_point() or x.dim() < 2 or len(x) == 0:
        raise ValueError(f"{where}: inputs must be a floating-point tensor (n, ...) with n >= 1 and at least one "
                         f"feature dimension; got {x.dtype} of shape {tuple(x.shape)}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool or y.dim() != 1:
        raise ValueError(f"{where}: labels must be an integer tensor (n,); got {y.dtype} of shape {tuple(y.shape)}")
    if len(y) != len(x):
        raise ValueError(f"{where}: {len(x)} inputs but {len(y)} labels")
    outside = y[(y < 0) | (y >= num_classes)]
    if len(outside):
        raise ValueError(f"{where}: labels must be in 0..{num_classes - 1} (num_classes={num_classes}); "
                         f"found {outside[0].item()} ({len(outside)} labels outside)")
    if not torch.isfinite(x).all():
        raise ValueError(f"{where}: inputs hold NaN or infinite values")
    return x.detach().to("cpu", torch.float32).contiguous(), y.detach().to("cpu", torch.int64)
