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
# The **quick** profile is a faithful small version: MNIST-1D (4,000 training examples, generated offline), sgdlab's 1-D `cnn` (two [conv 3 - ReLU - max-pool 2] blocks of 32 channels and a linear read-out, the analogue of the paper's SimpleCNN), plain SGD, 40 epochs, λ₁…λ₅ on a fixed unaugmented subset of 1,000 training examples, measured every 2 epochs and every quarter epoch over the first 4 (the zoomed early phase). The `cnn` generalises as the paper's convnets do (about 89-94% test accuracy here) and shows the paper's fast early rise, peaking within the first few epochs; the 15k-parameter MLP (`model="mlp"`) reaches about 60% test accuracy, overfits, and at η = 0.1 climbs slowly until epoch 78 of 200 before its curvature falls with the training loss, which is not the paper's pattern. The `cnn` at 40 epochs also costs less than the MLP at 200. Its η grid is larger than the paper's because at this scale only these step sizes make the step length limit how sharp a region SGD can stay in.
#
# The **paper** profile is the paper's CIFAR-10 SimpleCNN setting for a GPU: 45k/5k split, augmentation, η ∈ {0.001, 0.01, 0.1} at S = 128 and S ∈ {32, 128, 1024} at η = 0.05, 200 epochs, λ₁…λ₅ on 2,560 training examples, zoomed measurements every 512 examples over the first 2 epochs. Deviation: the Hessian subset is fixed and unaugmented (the original draws a fresh augmented sample each epoch).

# %%
import dataclasses

import matplotlib.pyplot as plt

from sgdlab import run_grid
from sgdlab.findings import Finding, claims, plots, summaries
from sgdlab.training import run_cache

finding = Finding.open(
    "01_sharpness_evolution", globals(),
    common=dict(top_k=5, batch_seeds=3),
    quick=dict(dataset="mnist1d", model="cnn", learning_rates=[0.1, 0.2, 0.4], batch_sizes=[32, 128, 512],
               base_lr=0.2, base_batch_size=128, epochs=40, measure_every=2.0, zoom_until=4.0, zoom_every=0.25,
               hessian_size=1000),
    paper=dict(dataset="cifar10", model="simplecnn", learning_rates=[0.001, 0.01, 0.1], batch_sizes=[32, 128, 1024],
               base_lr=0.05, base_batch_size=128, epochs=200, measure_every=1.0, zoom_until=2.0, zoom_every=512 / 45000,
               hessian_size=2560, augment=True, holdout="validation", eval_size=5000),
    smoke=dict(train_size=256, epochs=0.5, measure_every=0.25, zoom_until=0.0, hessian_size=32, top_k=2,
               eval_size=128, learning_rates=[0.01, 0.1], batch_sizes=[64, 128], base_lr=0.1, batch_seeds=2),
    cites=("jastrzebski2019",),
)
s = finding.settings
base = finding.config()
configs = {(lr, s.base_batch_size): dataclasses.replace(base, lr=lr, batch_size=s.base_batch_size)
           for lr in s.learning_rates}
configs |= {(s.base_lr, b): dataclasses.replace(base, lr=s.base_lr, batch_size=b) for b in s.batch_sizes}
batch_seeds = [seed + i for i in range(s.batch_seeds)]  # the S grid is also run at the next seed(s)
seed_configs = [dataclasses.replace(base, lr=s.base_lr, batch_size=b, seed=k) for k in batch_seeds for b in s.batch_sizes]
print(f"{s.profile} profile: {s.model} on {s.dataset}, {s.epochs} epochs")
print(f"η grid {s.learning_rates} at S={s.base_batch_size}; S grid {s.batch_sizes} at η={s.base_lr}")

# %% [markdown]
# ## Run
#
# Runs come from the cache (`data/runs/`) when they were computed before; the rest run in parallel worker processes. The two grids share their middle run; both are slices of one η × S grid.

