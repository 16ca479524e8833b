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
seeds = None  # None: the profile's number of seeds, seed, seed + 1, ...; every number is a mean over them
seed = 0
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown] tags=[]
# ## Setup
#
# The paper compares runs **that memorise**: its runs take at least 18,750 steps (300 epochs of 50,000 examples at S = 800), and its low-η/S runs, which stay below about 20% accuracy on the random labels, are not the ones a matched level compares. The **quick** profile is built the same way at a small scale: 1,000 MNIST-1D training examples (a small set, so that the random labels can be learnt by heart), sgdlab's 1-D `cnn` (two convolutions of 32 channels, max-pooling, a dense layer), plain SGD, on a grid of small batches and large steps where every run fits its random labels: η ∈ {0.1, 0.2, 0.4} × S ∈ {32, 64} (η/S from 1.6·10⁻³ to 1.25·10⁻², 2,500 steps at S = 32 and 1,250 at S = 64 over 80 epochs), measured every 4 epochs, each run stopped once its training accuracy reaches 1 − 0.2p (95% at p = 25% random labels, 90% at 50%: by then at least 80% of the random labels are fitted, past every level compared), **two seeds** (`seed`, `seed + 1`). The clean held-out set is MNIST-1D's real test set (1,000 examples; the paper holds out a validation split of MNIST's training set, which plays the same role). The `cnn` is the quick model because it generalises like the paper's networks on clean labels. The **paper** profile is the paper's setting: MNIST with a 50k/10k split, an MLP with hidden layers of 256 units, η ∈ {0.05, 0.1, 0.2}, S ∈ {50, 100, 200, 400, 800}, 300 epochs, two seeds, for a GPU (the paper's momentum-0.9 runs are not included); its runs stop the same way (past every level compared; the final clean accuracy, reported only, is then read at that point).
#
# A run's **memorisation** is its accuracy on the corrupted training examples, measured against their random labels (chance is 10%). For each memorisation level m ∈ {25%, 50%, 75%}, each run that reaches m is read at the moment its memorisation first reaches m (linearly interpolated between the two measurements that bracket it): its clean held-out accuracy then, averaged over the seeds of its (η, S) (where every seed reaches m), is compared with η/S across the settings that reach m.

# %% tags=[]
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sgdlab import run_grid
from sgdlab.findings import Finding, claims, plots, summaries
from sgdlab.theory import three_factors
from sgdlab.training import run_cache

finding = Finding.open(
    "06_memorisation", globals(),
    common=dict(noise_levels=[0.25, 0.5], levels=[0.25, 0.5, 0.75], hessian_size=500,
                probes=("losses", "memorisation"), stop_memorised=0.8, seeds=2),
    quick=dict(dataset="mnist1d", model="cnn", model_options={}, learning_rates=[0.1, 0.2, 0.4], batch_sizes=[32, 64],
               train_size=1000, epochs=80),
    paper=dict(dataset="mnist", model="mlp", model_options={"width": 256}, learning_rates=[0.05, 0.1, 0.2],
               batch_sizes=[50, 100, 200, 400, 800], train_size=None, epochs=300, holdout="validation"),
    smoke=dict(train_size=256, learning_rates=[0.1, 0.2], batch_sizes=[32, 128], noise_levels=[0.5], epochs=2,
               hessian_size=64, seeds=1),
    cites=("jastrzebski2017",),
)
s = finding.settings
base = finding.config(measure_every=s.epochs / 20)
run_seeds = [seed + i for i in range(s.seeds)]
# a run stops once its training accuracy (1 − p)·clean + p·memorised shows at least stop_memorised of the random labels fitted
configs = {(r, p, lr, b): dataclasses.replace(base, label_noise=p, lr=lr, batch_size=b, seed=r,
                                              stop_at_train_acc=1 - p * (1 - s.stop_memorised))
           for r in run_seeds for p in s.noise_levels for lr in s.learning_rates for b in s.batch_sizes}
