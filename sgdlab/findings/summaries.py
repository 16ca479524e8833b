"""Small summaries of a measured curve that the claims of several findings rest on.

Each takes an ``xarray.DataArray`` along a time dim (``epoch`` by default; any other dims are kept)
and ignores NaN, which marks steps where the variable was not measured.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr


def measured(da: xr.DataArray, dim: str = "epoch") -> xr.DataArray:
    """``da`` without the times at which it holds no value at all."""
    return da.dropna(dim, how="all")


def at_fraction(da: xr.DataArray, fraction: float, dim: str = "epoch") -> xr.DataArray:
    """The value at the measurement nearest ``fraction`` of the way from the first to the last one."""
    da = measured(da, dim)
    t = da[dim].values
    target = t[0] + fraction * (t[-1] - t[0])
    return da.sel({dim: target}, method="nearest").drop_vars(dim)


def tail_mean(da: xr.DataArray, fraction: float, dim: str = "epoch") -> xr.DataArray:
    """The mean over the last ``fraction`` of the time axis (measurements at or after that point)."""
    da = measured(da, dim)
    t = da[dim]
    start = float(t[0] + (1 - fraction) * (t[-1] - t[0]))
    return da.where(t >= start).mean(dim)


def head_mean(da: xr.DataArray, fraction: float, dim: str = "epoch") -> xr.DataArray:
    """The mean over the first ``fraction`` of the time axis."""
    da = measured(da, dim)
    t = da[dim]
    stop = float(t[0] + fraction * (t[-1] - t[0]))
    return da.where(t <= stop).mean(dim)


def first_crossing(da: xr.DataArray, threshold: float, dim: str = "epoch") -> xr.DataArray:
    """The first time at which ``da >= threshold`` (NaN where it never does), per entry of the other dims."""
    reached = da >= threshold
    first = reached.argmax(dim)
    times = da[dim].values[first.values]
    return xr.DataArray(np.where(reached.any(dim).values, times, np.nan), coords=first.coords, dims=first.dims)


def peak(da: xr.DataArray, dim: str = "epoch") -> tuple[xr.DataArray, xr.DataArray]:
    """The largest value and the time at which it is reached."""
    da = measured(da, dim)
    return da.max(dim), da[dim][da.fillna(-np.inf).argmax(dim)].drop_vars(dim)


def tail(data: xr.DataArray | xr.Dataset, fraction: float, dim: str = "epoch") -> xr.DataArray | xr.Dataset:
    """The measurements in the last ``fraction`` of the time axis (at or after that point), to summarise
    as one likes (``tail(da, 0.5).median("epoch")``); a Dataset keeps the times at which any variable holds a value."""
    data = measured(data, dim)
    t = data[dim]
    start = float(t[0] + (1 - fraction) * (t[-1] - t[0]))
    return data.sel({dim: t >= start})


def final(da: xr.DataArray, dim: str = "epoch") -> xr.DataArray:
    """The last measured value of each entry of the other dims (NaN where an entry holds none), so runs
    of a grid that end or were measured at different times each give their own last value."""
    has = da.notnull()
    last = da.sizes[dim] - 1 - has.isel({dim: slice(None, None, -1)}).argmax(dim)
    return da.isel({dim: last}).where(has.any(dim)).drop_vars(dim)


def initial(da: xr.DataArray, dim: str = "epoch") -> xr.DataArray:
    """The first measured value of each entry of the other dims (NaN where an entry holds none)."""
    has = da.notnull()
    return da.isel({dim: has.argmax(dim)}).where(has.any(dim)).drop_vars(dim)


def smoothed(da: xr.DataArray, window: int = 5, dim: str = "epoch") -> xr.DataArray:
    """The centred moving mean over ``window`` consecutive measurements of each entry of the other dims
    (fewer at either end), as the paper smooths its curves over 5 measurements. Times at which an entry
    was not measured stay NaN and do not count as measurements, so runs of a grid measured at different
    times are each smoothed over their own measurements."""
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise ValueError(f"window must be a positive integer (a number of measurements), got {window!r}")

    def smooth(values: np.ndarray) -> np.ndarray:
        out = values.astype(float, copy=True)
        keep = np.isfinite(out)
        out[keep] = pd.Series(out[keep]).rolling(window, center=True, min_periods=1).mean().to_numpy()
        return out

    return xr.apply_ufunc(smooth, da, input_core_dims=[[dim]], output_core_dims=[[dim]],
                          vectorize=True).transpose(*da.dims)


def rise_time(da: xr.DataArray, fraction: float = 0.9, dim: str = "epoch") -> xr.DataArray:
    """The first time at which ``da`` has covered ``fraction`` of its rise from its first measured value
    to its largest, ``da ≥ da₀ + fraction · (max − da₀)``, per entry of the other dims."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")
    start = initial(da, dim)
    return first_crossing(da, start + fraction * (da.max(dim) - start), dim)


