# %% [markdown]
# # 01 — Sharpness along the SGD trajectory (findings A1 and A2)
#
# *Jastrzębski et al., On the Relation Between the Sharpest Directions of DNN Loss and the SGD Step Length, ICLR 2019.*
#
# **A1.** The top eigenvalues λ₁…λ_K of the training-loss Hessian rise fast early in training, reach a peak, then decrease or stabilise.
#
# **A2.** The learning rate η and the batch size S set that peak from the very start: a higher η or a smaller S gives a lower peak of λ₁ and keeps SGD in flatter regions already in the early phase.
#
# We train one model per point of two grids — η at fixed S, and S at fixed η — measure λ₁…λ₅ by Lanczos on a fixed training subset (inference mode) along training, and check both claims.

# %% tags=["parameters"]
profile = "quick"
dataset = None  # None: the profile's dataset
model = None  # None: the profile's model
learning_rates = None  # None: the profile's η grid (at batch size `base_batch_size`)
batch_sizes = None  # None: the profile's S grid (at learning rate `base_lr`)
base_lr = None
base_batch_size = None
epochs = None
seed = 0
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown]
# ## Setup
#
# The **quick** profile is a faithful small version: MNIST-1D (4,000 training examples, generated offline), an MLP with two hidden layers of 100 ReLU units and Glorot initialisation, plain SGD, 200 epochs, λ₁…λ₅ on a fixed subset of 1,000 training examples. Its η grid is larger than the paper's because this small model's curvature stays low: only at these step sizes does the step length limit how sharp a region SGD can stay in. The **paper** profile is the paper's CIFAR-10 SimpleCNN setting (45k/5k split, augmentation, 2,560 examples for the Hessian), for a GPU.

# %%
import dataclasses

import matplotlib.pyplot as plt

from sgdlab import claims, plots, results, summaries
from sgdlab.finding import Finding
from sgdlab.sweep import run_grid

finding = Finding.open(
    "01_sharpness_evolution", profile,
    parameters=dict(dataset=dataset, model=model, learning_rates=learning_rates, batch_sizes=batch_sizes,
                    base_lr=base_lr, base_batch_size=base_batch_size, epochs=epochs, seed=seed, device=device,
                    output_dir=output_dir, smoke=smoke),
    common=dict(top_k=5),
    quick=dict(dataset="mnist1d", model="mlp", learning_rates=[0.1, 0.2, 0.4], batch_sizes=[32, 128, 512],
               base_lr=0.2, base_batch_size=128, epochs=200, measure_every=2.0, zoom_until=4.0, zoom_every=0.25,
               hessian_size=1000),
    paper=dict(dataset="cifar10", model="simplecnn", learning_rates=[0.001, 0.01, 0.1], batch_sizes=[32, 128, 1024],
               base_lr=0.05, base_batch_size=128, epochs=200, measure_every=1.0, zoom_until=1.0, zoom_every=0.1,
               hessian_size=2560, augment=True, holdout="validation", eval_size=5000),
    smoke=dict(train_size=256, epochs=1, measure_every=0.5, zoom_until=0.25, zoom_every=0.25, hessian_size=64,
               eval_size=256, batch_sizes=[32, 64, 128]),
    cites=("jastrzebski2019",),
)
s = finding.settings
base = finding.config()
configs = {(lr, s.base_batch_size): dataclasses.replace(base, lr=lr, batch_size=s.base_batch_size)
           for lr in s.learning_rates}
configs |= {(s.base_lr, b): dataclasses.replace(base, lr=s.base_lr, batch_size=b) for b in s.batch_sizes}
print(f"{s.profile} profile: {s.model} on {s.dataset}, {s.epochs} epochs")
print(f"η grid {s.learning_rates} at S={s.base_batch_size}; S grid {s.batch_sizes} at η={s.base_lr}")

# %% [markdown]
# ## Run
#
# Runs come from the cache (`data/runs/`) when they were computed before; the rest run in parallel worker processes. The two grids share their middle run; both are slices of one η × S grid.

# %%
grid = results.load_grid(run_grid(configs, progress=False), ["lr", "batch_size"])
by_lr, by_batch = grid.sel(batch_size=s.base_batch_size), grid.sel(lr=s.base_lr)
results.save(by_lr, finding.out / "sharpness_by_lr.nc")
results.save(by_batch, finding.out / "sharpness_by_batch_size.nc")
print(f"{len(configs)} runs, {int((grid.diverged == 1).sum())} diverged; results in {finding.out}")

# %% [markdown]
# ## λ₁ and λ₂ along training
#
# Epochs on a logarithmic axis (linear through the first quarter epoch), as in the paper's figures.

