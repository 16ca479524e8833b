# %% [markdown] tags=[]
# # 02 — The SGD step is too large for the sharpest directions (finding A3)
#
# *Jastrzębski et al., On the Relation Between the Sharpest Directions of DNN Loss and the SGD Step Length, ICLR 2019, Sec. 4.*
#
# **A3.** In the initial phase of training, the SGD step is large compared to the curvature and "commonly fails to minimise the loss along the sharpest directions": along the top Hessian eigenvectors e₁…e_K, a fraction of the step's own component (γ′ = ½) lowers the loss more than the whole component (γ′ = 1), and twice the component raises it; the loss cross-section along e₁ shows the step reaching the far wall of the valley. Mini-batch gradients are far more aligned with the top eigenvectors than random directions are.
#
# We train SGD at three learning rates and, at every measurement, take the paper's three views of the current point θ with its top-5 eigenvectors and a few mini-batch gradients g:
# 1. **step decomposition** — the training-loss change after moving by γ′ × the step's component along eᵢ, γ′ ∈ {¼, ⅓, ½, 1, 2, 3, 4}, relative to the loss change of the full SGD step (a random unit direction is the control), averaged (mean) over the initial phase's measurements;
# 2. **cross-sections** — the loss along e₁, e₃, e₅ at offsets {0, ±¼, ±½, ±1, ±2, ±4, ±8, ±16} × the mean step length η|g·eᵢ|, and whether each step's component along eᵢ crosses the valley;
# 3. **alignment** — the mean |cos(g, eᵢ)| over the top 5, against its expected value for a random direction.

# %% tags=["parameters"]
profile = "quick"
dataset = None  # None: the profile's dataset
model = None  # None: the profile's model
learning_rates = None  # None: the profile's η grid
reading_lr = None  # None: the profile's η at which the decomposition and cross-sections are read (in the grid)
batch_size = None
epochs = None
seed = 0
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown] tags=[]
# ## Setup
#
# The **initial phase**, as in the paper, is the first 6 epochs, measured every 2,560 training examples (every 0.64 epoch of MNIST-1D's 4,000); later, every 4 epochs (quick) or 5 (paper) for the alignment against training accuracy. The step decomposition and the cross-sections are read over the initial phase at one learning rate, `reading_lr`: the paper's η = 0.01 at the paper profile, and at the quick profile the largest η of the grid, the one whose step is largest against the curvature it meets (ηλ₁ printed below).
#
# The **quick** profile: MNIST-1D (4,000 training examples, generated offline), a 15k-parameter MLP (two hidden layers of 100 ReLU units), plain SGD at S = 128 for 40 epochs, η ∈ {0.1, 0.2, 0.4} (notebook 01's grid: at this scale only these step sizes reach the regime where the step length limits the curvature). Losses along directions are the training loss on the run's fixed Hessian subset (1,000 examples), the same data as the Hessian; 8 mini-batch gradients per measurement (the paper uses 10). The MLP is kept here, not notebook 01's `cnn`: each measurement evaluates the loss about 400 times along directions, which on the `cnn` costs several times more per evaluation and would take the notebook past its CPU budget, while the MLP already shows the initial-phase overshoot and the alignment (`model="cnn"` runs the same notebook on it).
#
# The **paper** profile is the paper's CIFAR-10 SimpleCNN setting for a GPU: 45k/5k split, augmentation, S = 128, η ∈ {0.001, 0.01, 0.1} for the alignment, the decomposition and cross-sections read at η = 0.01, 10 mini-batch gradients, 300 epochs. Deviations: losses along directions are computed on the 2,560-example Hessian subset (the paper: 2,560 examples for the decomposition, 1,280 for the cross-sections), and the decomposition is reported relative to the full SGD step's loss change rather than to the loss before the step (the orderings checked below are the same under either normalisation; the means weigh measurements differently).

# %% tags=[]
import dataclasses

import matplotlib.pyplot as plt
import numpy as np

from sgdlab import run_grid
from sgdlab.findings import Finding, claims, plots, summaries
from sgdlab.training import run_cache