def at_best(values: xr.DataArray, by: xr.DataArray, dim: str = "epoch") -> xr.DataArray:
    """``values`` at the measurement where ``by`` is largest (the first such one), per entry of the other
    dims: e.g. the test accuracy of the best-validation checkpoint, ``at_best(test_set_acc, test_acc)``
    when both are measured at the same times. NaN where ``by`` holds no value."""
    best = by.fillna(-np.inf).argmax(dim)
    return values.isel({dim: best}).where(by.notnull().any(dim)).drop_vars(dim, errors="ignore")


def at_first_crossing(values: xr.DataArray, by: xr.DataArray, threshold: float, dim: str = "epoch") -> xr.DataArray:
    """``values`` when ``by`` first reaches ``threshold``, interpolated linearly between the two
    measurements that bracket the crossing (the first one if ``by`` starts at or above it); NaN where
    ``by`` never reaches it. E.g. the clean validation accuracy of a run when its accuracy on the
    random labels first reaches a memorisation level. ``values`` and ``by`` share ``dim``; the times
    at which ``by`` holds no value are skipped."""
    values, by = xr.broadcast(values, by)
    other = [d for d in by.dims if d != dim]
    v = values.transpose(*other, dim).values.reshape(-1, by.sizes[dim])
    b = by.transpose(*other, dim).values.reshape(-1, by.sizes[dim])
    out = np.full(len(b), np.nan)
    for row, (vs, bs) in enumerate(zip(v, b)):
        keep = np.isfinite(bs) & np.isfinite(vs)
        vs, bs = vs[keep], bs[keep]
        hit = np.flatnonzero(bs >= threshold)
        if not len(hit):
            continue
        i = hit[0]
        if i == 0:
            out[row] = vs[0]
            continue
        weight = (threshold - bs[i - 1]) / (bs[i] - bs[i - 1])
        out[row] = vs[i - 1] + weight * (vs[i] - vs[i - 1])
    shape = [by.sizes[d] for d in other]
    return xr.DataArray(out.reshape(shape), coords={d: by[d] for d in other if d in by.coords}, dims=other)


def mean_with_error(values: xr.DataArray, dim: str = "seed") -> tuple[xr.DataArray, xr.DataArray]:
    """The mean over ``dim`` and its standard error s/√n (s the sample standard deviation, n the count of
    values that are not NaN, at least 2), per entry of the other dims: e.g. a paired difference between
    two methods over seeds."""
    n = values.notnull().sum(dim)
    if int(n.min()) < 2:
        raise ValueError(f"mean_with_error needs at least 2 values along {dim!r} per entry, got {int(n.min())}")
    return values.mean(dim), values.std(dim, ddof=1) / np.sqrt(n)


def clearly_positive(values: xr.DataArray, dim: str = "seed", z: float = 2.0) -> xr.DataArray:
    """Whether the mean over ``dim`` exceeds ``z`` standard errors (:func:`mean_with_error`): a difference
    that the spread over seeds does not explain (z = 2: about 95% one-sided for a normal mean)."""
    if not z >= 0:
        raise ValueError(f"z must be a non-negative number of standard errors, got {z!r}")
    mean, error = mean_with_error(values, dim)
    return mean > z * error


def early_value(da: xr.DataArray, until: float, window: int = 5, dim: str = "epoch") -> xr.DataArray:
    """The value at the end of the early phase ``dim ≤ until``, smoothed over ``window`` measurements taken
    inside it only: the curve is cut first, then smoothed (:func:`smoothed`), so no later measurement
    enters the early value, per entry of the other dims."""
    return final(smoothed(da.where(da[dim] <= until), window, dim), dim)


