# %% [markdown]
# # 10 — The inverse variance–flatness relation (finding C4)
#
# *Feng & Tu, The inverse variance–flatness relation in stochastic gradient descent is critical for finding flat minima, PNAS 118(9) e2015617118, 2021, arXiv:2001.01678.*
#
# **C4.** After the loss plateaus, take the SGD trajectory of one layer's weights over a window and its principal components pᵢ with variances σᵢ². The flatness Fᵢ is the width of the loss profile L(w₀ + δpᵢ) at the level e·L(w₀). The variance falls as the flatness grows, σᵢ² ∝ Fᵢ^(−ψ) with ψ ≈ 4 on MNIST for any S and η — the opposite of an equilibrium at fixed temperature, where σᵢ² ∝ Fᵢ² (a Langevin control with isotropic noise shows that sign); the variance lives in a few directions (a few tens of PCs hold 90%); PC1 is a drift.
#
# We record the middle layer's weights (trace `"weights"`, `sgdlab.trajectory`) over the last epochs of each run, and analyse them with `trajectory_analysis.analyse`: PCA, flatness by bracketing and bisection, and the power-law fit with a bootstrap interval. w₀ is the window's mean **[verify]** (the paper's text could not be checked), with the other layers at the run's final state; the loss is that of the whole training set.

# %% tags=["parameters"]
profile = "quick"
dataset = None  # None: the profile's dataset
learning_rates = None  # None: the profile's η grid
batch_sizes = None  # None: the profile's S grid
epochs = None
temperature = None  # None: the profile's Langevin temperature
seed = 0
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown]
# ## Setup
#
# The **quick** profile: MNIST-1D (4,000 training examples), an MLP with two hidden layers of 50 ReLU units (its middle layer holds 2,500 weights, as in the paper), plain SGD for 40 epochs on a 2 × 2 grid η ∈ {0.1, 0.2} × S ∈ {50, 100}; the weights are recorded 40 times an epoch over the last 10 epochs (400 snapshots), and the first 30 components are analysed. The Langevin control runs full-batch gradient descent with isotropic noise at temperature T = 10⁻⁴ and η = 0.1, for as many steps as SGD at S = 50 takes, recorded every second step over its last quarter (400 snapshots). The **paper** profile is MNIST with S = 50, η = 0.1, for a GPU **[verify]** the window.

# %%
import matplotlib.pyplot as plt
import numpy as np

import sgdlab
from sgdlab import run_grid
from sgdlab.findings import Finding, claims, plots, trajectory_analysis
from sgdlab.optim import Langevin
from sgdlab.training.clock import Every

finding = Finding.open(
    "10_variance_flatness", globals(),
    common=dict(model="mlp", model_options={"width": 50, "depth": 2}, probes=("losses",), layer="3.weight",
                window_epochs=10.0, snapshots_per_epoch=40, n_components=30, save_parameters=True),
    quick=dict(dataset="mnist1d", learning_rates=[0.1, 0.2], batch_sizes=[50, 100], epochs=40, measure_every=2.0,
               temperature=1e-4, langevin_lr=0.1),
    paper=dict(dataset="mnist", learning_rates=[0.05, 0.1], batch_sizes=[50, 100], epochs=40, measure_every=2.0,
               temperature=1e-4, langevin_lr=0.1),
    smoke=dict(train_size=256, hessian_size=64, epochs=4, window_epochs=2.0, snapshots_per_epoch=8, n_components=4,
               measure_every=2.0, learning_rates=[0.1], batch_sizes=[50, 100]),
    cites=("feng2021",),
)
s = finding.settings
n_train = len(sgdlab.load(s.dataset, train_size=getattr(s, "train_size", None)).y_train)
start = s.epochs - s.window_epochs
weights = dict(traces=("weights",), trace_options={"weights": {"layer": s.layer}})
configs = {(lr, b): finding.config(lr=lr, batch_size=b, **weights,
                                   every={"weights": Every(epochs=1 / s.snapshots_per_epoch, start=start)})
           for lr in s.learning_rates for b in s.batch_sizes}
langevin_steps = round(s.epochs * n_train / min(s.batch_sizes))  # SGD's step count at the smallest S
langevin_every = max(1, round(langevin_steps / (s.epochs * s.snapshots_per_epoch)))  # as many snapshots as SGD
configs["langevin"] = finding.config(
    lr=s.langevin_lr, batch_size=None, optimizer=Langevin(temperature=s.temperature), epochs=float(langevin_steps),
    measure_every=langevin_steps / 20, **weights,
    every={"weights": Every(steps=langevin_every, start=langevin_steps * start / s.epochs)})
print(f"{s.profile} profile: 2×50 MLP on {s.dataset} ({n_train} examples); SGD grid η {s.learning_rates} × S "
      f"{s.batch_sizes}, {s.epochs} epochs; Langevin T={s.temperature:g}, η={s.langevin_lr}, {langevin_steps} steps")

# %% [markdown]
# ## Run and analyse

# %%
runs = run_grid(configs, progress=False)
analyses = {key: trajectory_analysis.analyse(ds, s.n_components) for key, ds in runs.items()}
for key, a in analyses.items():
    loss = runs[key].train_loss.dropna("step")
    print(f"{str(key):>12}  ψ = {a.attrs['psi']:5.2f} [{a.attrs['psi_low']:5.2f}, {a.attrs['psi_high']:5.2f}]  PCs for 90%: "
          f"{a.attrs['components_holding']:3d}  L(w₀) = {a.attrs['center_loss']:.3f}  training loss over the window "
          f"{float(loss.sel(step=loss.step[loss.step >= loss.step.max() * start / s.epochs][0])):.3f} → "
          f"{float(loss.isel(step=-1)):.3f}  ({a.attrs['snapshots']} snapshots)")

