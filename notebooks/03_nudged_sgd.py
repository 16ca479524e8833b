# %% [markdown] tags=[]
# # 03 — Nudged SGD: steering into sharper or flatter regions (finding A4)
#
# *Jastrzębski et al., On the Relation Between the Sharpest Directions of DNN Loss and the SGD Step Length, ICLR 2019, Sec. 5.*
#
# **A4.** Nudged SGD (NSGD) takes the step Δ = −η (g − (1−γ) V Vᵀ g), with V the top-K Hessian eigenvectors: the learning rate along the sharpest directions becomes γη. With γ < 1 training reaches much sharper regions (up to an order of magnitude higher λ₁ or Hessian norm than SGD) while training faster and generalising as well or better; with γ > 1 it goes to flatter regions. So the endpoint's sharpness alone does not predict generalisation.
#
# We train Nudged SGD (`sgdlab.optim.Nudged`) with γ ∈ {0.01, 0.1, 1 (= SGD), 5} and two seeds, plus an ablation over K at the smallest γ, and compare the endpoints.

# %% tags=["parameters"]
profile = "quick"
dataset = None  # None: the profile's dataset
model = None  # None: the profile's model
nudges = None  # None: the profile's γ grid
seeds = None  # None: the profile's seeds
lr = None
nudge_k = None
epochs = None
seed = 0  # the first seed; the profile's seeds are offsets from it
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown] tags=[]
# ## Setup
#
# The **quick** profile: MNIST-1D with a seeded 3,600/400 training/validation split (the real 1,000-example test set is kept apart and measured by the `test_set` probe), sgdlab's 1-D `cnn` (two convolutions of 32 channels, max-pooling, a dense layer; the analogue of the paper's SimpleCNN), S = 128, η = 0.1, 30 epochs, V = the top K = 10 eigenvectors of the Hessian on a fixed subset of 256 training examples, refreshed once per epoch (29 steps) by warm-started Lanczos, as in the paper. The ablation trains γ = 0.01 with K = 1 besides 10. The `cnn` is the quick model because it generalises like the paper's convnets (about 90% test accuracy on MNIST-1D) where the 15k-parameter MLP of notebook 01 reaches about 60% and overfits; on the MLP (`-p model mlp -p lr 0.4`) only the curvature side of the finding could be read. η = 0.1 keeps SGD's sharpness near its stability limit 2/η (the mechanism the nudge acts on) while γ = 5 (a step of 5η along the top directions) still trains; at η = 0.4 γ = 5 collapses to chance.
#
# The **paper** profile is the paper's SimpleCNN-medium on CIFAR-10 with its 45k/5k split and augmentation (η = 0.01, K = 10, γ ∈ {0.01, 0.1, 1, 5}, two seeds), for a GPU. Its schedule is the original code's: up to 2,000 epochs, the learning rate cut ×0.1 after 100 epochs without a lower validation loss (`sgdlab.training.schedules.ReduceOnPlateau`), early stopping after 200 epochs without a higher validation accuracy (`EarlyStopping`), and the model kept is the best-validation checkpoint: validation and test accuracy are measured every epoch, so the test accuracy at the epoch of best validation accuracy is that checkpoint's. **Deviations:** The Hessian is that of a fixed unaugmented training subset (the paper draws a fresh augmented sample); sharpness is λ₁ by Lanczos rather than the Frobenius norm of the paper's table.
#
# Measured as the paper's table: **test accuracy at the best-validation checkpoint**; **validation accuracy at a fixed early epoch** (the paper's epoch 50; here epoch 5 of 30, in the steep part of training) for speed; **sharpness**, λ₁ at the end (the mean over the last quarter of training: λ₁ fluctuates between measurements); the final training loss and the distance from initialisation. Every comparison with SGD (γ = 1) is **paired by seed**: each nudged run against the SGD run of the same seed (same initialisation, data split and batch order).

# %% tags=[]
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sgdlab import run_grid
from sgdlab.findings import Finding, claims, plots, summaries
from sgdlab.optim import Nudged
from sgdlab.task import data
from sgdlab.training import run_cache
from sgdlab.training.clock import Every
from sgdlab.training.schedules import EarlyStopping, ReduceOnPlateau

