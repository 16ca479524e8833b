# %% [markdown] tags=[]
# # 02 — The SGD step is too large for the sharpest directions (finding A3)
#
# *Jastrzębski et al., On the Relation Between the Sharpest Directions of DNN Loss and the SGD Step Length, ICLR 2019, Sec. 4.*
#
# **A3.** In the initial phase of training, the SGD step is large compared to the curvature and "commonly fails to minimise the loss along the sharpest directions": along the top Hessian eigenvectors e₁…e_K, a fraction of the step's own component (γ′ = ½) lowers the loss more than the whole component (γ′ = 1), and twice the component raises it; the loss cross-section along e₁ shows the step reaching the far wall of the valley. Mini-batch gradients are far more aligned with the top eigenvectors than random directions are.
#
# We train SGD at three learning rates and, at every measurement, take the paper's three views of the current point θ with its top-5 eigenvectors and a few mini-batch gradients g:
# 1. **step decomposition** — the training-loss change after moving by γ′ × the step's component along eᵢ, γ′ ∈ {¼, ⅓, ½, 1, 2, 3, 4}, relative to the loss change of the full SGD step (a random unit direction is the control), averaged (mean) over the initial phase's measurements;
# 2. **cross-sections** — the loss along e₁, e₃, e₅ at offsets {0, ±¼, ±½, ±1, ±2, ±4, ±8, ±16} × the mean step length η|g·eᵢ|, and the paper's width of the valley along e₁ in units of that step;
# 3. **alignment** — the mean |cos(g, eᵢ)| over the top 5, against its expected value for a random direction.

# %% tags=["parameters"]
profile = "quick"
dataset = None  # None: the profile's dataset
model = None  # None: the profile's model
learning_rates = None  # None: the profile's η grid
reading_lrs = None  # None: the profile's η values at which A3 is judged (each in the grid)
batch_size = None
epochs = None
seed = 0
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown] tags=[]
# ## Setup
#
# The **initial phase**, as in the paper, is the first 6 epochs, measured every 2,560 training examples (every 0.64 epoch of MNIST-1D's 4,000); later, every 6 × 2,560 examples (3.84 epochs, quick) or 88 × 2,560 (about 5 epochs, paper) for the alignment against training accuracy, so that the initial phase's measurements are evenly spaced. The step decomposition and the cross-sections are measured at every η of the grid and judged at `reading_lrs`: the paper's η = 0.01 and 0.05 at the paper profile. At the quick profile every η of the grid is judged: the paper reads A3 at step sizes where η sets how sharp a region SGD visits (its A2), and on this model that regime is the whole quick grid (notebook 01), so no single point of it is singled out as the analogue (ηλ₁ printed below for each).
#
# The **quick** profile: MNIST-1D (4,000 training examples, generated offline), a 15k-parameter MLP (two hidden layers of 100 ReLU units), plain SGD at S = 128 for 40 epochs, η ∈ {0.1, 0.2, 0.4} (at this scale these step sizes reach the regime where the step length limits the curvature). The valley's width is pooled over `width_seeds` seeds: this run's and further runs at each judged η trained through the initial phase only. Losses along directions are the training loss on the run's fixed Hessian subset (1,000 examples), the same data as the Hessian; 8 mini-batch gradients per measurement (the paper uses 10). The MLP is kept here, not notebook 01's `cnn`: each measurement evaluates the loss about 400 times along directions, which on the `cnn` costs several times more per evaluation and would take the notebook past its CPU budget, while the MLP already shows the initial-phase overshoot and the alignment (`model="cnn"` runs the same notebook on it).
#
# The **paper** profile is the paper's CIFAR-10 SimpleCNN setting for a GPU: 45k/5k split, augmentation, S = 128, η ∈ {0.001, 0.01, 0.05, 0.1} for the alignment, the decomposition and cross-sections judged at η = 0.01 and 0.05, 10 mini-batch gradients, 300 epochs. Deviations: losses along directions are computed on the 2,560-example Hessian subset (the paper: 2,560 examples for the decomposition, 1,280 for the cross-sections), and the decomposition is reported relative to the full SGD step's loss change rather than to the loss before the step (the orderings checked below are the same under either normalisation; the means weigh measurements differently). The valley's width follows the original analysis code: the first offset on each side where the loss reaches t × the loss at θ, the larger of the two sides, averaged over the last measurements of the zoomed window; here the loss at θ is that of the same cross-section (the original divides by the running training loss of the epoch), the larger side is taken whatever the sign of e₁ (in the original code the left side's search returns its farthest crossing, so its larger side is always the one e₁'s sign points to), and the last measurements are the last half of the initial phase (the original: its last 25 of about 400).

