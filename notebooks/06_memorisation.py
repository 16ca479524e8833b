# %% [markdown] tags=[]
# # 06 — Noise and memorisation (finding B5)
#
# *Jastrzębski et al., Three Factors Influencing Minima in SGD, 2017.*
#
# **B5.** With a share of the training labels replaced by random ones, **for the same amount of memorised random labels, a larger η/S gives better clean validation accuracy**: SGD's noise steers it to regions that fit the noise while generalising better. The paper also notes that a low η/S optimises much slower (its runs stay below ~20% accuracy on the random labels), so memorising *later in epochs at low η/S* agrees with the paper.
#
# We corrupt 25% and 50% of the training labels (seeded; the held-out set stays clean), train over a grid of η and S, and follow, along training, the accuracy on the corrupted examples against their random labels (memorisation) and the clean held-out accuracy; then compare runs at matched levels of memorisation.

# %% tags=["parameters"]
profile = "quick"
dataset = None  # None: the profile's dataset
model = None  # None: the profile's model
learning_rates = None  # None: the profile's η grid
batch_sizes = None  # None: the profile's S grid
noise_levels = None  # fractions of random labels
train_size = None
epochs = None
seed = 0
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown] tags=[]
# ## Setup
#
# The **quick** profile: 1,000 MNIST-1D training examples (a small set, so that the random labels can be learnt by heart within the run), sgdlab's 1-D `cnn` (two convolutions of 32 channels, max-pooling, a dense layer), plain SGD for 60 epochs, η ∈ {0.05, 0.1, 0.2} × S ∈ {32, 128, 512}, measured every 1.2 epochs; the clean held-out set is MNIST-1D's real test set (1,000 examples; the paper holds out a validation split of MNIST's training set, which plays the same role). The `cnn` is the quick model because it generalises like the paper's networks on clean labels; with the 2×100 MLP of notebook 01 (`-p model mlp`), which overfits MNIST-1D, the final clean accuracy rank-correlated with η/S at only +0.42 / −0.10 against the cnn's +0.99 / +0.69. The **paper** profile is the paper's setting: MNIST with a 50k/10k split, an MLP with hidden layers of 256 units, η ∈ {0.05, 0.1, 0.2}, S ∈ {50, 100, 200, 400, 800}, 300 epochs, for a GPU (the paper's momentum-0.9 runs are not included).
#
# A run's **memorisation** is its accuracy on the corrupted training examples, measured against their random labels (chance is 10%). For each memorisation level m ∈ {25%, 50%, 75%}, each run that reaches m is read at the moment its memorisation first reaches m (linearly interpolated between the two measurements that bracket it): its clean held-out accuracy then is compared with η/S across the runs that reach m.

# %% tags=[]
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sgdlab import run_grid
from sgdlab.findings import Finding, claims, plots, summaries
from sgdlab.training import run_cache

finding = Finding.open(
    "06_memorisation", globals(),
    common=dict(learning_rates=[0.05, 0.1, 0.2], noise_levels=[0.25, 0.5], levels=[0.25, 0.5, 0.75],
                hessian_size=500, probes=("losses", "memorisation")),
    quick=dict(dataset="mnist1d", model="cnn", model_options={}, batch_sizes=[32, 128, 512], train_size=1000,
               epochs=60),
    paper=dict(dataset="mnist", model="mlp", model_options={"width": 256}, batch_sizes=[50, 100, 200, 400, 800],
               train_size=None, epochs=300, holdout="validation"),
    smoke=dict(train_size=256, learning_rates=[0.1, 0.2], batch_sizes=[32, 128], noise_levels=[0.5], epochs=2,
               hessian_size=64),
    cites=("jastrzebski2017",),
)
s = finding.settings
base = finding.config(measure_every=s.epochs / 50)
configs = {(p, lr, b): dataclasses.replace(base, label_noise=p, lr=lr, batch_size=b)
           for p in s.noise_levels for lr in s.learning_rates for b in s.batch_sizes}
print(f"{s.profile} profile: {s.model} on {s.dataset} ({s.train_size or 'all'} examples), "
      f"{s.epochs} epochs; noise {s.noise_levels}; η {s.learning_rates} × S {s.batch_sizes}")

