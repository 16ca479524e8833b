"""The notebook helper: profile settings, parameters that override them, smoke runs, claims per profile."""

from __future__ import annotations

import json
import os

import pytest

from sgdlab.core import paths
from sgdlab.findings import claims
from sgdlab.findings.finding import Finding

QUICK = dict(dataset="mnist1d", model="mlp", learning_rates=[0.1, 0.2], epochs=20, hessian_size=500)
PAPER = dict(dataset="cifar10", model="simplecnn", learning_rates=[0.01, 0.1], epochs=200, hessian_size=2560,
             holdout="validation")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("SGDLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv(paths.SMOKE_ENV, "")  # unset for the test; a smoke Finding sets it, and it is restored after


def open_finding(profile="quick", **parameters):
    parameters = {"seed": 0, "device": "cpu", "output_dir": "", "smoke": False, "learning_rates": None,
                  "epochs": None} | parameters
    return Finding.open("00_test", {"profile": profile, **parameters}, common=dict(top_k=3), quick=QUICK,
                        paper=PAPER, smoke=dict(epochs=1, hessian_size=32))


def test_settings_come_from_the_profile_and_parameters_override_them():
    finding = open_finding(epochs=5, seed=2)
    assert finding.settings.epochs == 5 and finding.settings.learning_rates == [0.1, 0.2]
    config = finding.config(lr=0.3)
    assert (config.epochs, config.hessian_size, config.top_k, config.seed, config.lr) == (5, 500, 3, 2, 0.3)
    assert finding.out == paths.data_dir() / "results" / "00_test"
    assert open_finding(smoke=True).out == paths.data_dir() / "results-smoke" / "00_test"  # never the real results
    assert open_finding("paper").config().holdout == "validation"


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"learning_rates": 0.1}, r"parameter learning_rates must be a non-empty list like \[0.1, 0.2\], got 0.1"),
        ({"learning_rates": ["0.1"]}, r"parameter learning_rates\[\] must be a finite number, got '0.1'"),
        ({"epochs": 2.5}, "parameter epochs must be an integer, got 2.5"),
        ({"epochs": float("inf")}, "parameter epochs must be a finite number, got inf"),
    ],
)
def test_a_parameter_of_the_wrong_kind_is_named_before_anything_runs(parameters, message):
    with pytest.raises(ValueError, match=message):
        open_finding(**parameters)


def test_unknown_profile_is_rejected():
    with pytest.raises(ValueError, match="profile 'huge' is unknown"):
        open_finding("huge")


def test_smoke_shrinks_sizes_fakes_paper_data_keeps_runs_apart_and_never_raises(tmp_path):
    finding = open_finding("paper", smoke=True, output_dir=str(tmp_path / "out"))
    assert finding.settings.dataset == "fake_cifar10" and finding.settings.epochs == 1
    assert finding.settings.hessian_size == 32 and os.environ[paths.SMOKE_ENV] == "1"
    assert paths.runs_dir().name == "runs-smoke"
    finding.report([claims.claim("X.one", "cannot hold on random data", False)])
    assert json.loads((tmp_path / "out" / "claims.json").read_text())[0]["passed"] is False
    assert open_finding("quick", smoke=True).settings.dataset == "mnist1d"


def test_known_failures_are_stated_per_profile(tmp_path):
    verdicts = [claims.claim("X.one", "holds at the paper's scale only", False)]
    open_finding("quick", output_dir=str(tmp_path)).report(verdicts, known_failures={"quick": {"X.one": "small"}})
    with pytest.raises(claims.ClaimFailed, match="X.one"):
        open_finding("paper", output_dir=str(tmp_path)).report(verdicts, known_failures={"quick": {"X.one": "small"}})


def test_figures_carry_every_parameter(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finding = open_finding(output_dir=str(tmp_path), seed=3)
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    finding.save_figure(fig, "line", caption="a line")
    sidecar = json.loads((tmp_path / "line.figure.json").read_text())
    assert sidecar["parameters"]["seed"] == 3 and sidecar["parameters"]["profile"] == "quick"
    assert sidecar["caption"] == "a line" and (tmp_path / "line.pdf").exists()


def test_two_notebooks_cannot_share_an_output_folder(tmp_path):
    open_finding(output_dir=str(tmp_path)).report([claims.claim("X.one", "one", True)])
    assert open_finding(output_dir=str(tmp_path)).out == tmp_path.resolve()  # the same notebook again: fine
    with pytest.raises(ValueError, match=r"holds the results of 00_test; give 00_other a folder of its own"):
        Finding.open("00_other", {"output_dir": str(tmp_path)}, quick=QUICK, paper=PAPER)
    assert json.loads((tmp_path / "claims.json").read_text())[0]["id"] == "X.one"


def test_a_list_setting_that_holds_none_accepts_none_in_its_parameter():
    quick = QUICK | {"train_sizes": [1000, None]}

    def settings(**parameters):
        return Finding.open("00_test", parameters, quick=quick, paper=PAPER).settings

    assert settings(train_sizes=[500, None]).train_sizes == [500, None]
    with pytest.raises(ValueError, match=r"parameter train_sizes\[\] must be an integer, got 2.5"):
        settings(train_sizes=[2.5, None])
    with pytest.raises(ValueError, match=r"parameter learning_rates\[\] must be a finite number, got None"):
        settings(learning_rates=[0.1, None])  # learning_rates' own list holds no None


def test_the_parameters_are_read_from_the_notebooks_namespace_once():
    """Every name of the parameters cell that is a setting or a standard parameter is taken from the
    notebook's globals; other globals (imports, helpers) are not parameters."""
    namespace = {"profile": "quick", "epochs": 7, "seed": 2, "output_dir": "", "smoke": False, "np": object()}
    finding = Finding.open("00_test", namespace, quick=QUICK, paper=PAPER)
    assert finding.parameters == {"epochs": 7, "seed": 2, "output_dir": "", "smoke": False}
    assert finding.settings.epochs == 7 and finding.config().seed == 2


def test_a_scalar_for_a_list_setting_is_refused_even_when_the_profile_leaves_it_unset():
    """07's quick profile chooses its step sizes (learning_rates None); the paper profile's list gives the kind."""
    quick = QUICK | {"learning_rates": None}
    with pytest.raises(ValueError, match=r"parameter learning_rates must be a non-empty list like \[0.01, 0.1\], got 0.1"):
        Finding.open("00_test", {"learning_rates": 0.1}, quick=quick, paper=PAPER)