finding = Finding.open(
    "03_nudged_sgd", globals(),
    common=dict(nudges=[0.01, 0.1, 1.0, 5.0], seeds=2, nudge_k=10, batch_size=128, holdout="validation",
                measure_every=1.0, eigen_every=2.0, top_k=5,
                probes=("losses", "test_set", "eigen", "distance_from_init")),
    quick=dict(dataset="mnist1d", model="cnn", lr=0.1, epochs=30, refresh=29, hessian_size=256, early_epoch=5.0,
               ablation_k=[1]),
    paper=dict(dataset="cifar10", model="simplecnn_medium", lr=0.01, epochs=2000, refresh=352, hessian_size=2560,
               augment=True, eval_size=5000, early_epoch=50.0, ablation_k=[1, 3, 5, 20], eigen_every=10.0,
               lr_plateau=ReduceOnPlateau(monitor="test_loss", patience=100, factor=0.1),
               early_stopping=EarlyStopping(monitor="test_acc", patience=200)),
    smoke=dict(train_size=128, epochs=1, eigen_every=1.0, hessian_size=8, eval_size=None, seeds=1, refresh=1,
               early_epoch=1.0, nudges=[0.1, 1.0, 5.0], nudge_k=2, top_k=2, ablation_k=[1],
               model_options={"filters": 8} if profile == "paper" else {}),  # a narrow SimpleCNN-medium
    cites=("jastrzebski2019",),
)
s = finding.settings
base = finding.config(every={"eigen": Every(epochs=s.eigen_every), "distance_from_init": Every(epochs=s.eigen_every)})
run_seeds = [seed + i for i in range(s.seeds)]
smallest = min(s.nudges)


def nudged(gamma, k=s.nudge_k, run_seed=seed):
    """The base run with Nudged SGD at γ = ``gamma`` along the top ``k`` eigenvectors."""
    return dataclasses.replace(base, optimizer=Nudged(gamma=gamma, k=k, refresh=s.refresh), seed=run_seed)


grid = [nudged(g, run_seed=r) for r in run_seeds for g in s.nudges]
ablation = [nudged(smallest, k) for k in [*s.ablation_k, s.nudge_k]]
print(f"{s.profile} profile: {s.model} on {s.dataset} (validation split), η={s.lr}, K={s.nudge_k}, {s.epochs} epochs; "
      f"γ grid {s.nudges}, seeds {run_seeds}; ablation K={s.ablation_k}")

# %% [markdown] tags=[]
# ## Run
#
# Runs come from the cache (`data/runs/`) when they were computed before; the rest run in parallel worker processes. The ablation's run at K=10 is the grid's run at the smallest γ and the first seed.

# %% tags=[]
by_gamma = run_grid(grid, dims=["seed", "optimizer.gamma"], progress=False)
by_k = run_grid(ablation, dims=["optimizer.k"], progress=False)
run_cache.save(by_gamma, finding.out / "nudged_by_gamma.nc")
run_cache.save(by_k, finding.out / "nudged_by_k.nc")
diverged = int((by_gamma.diverged == 1).sum() + (by_k.diverged == 1).sum())
print(f"{len(grid) + len(s.ablation_k)} runs, {diverged} diverged; results in {finding.out}")

# %% [markdown] tags=[]
# ## λ₁, training loss and validation accuracy along training

# %% tags=[]
plots.use_style()
fig, axes = plots.figure(2, 2, width="page", aspect=0.6)
mean = by_gamma.mean("seed")
others = iter(plots.distinct_colours(mean.sizes["gamma"]))
colours = ["k" if g == 1 else next(others) for g in mean.gamma.values]  # SGD (γ = 1) in black
plots.curves(axes[0, 0], mean, "lambda", "gamma", eig=1, label="$\\gamma$", log_epochs=False, colors=colours)
plots.curves(axes[0, 1], mean, "train_loss", "gamma", label="$\\gamma$", log_epochs=False, colors=colours)
plots.curves(axes[1, 0], mean, "test_acc", "gamma", log_epochs=False, colors=colours)
plots.curves(axes[1, 1], by_k, "lambda", "k", eig=1, label="$K$", log_epochs=False,
             colors=plots.distinct_colours(3 + by_k.sizes["k"])[3:])