# %%
plots.use_style()
fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
for column, (grid, over, label) in enumerate([(by_lr, "lr", "η"), (by_batch, "batch_size", "S")]):
    for row, eig in enumerate([1, 2]):
        plots.curves(axes[row, column], grid, "lambda", over, eig=eig, label=label)
axes[0, 0].set_title(f"learning rate (S={s.base_batch_size})")
axes[0, 1].set_title(f"batch size (η={s.base_lr})")
fig.suptitle(f"Top Hessian eigenvalues along SGD — {s.model} on {s.dataset}")
caption = (f"λ₁ (top) and λ₂ (bottom) of the training-loss Hessian along SGD on {s.dataset}: "
           f"learning rates at S={s.base_batch_size} (left), batch sizes at η={s.base_lr} (right).")
finding.save_figure(fig, "sharpness_evolution", caption=caption)
plt.show()


# %% [markdown]
# **Reading the figure.** λ₁ and λ₂ climb within the first epochs, then level off at a height set by η and S, and fall once the training loss approaches zero. At the quick scale the largest batch (S = 512) is still climbing after 200 epochs: its "peak" is the largest value within the window, a lower bound on its true peak, which only strengthens the batch-size ordering. For that reason the rise-then-stop check (A1) is made on the η grid, at the paper's standard batch size.

# %% [markdown]
# ## Peaks and the early phase
#
# The peak is the largest λ₁ measured over the run; the early phase is the first 5% of training.

# %%
lambda1 = {"lr": by_lr["lambda"].sel(eig=1), "batch_size": by_batch["lambda"].sel(eig=1)}
peaks = {over: summaries.peak(lam)[0] for over, lam in lambda1.items()}
early = {over: summaries.at_fraction(lam, 0.05) for over, lam in lambda1.items()}


def rise_then_stop(lam):
    """λ₁ of one run: initial value, peak (and when), maxima before and within the last quarter."""
    peak, peak_epoch = summaries.peak(lam)
    late = lam.epoch > 0.75 * float(lam.epoch.max())
    return {"initial": float(summaries.measured(lam)[0]), "peak": float(peak), "peak_epoch": float(peak_epoch),
            "max_before_last_quarter": float(lam.where(~late).max()), "max_in_last_quarter": float(lam.where(late).max())}


table = {
    f"{label}={value:g}": {"peak λ1": float(peaks[over].sel({over: value})), "early λ1": float(early[over].sel({over: value}))}
    for over, label in [("lr", "η"), ("batch_size", "S")]
    for value in lambda1[over][over].values
}
for name, row in table.items():
    print(f"{name:>8}  peak λ1 {row['peak λ1']:7.2f}   λ1 at 5% of training {row['early λ1']:7.2f}")

# %% [markdown]
# ## Verdict
#
# - **A1.rise-then-stop** (each run of the η grid): λ₁ at its peak is at least twice λ₁ at initialisation, and over the last quarter of training it never exceeds its earlier maximum by more than 5% (it peaked, then fell or levelled off).
# - **A2.peak-vs-lr / A2.peak-vs-batch-size**: the peak of λ₁ falls strictly as η grows, and rises strictly with S (rank correlation exactly −1 and +1).
# - **A2.early-ordering**: the same two orderings already hold for λ₁ after 5% of training.
#
# Each check fails on data where a run is still climbing at the end, or where any pair of runs is out of order.

# %%
# NBVAL_CHECK_OUTPUT
shapes = {f"η={v:g}": rise_then_stop(lambda1["lr"].sel(lr=v)) for v in by_lr.lr.values}
rho_lr_peak = claims.rank_correlation(by_lr.lr, peaks["lr"])
rho_s_peak = claims.rank_correlation(by_batch.batch_size, peaks["batch_size"])
rho_lr_early = claims.rank_correlation(by_lr.lr, early["lr"])
rho_s_early = claims.rank_correlation(by_batch.batch_size, early["batch_size"])
verdicts = [
    claims.claim(
        "A1.rise-then-stop",
        "λ1 rises sharply early, peaks, then decreases or plateaus",
        all(shape["peak"] >= 2 * shape["initial"] and shape["max_in_last_quarter"] <= 1.05 * shape["max_before_last_quarter"]
            for shape in shapes.values()),
        runs=shapes,
    ),
    claims.claim("A2.peak-vs-lr", "a higher learning rate gives a lower peak of λ1", rho_lr_peak == -1,
                 spearman=rho_lr_peak, table=table),
    claims.claim("A2.peak-vs-batch-size", "a smaller batch size gives a lower peak of λ1", rho_s_peak == 1,
                 spearman=rho_s_peak, table=table),
    claims.claim("A2.early-ordering", "both orderings already hold early in training (5% of epochs)",
                 rho_lr_early == -1 and rho_s_early == 1, spearman_lr=rho_lr_early, spearman_batch=rho_s_early),
]
finding.report(verdicts)

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
