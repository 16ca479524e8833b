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
min_steps = None  # None: the profile's; a run of fewer steps in `epochs` trains on until it has taken this many
seed = 0
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown]
# ## Setup
#
# The **quick** profile is a small version of the paper's setting: MNIST-1D at 20,000 generated examples (16,000 for training; the standard set's 4,000 are too few for a batch of 1,024 to take enough steps before smaller batches have learnt the set), sgdlab's 1-D `cnn` (two [conv 3 - ReLU - max-pool 2] blocks of 32 channels and a linear read-out, the analogue of the paper's SimpleCNN), plain SGD for 327,680 examples (20.5 epochs), λ₁…λ₅ on a fixed unaugmented subset of 1,000 training examples, measured every 16,384 examples (about an epoch) and every 2,048 examples over the first 32,768 (the zoomed early phase, about 2 epochs): 2,048 is a whole number of steps at every batch size of the grid, so every run is measured at the same examples seen, evenly spaced. The S grid is the paper's, S ∈ {32, 128, 1024} at η = 0.05, where 2/η = 40 lies well above the peaks of S = 32 and S = 128 (ηλ₁/2 is printed for every run). In 20.5 epochs a batch of 1,024 takes 320 steps and its λ₁ is still climbing, so every run takes at least 1,280 steps (`min_steps`): S = 1024 trains for 82 epochs, the other runs for 20.5. The η grid at S = 128 is η ∈ {0.1, 0.2, 0.4} rather than the paper's {0.001, 0.01, 0.1}: these are the steps whose length holds λ₁ near 2/η on this model within a CPU-sized run, the regime of the paper's largest η; smaller steps rise too slowly per example seen to be compared early (the S grid's η = 0.05, S = 128 run, printed with it, shows this). The 15k-parameter MLP (`model="mlp"`) and the earlier settings stay reachable by parameter.
#
# The **paper** profile is the paper's CIFAR-10 SimpleCNN setting for a GPU: 45k/5k split, augmentation, η ∈ {0.001, 0.01, 0.1} at S = 128 and S ∈ {32, 128, 1024} at η = 0.05, 200 epochs, λ₁…λ₅ on 2,560 training examples, zoomed measurements every 512 examples over the first 2 epochs. Deviation: the Hessian subset is fixed and unaugmented (the original draws a fresh augmented sample each epoch).

# %%
import dataclasses

import matplotlib.pyplot as plt

import sgdlab
from sgdlab import run_grid
from sgdlab.findings import Finding, claims, plots, summaries
from sgdlab.training import run_cache

finding = Finding.open(
    "01_sharpness_evolution", globals(),
    common=dict(top_k=5, min_steps=0),
    quick=dict(dataset="mnist1d_20k", model="cnn", learning_rates=[0.1, 0.2, 0.4], batch_sizes=[32, 128, 1024],
               base_lr=0.05, base_batch_size=128, epochs=160 * 2048 / 16000, min_steps=1280,
               measure_every=8 * 2048 / 16000, zoom_until=16 * 2048 / 16000, zoom_every=2048 / 16000,
               hessian_size=1000),
    paper=dict(dataset="cifar10", model="simplecnn", learning_rates=[0.001, 0.01, 0.1], batch_sizes=[32, 128, 1024],
               base_lr=0.05, base_batch_size=128, epochs=200, measure_every=88 * 512 / 45000, zoom_until=2.0,
               zoom_every=512 / 45000, hessian_size=2560, augment=True, holdout="validation", eval_size=5000),
    smoke=dict(train_size=256, epochs=0.5, measure_every=0.25, zoom_until=0.25, zoom_every=0.125, hessian_size=32,
               top_k=2, eval_size=128, learning_rates=[0.01, 0.1], batch_sizes=[64, 128], base_lr=0.1, min_steps=0),
    cites=("jastrzebski2019",),
)
s = finding.settings
base = finding.config()
n_train = len(sgdlab.load(base.dataset, train_size=base.train_size, holdout=base.holdout, seed=base.seed).y_train)


def trained(lr, batch_size):
    """One run: `epochs` epochs, or as many as `min_steps` steps take at this batch size if that is more."""
    return dataclasses.replace(base, lr=lr, batch_size=batch_size,
                               epochs=max(s.epochs, s.min_steps * batch_size / n_train))


configs = {(lr, s.base_batch_size): trained(lr, s.base_batch_size) for lr in s.learning_rates}
configs |= {(s.base_lr, b): trained(s.base_lr, b) for b in s.batch_sizes}
print(f"{s.profile} profile: {s.model} on {s.dataset} ({n_train:,} training examples), {s.epochs:g} epochs "
      f"and at least {s.min_steps} steps a run")
print(f"η grid {s.learning_rates} at S={s.base_batch_size}; S grid {s.batch_sizes} at η={s.base_lr}")
for (lr, b), config in configs.items():
    print(f"  η={lr:<5g} S={b:<5d} {config.epochs:6.2f} epochs, {round(config.epochs * n_train / b):,} steps")