axes[0, 1].legend(*axes[0, 0].get_legend_handles_labels(), frameon=False, fontsize=6.5, title=f"nudge, $K={s.nudge_k}$",
                  loc="lower left")
axes[1, 1].legend(frameon=False, fontsize=6.5, loc="lower right")
for ax in (axes[0, 0], axes[0, 1], axes[1, 1]):
    plots.plain_log(ax)
for ax in (axes[0, 0], axes[1, 1]):
    ax.set_ylabel("sharpness $\\lambda_1$")
axes[1, 0].set_ylabel("validation accuracy")
axes[1, 0].axvline(s.early_epoch, color="0.6", lw=0.8)
axes[0, 0].set_title(f"sharpness (mean of {len(run_seeds)} seeds; black: SGD)")
axes[0, 1].set_title("training loss")
axes[1, 0].set_title("validation accuracy (grey: the speed epoch)")
axes[1, 1].set_title(f"ablation over $K$, $\\gamma={smallest:g}$ (seed {seed})")
caption = (f"Nudged SGD on {s.dataset}, η={s.lr:g}: λ₁, training loss and validation accuracy for each γ "
           f"(mean of {len(run_seeds)} seeds; γ=1 is SGD), and λ₁ for K top eigenvectors at γ={smallest:g} (right).")
finding.save_figure(fig, "nudged_sgd", caption=caption)
plt.show()


# %% [markdown] tags=[]
# ## The endpoints, as in the paper's table

# %% tags=[]
def endpoint(ds):
    """Per run: λ₁ at the end (mean over the last quarter of the run's own epochs), test accuracy at the best-validation checkpoint,
    validation accuracy at the speed epoch, final training loss and distance from initialisation."""
    val = summaries.measured(ds["test_acc"])
    lambda1 = ds["lambda"].sel(eig=1)
    end = summaries.final(lambda1.epoch.where(lambda1.notnull()))  # each run's own end (early stopping)
    return xr.Dataset({
        "lambda1_end": lambda1.where(lambda1.epoch >= 0.75 * end).mean("epoch"),
        "best_val_acc": val.max("epoch"),
        "best_val_epoch": summaries.peak(val)[1],
        "test_at_best_val": summaries.at_best(ds["test_set_acc"], ds["test_acc"]),
        "early_val_acc": val.sel(epoch=s.early_epoch, method="nearest").drop_vars("epoch"),
        "final_train_loss": summaries.final(ds["train_loss"]),
        "distance_from_init": summaries.final(ds["distance_from_init"]),
    })


table = endpoint(by_gamma)
means = table.mean("seed")
paired = table - table.sel(gamma=1.0)  # each run against SGD at its own seed
prepared = data.load(base.dataset, train_size=base.train_size, holdout=base.holdout, seed=seed)
n_val, n_test = len(prepared.y_test), len(prepared.test_set[1])
print(f"{'γ':>6} {'λ1 end':>8} {'test @ best val':>16} {'val acc @ ep ' + format(s.early_epoch, 'g'):>15} "
      f"{'final train loss':>17} {'‖θ−θ0‖':>8}   (means over seeds)")
for g in means.gamma.values:
    row = means.sel(gamma=g)
    print(f"{g:6g} {float(row.lambda1_end):8.2f} {float(row.test_at_best_val):16.3f} {float(row.early_val_acc):15.3f} "
          f"{float(row.final_train_loss):17.4f} {float(row.distance_from_init):8.2f}")
ablation_table = endpoint(by_k)
print("ablation, γ =", smallest, "".join(f"  K={k}: λ1 end {float(v):.2f}"
                                        for k, v in zip(by_k.k.values, ablation_table.lambda1_end)))
ratio = table.lambda1_end / table.lambda1_end.sel(gamma=1.0)
for g in means.gamma.values:
    print(f"γ={g:<5g} paired with SGD per seed: λ1 ratio {', '.join(f'{float(r):.2f}' for r in ratio.sel(gamma=g))}; "
          f"Δ test @ best val {', '.join(f'{float(d):+.3f}' for d in paired.test_at_best_val.sel(gamma=g))}; "
          f"Δ val acc @ speed epoch {', '.join(f'{float(d):+.3f}' for d in paired.early_val_acc.sel(gamma=g))}")

