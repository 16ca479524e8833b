"""The maths of each finding family as pure functions of tensors and arrays, importing no run machinery:
edge of stability, step directions, segments between iterates, variance–flatness, fluctuation–dissipation,
the three factors (η, S and their ratio), the valley's width along a direction."""

from sgdlab.theory import (
                           directions,
                           edge_of_stability,
                           fluctuation_dissipation,
                           segments,
                           three_factors,
                           valley_width,
                           variance_flatness,
)

__all__ = ["directions", "edge_of_stability", "fluctuation_dissipation", "segments", "three_factors",
           "valley_width", "variance_flatness"]
