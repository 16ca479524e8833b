# %% [markdown]
# # 10 — The inverse variance–flatness relation (finding C4)
#
# *Feng & Tu, The inverse variance–flatness relation in stochastic gradient descent is critical for finding flat minima, PNAS 118(9) e2015617118, 2021, arXiv:2001.01678.*
#
# **C4.** After the loss plateaus, take the SGD trajectory of one layer's weights over a window and its principal components pᵢ with variances σᵢ². The flatness Fᵢ is the width of the loss profile L(w₀ + δpᵢ) at the level e·L(w₀). The variance falls as the flatness grows, σᵢ² ∝ Fᵢ^(−ψ) with ψ ≈ 4 on MNIST for any S and η — the opposite of an equilibrium at fixed temperature, where σᵢ² ∝ Fᵢ² (a Langevin control with isotropic noise shows that sign); the variance lives in a few directions (a few tens of PCs hold 90%); PC1 is a drift.
#
# We train to a plateau, then record the middle layer's weights (trace `"weights"`, `sgdlab.trajectory`) over a window, with the whole model beside them so that w₀ holds **every** layer at its window mean, and analyse them with `trajectory_analysis.analyse`: PCA, flatness by bracketing and bisection, and the power-law fit with a bootstrap interval over the components after PC1 (PC1 is the drift, which the paper separates from the fluctuations). The loss is that of the whole training set.
#
# The pipeline is first validated on the equilibrium it must tell SGD apart from: Langevin dynamics (full-batch gradient plus isotropic noise at a temperature T) of the same layer from the same plateau, the other layers held, whose stationary law is ∝ exp(−L/T) — for a quadratic loss σᵢ² = T/hᵢ and Fᵢ² ∝ 1/hᵢ, so σᵢ² ∝ Fᵢ² (ψ = −2). A sample covariance recovers that law only from many more decorrelated snapshots than coordinates and from most of the spectrum, which is why the analysed layer is small (a 10 × 10 layer of a narrow MLP) and nearly all of its components enter the fit.

# %% tags=["parameters"]
profile = "quick"
dataset = None  # None: the profile's dataset
learning_rates = None  # None: the profile's η grid
batch_sizes = None  # None: the profile's S grid
plateau_steps = None  # None: the profile's SGD steps before the window
width = None  # None: the profile's MLP width
train_size = None  # None: the profile's training-set size
snapshots = None  # None: the profile's snapshot count
components = None  # None: every component of the layer, up to the snapshot count
temperature = None  # None: the profile's Langevin temperature
seed = 0
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown]
# ## Setup
#
# The **quick** profile: MNIST-1D (1,000 training examples), an MLP with two hidden layers of 10 ReLU units (its middle layer holds 100 weights), plain SGD on a 2 × 2 grid η ∈ {0.1, 0.2} × S ∈ {50, 100}, 12,000 steps to the plateau (600 epochs at S = 50, 1,200 at S = 100); then 1,000 snapshots of the middle layer 5 steps apart, and all 100 components analysed, PC2–PC100 fitted. The Langevin control is the run at η = 0.1, S = 50 up to the plateau, then full-batch gradient steps at η = 0.1 with isotropic noise at T = 10⁻⁴ on the middle layer alone, the other layers held: 5,000 steps to equilibrate, then 1,000 snapshots 10 steps apart. The plateau is checked on the window itself: the mean full training loss over its second half within 5% of that over its first half. `width=50, train_size=4000, plateau_steps=2400, snapshots=400, components=31` is the earlier 2 × 50 MLP (its 2,500-weight middle layer cannot be analysed this way from a thousand snapshots). The **paper** profile is MNIST with the paper's 2 × 50 MLP, S ∈ {50, 100}, η ∈ {0.05, 0.1}, for a GPU; its window **[verify]**.

# %%
import matplotlib.pyplot as plt
import numpy as np

import sgdlab
from sgdlab import run_grid
from sgdlab.findings import Finding, claims, plots, summaries, trajectory_analysis
from sgdlab.optim import Langevin
from sgdlab.theory.variance_flatness import power_law_fit
from sgdlab.training.clock import Every
from sgdlab.training.schedules import Step