# %%
grid = run_grid(configs, dims=["lr", "batch_size"], progress=False)
by_lr, by_batch = grid.sel(batch_size=s.base_batch_size), grid.sel(lr=s.base_lr)
by_seed = run_grid(seed_configs, dims=["seed", "batch_size"], progress=False)  # the S grid at every seed of batch_seeds
run_cache.save(by_lr, finding.out / "sharpness_by_lr.nc")
run_cache.save(by_batch, finding.out / "sharpness_by_batch_size.nc")
print(f"{len(configs)} runs, {int((grid.diverged == 1).sum())} diverged; results in {finding.out}")

# %% [markdown]
# ## λ₁ and λ₂ along training
#
# Epochs on a logarithmic axis (linear through the first quarter epoch), as in the paper's figures.

# %%
plots.use_style()
fig, axes = plots.figure(2, 2, width="page", aspect=0.62, sharex=True)
for column, (runs, over, label, title) in enumerate([(by_lr, "lr", r"learning rate $\eta$", f"$S={s.base_batch_size}$"),
                                                     (by_batch, "batch_size", "batch size $S$", f"$\\eta={s.base_lr:g}$")]):
    colors = plots.continuous_key(fig, axes[:, column], runs[over].values, label)
    for row, eig in enumerate([1, 2]):
        plots.curves(axes[row, column], runs, "lambda", over, eig=eig, colors=colors)
    axes[0, column].set_title(title)
    axes[0, column].set_xlabel("")
caption = (f"λ₁ (top) and λ₂ (bottom) of the training-loss Hessian along SGD, {s.model} on {s.dataset}: "
           f"learning rates at S={s.base_batch_size} (left), batch sizes at η={s.base_lr} (right); "
           "epochs on a logarithmic axis, linear through the first measurement.")
finding.save_figure(fig, "sharpness_evolution", caption=caption)
plt.show()


# %% [markdown]
# **Reading the figure.** λ₁ and λ₂ climb within the first epochs, then level off at a height set by η and S, and fall once the training loss approaches zero. The runs with the fewest steps per unit of progress — the smallest η and the largest S — rise more slowly: they are the ones to watch in the checks below.

# %% [markdown]
# ## Peaks and the early phase
#
# As in the paper, each λ₁ curve is first smoothed over 5 consecutive measurements. The peak is the largest smoothed λ₁ of the run; the **early phase** is the first 10% of training (4 of 40 epochs at the quick profile, the end of the zoomed measurements), and the early value is the smoothed λ₁ at its last measurement.

# %%
EARLY = 0.1  # the early phase: this fraction of training
lambda1 = {"lr": summaries.smoothed(by_lr["lambda"].sel(eig=1), 5),
           "batch_size": summaries.smoothed(by_batch["lambda"].sel(eig=1), 5)}
peaks = {over: summaries.peak(lam)[0] for over, lam in lambda1.items()}
early = {over: summaries.final(lam.where(lam.epoch <= EARLY * s.epochs)) for over, lam in lambda1.items()}


def rise_then_stop(lam):
    """Smoothed λ₁ of one run: initial value, peak, when 90% of the rise was covered (as a fraction of
    training), and the maxima before and within the last quarter."""
    peak, peak_epoch = summaries.peak(lam)
    late = lam.epoch > 0.75 * s.epochs
    return {"initial": float(summaries.initial(lam)), "peak": float(peak), "peak_epoch": float(peak_epoch),
            "rise_90_fraction": float(summaries.rise_time(lam, 0.9)) / s.epochs,
            "max_before_last_quarter": float(lam.where(~late).max()), "max_in_last_quarter": float(lam.where(late).max())}


def fast_rise_then_stop(shape):
    """A1 on one run: a rise to at least twice the initial value, 90% of it within the early phase, and
    no growth over the last quarter beyond 5% of the earlier maximum."""
    return (shape["peak"] >= 2 * shape["initial"] and shape["rise_90_fraction"] <= EARLY
            and shape["max_in_last_quarter"] <= 1.05 * shape["max_before_last_quarter"])


