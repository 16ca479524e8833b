"""Cross-cutting helpers every layer may use: value checks, registries of kinds and of user names,
atomic file writes, the data folder, named seed streams."""

from sgdlab.core import atomic, checks, kinds, paths, registry, seeds

__all__ = ["atomic", "checks", "kinds", "paths", "registry", "seeds"]
