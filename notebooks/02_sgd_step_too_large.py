# %% [markdown] tags=[]
# # 02 — The SGD step is too large for the sharpest directions (finding A3)
#
# *Jastrzębski et al., On the Relation Between the Sharpest Directions of DNN Loss and the SGD Step Length, ICLR 2019, Sec. 4.*
#
# **A3.** Along the top Hessian eigenvectors e₁…e_K, one SGD step overshoots: moving by the step's own projection η(g·e₁)e₁ does not reduce the loss, while a fraction of it does; the loss cross-section along e₁ shows the step crossing the valley, from one wall to the other. Mini-batch gradients are far more aligned with the top eigenvectors than random directions are.
#
# We train SGD at three learning rates and, at every measurement, take the paper's three views of the current point θ with its top-5 eigenvectors and a few mini-batch gradients g:
# 1. **step decomposition** — the training-loss change after moving by γ′ × the step's component along eᵢ, γ′ ∈ {¼, ⅓, ½, 1, 2, 3, 4}, relative to the loss change of the full SGD step (a random unit direction is the control);
# 2. **cross-sections** — the loss along e₁, e₃, e₅ at offsets {0, ±¼, ±½, ±1, ±2, ±4, ±8, ±16} × the mean step length η|g·eᵢ|, and whether each step's component along eᵢ crosses the valley;
# 3. **alignment** — the mean |cos(g, eᵢ)| over the top 5, against its expected value for a random direction.

# %% tags=["parameters"]
profile = "quick"
dataset = None  # None: the profile's dataset
model = None  # None: the profile's model
learning_rates = None  # None: the profile's η grid
batch_size = None
epochs = None
seed = 0
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown] tags=[]
# ## Setup
#
# The **quick** profile: MNIST-1D (4,000 training examples, generated offline), the MLP of notebook 01 (two hidden layers of 100 ReLU units), plain SGD at S = 128 for 40 epochs, measured every 2 epochs. Losses along directions are the training loss on the run's fixed Hessian subset (1,000 examples), the same data as the Hessian; 8 mini-batch gradients per measurement. The η grid is notebook 01's: at this scale only these step sizes reach the regime where the step length limits the curvature. The **paper** profile is the paper's CIFAR-10 SimpleCNN setting with η ∈ {0.001, 0.01, 0.1}, for a GPU.
#
# The step decomposition and the cross-sections are read on the run with the largest η, where λ₁ has settled at the level set by the step length (notebook 01) within the quick budget, over the second half of training (the paper reads them after the early phase).

# %% tags=[]
import dataclasses

import matplotlib.pyplot as plt
import numpy as np

from sgdlab import claims, plots, results, summaries
from sgdlab.finding import Finding
from sgdlab.sweep import run_grid

finding = Finding.open(
    "02_sgd_step_too_large", profile,
    parameters=dict(dataset=dataset, model=model, learning_rates=learning_rates, batch_size=batch_size, epochs=epochs,
                    seed=seed, device=device, output_dir=output_dir, smoke=smoke),
    common=dict(batch_size=128, measure_every=2.0, top_k=5, probe_gradients=8,
                probes=("losses", "eigen", "step_decomposition", "cross_sections", "alignment")),
    quick=dict(dataset="mnist1d", model="mlp", learning_rates=[0.1, 0.2, 0.4], epochs=40, hessian_size=1000),
    paper=dict(dataset="cifar10", model="simplecnn", learning_rates=[0.001, 0.01, 0.1], epochs=100, hessian_size=2560,
               augment=True, holdout="validation", eval_size=5000),
    smoke=dict(train_size=256, epochs=2, measure_every=1.0, hessian_size=64, eval_size=None),
    cites=("jastrzebski2019",),
)
s = finding.settings
base = finding.config()
configs = {lr: dataclasses.replace(base, lr=lr) for lr in s.learning_rates}
print(f"{s.profile} profile: {s.model} on {s.dataset}, {s.epochs} epochs, η grid {s.learning_rates} at S={s.batch_size}")

# %% [markdown] tags=[]
# ## Run
#
# Runs come from the cache (`data/runs/`) when they were computed before; the rest run in parallel worker processes.

# %% tags=[]
by_lr = results.load_grid(run_grid(configs, progress=False), ["lr"])
results.save(by_lr, finding.out / "directions_by_lr.nc")
main_lr = max(s.learning_rates)
late = summaries.tail(by_lr.sel(lr=main_lr), 0.5)
print(f"{len(configs)} runs, {int((by_lr.diverged == 1).sum())} diverged; results in {finding.out}")
print(f"decomposition and cross-sections: η={main_lr:g}, {late.sizes['epoch']} measurements in the second half")
step_sharpness = (by_lr.lr * summaries.tail(by_lr["lambda"].sel(eig=1), 0.5)).median("epoch")
for lr, value in zip(by_lr.lr.values, step_sharpness.values):
    print(f"η={lr:g}: median ηλ1 over the second half {value:.2f}")