finding = Finding.open(
    "02_sgd_step_too_large", globals(),
    common=dict(batch_size=128, top_k=5, zoom_until=6.0, wall_seeds=4,
                probes=("losses", "eigen", "step_decomposition", "cross_sections", "alignment")),
    quick=dict(dataset="mnist1d", model="mlp", learning_rates=[0.1, 0.2, 0.4], reading_lr=0.4, epochs=40,
               measure_every=4.0, zoom_every=2560 / 4000, probe_gradients=8, hessian_size=1000),
    paper=dict(dataset="cifar10", model="simplecnn", learning_rates=[0.001, 0.01, 0.1], reading_lr=0.01, epochs=300,
               measure_every=5.0, zoom_every=2560 / 45000, probe_gradients=10, hessian_size=2560,
               augment=True, holdout="validation", eval_size=5000),
    smoke=dict(train_size=256, epochs=1, measure_every=1.0, zoom_until=0.5, zoom_every=0.5, probe_gradients=2,
               hessian_size=32, eval_size=128, learning_rates=[0.01], wall_seeds=2),
    cites=("jastrzebski2019",),
)
s = finding.settings
base = finding.config()
if s.reading_lr not in s.learning_rates:
    raise ValueError(f"reading_lr={s.reading_lr} must be one of learning_rates {s.learning_rates}")
configs = {lr: dataclasses.replace(base, lr=lr) for lr in s.learning_rates}
print(f"{s.profile} profile: {s.model} on {s.dataset}, {s.epochs} epochs, η grid {s.learning_rates} at S={s.batch_size}")

# %% [markdown] tags=[]
# ## Run
#
# Runs come from the cache (`data/runs/`) when they were computed before; the rest run in parallel worker processes.

# %% tags=[]
by_lr = run_grid(configs, dims=["lr"], progress=False)
run_cache.save(by_lr, finding.out / "directions_by_lr.nc")
main_lr = s.reading_lr
in_initial_phase = (by_lr.epoch > 0) & (by_lr.epoch <= s.zoom_until)
initial = summaries.measured(by_lr.sel(lr=main_lr).where(in_initial_phase, drop=True))
print(f"{len(configs)} runs, {int((by_lr.diverged == 1).sum())} diverged; results in {finding.out}")
print(f"decomposition and cross-sections: η={main_lr:g}, {initial.sizes['epoch']} measurements in the initial phase")
step_sharpness = (by_lr.lr * by_lr["lambda"].sel(eig=1).where(in_initial_phase)).mean("epoch")
for lr, value in zip(by_lr.lr.values, step_sharpness.values):
    print(f"η={lr:g}: mean ηλ1 over the initial phase {value:.2f}")

# %% [markdown] tags=[]
# ## Step decomposition
#
# For each direction and γ′, the mean over the initial phase's measurements of the loss change relative to the full step (negative: the partial step lowers the loss; −1: it lowers it as much as the whole SGD step does). A symmetric-log axis, since overshooting grows quadratically with γ′.

# %% tags=[]
plots.use_style()
change = initial["step_change"].mean("epoch")
control = initial["step_change_random"].mean("epoch")
fig, ax = plt.subplots(figsize=(10, 4.5))
labels = [f"$e_{i}$" for i in change.eig.values] + ["random"]
width = 0.8 / len(labels)
for j, (label, values) in enumerate(zip(labels, [*change.values, control.values])):
    ax.bar(np.arange(change.sizes["scale"]) + (j - len(labels) / 2 + 0.5) * width, values, width, label=label)
ax.set_xticks(np.arange(change.sizes["scale"]), ["¼", "⅓", "½", "1", "2", "3", "4"])
ax.set_yscale("symlog", linthresh=0.1)
ax.axhline(0, color="black", lw=0.8)
ax.set_xlabel("γ′ (multiple of the step's component along the direction)")
ax.set_ylabel("loss change / |full step's change|")
ax.set_title(f"Moving along one direction only — η={main_lr:g}, initial phase")
ax.legend(frameon=False, ncol=3)
caption = (f"Loss change from moving by γ′ × the SGD step's component along each top eigenvector (and a random "
           f"direction), relative to the full step's change; mean over the initial phase at η={main_lr:g}.")
finding.save_figure(fig, "step_decomposition", caption=caption)
plt.show()