# %% [markdown]
# ## Run
#
# Runs come from the cache (`data/runs/`) when they were computed before; the rest run in parallel worker processes. Both grids are slices of one η × S grid.

# %%
grid = run_grid(configs, dims=["lr", "batch_size"], progress=False)
by_lr = grid.sel(batch_size=s.base_batch_size, lr=s.learning_rates)
by_batch = grid.sel(lr=s.base_lr, batch_size=s.batch_sizes)
run_cache.save(by_lr, finding.out / "sharpness_by_lr.nc")
run_cache.save(by_batch, finding.out / "sharpness_by_batch_size.nc")
print(f"{len(configs)} runs, {int((grid.diverged == 1).sum())} diverged; results in {finding.out}")

# %% [markdown]
# ## λ₁ and λ₂ along training
#
# Epochs on a logarithmic axis (linear through the first measurement), as in the paper's figures.

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
# ## Peaks and the early phase
#
# As in the paper, each λ₁ curve is smoothed over 5 consecutive measurements. The peak is the largest smoothed λ₁ of the run, and ηλ₁/2 at the peak says how close the run came to the limit 2/η that the step length sets. A run is **still rising** when its smoothed λ₁ over the last quarter of its training exceeds its earlier maximum by more than 5%; its largest value is then only a lower bound of its peak. The **early phase** is the zoomed window, the first 10% of the 20.5 epochs (the first 32,768 examples at the quick profile, the same examples for every run), measured at even spacing; the early value is λ₁ at its end, the curve being cut to the window first and then smoothed, so that no later reading enters it. For the rise, each run's training loss says whether it reached a plateau (over the last quarter of its training it fell by at most a tenth of its whole fall), and the rise is also stated in examples seen.

# %%
EARLY = 0.1  # the early phase: this fraction of training (the zoomed window)
lambda1 = {"lr": by_lr["lambda"].sel(eig=1), "batch_size": by_batch["lambda"].sel(eig=1)}
smooth = {over: summaries.smoothed(lam, 5) for over, lam in lambda1.items()}
peaks = {over: summaries.peak(lam)[0] for over, lam in smooth.items()}
early = {over: summaries.early_value(lam, EARLY * s.epochs) for over, lam in lambda1.items()}
losses = {"lr": by_lr["train_loss"], "batch_size": by_batch["train_loss"]}
rising = {over: summaries.still_rising(lam) for over, lam in smooth.items()}  # > 5% growth over its last quarter


def rise_then_stop(over, value):
    """Smoothed λ₁ of one run: initial value, peak, ηλ₁/2 at the peak, when 90% of the rise was covered
    (fraction of the run's training and examples seen), whether it still grows over its last quarter, and
    whether the training loss reached a plateau."""
    lam, lr = smooth[over].sel({over: value}).dropna("epoch"), value if over == "lr" else s.base_lr
    peak, peak_epoch = summaries.peak(lam)
    rise = float(summaries.rise_time(lam, 0.9))
    return {"initial": float(summaries.initial(lam)), "peak": float(peak), "peak_epoch": float(peak_epoch),
            "edge_fraction": lr * float(peak) / 2, "rise_90_fraction": rise / float(lam.epoch[-1]),
            "rise_90_epoch": rise, "still_rising": bool(rising[over].sel({over: value})),
            "plateau": bool(summaries.plateaued(losses[over].sel({over: value}).dropna("epoch")))}


def fast_rise_then_stop(shape):
    """A1 on one run: a rise to at least twice the initial value, 90% of it within the early phase, and
    no growth over the last quarter beyond 5% of the earlier maximum."""
    return shape["peak"] >= 2 * shape["initial"] and shape["rise_90_fraction"] <= EARLY and not shape["still_rising"]


shapes = {f"η={v:g}": rise_then_stop("lr", v) for v in by_lr.lr.values}
shapes |= {f"S={v:g}": rise_then_stop("batch_size", v) for v in by_batch.batch_size.values}
table = {f"{label}={value:g}": {"peak λ1": float(peaks[over].sel({over: value})),
                                "early λ1": float(early[over].sel({over: value}))}
         for over, label in [("lr", "η"), ("batch_size", "S")] for value in lambda1[over][over].values}
for name, row in table.items():
    shape = shapes[name]
    print(f"{name:>8}  peak λ1 {row['peak λ1']:6.2f} (ηλ1/2 = {shape['edge_fraction']:.2f})   "
          f"λ1 at the end of the early phase {row['early λ1']:6.2f}")
for name, shape in shapes.items():
    print(f"{name:>8}  {'loss at a plateau' if shape['plateau'] else 'loss still falling'}; 90% of the rise by "
          f"{shape['rise_90_fraction']:.0%} of its training ({shape['rise_90_epoch'] * n_train:,.0f} examples seen); "
          f"λ1 {'still rising' if shape['still_rising'] else 'no longer rising'} over its last quarter")