table = {
    f"{label}={value:g}": {"peak λ1": float(peaks[over].sel({over: value})), "early λ1": float(early[over].sel({over: value}))}
    for over, label in [("lr", "η"), ("batch_size", "S")]
    for value in lambda1[over][over].values
}
for name, row in table.items():
    print(f"{name:>8}  peak λ1 {row['peak λ1']:7.2f}   λ1 at the end of the early phase {row['early λ1']:7.2f}")
shapes = {f"η={v:g}": rise_then_stop(lambda1["lr"].sel(lr=v)) for v in by_lr.lr.values}
shapes |= {f"S={v:g}": rise_then_stop(lambda1["batch_size"].sel(batch_size=v)) for v in by_batch.batch_size.values}
for name, shape in shapes.items():
    print(f"{name:>8}  90% of the rise by {shape['rise_90_fraction']:.0%} of training; last-quarter maximum "
          f"{shape['max_in_last_quarter'] / shape['max_before_last_quarter']:.2f} × the earlier one")

# %% [markdown]
# ## Verdict
#
# Thresholds, fixed from the paper's words ("a fast increase in the early phase, and a decrease or stabilisation thereafter") before the runs:
# - **A1.rise-then-stop** (every run of both grids, smoothed λ₁): the peak is at least twice λ₁ at initialisation; 90% of the rise from initialisation to the peak is covered within the first 10% of training (fast and early); and over the last quarter λ₁ never exceeds its earlier maximum by more than 5% (no further growth). A run still climbing at the end fails the check: it is not evidence of the claim.
# - **A2.peak-vs-lr / A2.peak-vs-batch-size**: the peak of the smoothed λ₁ falls strictly as η grows, and rises strictly with S (rank correlation exactly −1 and +1). The S grid is run at this seed and at the next `batch_seeds − 1` seeds, and the batch-size ordering must hold at each: its S = 128 and S = 512 runs lie close, and an ordering that holds at one seed and not the next is not reproduced.
# - **A2.early-vs-lr / A2.early-vs-batch-size**: the same orderings already hold for the smoothed λ₁ at the end of the early phase (10% of training), the batch-size one at every seed of `batch_seeds`.
#
# Each check fails on data where a run rises slowly or late, is still climbing at the end, or where any pair of runs is out of order.
#
# **What reproduces at the quick scale** (seeds 0-3). The learning-rate orderings hold at every seed: the peak and the early value of λ₁ fall strictly with η (peaks 18.9 > 12.8 > 8.0 at seed 0, 19.9 > 13.4 > 8.4 at seed 1, 18.1 > 11.8 > 7.6 at seed 2, 19.2 > 11.8 > 8.0 at seed 3). The batch-size orderings do not reproduce: S = 32 is always the flattest, but S = 128 and S = 512 tie at this scale and their order flips with the seed (peaks 12.79 / 12.82 at seed 0, 13.44 / 13.09 at seed 1, 11.84 / 13.50 at seed 2, 11.75 / 13.63 at seed 3; early values 10.95 / 11.16, 12.03 / 12.45, 11.84 / 10.24, 9.84 / 10.41): the S = 512 run takes only 8 steps an epoch and is still rising through the early phase. Checked at three seeds, both fail, and they are stated as known failures. A1 does not fully reproduce either: the runs with η ≥ 0.2 at S ≤ 128 cover 90% of their rise within 2-8% of training, as the paper describes, and then fall or level off, but the two runs with the fewest effective steps rise more slowly — η = 0.1 covers 90% of its rise by 40%, 30%, 25% and 30% of training at seeds 0-3, and S = 512 by 15%, 10%, 25% and 20% — against the 10% threshold. With the MLP at 200 epochs A1 fails too (η = 0.1 peaks at epoch 78).
#
# **The paper's S grid, at a step that holds no run at its edge.** Here the S grid runs at η = 0.2 (2/η = 10), and its S = 128 and S = 512 peaks reach ηλ₁/2 ≈ 1.2-1.4: the step, not S, bounds them. Run as the paper runs it — S ∈ {32, 128, 1024} at η = 0.05 (2/η = 40, every peak at ηλ₁/2 ≤ 0.66) on 16,000 examples of the same generator (`dataset="mnist1d_20k"`), 20 epochs, early values cut before smoothing — the batch-size ordering is still not readable: S = 32 peaks lowest (λ₁ 18.3 and 17.9 at seeds 0 and 1), but S = 1024 is still climbing when training ends and its last value only reaches the height of the S = 128 peak (26.2 against 26.0 at seed 0, 25.6 against 26.5 at seed 1), and within the early phase (32,768 examples, 32 steps at S = 1024) its λ₁ has not yet left its initial value. The same runs make the η = 0.05 rise slow enough that the early learning-rate ordering flips at seed 1 (λ₁ 18.3 at η = 0.05 against 19.1 at η = 0.1). Deciding the S ordering needs S = 1024 trained to its peak, beyond a CPU budget at this width. The paper profile checks every claim at the paper's scale, where no claim is declared failing.

