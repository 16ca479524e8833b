"""Claims: verdict tables, claims.json, and raising when a verdict differs from what a notebook states."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sgdlab.findings.claims import ClaimFailed, accuracy_standard_error, claim, rank_correlation, report, table
from sgdlab.grid import tables


def test_report_writes_json_and_prints_a_table_without_numbers(tmp_path, capsys):
    verdicts = [claim("A.one", "it holds", True, ratio=np.float32(2.5)), claim("A.two", "also", True, xs=np.arange(2))]
    report(verdicts, tmp_path)
    printed = capsys.readouterr().out
    assert "A.one  PASS     it holds" in printed and "2.5" not in printed
    saved = json.loads((tmp_path / "claims.json").read_text())
    assert saved[0]["measured"] == {"ratio": 2.5} and saved[1]["measured"] == {"xs": [0, 1]}
    assert saved[0]["passed"] is True and saved[0]["known_failure"] == ""


def test_a_failed_claim_raises_after_writing(tmp_path):
    with pytest.raises(ClaimFailed, match="A.two"):
        report([claim("A.one", "holds", True), claim("A.two", "does not", False)], tmp_path)
    assert [c["passed"] for c in json.loads((tmp_path / "claims.json").read_text())] == [True, False]


def test_known_failures_print_as_such_and_raise_if_they_pass(tmp_path, capsys):
    report([claim("A.one", "holds", True), claim("A.two", "small scale", False)], tmp_path,
           known_failures={"A.two": "needs the paper's scale"})
    assert "A.two  FAIL (known)" in capsys.readouterr().out
    assert json.loads((tmp_path / "claims.json").read_text())[1]["known_failure"] == "needs the paper's scale"
    with pytest.raises(ClaimFailed, match=r"A.two \(PASS \(unexpected\)\)"):
        report([claim("A.two", "small scale", True)], tmp_path, known_failures={"A.two": "needs the paper's scale"})
    with pytest.raises(ValueError, match="not checked"):
        report([claim("A.one", "holds", True)], tmp_path, known_failures={"A.three": "typo"})


def test_table_is_deterministic_and_rank_correlation_has_a_sign():
    verdicts = [claim("x", "s", True, v=1.0)]
    assert table(verdicts) == table([claim("x", "s", True, v=2.0)])
    assert rank_correlation([1, 2, 3], [3, 2, 1]) == -1.0
    assert rank_correlation([1, 2, 3], [1, 5, 9]) == 1.0


def test_non_finite_measurements_are_written_as_strict_json(tmp_path):
    report([claim("A.one", "holds", True, beta=float("inf"), rho=np.float64("nan"), xs=[-np.inf, 1.0])], tmp_path)
    text = (tmp_path / "claims.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text)[0]["measured"] == {"beta": "inf", "rho": "nan", "xs": ["-inf", 1.0]}


def test_diverged_runs_are_masked_and_named_before_a_grid_claim(tmp_path_factory, monkeypatch):
    import dataclasses

    from sgdlab.findings.claims import completed
    from sgdlab.training.config import RunConfig
    from sgdlab.training.loop import run

    monkeypatch.setenv("SGDLAB_DATA", str(tmp_path_factory.getbasetemp() / "sgdlab-data"))
    base = RunConfig(train_size=256, epochs=2, batch_size=32, hessian_size=64, top_k=1, model_options={"width": 16})
    runs = [run(dataclasses.replace(base, lr=lr), cache=False, progress=False) for lr in (0.05, 0.1, 1e4)]
    grid = tables.load_grid(runs, ["lr"])
    peak = grid["lambda"].sel(eig=1).max("epoch")
    assert np.isfinite(peak.sel(lr=1e4))  # the diverged run's initial λ₁ would pass for its peak
    masked, diverged = completed(grid)
    assert diverged == [{"lr": 1e4}]
    masked_peak = masked["lambda"].sel(eig=1).max("epoch")
    assert np.isnan(masked_peak.sel(lr=1e4)) and np.isfinite(masked_peak.sel(lr=[0.05, 0.1])).all()
    mean_loss = masked["train_loss"].mean("epoch")  # differs between the two runs that finished
    assert np.isnan(mean_loss.sel(lr=1e4)) and rank_correlation(masked.lr, mean_loss) in (-1.0, 1.0)


def test_rank_correlation_skips_missing_pairs():
    assert rank_correlation([1, 2, 3, 4], [1, 2, np.nan, 4]) == 1.0
    assert np.isnan(rank_correlation([1, 2], [np.nan, 1]))


def test_accuracy_standard_error_is_binomial_and_rejects_bad_input():
    assert accuracy_standard_error(0.9, 1000) == pytest.approx((0.9 * 0.1 / 1000) ** 0.5)
    assert accuracy_standard_error(1.0, 50) == 0.0
    with pytest.raises(ValueError, match="accuracy must be in"):
        accuracy_standard_error(1.2, 100)