# %% [markdown]
# ## Verdict
#
# Thresholds, fixed from the paper's words ("a fast increase in the early phase, and a decrease or stabilisation thereafter"; "a higher learning rate or a smaller batch size … flatter regions already early") before the runs:
# - **A1.rise-then-stop**, judged on the runs of both grids whose training loss reached a plateau, as the paper's 300–400-epoch runs do (at least one such run is needed; the others are reported above with the rise in examples seen): the peak of the smoothed λ₁ is at least twice its value at initialisation; 90% of the rise from initialisation to the peak is covered within the first 10% of the run's training (fast and early); and λ₁ is not still rising over its last quarter (no further growth beyond 5%).
# - **A2.peak-vs-lr / A2.peak-vs-batch-size**: the peak of the smoothed λ₁ falls strictly as η grows, and rises strictly with S, every adjacent pair decided by what was measured (`summaries.peaks_ordered`): the run claimed to peak lower must have peaked (not still rising) and lie strictly below the other, whose largest value, if it is still rising, is a lower bound of its peak.
# - **A2.early-vs-lr / A2.early-vs-batch-size**: the same orderings already hold for λ₁ at the end of the early phase (the first 10% of training, cut before smoothing).
#
# The regime the S grid must be in is reported with it: ηλ₁/2 at each run's peak (1 is the limit 2/η). Each check fails on data where a run rises slowly or late, where the run claimed to peak lower is still climbing at the end, or where any pair of runs is out of order.
#
# **What reproduces at the quick scale** (seeds 0–3; this seed's numbers are printed above). The learning-rate orderings reproduce, at the peak and at the end of the early phase: every run of the η grid is held at or near its limit 2/η by its step (ηλ₁/2 of 0.85 or more at the peak), and a larger step holds λ₁ lower from the first epochs on. The batch-size ordering of the peaks reproduces: S = 32 and S = 128 peak well below 2/η (ηλ₁/2 under 0.7), S = 32 lower, and S = 1024 climbs in its 1,280 steps far past the S = 128 peak, up to about 2/η, its loss not yet at a plateau; its largest value, a lower bound of its peak while it still rises, already decides the order. With half the steps (`min_steps=640`) it is still below the S = 128 peak at some seeds and the order is undecided. The early batch-size ordering does not reproduce: within the early phase (32,768 examples) a batch of 1,024 takes 32 steps and its λ₁ has not left its value at initialisation, while the smaller batches have risen most of the way to their peaks; measured per example seen, as the paper measures it, the largest batch starts its rise late. Below the edge the same slowness blurs the early learning-rate ordering: the S grid's S = 128 run, at η = 0.05, ends the early phase close to the η = 0.1 run, above or below it with the seed, while it is still rising (it covers 90% of its rise only after a quarter of training). A1 holds for the runs that rise within a few thousand steps (η ≥ 0.2 at S = 128, and S = 32), which cover 90% of their rise within the early phase and then fall or level off; it fails for the slowest run trained to a plateau (η = 0.05, S = 128), which covers 90% of its rise only after a quarter of training or more, and at some seeds for η = 0.1, just past the early phase. Both failures are stated as known failures.

# %%
# NBVAL_CHECK_OUTPUT
KNOWN_FAILURES = {
    "A1.rise-then-stop": "the slowest runs trained to a plateau (η=0.05 at S=128 at every seed, η=0.1 at some) cover 90% "
                         "of their rise only after the early phase",
    "A2.early-vs-batch-size": "within the early phase the batch of 1,024 takes 32 steps and its λ1 has not yet risen from its initial value",
}
rho = {over: claims.rank_correlation(lambda1[over][over], early[over]) for over in ("lr", "batch_size")}
ordered = {over: summaries.peaks_ordered(peaks[over], rising[over], over, increasing=over == "batch_size")
           for over in ("lr", "batch_size")}
settled = {name: shape for name, shape in shapes.items() if shape["plateau"]}
edge = {name: shape["edge_fraction"] for name, shape in shapes.items()}
verdicts = [
    claims.claim("A1.rise-then-stop", "λ1 rises fast in the early phase (90% of the rise within 10% of training), "
                 "then stops growing, in the runs trained to a loss plateau",
                 bool(settled) and all(fast_rise_then_stop(shape) for shape in settled.values()),
                 runs_at_plateau=settled, other_runs={n: v for n, v in shapes.items() if n not in settled}),
    claims.claim("A2.peak-vs-lr", "a higher learning rate gives a lower peak of λ1", ordered["lr"],
                 table=table, edge_fraction=edge, still_rising=rising["lr"].values),
    claims.claim("A2.peak-vs-batch-size", "a smaller batch size gives a lower peak of λ1", ordered["batch_size"],
                 table=table, edge_fraction=edge, still_rising=rising["batch_size"].values),
    claims.claim("A2.early-vs-lr", "the learning-rate ordering already holds at the end of the early phase",
                 rho["lr"] == -1, spearman=rho["lr"], early_fraction=EARLY),
    claims.claim("A2.early-vs-batch-size", "the batch-size ordering already holds at the end of the early phase",
                 rho["batch_size"] == 1, spearman=rho["batch_size"], early_fraction=EARLY),
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
