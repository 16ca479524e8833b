"""Named random streams: every source of randomness in a run draws from its own stream of the run's seed.

A stream is identified by the run's seed and a name (``"batches"``, ``"hessian_subset"`` ...), so adding
a new consumer of randomness never shifts the numbers that another one draws.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import torch

from sgdlab.core import checks

LIMIT = 2**63  # torch's generators take signed 64-bit seeds


def check(seed: Any) -> None:
    """ValueError naming the seed unless it is an integer in ``[0, 2**63)``."""
    checks.integer("seed", seed, low=0)
    if seed >= LIMIT:
        raise ValueError(f"seed must be below 2**63 (torch's generators take 64-bit seeds), got {seed}")


def stream(seed: int, name: str, *extra: int) -> int:
    """A 63-bit integer seed for the stream ``name`` of run seed ``seed`` (``extra``: e.g. the step)."""
    entropy = [int(seed), zlib.crc32(name.encode()), *map(int, extra)]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def generator(seed: int, name: str, *extra: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded by :func:`stream`."""
    return torch.Generator(device=device).manual_seed(stream(seed, name, *extra))