def still_rising(da: xr.DataArray, fraction: float = 0.25, growth: float = 0.05, dim: str = "epoch") -> xr.DataArray:
    """Whether a curve is still rising at its end: its maximum over the last ``fraction`` of its measured
    times exceeds (1 + ``growth``) × its maximum before, per entry of the other dims (each entry on its own
    measured times, so runs of different lengths are each read over their own last stretch)."""
    if not 0 < fraction < 1 or not growth >= 0:
        raise ValueError(f"fraction must lie in (0, 1) and growth be non-negative, got {fraction!r}, {growth!r}")
    t = da[dim].where(da.notnull())
    t0, t1 = t.min(dim), t.max(dim)
    late = da[dim] > t0 + (1 - fraction) * (t1 - t0)
    return da.where(late).max(dim) > (1 + growth) * da.where(~late).max(dim)


def peaks_ordered(peaks: xr.DataArray, rising: xr.DataArray, dim: str, increasing: bool = True) -> bool:
    """Whether the peaks of runs along the setting ``dim`` (one value per run) rise with it (``increasing``)
    or fall, every adjacent pair decided by what was measured: the run whose peak is claimed the lower one
    must have peaked (``rising`` False there, e.g. :func:`still_rising`) and lie strictly below the other,
    whose maximum, if still rising, is a lower bound of its peak.

    >>> s = xr.DataArray([32, 128, 1024], dims="S", coords={"S": [32, 128, 1024]})
    >>> peaks_ordered(xr.DataArray([18.0, 26.0, 30.0], coords=s.coords), s == 1024, "S")  # 1024 still rising
    True
    """
    if peaks.dims != (dim,) or rising.dims != (dim,):
        raise ValueError(f"peaks and rising must be 1-D along {dim!r}, got dims {peaks.dims} and {rising.dims}")
    peaks, rising = peaks.sortby(dim), rising.sortby(dim)
    if not np.array_equal(peaks[dim].values, rising[dim].values):
        raise ValueError(f"peaks and rising must hold the same values of {dim!r}")
    for i in range(peaks.sizes[dim] - 1):
        low, high = (i, i + 1) if increasing else (i + 1, i)
        if bool(rising[low]) or not float(peaks[low]) < float(peaks[high]):
            return False
    return True


def plateaued(loss: xr.DataArray, fraction: float = 0.25, tolerance: float = 0.1, dim: str = "epoch") -> xr.DataArray:
    """Whether a run's loss has reached a plateau: over the last ``fraction`` of the time axis it fell by
    at most ``tolerance`` × its whole fall, ``L(t₁ − fraction·(t₁ − t₀)) − L(t₁) ≤ tolerance · (L(t₀) − L(t₁))``
    (the loss read at the measurement nearest that time), per entry of the other dims."""
    if not 0 < fraction < 1 or not tolerance >= 0:
        raise ValueError(f"fraction must lie in (0, 1) and tolerance be non-negative, got {fraction!r}, {tolerance!r}")
    start, end = initial(loss, dim), final(loss, dim)
    return at_fraction(loss, 1 - fraction, dim) - end <= tolerance * (start - end)


def plateau_start(loss: xr.DataArray, span: float, tolerance: float = 0.05, dim: str = "epoch") -> xr.DataArray:
    """The first time t at which the loss has changed by at most ``tolerance`` of its value over the
    preceding ``span``: |L(t) − L(t − span)| ≤ tolerance · L(t − span) (L(t − span) read at the last
    measurement at or before that time); NaN where that never happens, per entry of the other dims.

    >>> t = np.arange(0.0, 101.0, 10.0)
    >>> float(plateau_start(xr.DataArray(1 + np.exp(-t / 10), coords={"epoch": t}), span=20))
    50.0
    """
    if not span > 0 or not tolerance >= 0:
        raise ValueError(f"span must be positive and tolerance non-negative, got {span!r}, {tolerance!r}")
    da = measured(loss, dim)
    times = da[dim].values
    before = np.searchsorted(times, times - span, side="right") - 1
    earlier = da.isel({dim: np.clip(before, 0, None)}).assign_coords({dim: times})
    settled = (abs(da - earlier) <= tolerance * earlier) & xr.DataArray(before >= 0, coords={dim: times})
    return da[dim].where(settled).min(dim)