# %% tags=[]
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sgdlab import run_grid
from sgdlab.findings import Finding, claims, plots, summaries
from sgdlab.theory import valley_width
from sgdlab.training import run_cache

finding = Finding.open(
    "02_sgd_step_too_large", globals(),
    common=dict(batch_size=128, top_k=5, zoom_until=6.0, width_seeds=4,
                probes=("losses", "eigen", "step_decomposition", "cross_sections", "alignment")),
    quick=dict(dataset="mnist1d", model="mlp", learning_rates=[0.1, 0.2, 0.4], reading_lrs=[0.1, 0.2, 0.4],
               epochs=40, measure_every=6 * 2560 / 4000, zoom_every=2560 / 4000, probe_gradients=8, hessian_size=1000),
    paper=dict(dataset="cifar10", model="simplecnn", learning_rates=[0.001, 0.01, 0.05, 0.1], reading_lrs=[0.01, 0.05],
               epochs=300, measure_every=88 * 2560 / 45000, zoom_every=2560 / 45000, probe_gradients=10,
               hessian_size=2560, augment=True, holdout="validation", eval_size=5000),
    smoke=dict(train_size=256, epochs=1, measure_every=1.0, zoom_until=0.5, zoom_every=0.25, probe_gradients=2,
               hessian_size=32, eval_size=128, learning_rates=[0.01], reading_lrs=[0.01], width_seeds=2),
    cites=("jastrzebski2019",),
)
s = finding.settings
base = finding.config()
if not set(s.reading_lrs) <= set(s.learning_rates):
    raise ValueError(f"reading_lrs={s.reading_lrs} must be among learning_rates {s.learning_rates}")
configs = {lr: dataclasses.replace(base, lr=lr) for lr in s.learning_rates}
print(f"{s.profile} profile: {s.model} on {s.dataset}, {s.epochs} epochs, η grid {s.learning_rates} at S={s.batch_size}")

# %% [markdown] tags=[]
# ## Run
#
# Runs come from the cache (`data/runs/`) when they were computed before; the rest run in parallel worker processes.

# %% tags=[]
by_lr = run_grid(configs, dims=["lr"], progress=False)
run_cache.save(by_lr, finding.out / "directions_by_lr.nc")
in_initial_phase = (by_lr.epoch > 0) & (by_lr.epoch <= s.zoom_until)
initial = summaries.measured(by_lr.where(in_initial_phase, drop=True))
print(f"{len(configs)} runs, {int((by_lr.diverged == 1).sum())} diverged; results in {finding.out}")
print(f"{initial.sizes['epoch']} measurements in the initial phase; A3 judged at η = {s.reading_lrs}")
step_sharpness = (by_lr.lr * by_lr["lambda"].sel(eig=1).where(in_initial_phase)).mean("epoch")
for lr, value in zip(by_lr.lr.values, step_sharpness.values):
    print(f"η={lr:g}: mean ηλ1 over the initial phase {value:.2f}")

# %% [markdown] tags=[]
# ## Step decomposition
#
# For each direction and γ′, the mean over the initial phase's measurements of the loss change relative to the full step (negative: the partial step lowers the loss; −1: it lowers it as much as the whole SGD step does), one panel per learning rate. A symmetric-log axis, since overshooting grows quadratically with γ′.

# %% tags=[]
plots.use_style()
change = initial["step_change"].mean("epoch")
control = initial["step_change_random"].mean("epoch")
fig, axes = plots.figure(1, by_lr.sizes["lr"], width="page", aspect=0.95, sharey=True, squeeze=False)
labels = [f"$e_{i}$" for i in change.eig.values] + ["random"]
colours = [*plt.get_cmap("viridis")(np.linspace(0, 0.9, change.sizes["eig"])), "0.6"]
width = 0.8 / len(labels)
for ax, lr in zip(axes[0], by_lr.lr.values):
    for j, (label, values) in enumerate(zip(labels, [*change.sel(lr=lr).values, control.sel(lr=lr).values])):
        ax.bar(np.arange(change.sizes["scale"]) + (j - len(labels) / 2 + 0.5) * width, values, width, label=label,
               color=colours[j])
    ax.set_xticks(np.arange(change.sizes["scale"]), ["¼", "⅓", "½", "1", "2", "3", "4"])
    ax.set_yscale("symlog", linthresh=0.1)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_title(f"$\\eta={lr:g}$")