# %%
# NBVAL_CHECK_OUTPUT
KNOWN_FAILURES = {
    "A1.rise-then-stop": "the slowest runs rise late at this scale: 90% of the rise of the smoothed λ1 takes 40%, 30%, 25% "
                         "of training at η=0.1 and 15%, 10%, 25% at S=512 at seeds 0-2 (30% and 20% at seed 3), against the 10% threshold",
    "A2.peak-vs-batch-size": "S=128 and S=512 tie at this scale and their order flips with the seed (peaks 12.79/12.82, "
                             "13.44/13.09, 11.84/13.50 at seeds 0-2)",
    "A2.early-vs-batch-size": "S=128 and S=512 tie at this scale and their order flips with the seed (early values "
                              "10.95/11.16, 12.03/12.45, 11.84/10.24 at seeds 0-2)",
}
rho_lr_peak = claims.rank_correlation(by_lr.lr, peaks["lr"])
lambda1_by_seed = summaries.smoothed(by_seed["lambda"].sel(eig=1), 5)
peaks_by_seed = summaries.peak(lambda1_by_seed)[0]
early_by_seed = summaries.final(lambda1_by_seed.where(lambda1_by_seed.epoch <= EARLY * s.epochs))
rho_s_peak = {f"seed {k}": claims.rank_correlation(by_seed.batch_size, peaks_by_seed.sel(seed=k)) for k in batch_seeds}
rho_s_early = {f"seed {k}": claims.rank_correlation(by_seed.batch_size, early_by_seed.sel(seed=k)) for k in batch_seeds}
rho_lr_early = claims.rank_correlation(by_lr.lr, early["lr"])
verdicts = [
    claims.claim(
        "A1.rise-then-stop",
        "λ1 rises fast in the early phase (90% of the rise within 10% of training), then stops growing",
        all(fast_rise_then_stop(shape) for shape in shapes.values()), runs=shapes,
    ),
    claims.claim("A2.peak-vs-lr", "a higher learning rate gives a lower peak of λ1", rho_lr_peak == -1,
                 spearman=rho_lr_peak, table=table),
    claims.claim("A2.peak-vs-batch-size", "a smaller batch size gives a lower peak of λ1",
                 all(rho == 1 for rho in rho_s_peak.values()), spearman_by_seed=rho_s_peak,
                 peaks_by_seed={f"seed {k}": peaks_by_seed.sel(seed=k).values for k in batch_seeds}),
    claims.claim("A2.early-vs-lr", "the learning-rate ordering already holds at the end of the early phase",
                 rho_lr_early == -1, spearman=rho_lr_early, early_fraction=EARLY),
    claims.claim("A2.early-vs-batch-size", "the batch-size ordering already holds at the end of the early phase",
                 all(rho == 1 for rho in rho_s_early.values()), spearman_by_seed=rho_s_early,
                 early_by_seed={f"seed {k}": early_by_seed.sel(seed=k).values for k in batch_seeds},
                 early_fraction=EARLY),
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