print(f"{s.profile} profile: {s.model} on {s.dataset} ({s.train_size or 'all'} examples), up to {s.epochs} epochs; "
      f"noise {s.noise_levels}; η {s.learning_rates} × S {s.batch_sizes}; seeds {run_seeds}")

# %% [markdown] tags=[]
# ## Run
#
# The runs side by side over seed, noise level, η and S. Runs of different S are measured at slightly different epochs (every 4 epochs, to the nearest step) and stop at different times, so each holds NaN at the others' measurement times.

# %% tags=[]
grid = run_grid(configs, dims=["seed", "label_noise", "lr", "batch_size"], progress=False)
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
# the seed mean of each setting; a level counts only where every seed reached it
mean = summary.mean("seed", skipna=False).assign(ratio=summary.ratio)
for p, lr, b in dict.fromkeys(key[1:] for key in configs):
    row = mean.sel(label_noise=p, lr=lr, batch_size=b)
    at = "  ".join(f"{m:.0%}: " + ("never" if np.isnan(a) else f"ep {e:5.1f} clean {a:.3f}")
                   for m, a, e in zip(s.levels, row.clean_acc_at_level.values, row.epoch_at_level.values))
    print(f"noise {p:.2f}  η={lr:<4g} S={b:<4d} η/S={lr / b:.1e}  {at}  "
          f"| final: random-label acc {float(row.final_memorised_acc):.2f}, clean acc {float(row.final_test_acc):.3f}")

# %% [markdown] tags=[]
# ## Clean held-out accuracy against memorisation

# %% tags=[]
plots.use_style()
fig, axes = plots.figure(2, len(s.noise_levels), width="page", aspect=0.75, squeeze=False)
ratios = sorted({lr / b for _, _, lr, b in configs})
colors = dict(zip(ratios, plots.continuous_key(fig, axes, ratios, "$\\eta / S$")))
styles = dict(zip(s.batch_sizes, ["-", "--", ":", "-.", (0, (1, 3))]))
for column, p in enumerate(s.noise_levels):
    for lr in s.learning_rates:
        for b in s.batch_sizes:
            run = summaries.measured(grid.sel(seed=run_seeds[0], label_noise=p, lr=lr, batch_size=b))
            style = dict(color=colors[lr / b], ls=styles[b])
            axes[0, column].plot(run.memorised_acc, run.test_acc, **style)
            axes[1, column].plot(run.epoch, run.memorised_acc, **style)
    for m in s.levels:
        axes[0, column].axvline(m, color="0.6", lw=0.8)
        axes[1, column].axhline(m, color="0.6", lw=0.8)
    axes[0, column].set_title(f"{p:.0%} random labels, seed {run_seeds[0]}")
    axes[0, column].set_xlabel("accuracy on the random labels")
    axes[0, column].set_ylabel("clean held-out accuracy")
    axes[1, column].set_ylabel("accuracy on the random labels")
    axes[1, column].set_xlabel("epoch")
axes[0, 0].legend([plt.Line2D([], [], color="0.2", ls=styles[b]) for b in s.batch_sizes],
                  [f"$S={b}$" for b in s.batch_sizes], frameon=False)
caption = ("Clean held-out accuracy against the accuracy on the randomly relabelled training examples (top; grey: "
           "the memorisation levels compared) and that memorisation along training (bottom), per η and S; colour: "
           "η/S; line style: S.")
finding.save_figure(fig, "memorisation", caption=caption)
plt.show()

# %% [markdown] tags=[]
# ## Verdict
#
# Threshold fixed from the paper's statement before the runs. For each noise level and each memorisation level m reached (at every seed) by at least 5 of the grid's (η, S) settings:
#
# - **B5.matched-memorisation**: the rank correlation (Spearman) of the seed-mean clean held-out accuracy at memorisation m with η/S, over the settings that reach m, is at least +0.5; and every noise level has at least one such level m.
#
# It fails on data where, at equal memorisation, a higher η/S does not generalise better. Also measured, not verdicts: the rank correlation of the epoch at which a setting reaches each level with η/S (negative: a low η/S memorises later in epochs, which the paper notes as slower optimisation), and that of the final clean accuracy (the paper does not compare runs at the end).