# %% [markdown] tags=[]
# ## Verdict
#
# Thresholds, fixed from the paper's statements before the runs; SGD is γ = 1, and every comparison pairs a nudged run with the SGD run of its seed:
# - **A4.sharper** ("much sharper regions, up to an order of magnitude"): at the smallest γ the geometric mean over seeds of the paired λ₁ ratio (nudged / SGD, at the end) is at least 2, and every γ < 1 ends above SGD at every seed.
# - **A4.as-fast** ("trains faster"): for every γ < 1 the mean over seeds of the paired difference in validation accuracy at the speed epoch is not below −1 standard error of the validation set (√(p(1−p)/n) at SGD's accuracy): no slower than SGD within what the validation set can resolve. Whether it is strictly faster is reported as a number.
# - **A4.generalises** ("generalise as well or better"): for every γ < 1 the mean over seeds of the paired difference in test accuracy at the best-validation checkpoint is not below −1 standard error of the test set (at SGD's accuracy).
# - **A4.flatter** ("γ > 1 goes to flatter regions"): every γ > 1 ends with a lower λ₁ than SGD at every seed.
#
# Each fails on data where nudging does not change the endpoint's sharpness in the stated direction, or costs speed or test accuracy beyond the resolution of the held-out sets.
#
# **What reproduces at the quick scale.** All four claims hold with the `cnn`, at seeds 0–3 (each seed's notebook pairs that seed with the next one; see the table printed above the verdict for the numbers of this run). At seed 0, γ = 0.01 ends 3.4× and 2.4× sharper than SGD (seeds 0 and 1; λ₁ ≈ 54 against 19), short of the paper's order of magnitude, and the gap grows with K (K = 1 gives 22, K = 10 gives 62); γ < 1 reaches a higher validation accuracy at epoch 5 (+0.025 to +0.035, paired) and the same test accuracy at the best-validation checkpoint (paired differences −0.012 to +0.006, within one test-set standard error of 0.012); γ = 5 ends flatter (λ₁ ≈ 6) and also slower and worse (−0.04 to −0.08 test accuracy), as in the paper's table.

# %% tags=[]
# NBVAL_CHECK_OUTPUT
below = [g for g in s.nudges if g < 1]
above = [g for g in s.nudges if g > 1]
sgd = means.sel(gamma=1.0)
se_val = claims.accuracy_standard_error(float(sgd.early_val_acc), n_val)
se_test = claims.accuracy_standard_error(float(sgd.test_at_best_val), n_test)
paired_mean = paired.mean("seed")
geometric_ratio = float(np.exp(np.log(ratio.sel(gamma=smallest)).mean()))


def per_gamma(da, gammas):
    return {f"{g:g}": da.sel(gamma=g).values.tolist() for g in gammas}


verdicts = [
    claims.claim("A4.sharper", "gamma < 1 ends in much sharper regions than SGD (paired by seed)",
                 geometric_ratio >= 2 and bool((ratio.sel(gamma=below) > 1).all()),
                 lambda1_ratio_per_seed=per_gamma(ratio, below), geometric_mean_ratio_smallest=geometric_ratio),
    claims.claim("A4.as-fast", "gamma < 1 trains at least as fast as SGD (early validation accuracy, paired)",
                 bool((paired_mean.early_val_acc.sel(gamma=below) >= -se_val).all()),
                 mean_paired_difference=per_gamma(paired_mean.early_val_acc, below), validation_se=se_val,
                 early_epoch=s.early_epoch, strictly_faster=bool((paired_mean.early_val_acc.sel(gamma=below) > 0).all())),
    claims.claim("A4.generalises", "gamma < 1 generalises as well as SGD or better (test accuracy at the best-validation "
                 "checkpoint, paired)", bool((paired_mean.test_at_best_val.sel(gamma=below) >= -se_test).all()),
                 mean_paired_difference=per_gamma(paired_mean.test_at_best_val, below), test_se=se_test,
                 test_at_best_val=per_gamma(means.test_at_best_val, s.nudges)),
    claims.claim("A4.flatter", "gamma > 1 ends in flatter regions than SGD (paired by seed)",
                 bool((ratio.sel(gamma=above) < 1).all()), lambda1_ratio_per_seed=per_gamma(ratio, above)),
]
finding.report(verdicts, known_failures={"quick": {}})

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