# %% [markdown] tags=[]
# ## Run
#
# The runs side by side over noise level, η and S. Runs of different S are measured at slightly different epochs (every 1.2 epochs, to the nearest step), so each holds NaN at the others' measurement times.

# %% tags=[]
grid = run_grid(configs, dims=["label_noise", "lr", "batch_size"], progress=False)
levels = xr.DataArray(s.levels, dims="level", coords={"level": s.levels})
summary = xr.Dataset({
    "ratio": grid.lr / grid.batch_size,
    # clean held-out accuracy when the random labels are first fitted at each level (NaN: never)
    "clean_acc_at_level": xr.concat([summaries.at_first_crossing(grid.test_acc, grid.memorised_acc, m)
                                     for m in s.levels], levels),
    # the epoch of that moment, measured (not a verdict: a low η/S memorises later in epochs, as in the paper)
    "epoch_at_level": xr.concat([summaries.at_first_crossing(grid.epoch.broadcast_like(grid.memorised_acc),
                                                             grid.memorised_acc, m) for m in s.levels], levels),
    "final_memorised_acc": summaries.final(grid.memorised_acc),
    "final_test_acc": summaries.final(grid.test_acc),
})
run_cache.save(summary, finding.out / "memorisation_summary.nc")
for p, lr, b in configs:
    row = summary.sel(label_noise=p, lr=lr, batch_size=b)
    at = "  ".join(f"{m:.0%}: " + ("never" if np.isnan(a) else f"ep {e:5.1f} clean {a:.3f}")
                   for m, a, e in zip(s.levels, row.clean_acc_at_level.values, row.epoch_at_level.values))
    print(f"noise {p:.2f}  η={lr:<4g} S={b:<4d} η/S={lr / b:.1e}  {at}  "
          f"| final: random-label acc {float(row.final_memorised_acc):.2f}, clean acc {float(row.final_test_acc):.3f}")

# %% [markdown] tags=[]
# ## Clean held-out accuracy against memorisation

# %% tags=[]
plots.use_style()
fig, axes = plt.subplots(2, len(s.noise_levels), figsize=(6 * len(s.noise_levels), 7.5), squeeze=False)
ratios = sorted({lr / b for _, lr, b in configs})
palette = plt.get_cmap("viridis")
for column, p in enumerate(s.noise_levels):
    for lr in s.learning_rates:
        for b in s.batch_sizes:
            run = summaries.measured(grid.sel(label_noise=p, lr=lr, batch_size=b))
            color = palette(ratios.index(lr / b) / max(1, len(ratios) - 1))
            axes[0, column].plot(run.memorised_acc, run.test_acc, color=color, label=f"η={lr:g}, S={b}")
            axes[1, column].plot(run.epoch, run.memorised_acc, color=color)
    for m in s.levels:
        axes[0, column].axvline(m, color="0.6", lw=0.8)
        axes[1, column].axhline(m, color="0.6", lw=0.8)
    axes[0, column].set_title(f"{p:.0%} random labels")
    axes[0, column].set_xlabel("accuracy on the random labels (memorisation)")
    axes[0, column].set_ylabel("clean held-out accuracy")
    axes[1, column].set_ylabel("accuracy on the random labels")
    axes[1, column].set_xlabel("epoch")
axes[0, -1].legend(frameon=False, fontsize=8, ncol=2)
fig.suptitle("Colour: η/S from low (dark) to high (light)")
caption = ("Clean held-out accuracy against the accuracy on the randomly relabelled training examples (top; grey: "
           "the memorisation levels compared) and that memorisation along training (bottom), per η and S; colour: "
           "η/S from low (dark) to high (light).")
finding.save_figure(fig, "memorisation", caption=caption)
plt.show()

