# %% [markdown] tags=[]
# # 06 — Noise and memorisation (finding B5)
#
# *Jastrzębski et al., Three Factors Influencing Minima in SGD, 2017.*
#
# **B5.** With a share of the training labels replaced by random ones, a higher η/S memorises the random labels later and generalises better on the clean test set: SGD's noise keeps it away from the sharp minima that fit the noise.
#
# We corrupt 25% and 50% of the training labels (seeded; the test set stays clean), train over a grid of η and S, and follow, along training, the accuracy on the corrupted examples against their random labels (memorisation) and on the clean ones.

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
# The **quick** profile: 1,000 MNIST-1D training examples (a small set, so that the random labels can be learnt by heart within the run), an MLP with two hidden layers of 100 units, plain SGD for 60 epochs, η ∈ {0.05, 0.1, 0.2} × S ∈ {32, 128, 512}, measured every 1.2 epochs. The **paper** profile is the paper's setting: MNIST with a 50k/10k split and MLP hidden layers of 256 units, η ∈ {0.05, 0.1, 0.2}, S ∈ {50, 100, 200, 400, 800}, for a GPU.
#
# A run *memorises* when its accuracy on the corrupted examples, measured against their random labels, reaches 50%: chance is 10%, and the correct label is kept by 1 in 10 corrupted examples only.

# %% tags=[]
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sgdlab import claims, plots, results, summaries
from sgdlab.finding import Finding
from sgdlab.sweep import run_grid

finding = Finding.open(
    "06_memorisation", profile,
    parameters=dict(dataset=dataset, model=model, learning_rates=learning_rates, batch_sizes=batch_sizes,
                    noise_levels=noise_levels, train_size=train_size, epochs=epochs, seed=seed, device=device,
                    output_dir=output_dir, smoke=smoke),
    common=dict(model="mlp", learning_rates=[0.05, 0.1, 0.2], noise_levels=[0.25, 0.5], hessian_size=500,
                probes=("losses", "memorisation")),
    quick=dict(dataset="mnist1d", width=100, batch_sizes=[32, 128, 512], train_size=1000, epochs=60),
    paper=dict(dataset="mnist", width=256, batch_sizes=[50, 100, 200, 400, 800], train_size=None, epochs=300,
               holdout="validation"),
    smoke=dict(train_size=256, learning_rates=[0.1, 0.2], batch_sizes=[32, 128], noise_levels=[0.5], epochs=2,
               hessian_size=64),
    cites=("jastrzebski2017",),
)
s = finding.settings
base = finding.config(model_options={"width": s.width}, measure_every=s.epochs / 50)
configs = {(p, lr, b): dataclasses.replace(base, label_noise=p, lr=lr, batch_size=b)
           for p in s.noise_levels for lr in s.learning_rates for b in s.batch_sizes}
print(f"{s.profile} profile: {s.model} on {s.dataset} ({s.train_size or 'all'} examples), "
      f"{s.epochs} epochs; noise {s.noise_levels}; η {s.learning_rates} × S {s.batch_sizes}")

# %% [markdown] tags=[]
# ## Run
#
# The runs side by side over noise level, η and S. Runs of different S are measured at slightly different epochs (every 1.2 epochs, to the nearest step), so each holds NaN at the others' measurement times.

# %% tags=[]
grid = results.load_grid(run_grid(configs, progress=False), ["label_noise", "lr", "batch_size"])
THRESHOLD = 0.5
summary = xr.Dataset({
    "ratio": grid.lr / grid.batch_size,
    # the first measured epoch at which the random labels are fitted at THRESHOLD accuracy (inf: never)
    "memorisation_epoch": summaries.first_crossing(grid.memorised_acc, THRESHOLD).fillna(np.inf),
    "final_memorised_acc": summaries.final(grid.memorised_acc),
    "final_test_acc": summaries.final(grid.test_acc),
})
results.save(summary, finding.out / "memorisation_summary.nc")
for p, lr, b in configs:
    row = summary.sel(label_noise=p, lr=lr, batch_size=b)
    print(f"noise {p:.2f}  η={lr:<4g} S={b:<4d} η/S={lr / b:.1e}  memorised at epoch {float(row.memorisation_epoch):5.1f}  "
          f"final: random-label acc {float(row.final_memorised_acc):.2f}, clean test acc {float(row.final_test_acc):.3f}")

# %% [markdown] tags=[]
# ## Memorisation and clean test accuracy along training

# %% tags=[]
plots.use_style()
fig, axes = plt.subplots(2, len(s.noise_levels), figsize=(6 * len(s.noise_levels), 7.5), sharex=True, squeeze=False)
ratios = sorted({lr / b for _, lr, b in configs})
palette = plt.get_cmap("viridis")
for column, p in enumerate(s.noise_levels):
    for lr in s.learning_rates:
        for b in s.batch_sizes:
            run = summaries.measured(grid.sel(label_noise=p, lr=lr, batch_size=b))
            color = palette(ratios.index(lr / b) / max(1, len(ratios) - 1))
            axes[0, column].plot(run.epoch, run.memorised_acc, color=color, label=f"η={lr:g}, S={b}")
            axes[1, column].plot(run.epoch, run.test_acc, color=color)
    axes[0, column].axhline(THRESHOLD, color="0.6", lw=0.8)
    axes[0, column].set_title(f"{p:.0%} random labels")
    axes[0, column].set_ylabel("accuracy on the random labels")
    axes[1, column].set_ylabel("clean test accuracy")
    axes[1, column].set_xlabel("epoch")
