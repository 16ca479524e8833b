"""What the finding notebooks share: ``Finding`` (a notebook's parameters, profile and outputs), claims,
summaries, figures, citations, and each notebook's settings."""

from sgdlab.findings.finding import Finding

__all__ = ["Finding"]