# %% [markdown] tags=[]
# ## Cross-sections along e₁, e₃, e₅
#
# The loss along each direction minus the loss at θ, averaged over the initial phase's measurements; each direction is oriented so that the mean SGD step points to positive offsets, and the offsets are in units of the mean step length η|g·eᵢ| (so the step's own component lies near offset 1, marked).

# %% tags=[]
section = (initial["section_loss"] - initial["section_loss"].sel(offset=0)).mean("epoch")
step_at = initial["section_mean_step"].mean("epoch")
fig, axes = plt.subplots(1, section.sizes["section"], figsize=(12, 3.8))
for ax, i in zip(np.atleast_1d(axes), section.section.values):
    near = section.sel(section=i, offset=slice(-4, 4))
    ax.plot(near.offset, near, marker="o")
    ax.axvline(0, color="grey", lw=0.8, label="θ")
    ax.axvline(float(step_at.sel(section=i)), color="C3", ls="--", label="mean SGD step")
    ax.set_title(f"$e_{i}$")
    ax.set_xlabel("offset (× mean η|g·e|)")
np.atleast_1d(axes)[0].set_ylabel("loss − loss(θ)")
np.atleast_1d(axes)[0].legend(frameon=False)
caption = (f"Training loss along e₁, e₃, e₅ around θ in units of the mean step length η|g·e|, averaged over the "
           f"initial phase at η={main_lr:g}; dashed: where the mean SGD step's component lands.")
finding.save_figure(fig, "cross_sections", caption=caption)
plt.show()
def valley_width(relative, t):
    """The first offset on the side the step points to (in steps) at which the loss reaches t × the loss at θ."""
    return summaries.first_crossing(relative.where(relative.offset > 0, drop=True), t, dim="offset")


walls = initial["opposite_walls"].mean("epoch")

# The valley crossing at further seeds: the initial phase of the same run, trained only that long.
later_seeds = {seed + i: dataclasses.replace(configs[main_lr], seed=seed + i, epochs=s.zoom_until)
               for i in range(1, s.wall_seeds)}
crossed_by_seed = {seed: float(initial["opposite_walls"].sel(section=1).mean())}
later = run_grid(later_seeds, dims=["seed"], progress=False)
phase = later.where((later.epoch > 0) & (later.epoch < s.zoom_until), drop=True)  # the long run's measurements
for other in phase.seed.values:
    crossed_by_seed[int(other)] = float(phase["opposite_walls"].sel(seed=other, section=1).mean())
print("e1 crossed by seed: " + ", ".join(f"seed {k}: {v:.1%}" for k, v in crossed_by_seed.items()))
relative = (initial["section_loss"] / initial["section_loss"].sel(offset=0)).mean("epoch")
widths = {t: valley_width(relative, t) for t in (1.01, 1.1, 1.5, 2.0)}
for i in walls.section.values:
    print(f"e{i}: a step's component crosses the valley in {float(walls.sel(section=i)):.0%} of the mini-batches; "
          "valley width (steps) " + ", ".join(f"t={t:g}: {float(w.sel(section=i)):g}" for t, w in widths.items()))

# %% [markdown] tags=[]
# ## Alignment against training accuracy

# %% tags=[]
alignment = by_lr["grad_cos_top"].mean("eig")
fig, ax = plt.subplots(figsize=(6.5, 4.5))
for lr in by_lr.lr.values:
    run = by_lr.sel(lr=lr).dropna("epoch", subset=["train_acc"])
    ax.plot(run.train_acc, run["grad_cos_top"].mean("eig"), marker="o", label=f"η={lr:g}")
ax.axhline(float(by_lr["grad_cos_random"].max()), color="black", ls=":", label="random direction")
ax.set_yscale("log")
ax.set_xlabel("training accuracy")
ax.set_ylabel("mean |cos(g, $e_i$)|, top 5")
ax.legend(frameon=False)
caption = ("Mean |cos| between mini-batch gradients and the top-5 Hessian eigenvectors against training "
           "accuracy, per η; dotted: a random direction.")
finding.save_figure(fig, "alignment", caption=caption)
plt.show()
ratio = (alignment / by_lr["grad_cos_random"]).where(by_lr.epoch > 0)
print(f"alignment / random baseline after initialisation: min {float(ratio.min()):.1f}, median {float(ratio.median()):.1f}")