finding = Finding.open(
    "10_variance_flatness", globals(),
    common=dict(model="mlp", depth=2, probes=("losses",), layer="3.weight", snapshots=1000, snapshot_steps=5, components=None,
                save_parameters=True, langevin_lr=0.1, langevin_burn_in=5000, langevin_snapshot_steps=10),
    quick=dict(dataset="mnist1d", train_size=1000, width=10, learning_rates=[0.1, 0.2], batch_sizes=[50, 100],
               plateau_steps=12000, temperature=1e-4),
    paper=dict(dataset="mnist", train_size=None, width=50, learning_rates=[0.05, 0.1], batch_sizes=[50, 100],
               plateau_steps=120000, temperature=1e-4),
    smoke=dict(train_size=256, hessian_size=64, width=6, plateau_steps=20, snapshots=40, snapshot_steps=1,
               langevin_burn_in=5, langevin_snapshot_steps=1, learning_rates=[0.1], batch_sizes=[50, 100]),
    cites=("feng2021",),
)
s = finding.settings
n_train = len(sgdlab.load(s.dataset, train_size=s.train_size).y_train)
n_components = s.components or min(s.snapshots, s.width * s.width)
model_options = {"width": s.width, "depth": s.depth}
weights = dict(traces=("weights",), trace_options={"weights": {"layer": s.layer, "whole_model": True}},
               model_options=model_options)


