"""What a run measures: probes at scheduled steps, traces at every step, and the findings' recorders.

Importing this package registers every built-in probe and trace, the recorders of the findings included
(``"fdr"`` and ``"fdr2"``, ``"segment"``, ``"weights"``), so a run's configuration can name them.
"""

from sgdlab.measure import fdr, probes, segment, traces, weights

__all__ = ["fdr", "probes", "segment", "traces", "weights"]