# %% [markdown] tags=[]
# ## Verdict
#
# Thresholds, fixed from the paper's statements before the runs; everything is read over the initial phase at `reading_lr`:
# - **A3.step-too-large** (i): averaged over the top 5 directions and (mean) over the initial phase's measurements, half of the step's component lowers the loss more than the whole component (Δ(½) < Δ(1)), and twice the component raises it (Δ(2) > 0). The stronger reading — the full component along e₁ does not lower the loss at all — is reported as a number (`fraction_full_not_lowering_e1`, `mean_change_full_e1`), not required.
# - **A3.opposite-walls** (ii): the step's component along e₁ reaches the far wall of the valley — the loss falls along it at θ and rises along it at its end — for at least ¾ of the mini-batch steps, pooled over the initial phase's measurements (random signs would give about ¼: each of the two slopes is right half of the time), at this seed and at each of the next `wall_seeds − 1` seeds (their runs trained through the initial phase only): a crossing that holds at one seed and not the next is not reproduced. The valley widths in units of the step (the first offset where the mean cross-section reaches t × the loss at θ, t ∈ {1.01, 1.1, 1.5, 2}) are reported with it.
# - **A3.alignment** (iii): at every measurement after initialisation, in every run, the mean |cos| with the top 5 eigenvectors is at least 10 times its value for a random direction ("many times").
#
# Each fails on data where the whole component lowers the loss as much as half of it, where twice the component still lowers it, where steps stay on one wall, or where any measurement is less than an order of magnitude above the random baseline.
#
# **What reproduces at the quick scale.** At seed 0, η = 0.4 (mean ηλ₁ ≈ 2.0 over the initial phase), over 10 initial-phase measurements: Along the top 5 directions half of the step's component lowers the loss (mean −0.80 × the full step's change) while the whole component raises it slightly (+0.22) and twice it raises it strongly (+6.8). The stronger reading holds only in part: along e₁ the whole component does not lower the loss in half of the measurements, and on average it still lowers it (−1.34; half of it: −3.07). A3.step-too-large and A3.alignment hold at seeds 0, 1, 2 and 3. The crossing of the valley along e₁ does not reproduce robustly: 75%, 80%, 76% and 69% of the 80 mini-batch steps cross at seeds 0-3, about ¾ on average with a standard error of about 5 points at each seed, so its verdict at one seed depends on the seed; checked at four seeds it fails, and it is stated as a known failure (in the second half of training, with the earlier schedule, 70% crossed at seed 0 and 69% at seed 1). The valley along e₁ is about 2 steps wide at t = 1.01 and 4 at t = 1.1: the step's own length lies inside it, near its far wall.

# %% tags=[]
# NBVAL_CHECK_OUTPUT
top = initial["step_change"].mean("eig").mean("epoch")
half, whole, double = (float(top.sel(scale=g)) for g in (0.5, 1.0, 2.0))
full_e1 = initial["step_change"].sel(eig=1, scale=1.0)
crossed = float(initial["opposite_walls"].sel(section=1).mean())
KNOWN_FAILURES = {
    "A3.opposite-walls": "not robust to the seed at this scale: e1 is crossed in 75%, 80%, 76% and 69% of the steps "
                         "at seeds 0-3 (about ¾ on average, with a standard error of about 5 points per seed)"}
verdicts = [
    claims.claim("A3.step-too-large", "in the initial phase, along the top directions half of the step's component "
                 "lowers the loss more than the whole, and twice it raises the loss",
                 half < whole and double > 0, mean_change_half=half, mean_change_full=whole, mean_change_double=double,
                 mean_change_by_direction=initial["step_change"].mean("epoch").sel(scale=[0.5, 1.0, 2.0]).values,
                 mean_change_full_e1=float(full_e1.mean()),
                 fraction_full_not_lowering_e1=float((full_e1 >= 0).mean()), lr=main_lr,
                 measurements=initial.sizes["epoch"]),
    claims.claim("A3.opposite-walls", "in the initial phase the step along e1 reaches the far wall of the valley",
                 min(crossed_by_seed.values()) >= 0.75, fraction_crossed=crossed,
                 fraction_crossed_by_seed={f"seed {k}": v for k, v in crossed_by_seed.items()}, lr=main_lr,
                 valley_width_steps={f"t={t:g}": float(w.sel(section=1)) for t, w in widths.items()}),
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
