"""Executing the finding notebooks: papermill runs, ``sgdlab reproduce`` and ``sgdlab sweep``, the index page."""