# %% [markdown] tags=[]
# **It does not reproduce at the quick scale, in runs that do memorise.** On this grid every (η, S) setting fits its random labels: all six reach 25% memorisation at every seed, five or six reach 50%, and four or five reach 75% (the slowest, η/S = 1.6·10⁻³, stays below it within 80 epochs), so each matched level ranks four to six settings over an 8-fold range of η/S. With 25% random labels the clean accuracy at a matched level rises with η/S at most levels and seeds, but not by the fixed margin (ρ ≥ +0.5) at every one; with 50% random labels its sign changes with the level and the seed. At a matched level the settings' clean accuracies lie within a few points of each other, about the resolution of the 1,000-example test set, so the ranking is dominated by noise. What does reproduce is the paper's side remark: a higher η/S memorises *earlier* in epochs (ρ(epoch, η/S) close to −1), the slower optimisation of a low η/S. Scales tried: the earlier grid (η ∈ {0.05, 0.1, 0.2} × S ∈ {32, 128, 512}, 60 epochs, one seed) let only four runs reach 25% memorisation, too few to rank; the MLP of notebook 01 on that grid (`-p model mlp`) memorised more runs but ranked them negatively. A clean held-out set four times larger (4,000 examples, with `dataset="mnist1d_20k"`: 1,000 training examples drawn from its 16,000, and its 4,000 test examples) does not change the picture: at seed 0, ρ = +0.79, +0.38 and +0.53 at the three levels with 25% random labels, +0.35 and +0.09 at the two levels reached with 50%. The claim is a known failure at this scale; the paper profile (MNIST 50k/10k, 300 epochs, an MLP of 256 units) checks it at the paper's.

# %% tags=[]
MIN_RUNS = 5
rho, reached, rho_epoch, rho_final = {}, {}, {}, {}
for p in s.noise_levels:
    runs = mean.sel(label_noise=p).stack(run=["lr", "batch_size"])
    rho_final[f"{p:g}"] = claims.rank_correlation(runs.ratio, runs.final_test_acc)
    for m in s.levels:
        at = runs.sel(level=m)
        key = f"noise {p:g}, level {m:g}"
        matched = three_factors.matched_runs(at.ratio, at.clean_acc_at_level, MIN_RUNS)
        reached[key] = int(at.clean_acc_at_level.notnull().sum())
        rho_epoch[key] = claims.rank_correlation(at.ratio, at.epoch_at_level)
        if matched is not None:
            rho[key] = claims.rank_correlation(*matched)
every_noise_checked = all(any(k.startswith(f"noise {p:g},") for k in rho) for p in s.noise_levels)
for key in reached:
    print(f"{key}: {reached[key]} settings reach it" + (f", Spearman ρ(clean acc, η/S) = {rho[key]:+.2f}" if key in rho
                                                         else "") + f"; ρ(epoch, η/S) = {rho_epoch[key]:+.2f}")

# %% tags=[]
# NBVAL_CHECK_OUTPUT
verdicts = [
    claims.claim("B5.matched-memorisation", "at the same level of memorised random labels, a higher η/S has a higher "
                 "clean held-out accuracy", every_noise_checked and all(r >= 0.5 for r in rho.values()),
                 spearman_at_level=rho, runs_reaching_level=reached, min_runs=MIN_RUNS,
                 spearman_epoch_at_level=rho_epoch, spearman_final_clean_acc=rho_final),
]
finding.report(verdicts, known_failures={"quick": {
    "B5.matched-memorisation": "every setting memorises, but at matched memorisation the clean accuracy does not rise "
                               "with η/S by the fixed margin at every level: with 25% random labels it mostly rises, "
                               "with 50% its sign follows the level and the seed, within the test set's resolution"}})

# %% [markdown] tags=[]
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
