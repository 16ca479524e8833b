"""The task a run trains on: datasets (MNIST-1D offline, torchvision sets, registered ones), models
(registered builders included) and losses."""

from sgdlab.task import data, losses, models

__all__ = ["data", "losses", "models"]