axes[0, 0].set_ylabel("loss change / |full step's change|")
axes[0, len(axes[0]) // 2].set_xlabel("$\\gamma'$, the multiple of the step's component moved along the direction")
fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=len(labels), frameon=False)
fig.suptitle("Moving along one direction only, initial phase")
caption = ("Loss change from moving by γ′ × the SGD step's component along each top eigenvector (and a random "
           "direction), relative to the full step's change; mean over the initial phase, one panel per η.")
finding.save_figure(fig, "step_decomposition", caption=caption)
plt.show()
top = change.mean("eig")
full_e1 = initial["step_change"].sel(eig=1, scale=1.0)
for lr in by_lr.lr.values:
    print(f"η={lr:g}: mean over the top 5 of the change at γ′ = ½, 1, 2: "
          + ", ".join(f"{float(top.sel(lr=lr, scale=g)):+.2f}" for g in (0.5, 1.0, 2.0))
          + f"; along e1 the full component does not lower the loss in "
          f"{float((full_e1.sel(lr=lr) >= 0).mean()):.0%} of the measurements")

# %% [markdown] tags=[]
# ## Cross-sections along e₁, e₃, e₅
#
# The loss along each direction minus the loss at θ, averaged over the initial phase's measurements at the first judged η; each direction is oriented so that the mean SGD step points to positive offsets, and the offsets are in units of the mean step length η|g·eᵢ| (so the step's own component lies near offset 1, marked).

# %% tags=[]
shown = s.reading_lrs[0]
section = (initial["section_loss"] - initial["section_loss"].sel(offset=0)).sel(lr=shown).mean("epoch")
step_at = initial["section_mean_step"].sel(lr=shown).mean("epoch")
fig, axes = plots.figure(1, section.sizes["section"], width="page", aspect=0.8, squeeze=False)
for ax, i in zip(axes[0], section.section.values):
    near = section.sel(section=i, offset=slice(-4, 4))
    ax.plot(near.offset, near, marker="o", markersize=3)
    ax.axvline(0, color="0.5", lw=0.8, label="$\\theta$")
    ax.axvline(float(step_at.sel(section=i)), color=plots.distinct_colours(2)[1], ls="--", label="mean SGD step")
    ax.set_title(f"along $e_{i}$")
    ax.set_xlabel(f"offset $x$ (mean steps $\\eta|g\\cdot e_{i}|$)")
axes[0, 0].set_ylabel("loss change $L(\\theta + x e_i) - L(\\theta)$")
axes[0, 0].legend(frameon=False, fontsize=6.5, loc="upper right")
fig.suptitle(f"Cross-sections of the training loss, initial phase, $\\eta={shown:g}$")
caption = (f"Training loss along e₁, e₃, e₅ around θ in units of the mean step length η|g·e|, averaged over the "
           f"initial phase at η={shown:g}; dashed: where the mean SGD step's component lands.")
finding.save_figure(fig, "cross_sections", caption=caption)
plt.show()

# %% [markdown] tags=[]
# ## The valley's width along e₁
#
# As in the paper, the width at each measurement is the first offset at which the loss reaches t × the loss at θ, the larger of the two sides (the far wall, whichever way e₁ points), in units of the mean step length; it is averaged over the last half of the initial phase's measurements of each run, then pooled over `width_seeds` seeds (mean ± standard error). The further seeds' runs are the same runs trained through the initial phase only, which ends at its last measurement.

# %% tags=[]
LAST = 0.5  # the width is averaged over this last fraction of the initial phase
phase_end = s.zoom_every * int(s.zoom_until / s.zoom_every + 1e-9)  # the initial phase's last measurement
short = {(lr, seed + i): dataclasses.replace(configs[lr], seed=seed + i, epochs=phase_end,
                                            probes=("losses", "eigen", "cross_sections"))
         for lr in s.reading_lrs for i in range(1, s.width_seeds)}
later = run_grid(short, dims=["lr", "seed"], progress=False)
sections = xr.concat([by_lr["section_loss"].sel(lr=s.reading_lrs).expand_dims(seed=[seed]), later["section_loss"]],
                     dim="seed", join="outer")
