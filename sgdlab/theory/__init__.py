"""The maths of each finding family as pure functions of tensors and arrays, importing no run machinery:
edge of stability, step directions, segments between iterates, variance–flatness, fluctuation–dissipation,
the three factors (η, S and their ratio)."""

from sgdlab.theory import (directions, edge_of_stability, fluctuation_dissipation, segments, three_factors,
                           variance_flatness)

__all__ = ["directions", "edge_of_stability", "fluctuation_dissipation", "segments", "three_factors",
           "variance_flatness"]