axes[0, -1].legend(frameon=False, fontsize=8, ncol=2)
fig.suptitle("Colour: η/S from low (dark) to high (light)")
caption = ("Accuracy on the randomly relabelled training examples (top; grey: the memorisation mark) and clean "
           "test accuracy (bottom) along training, per η and S; colour: η/S from low (dark) to high (light).")
finding.save_figure(fig, "memorisation", caption=caption)
plt.show()

# %% [markdown] tags=[]
# ## Verdict
#
# For each noise level, over the 9 runs of the grid:
#
# - **B5.memorises-later**: the rank correlation of the memorisation epoch with η/S is at least +0.5 (a run that never memorises ranks last).
# - **B5.clean-test-accuracy**: the rank correlation of the final clean test accuracy with η/S is at least +0.5.
#
# **Neither holds at this scale.** Memorisation comes out reversed: a higher η/S memorises *earlier*: within a fixed number of epochs, the runs with a low η/S (small η, large S) take few and short steps and have not yet fitted even the clean examples (their clean training accuracy stays near 40–60%), let alone the random labels, while the high-η/S runs fit everything. The final clean test accuracy shows no consistent relation with η/S (weakly positive at 25% noise, none at 50%). The delay the paper reports comes from SGD's noise once every run can fit the data; at this scale optimisation speed decides instead. We checked the measurement itself (the corrupted and clean subsets, and the random labels scored against, are covered by unit tests) and that the grid does vary η/S by a factor 64. Both claims are therefore marked as known failures at the quick scale.
#
# **A larger scale, trained until the runs fit, does not reproduce them either.** On all 4,000 MNIST-1D training examples for 300 epochs (same model, grid and thresholds; 230–260 s a noise level on 2 shared cores), most runs fit the clean training examples (7 of 9 at 25% noise, 5 of 9 at 50%; the others reach 66–91%) and all but the slowest (η = 0.05, S = 512) pass the memorisation mark, yet the order stays reversed:
#
# | noise | memorisation epoch, η/S from 6.3·10⁻³ down to 9.8·10⁻⁵ | rank correlation, memorisation | rank correlation, final clean test accuracy |
# | --- | --- | --- | --- |
# | 25% | 24, 30, 48 (twice), 84, 144, 162, 288, never | −1.00 | −0.41 |
# | 50% | 24, 30, 48 (twice), 84, 138, 162, 270, never | −1.00 | −0.44 |
#
# The memorisation epoch is set by η/S alone (η = 0.05, S = 32 and η = 0.2, S = 128 both memorise at epoch 48), as the SDE predicts, but in the wrong direction for the claim: one epoch advances the SDE's time by N·η/S, so a higher η/S covers more of it per epoch. Measured in that time (epochs × η/S), memorisation does come later at higher η/S (0.056 at η/S = 3.9·10⁻⁴, 0.075 at 1.6·10⁻³, 0.15 at 6.3·10⁻³, at 25% noise), the direction of the paper's mechanism, but by a factor of 3 over a 16-fold range of η/S, far too little to outweigh the 16-fold faster clock. The final clean test accuracy is highest in the runs that have not finished memorising (an early-stopping effect), not at high η/S. Raising η/S further with smaller batches (S ∈ {4, 8, 16} on 1,000 examples, 60 epochs) makes the highest ratios unstable rather than slower to memorise (rank correlations −0.23 and −0.46 at 25% noise). In the paper's setting (50,000 MNIST examples, S up to 800) an epoch at the lowest η/S covers 8 times more of the SDE's time than here (32 times more than in the quick profile), so its runs are far less limited by the clock; that setting is the paper profile. To rerun the larger scale: `papermill notebooks/06_memorisation.ipynb out.ipynb -p train_size 4000 -p epochs 300` (the claims cell keeps both claims as known failures outside the paper profile).

# %% tags=[]
# NBVAL_CHECK_OUTPUT
runs_at = {f"{p:g}": summary.sel(label_noise=p).stack(run=["lr", "batch_size"]) for p in s.noise_levels}
rho_memorise = {p: claims.rank_correlation(runs.ratio, runs.memorisation_epoch) for p, runs in runs_at.items()}
rho_test = {p: claims.rank_correlation(runs.ratio, runs.final_test_acc) for p, runs in runs_at.items()}
verdicts = [
    claims.claim("B5.memorises-later", "a higher η/S memorises the random labels later",
                 all(r >= 0.5 for r in rho_memorise.values()), spearman=rho_memorise),
    claims.claim("B5.clean-test-accuracy", "a higher η/S keeps clean test accuracy higher",
                 all(r >= 0.5 for r in rho_test.values()), spearman=rho_test),
]
finding.report(verdicts, known_failures={"quick": {
    "B5.memorises-later": "an epoch covers SDE time ∝ η/S, so high η/S memorises first in epochs, even once the runs fit",
    "B5.clean-test-accuracy": "the final clean test accuracy is highest where memorisation is unfinished, not at high η/S",
}})

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