window = (sections.epoch > (1 - LAST) * phase_end) & (sections.epoch <= phase_end + 1e-9)
per_seed = valley_width.widths(sections.where(window, drop=True)).mean("epoch")  # (threshold, seed, lr, section)
with np.errstate(invalid="ignore"):  # a valley wider than the section at some seed has no standard error
    pooled, error = summaries.mean_with_error(per_seed, "seed")


def pooled_width(lr, t):
    """The pooled width along e1 at threshold t, as printed."""
    mean, se = float(pooled.sel(lr=lr, threshold=t, section=1)), float(error.sel(lr=lr, threshold=t, section=1))
    return f"{mean:.2f} ± {se:.2f}" if np.isfinite(mean) else "beyond the section at some seed"


print(f"valley width along e1 in steps, mean ± standard error over {per_seed.sizes['seed']} seeds "
      f"(the far wall lies within {valley_width.FAR_WALL_STEPS:g} steps when the step passes the valley's floor):")
for lr in s.reading_lrs:
    print(f"η={lr:g}: " + ", ".join(f"t={t:g}: {pooled_width(lr, t)}" for t in valley_width.THRESHOLDS)
          + "; t=1.01 by seed: " + ", ".join(f"{v:.2f}" for v in per_seed.sel(lr=lr, threshold=1.01, section=1).values))

# %% [markdown] tags=[]
# ## Alignment against training accuracy

# %% tags=[]
alignment = by_lr["grad_cos_top"].mean("eig")
fig, ax = plots.figure(width="column", aspect=0.8)
for lr, colour in zip(by_lr.lr.values, plots.distinct_colours(by_lr.sizes["lr"])):
    run = by_lr.sel(lr=lr).dropna("epoch", subset=["train_acc"])
    ax.plot(run.train_acc, run["grad_cos_top"].mean("eig"), marker="o", markersize=3, color=colour,
            label=f"$\\eta={lr:g}$")
ax.axhline(float(by_lr["grad_cos_random"].max()), color="black", ls=":", label="random direction")
plots.plain_log(ax)
ax.set_xlabel("training accuracy")
ax.set_ylabel("alignment: mean $|\\cos(g, e_i)|$, top 5")
ax.legend(frameon=False, fontsize=6.5)
caption = ("Mean |cos| between mini-batch gradients and the top-5 Hessian eigenvectors against training "
           "accuracy, per η; dotted: a random direction.")
finding.save_figure(fig, "alignment", caption=caption)
plt.show()
ratio = (alignment / by_lr["grad_cos_random"]).where(by_lr.epoch > 0)
print(f"alignment / random baseline after initialisation: min {float(ratio.min()):.1f}, median {float(ratio.median()):.1f}")

# %% [markdown] tags=[]
# ## Verdict
#
# Thresholds, fixed from the paper's statements before the runs; (i) and (ii) are read over the initial phase and judged at each η of `reading_lrs` (reported at every η above):
# - **A3.step-too-large** (i): averaged over the top 5 directions and (mean) over the initial phase's measurements, half of the step's component lowers the loss more than the whole component (Δ(½) < Δ(1)), and twice the component raises it (Δ(2) > 0). The stronger reading — the full component along e₁ does not lower the loss at all — is reported as a number (`fraction_full_not_lowering_e1`, `mean_change_full_e1`), not required.
# - **A3.opposite-walls** (ii): the step's own length reaches the far wall of the valley along e₁. On a parabola with θ on one wall and the floor m steps away, the far wall at the height of θ lies 2m steps away, and the step passes the floor onto the far wall (which is also when twice its component raises the loss, as in (i)) exactly when m < 1. So the claim holds when the paper's width at t = 1.01, pooled over `width_seeds` seeds, is at most 2 steps by a margin of two standard errors: mean + 2 SE ≤ 2. A valley wider than the ±16 steps sampled counts as infinitely wide. The widths at t = 1.1, 1.5 and 2 are reported.
# - **A3.alignment** (iii): at every measurement after initialisation, in every run, the mean |cos| with the top 5 eigenvectors is at least 10 times its value for a random direction ("many times").
#
# Each fails on data where the whole component lowers the loss as much as half of it, where twice the component still lowers it, where the far wall along e₁ lies more than two steps away (the step stops short of the floor), or where any measurement is less than an order of magnitude above the random baseline.
#
# **What reproduces at the quick scale** (seeds 0–3; the numbers of this seed are printed above). The step decomposition reproduces at every η of the grid: averaged over the top 5 directions, half of the step's component lowers the loss more than the whole one, and twice it raises the loss. Along e₁ the stronger reading (the full component does not lower the loss at all) holds in part: in a share of the initial phase's measurements at each η that varies with the seed, from under half to most of them. The alignment reproduces. The valley's width does not meet the far-wall criterion: at t = 1.01 the far wall along e₁ lies beyond two steps at every η, widest at the smallest η. The cross-sections show why: the floor of the valley lies within about one step of θ and the step lands near the height of θ, but the valley is shallow, its depth along e₁ far below 1% of the loss, so the paper's smallest threshold places the wall by the level of the loss rather than by the floor. The wall is nearest at the largest η, where the step is largest against the curvature (ηλ₁ ≈ 2), and even there the pooled width is above two steps. This is stated as a known failure: with the paper's width statistic and the criterion fixed above, the step's own length does not reach the far wall of the valley on this model.