# %% [markdown] tags=[]
# ## Step decomposition
#
# For each direction and γ′, the median over the second half's measurements of the loss change relative to the full step (negative: the partial step lowers the loss; −1: it lowers it as much as the whole SGD step does). A symmetric-log axis, since overshooting grows quadratically with γ′.

# %% tags=[]
plots.use_style()
change = late["step_change"].median("epoch")
control = late["step_change_random"].median("epoch")
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
ax.set_title(f"Moving along one direction only — η={main_lr:g}, second half of training")
ax.legend(frameon=False, ncol=3)
caption = (f"Loss change from moving by γ′ × the SGD step's component along each top eigenvector (and a random "
           f"direction), relative to the full step's change; median over the second half of training at η={main_lr:g}.")
finding.save_figure(fig, "step_decomposition", caption=caption)
plt.show()

# %% [markdown] tags=[]
# ## Cross-sections along e₁, e₃, e₅
#
# The loss along each direction minus the loss at θ, averaged over the second half's measurements; each direction is oriented so that the mean SGD step points to positive offsets, and the offsets are in units of the mean step length η|g·eᵢ| (so the step's own component lies near offset 1, marked).

# %% tags=[]
section = (late["section_loss"] - late["section_loss"].sel(offset=0)).mean("epoch")
step_at = late["section_mean_step"].mean("epoch")
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
           f"second half of training at η={main_lr:g}; dashed: where the mean SGD step's component lands.")
finding.save_figure(fig, "cross_sections", caption=caption)
plt.show()
walls = late["opposite_walls"].mean("epoch")
for i in walls.section.values:
    print(f"e{i}: a step's component crosses the valley in {float(walls.sel(section=i)):.0%} of the mini-batches")

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
# Thresholds, fixed from the paper's statements before the runs:
# - **A3.step-too-large**: along e₁, the median (over the second half's measurements) of the loss change from the step's full component (γ′ = 1) is ≥ 0, and that from a quarter of it (γ′ = ¼) is < 0.
# - **A3.opposite-walls**: the step's component along e₁ crosses the valley — the loss falls along it at θ and rises along it at its end — for at least ¾ of the mini-batches, pooled over the second half's measurements (random signs would give about ¼: each of the two slopes is right half of the time).
# - **A3.alignment**: at every measurement after initialisation, in every run, the mean |cos| with the top 5 eigenvectors is at least 10 times its value for a random direction ("many times").
#
# Each fails on data where the full step component lowers the loss, where steps stay on one wall, or where any measurement is less than an order of magnitude above the random baseline.
#
# **What reproduces at the quick scale.** The gradients are strongly aligned with the top eigenvectors, as in the paper. Most steps cross the valley along e₁, but not robustly enough for the ¾ threshold: 70% of them at seed 0 and 69% at seed 1 (per measurement anywhere from 25% to 100%), so A3.opposite-walls is marked as a known failure at this scale; a statistic that is robust to the seed, as the paper states it (the valley's width in units of the step), is open work. The first statement does not hold here: the step's full component along e₁ lands on the opposite wall but, in the median measurement, *lower* than where it started, so it still lowers the loss (a quarter of it lowers it more). On a quadratic valley of curvature λ₁ the full component raises the loss only when ηλ₁ > 2 (with gradient noise, somewhat below 2); this small MLP settles below ηλ₁ = 2 at every η of the grid (printed under the run), so its steps overshoot the floor without climbing above their starting height. A3.step-too-large is therefore marked as a known failure at this scale; the paper profile checks it at the paper's scale.

# %% tags=[]
# NBVAL_CHECK_OUTPUT
full, quarter = late["step_change"].sel(eig=1, scale=1.0).median(), late["step_change"].sel(eig=1, scale=0.25).median()
crossed = float(late["opposite_walls"].sel(section=1).mean())
verdicts = [
    claims.claim("A3.step-too-large", "along e1 the full step component does not lower the loss; a quarter of it does",
                 full >= 0 and quarter < 0, median_change_full=float(full), median_change_quarter=float(quarter),
                 lr=main_lr),
    claims.claim("A3.opposite-walls", "the step along e1 crosses the valley from one wall to the other",
                 crossed >= 0.75, fraction_crossed=crossed, lr=main_lr),
    claims.claim("A3.alignment", "mini-batch gradients align with the top eigenvectors many times more than random",
                 float(ratio.min()) >= 10, min_ratio=float(ratio.min()), median_ratio=float(ratio.median())),
]
finding.report(verdicts, known_failures={"quick": {
    "A3.step-too-large": "at this scale SGD settles below ηλ1 = 2, where the full step along e1 "
                         "overshoots the floor but still lands lower than it started",
    "A3.opposite-walls": "not robust to the seed at this scale: 70% of steps cross the valley along e1 at seed 0 and "
                         "69% at seed 1, around the 75% threshold (per measurement 25-100%, standard error about 8 "
                         "points)"}})

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