# %% [markdown]
# ## Variance against flatness
#
# Each point is one principal component; the line is the fitted power law. The paper's SGD result is a falling line (ψ ≈ 4); a fixed-temperature equilibrium gives a rising one (σ² ∝ F²).

# %%
plots.use_style()
fig, axes = plots.figure(1, 2, width="page", aspect=0.8)
colours = dict(zip(analyses, plots.distinct_colours(len(analyses))))
for key, a in analyses.items():
    ax = axes[1] if key == "langevin" else axes[0]
    label = "Langevin" if key == "langevin" else f"$\\eta={key[0]:g}$, $S={key[1]}$"
    ax.loglog(a.flatness, a.variance, "o", ms=2.5, color=colours[key], label=f"{label}: $\\psi={a.attrs['psi']:.2f}$")
    # the least-squares line of log σ² on log F passes through the mean of the logs
    log_f, log_v = np.log(a.flatness.values), np.log(a.variance.values)
    f = np.geomspace(float(a.flatness.min()), float(a.flatness.max()), 20)
    ax.loglog(f, np.exp(log_v.mean()) * (f / np.exp(log_f.mean())) ** (-a.attrs['psi']), color=colours[key], lw=0.8)
for ax, title in zip(axes, ["SGD", f"Langevin control ($T={s.temperature:g}$)"]):
    ax.set(xlabel="flatness $F_i$ (width at $e\\,L(w_0)$)", ylabel="variance $\\sigma_i^2$", title=title)
    plots.plain_log(ax, "x")
    ax.legend(frameon=False)
caption = (f"Variance of the {s.layer} trajectory along each principal component against the flatness of the "
           f"loss along it, for SGD (left) and Langevin dynamics (right), {s.dataset}; lines: the fitted power laws "
           "σ² ∝ F^(−ψ), through the mean of the logarithms.")
finding.save_figure(fig, "variance_flatness", caption=caption)
plt.show()

# %% [markdown]
# ## Verdict
#
# Thresholds fixed before the runs were made:
# - **C4.inverse-relation**: for every (η, S) of the SGD grid, the fitted ψ is positive with its 95% bootstrap interval above 0 (the paper: ψ ≈ 4).
# - **C4.few-components**: for every SGD run, at most 50 of the 2,500 components hold 90% of the variance ("a few tens").
# - **C4.pc1-drift**: for every SGD run, the projection on PC1 is monotone in time (|Spearman| ≥ 0.9).
# - **C4.langevin-opposite**: the Langevin control's ψ is negative with its interval below 0.
#
# At the quick scale the inverse relation does not hold at any window tried: η = 0.1 and η = 0.4 at S = 50 over windows at epochs 20–30, 40–50 and 70–80 of an 80-epoch run gave ψ between −2.6 and −1.6 (η = 0.1) and between −5.3 and −4.1 (η = 0.4), intervals below 0 — σᵢ² grows with Fᵢ, the equilibrium's sign. It is stated as a known failure. This notebook's grid confirms it at seeds 0, 1, 2 and 3: ψ between −3.07 and −1.85 for every (η, S), every 95% interval below 0 (seed 0: −2.25, −2.02, −3.07, −1.89 for η, S = (0.1, 50), (0.1, 100), (0.2, 50), (0.2, 100)); the other three claims pass at all four seeds (10–20 components hold 90% of the variance at S = 50, 2–12 at S = 100).

# %%
# NBVAL_CHECK_OUTPUT
sgd = {f"η={k[0]:g} S={k[1]}": a for k, a in analyses.items() if k != "langevin"}
fits = {name: {"psi": a.attrs['psi'], "low": a.attrs['psi_low'], "high": a.attrs['psi_high']} for name, a in {**sgd, "langevin": analyses["langevin"]}.items()}
drift = {name: claims.rank_correlation(a.snapshot_iteration, a.projection.sel(component=1)) for name, a in sgd.items()}
verdicts = [
    claims.claim("C4.inverse-relation", "the variance falls as the flatness grows, σ² ∝ F^(−ψ) with ψ > 0, for every η and S",
                 all(a.attrs['psi_low'] > 0 for a in sgd.values()), fits=fits, paper_psi=4.0),
    claims.claim("C4.few-components", "a few tens of principal components hold 90% of the variance",
                 all(a.attrs['components_holding'] <= 50 for a in sgd.values()),
                 components={name: a.attrs['components_holding'] for name, a in sgd.items()}),
    claims.claim("C4.pc1-drift", "the first principal component is a drift", all(abs(r) >= 0.9 for r in drift.values()),
                 spearman=drift),
    claims.claim("C4.langevin-opposite", "Langevin dynamics with isotropic noise shows the opposite sign (σ² grows with F)",
                 analyses["langevin"].attrs['psi_high'] < 0, fit=fits["langevin"]),
]
finding.report(verdicts, known_failures={"quick": {
    "C4.inverse-relation": "at MNIST-1D scale SGD shows σ² growing with F (ψ < 0), like the equilibrium; "
                           "tried η ∈ {0.1, 0.2, 0.4}, S ∈ {50, 100}, windows at epochs 20–80"}})

# %% [markdown]
# ## Reference
#
# ```bibtex
# @article{feng2021inverse,
#   title   = {The Inverse Variance--Flatness Relation in Stochastic Gradient Descent Is Critical for Finding
#              Flat Minima},
#   author  = {Feng, Yu and Tu, Yuhai},
#   journal = {Proceedings of the National Academy of Sciences},
#   volume  = {118},
#   number  = {9},
#   pages   = {e2015617118},
#   year    = {2021}
# }
# ```