# %% tags=[]
# NBVAL_CHECK_OUTPUT
KNOWN_FAILURES = {"A3.opposite-walls": "the valley along e1 is shallower than 1% of the loss, so at t=1.01 its far wall "
                                         "lies more than two steps away at every judged η"}
by_direction = initial["step_change"].mean("epoch").sel(scale=[0.5, 1.0, 2.0])
decomposition = {f"η={lr:g}": {f"mean_change_{name}": float(top.sel(lr=lr, scale=g))
                               for name, g in (("half", 0.5), ("full", 1.0), ("double", 2.0))}
                 | {"mean_change_full_e1": float(full_e1.sel(lr=lr).mean()),
                    "fraction_full_not_lowering_e1": float((full_e1.sel(lr=lr) >= 0).mean()),
                    "mean_change_by_direction": by_direction.sel(lr=lr).values}
                 for lr in s.reading_lrs}
far_wall = {f"η={lr:g}": valley_width.reaches_far_wall(float(pooled.sel(lr=lr, threshold=1.01, section=1)),
                                                       float(error.sel(lr=lr, threshold=1.01, section=1)))
            for lr in s.reading_lrs}
verdicts = [
    claims.claim("A3.step-too-large", "in the initial phase, along the top directions half of the step's component "
                 "lowers the loss more than the whole, and twice it raises the loss",
                 all(d["mean_change_half"] < d["mean_change_full"] and d["mean_change_double"] > 0
                     for d in decomposition.values()),
                 by_lr=decomposition, measurements=initial.sizes["epoch"]),
    claims.claim("A3.opposite-walls", "in the initial phase the step's own length reaches the far wall of the valley "
                 "along e1 (width at t=1.01 at most 2 steps)", all(far_wall.values()), reaches_by_lr=far_wall,
                 width_steps={f"η={lr:g}": {f"t={t:g}": float(pooled.sel(lr=lr, threshold=t, section=1))
                                            for t in valley_width.THRESHOLDS} for lr in s.reading_lrs},
                 standard_error={f"η={lr:g}": float(error.sel(lr=lr, threshold=1.01, section=1)) for lr in s.reading_lrs},
                 width_by_seed={f"η={lr:g}": per_seed.sel(lr=lr, threshold=1.01, section=1).values
                                for lr in s.reading_lrs}),
    claims.claim("A3.alignment", "mini-batch gradients align with the top eigenvectors many times more than random",
                 float(ratio.min()) >= 10, min_ratio=float(ratio.min()), median_ratio=float(ratio.median())),
]
finding.report(verdicts, known_failures={"quick": KNOWN_FAILURES})

# %% [markdown]
# ## Reference
#
# ```bibtex
# @inproceedings{jastrzebski2019relation,
#   title     = {On the Relation Between the Sharpest Directions of {DNN} Loss and the {SGD} Step Length},
#   author    = {Jastrz{\k{e}}bski, Stanis{\l}aw and Kenton, Zachary and Ballas, Nicolas and Fischer, Asja and
#                Bengio, Yoshua and Storkey, Amos},
#   booktitle = {International Conference on Learning Representations},
#   year      = {2019},
#   eprint    = {1807.05031},
#   archivePrefix = {arXiv}
# }
# ```
