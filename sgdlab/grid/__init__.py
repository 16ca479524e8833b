"""Grids of runs: ``run_grid`` over any executor (local processes, Dask, submitit) and labelled tables."""