# %% [markdown] tags=[]
# ## Verdict
#
# Threshold fixed from the paper's statement before the runs. For each noise level and each memorisation level m reached by at least 5 of the grid's runs:
#
# - **B5.matched-memorisation**: the rank correlation (Spearman) of the clean held-out accuracy at memorisation m with η/S, over the runs that reach m, is at least +0.5; and every noise level has at least one such level m.
#
# It fails on data where, at equal memorisation, a higher η/S does not generalise better. Also measured, not verdicts: the rank correlation of the epoch at which a run reaches each level with η/S (negative: a low η/S memorises later in epochs, which the paper notes as slower optimisation), and that of the final clean accuracy (the paper does not compare runs at the end).
#
# **It cannot be checked at the quick scale, and is marked as a known failure there.** With the `cnn`, only the four runs with η/S ≥ 1.6·10⁻³ reach 25% memorisation within 60 epochs (two reach 50% and 75%), fewer than the 5 runs a rank correlation needs, at seeds 0, 1 and 2 alike (one exception: 5 runs at 50% noise, seed 1, ρ = +0.72). Among those few runs the sign follows the seed: at 25% memorisation, ρ = −0.95, +0.95, +0.95 (25% noise, seeds 0, 1, 2) and +0.11, +0.72, +0.21 (50% noise), over a 4-fold range of η/S only. The MLP of notebook 01 (2×100, same grid, `-p model mlp`) memorises more runs (7 of 9 reach 25%) but generalises worse (clean accuracy 0.24–0.35 at the matched levels) and gives negative rank correlations at seed 0: −0.33 and −0.87 at 25% memorisation (25% and 50% noise), −0.72 and −0.82 at 50% (5 runs). At this size (1,000 training examples, 60 epochs) a low η/S has not begun to fit the random labels by the end, so a matched level compares only the fastest runs. The other readings are as before and are numbers, not verdicts: a higher η/S memorises *earlier* in epochs (consistent with the paper's remark that low η/S optimises much slower), and the final clean accuracy rises with η/S for the `cnn` (the low-η/S runs are still undertrained). The claim is marked as a known failure at the quick scale; it is checked by the paper profile (MNIST 50k/10k, 300 epochs, where every run can fit the data).

# %% tags=[]
# NBVAL_CHECK_OUTPUT
MIN_RUNS = 5
rho, reached, rho_epoch, rho_final = {}, {}, {}, {}
for p in s.noise_levels:
    runs = summary.sel(label_noise=p).stack(run=["lr", "batch_size"])
    rho_final[f"{p:g}"] = claims.rank_correlation(runs.ratio, runs.final_test_acc)
    for m in s.levels:
        at = runs.sel(level=m)
        key = f"noise {p:g}, level {m:g}"
        reached[key] = int(np.isfinite(at.clean_acc_at_level).sum())
        rho_epoch[key] = claims.rank_correlation(at.ratio, at.epoch_at_level)
        if reached[key] >= MIN_RUNS:
            rho[key] = claims.rank_correlation(at.ratio, at.clean_acc_at_level)
every_noise_checked = all(any(k.startswith(f"noise {p:g},") for k in rho) for p in s.noise_levels)
verdicts = [
    claims.claim("B5.matched-memorisation", "at the same level of memorised random labels, a higher η/S has a higher "
                 "clean held-out accuracy", every_noise_checked and all(r >= 0.5 for r in rho.values()),
                 spearman_at_level=rho, runs_reaching_level=reached, min_runs=MIN_RUNS,
                 spearman_epoch_at_level=rho_epoch, spearman_final_clean_acc=rho_final),
]
finding.report(verdicts, known_failures={"quick": {
    "B5.matched-memorisation": "on 1,000 MNIST-1D examples in 60 epochs only the 4 runs with η/S >= 1.6e-3 reach 25% "
                               "memorisation (cnn, seeds 0-2), too few to rank; their sign follows the seed, and the "
                               "mlp's matched rank correlations are negative (-0.33 to -0.87)"}})

# %% [markdown]
# ## Reference
#
# ```bibtex
# @article{jastrzebski2017three,
#   title   = {Three Factors Influencing Minima in {SGD}},
#   author  = {Jastrz{\k{e}}bski, Stanis{\l}aw and Kenton, Zachary and Arpit, Devansh and Ballas, Nicolas and
#              Fischer, Asja and Bengio, Yoshua and Storkey, Amos},
#   journal = {arXiv preprint arXiv:1711.04623},
#   year    = {2017}
# }
# ```