def sgd_config(lr: float, batch: int):
    """SGD to the plateau, then the snapshots; the loss measured every 10 epochs, then every epoch of the window."""
    plateau, window = s.plateau_steps / -(-n_train // batch), s.snapshots * s.snapshot_steps / -(-n_train // batch)
    return finding.config(lr=lr, batch_size=batch, epochs=plateau + window, **weights,
                          every={"weights": Every(steps=s.snapshot_steps, start=plateau),
                                 "losses": (Every(epochs=10.0, stop=plateau),
                                            Every(epochs=min(1.0, window / 20), start=plateau))})


def langevin_config():
    """The run at the smallest η·S⁻¹ corner's η and S up to the plateau, then Langevin on the layer alone."""
    batch = min(s.batch_sizes)
    plateau = s.plateau_steps / -(-n_train // batch)
    steps = s.langevin_burn_in + s.snapshots * s.langevin_snapshot_steps
    return finding.config(
        lr=s.langevin_lr, batch_size=batch, batch_schedule=Step((batch, n_train), (plateau,)),
        optimizer=Langevin(temperature=s.temperature, only=s.layer, after=s.plateau_steps),
        epochs=plateau + steps, **weights,
        every={"weights": Every(steps=s.langevin_snapshot_steps, start=plateau + s.langevin_burn_in),
               "losses": (Every(epochs=10.0, stop=plateau), Every(steps=max(1, steps // 100), start=plateau))})


configs = {(lr, b): sgd_config(lr, b) for lr in s.learning_rates for b in s.batch_sizes}
configs["langevin"] = langevin_config()
print(f"{s.profile} profile: 2×{s.width} MLP on {s.dataset} ({n_train} examples), layer {s.layer} "
      f"({s.width * s.width} weights); SGD grid η {s.learning_rates} × S {s.batch_sizes}, {s.plateau_steps} steps "
      f"to the plateau, {s.snapshots} snapshots {s.snapshot_steps} steps apart; Langevin T={s.temperature:g}, "
      f"η={s.langevin_lr}, {s.langevin_burn_in} steps to equilibrate, snapshots {s.langevin_snapshot_steps} apart")

# %% [markdown]
# ## Run and analyse

# %%
runs = run_grid(configs, progress=False)
analyses = {key: trajectory_analysis.analyse(ds, n_components, skip=1) for key, ds in runs.items()}


def window_change(key) -> float:
    """The mean full training loss over the window's second half relative to its first half, minus 1."""
    loss = runs[key].train_loss.dropna("step")
    window = loss.where(loss.step >= int(analyses[key].snapshot_iteration.min()), drop=True)
    return float(summaries.tail_mean(window, 0.5, "step") / summaries.head_mean(window, 0.5, "step") - 1)


changes = {key: window_change(key) for key in runs}
for key, a in analyses.items():
    print(f"{str(key):>12}  ψ = {a.attrs['psi']:5.2f} [{a.attrs['psi_low']:5.2f}, {a.attrs['psi_high']:5.2f}] over "
          f"PC2–PC{n_components}  F ×{a.attrs['flatness_range']:5.1f}  σ² ×{a.attrs['variance_range']:7.0f}  "
          f"PCs for 90%: {a.attrs['components_holding']:3d}  L(w₀) = {a.attrs['center_loss']:.3f}  "
          f"loss change over the window {changes[key]:+.1%}  ({a.attrs['snapshots']} snapshots)")

# %% [markdown]
# Against the local curvature hᵢ along each component (the second difference of the profile at ±σᵢ), a quadratic equilibrium gives σᵢ² = T/hᵢ (σ² ∝ h⁻¹) and Fᵢ ∝ hᵢ^(−1/2); together they make σ² ∝ F². The two exponents over PC2 onwards, with 95% bootstrap intervals:

# %%
for key, a in analyses.items():
    h = a.curvature.values[1:]
    keep = h > 0  # a fit in logarithms needs a positive curvature
    of_variance = power_law_fit(h[keep], a.variance.values[1:][keep], n_boot=500)
    of_flatness = power_law_fit(h[keep], a.flatness.values[1:][keep], n_boot=500)
    print(f"{str(key):>12}  σ² ∝ h^({-of_variance.psi:+.2f} [{-of_variance.high:+.2f}, {-of_variance.low:+.2f}])  "
          f"F ∝ h^({-of_flatness.psi:+.2f} [{-of_flatness.high:+.2f}, {-of_flatness.low:+.2f}])  "
          f"({keep.sum()} components with h > 0)")

# %% [markdown]
# ## Variance against flatness
#
# Each point is one principal component (PC1, the drift, hollow and left out of the fit); the line is the fitted power law. The paper's SGD result is a falling line (ψ ≈ 4); an equilibrium at fixed temperature gives a rising one (σ² ∝ F²), which the Langevin control must reproduce.

# %%
plots.use_style()
fig, axes = plots.figure(1, 2, width="page", aspect=0.8)
colours = dict(zip(analyses, plots.distinct_colours(len(analyses))))
for key, a in analyses.items():
    ax = axes[1] if key == "langevin" else axes[0]
    label = "Langevin" if key == "langevin" else f"$\\eta={key[0]:g}$, $S={key[1]}$"
    ax.loglog(a.flatness[1:], a.variance[1:], "o", ms=2.5, color=colours[key],
              label=f"{label}: $\\psi={a.attrs['psi']:.2f}$")
    ax.loglog(a.flatness[:1], a.variance[:1], "o", ms=4, mfc="none", color=colours[key])
    # the least-squares line of log σ² on log F passes through the mean of the logs of the fitted points
    log_f, log_v = np.log(a.flatness.values[1:]), np.log(a.variance.values[1:])
    f = np.geomspace(float(a.flatness[1:].min()), float(a.flatness[1:].max()), 20)
    ax.loglog(f, np.exp(log_v.mean()) * (f / np.exp(log_f.mean())) ** (-a.attrs['psi']), color=colours[key], lw=0.8)
for ax, title in zip(axes, ["SGD", f"Langevin control ($T={s.temperature:g}$)"]):
    ax.set(xlabel="flatness $F_i$ (width at $e\\,L(w_0)$)", ylabel="variance $\\sigma_i^2$", title=title)
    plots.plain_log(ax, "x")
    ax.legend(frameon=False)
caption = (f"Variance of the {s.layer} trajectory along each principal component against the flatness of the "
           f"loss along it, after the plateau, for SGD (left) and Langevin dynamics of that layer (right), "
           f"{s.dataset}; hollow: PC1 (left out); lines: the fitted power laws σ² ∝ F^(−ψ) over PC2–PC{n_components}.")
finding.save_figure(fig, "variance_flatness", caption=caption)
plt.show()

# %% [markdown]
# ## Verdict
#
# Thresholds fixed before the runs were made:
# - **C4.langevin-opposite** (the validation): the Langevin control's 95% bootstrap interval of ψ contains −2, the equilibrium's σ² ∝ F², and its window is on the plateau (|loss change| < 5%).
# - **C4.inverse-relation**: judged only when the Langevin control validates the pipeline; then for every (η, S) of the SGD grid the window is on the plateau and the fitted ψ is positive with its 95% interval above 0 (the paper: ψ ≈ 4 for any η and S).
# - **C4.few-components**: for every SGD run, the leading components holding 90% of the variance are at most 2% of the layer's coordinates (the paper: a few tens of 2,500).
# - **C4.pc1-drift**: for every SGD run, on the plateau, the projection on PC1 is monotone in time (|Spearman| ≥ 0.9).
#
# The Langevin control's σᵢ² grows with Fᵢ, the equilibrium's sign, but faster than Fᵢ²: its interval lies below −2 at every seed, so the pipeline is not validated at this scale and the inverse relation is not judged — both are stated as known failures. The exponents against the local curvature, printed above, locate the cause: the control's σᵢ² falls as 1/hᵢ or a little faster, near the equilibrium's T/hᵢ, while its width at e·L(w₀) shrinks more slowly than hᵢ^(−1/2) — the loss must rise by a factor e, beyond the quadratic neighbourhood of w₀ — and both steepen the law: σᵢ² varies as a power of Fᵢ steeper than 2. SGD's σᵢ² instead grows with hᵢ. The SGD fits, printed above and in the claim's values, have the sign opposite to the control's, as in the paper, with ψ below the paper's 4. The fluctuations of most runs spread over more than 2% of the layer's 100 components (at η = 0.2, S = 50 over tens of them): less concentrated than the paper's few tens of 2,500.

# %%
# NBVAL_CHECK_OUTPUT
sgd = {f"η={k[0]:g} S={k[1]}": k for k in analyses if k != "langevin"}
fits = {name: {"psi": analyses[k].attrs['psi'], "low": analyses[k].attrs['psi_low'],
               "high": analyses[k].attrs['psi_high'], "flatness_range": analyses[k].attrs['flatness_range'],
               "loss_change": changes[k]} for name, k in {**sgd, "langevin": "langevin"}.items()}
drift = {name: claims.rank_correlation(analyses[k].snapshot_iteration, analyses[k].projection.sel(component=1))
         for name, k in sgd.items()}
plateau = {name: abs(changes[k]) < 0.05 for name, k in sgd.items()}
langevin = analyses["langevin"].attrs
validated = langevin['psi_low'] <= -2 <= langevin['psi_high'] and abs(changes["langevin"]) < 0.05
verdicts = [
    claims.claim("C4.langevin-opposite", "Langevin dynamics with isotropic noise gives the equilibrium's σ² ∝ F² (ψ = −2)",
                 validated, fit=fits["langevin"]),
    claims.claim("C4.inverse-relation", "the variance falls as the flatness grows, σ² ∝ F^(−ψ) with ψ > 0, for every η and S",
                 validated and all(plateau.values()) and all(analyses[k].attrs['psi_low'] > 0 for k in sgd.values()),
                 fits={name: fits[name] for name in sgd}, validated=validated, paper_psi=4.0),
    claims.claim("C4.few-components", "a few tens of principal components (of 2,500) hold 90% of the variance",
                 all(analyses[k].attrs['components_holding'] <= 0.02 * analyses[k].attrs['coordinates']
                     for k in sgd.values()),
                 components={name: analyses[k].attrs['components_holding'] for name, k in sgd.items()}),
    claims.claim("C4.pc1-drift", "the first principal component is a drift",
                 all(plateau.values()) and all(abs(r) >= 0.9 for r in drift.values()), spearman=drift),
]
finding.report(verdicts, known_failures={"quick": {
    "C4.langevin-opposite": "the Langevin control's σ² grows with F faster than F² (its interval lies below −2): "
                            "its width at e·L(w₀) shrinks more slowly than a parabola's as the local curvature "
                            "grows",
    "C4.inverse-relation": "not judged: the Langevin control does not validate the pipeline (see "
                           "C4.langevin-opposite); the SGD fits are in this claim's values",
    "C4.few-components": "at S = 50 the fluctuations spread over more than 2% of the layer's components"}})

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
