# %% [markdown] tags=[]
# # 04 — Only the ratio η/S matters, until it does not (findings B1, B2, B3)
#
# *Jastrzębski et al., Three Factors Influencing Minima in SGD, 2017.*
#
# Seen as a stochastic differential equation, SGD with learning rate η and batch size S has a temperature proportional to η/S: to first order only the ratio sets which minima it reaches.
#
# **B1.** A higher η/S leads to wider minima (a smaller Hessian) and better generalisation.
#
# **B2.** Scaling η and S by the same factor β leaves the endpoint unchanged: same sharpness, same accuracy, same shape of the loss along the line through two endpoints.
#
# **B3.** The invariance breaks down at large β (the step is then too large for the SDE picture, or the batch a large share of the data), and earlier for a smaller training set.

# %% tags=["parameters"]
profile = "quick"
dataset = None  # None: the profile's dataset
model = None  # None: the profile's model
learning_rates = None  # None: the profile's η grid (B1)
batch_sizes = None  # None: the profile's S grid (B1)
base_lr = None  # η₀ of the family η = η₀β, S = S₀β (B2, B3)
base_batch_size = None  # S₀
betas = None
train_sizes = None  # training set sizes of the family (None: the whole set)
epochs = None  # of the family
grid_epochs = None  # of the B1 grid
seed = 0
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown] tags=[]
# ## Setup
#
# The **quick** profile: MNIST-1D, an MLP with two hidden layers of 100 units, plain SGD. B1 is a 3 × 3 grid over η ∈ {0.05, 0.1, 0.2} and S ∈ {32, 128, 512} (η/S spans a factor 64), 120 epochs each: at 40 epochs the low-η/S runs are still far from a minimum (training accuracy 43–67%), their Hessian still growing, and B1's ordering of sharpness does not hold yet (rank correlation of ‖H‖_F with η/S above −0.5); B1 is about the minima reached, so the grid trains three times longer. The family runs 40 epochs. The family of B2 and B3 is η = 0.025β, S = 16β for β ∈ {1, 4, 16, 32}, on the whole training set (4,000 examples) and on a subset of 1,000. Two more runs at η = 0.1 with S = 16 and S = 256 have four times and a quarter of the family's ratio: the contrast for B2. At the end of each run we measure λ₁ (Lanczos) and the Frobenius norm of the Hessian (Hutchinson, 10 probe vectors) on 1,000 training examples, in inference mode. Every epoch counts examples seen, so runs of one ratio travel the same "SDE time" η · steps. The **paper** profile follows the paper's VGG-11 on CIFAR-10 for a GPU (45k/5k split, augmentation), for the family (η = 0.1β, S = 50β, β ∈ {¼, 1, 4}, 12k/22.5k/45k examples) and the B1 grid η ∈ {0.005, 0.01, 0.05}, S ∈ {50, 250, 1000}.

# %% tags=[]
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sgdlab import claims, interpolation, plots, results, summaries
from sgdlab.finding import Finding
from sgdlab.sweep import run_grid

finding = Finding.open(
    "04_lr_batch_ratio", profile,
    parameters=dict(dataset=dataset, model=model, learning_rates=learning_rates, batch_sizes=batch_sizes,
                    base_lr=base_lr, base_batch_size=base_batch_size, betas=betas, train_sizes=train_sizes,
                    epochs=epochs, grid_epochs=grid_epochs, seed=seed, device=device, output_dir=output_dir,
                    smoke=smoke),
    common=dict(base_lr=0.025, top_k=1, probes=("losses", "eigen", "hessian_norm"), hutchinson_samples=10,
                save_parameters=True),
    quick=dict(dataset="mnist1d", model="mlp", learning_rates=[0.05, 0.1, 0.2], batch_sizes=[32, 128, 512],
               base_batch_size=16, betas=[1, 4, 16, 32], train_sizes=[1000, None], epochs=40, grid_epochs=120,
               hessian_size=1000),
    paper=dict(dataset="cifar10", model="vgg11", learning_rates=[0.005, 0.01, 0.05], batch_sizes=[50, 250, 1000],
               base_batch_size=12.5, betas=[1, 4, 16], train_sizes=[12000, 22500, None], epochs=100, grid_epochs=100,
               hessian_size=2560, augment=True, holdout="validation"),
    smoke=dict(train_size=256, learning_rates=[0.1, 0.2], batch_sizes=[32, 128], betas=[1, 4], train_sizes=[128, 256],
               epochs=2, grid_epochs=2, hessian_size=64),
    cites=("jastrzebski2017",),
)
s = finding.settings
base = finding.config(measure_every=s.epochs / 4)
grid = {(lr, b): dataclasses.replace(base, lr=lr, batch_size=b, epochs=s.grid_epochs, measure_every=s.grid_epochs / 4)
        for lr in s.learning_rates for b in s.batch_sizes}
family = {
    (n, beta): dataclasses.replace(base, train_size=n, lr=s.base_lr * beta, batch_size=round(s.base_batch_size * beta))
    for n in s.train_sizes for beta in s.betas
}
full = s.train_sizes[-1]
contrast_lr = s.base_lr * s.betas[1]
contrast = {  # η fixed at the family's β = betas[1] value, S a quarter / four times its batch size
    factor: dataclasses.replace(base, lr=contrast_lr, batch_size=round(s.base_batch_size * s.betas[1] / factor))
    for factor in (4, 0.25)
}
print(f"{s.profile} profile: {s.model} on {s.dataset}, {s.epochs} epochs")
print(f"B1 grid η {s.learning_rates} × S {s.batch_sizes}")
print(f"family η = {s.base_lr}β, S = {s.base_batch_size}β, β {s.betas}, training sizes {s.train_sizes}")

# %% [markdown] tags=[]
# ## Run
#
# Cached runs are loaded; the rest run in parallel worker processes.

# %% tags=[]
grid_runs, family_runs, contrast_runs = (run_grid(configs, progress=False) for configs in (grid, family, contrast))


def endpoints(ds):
    """Sharpness and accuracy at the end of each run of ``ds`` (runs side by side along ``epoch``)."""
    return xr.Dataset({"lambda1": summaries.final(ds["lambda"].sel(eig=1)),
                       "hessian_fro": summaries.final(ds["hessian_frobenius"]),
                       "test_acc": summaries.final(ds["test_acc"]), "train_acc": summaries.final(ds["train_acc"])})


b1_grid = results.load_grid(grid_runs, ["lr", "batch_size"])
b1 = endpoints(b1_grid).assign(ratio=b1_grid.lr / b1_grid.batch_size)
results.save(b1, finding.out / "b1_endpoints.nc")
all_runs = [*grid_runs.values(), *family_runs.values(), *contrast_runs.values()]
print(f"{len(all_runs)} runs, {sum(int(r.attrs['diverged']) for r in all_runs)} diverged; results in {finding.out}")

# %% [markdown] tags=[]
# ## B1 — sharpness and accuracy against η/S

# %% tags=[]
plots.use_style()
fig, axes = plt.subplots(1, 3, figsize=(14, 4))
for ax, var, label in zip(axes, ["lambda1", "hessian_fro", "test_acc"], ["$\\lambda_1$", "$\\|H\\|_F$", "test accuracy"]):
    for lr in b1.lr.values:
        rows = b1.sel(lr=lr)
        ax.plot(rows.ratio, rows[var], "o-", label=f"η={lr:g}")
    ax.set_xscale("log")
    ax.set_xlabel("η / S")
    ax.set_ylabel(label)
axes[0].legend(frameon=False)
fig.suptitle(f"Endpoints of the η × S grid — {s.model} on {s.dataset}, {s.grid_epochs} epochs")
finding.save_figure(fig, "b1_ratio")
plt.show()
for r in (b1.sel(lr=lr, batch_size=b) for lr in b1.lr.values for b in b1.batch_size.values):
    print(f"η={float(r.lr):<5g} S={int(r.batch_size):<4d} η/S={float(r.ratio):.2e}  λ1 {float(r.lambda1):6.2f}  "
          f"‖H‖F {float(r.hessian_fro):6.2f}  test acc {float(r.test_acc):.3f}  train acc {float(r.train_acc):.3f}")

# %% [markdown] tags=[]
# ## B2 — the family η = η₀β, S = S₀β, and the loss along lines between endpoints
#
# Lines start at the endpoint θ₁ of the family's second member (β = 4 in the quick profile) and pass through the endpoint θ₂ of: the family's first member (same ratio), and the two contrast runs (4× and ¼ the ratio), for α ∈ [−1, 2]. At α < 0 the line leaves θ₁ on the far side from θ₂, at α > 1 it leaves θ₂ beyond it.

# %% tags=[]
reference = family_runs[full, s.betas[1]]
partners = {f"same η/S (β={s.betas[0]:g})": family_runs[full, s.betas[0]],
            "4× η/S": contrast_runs[4], "¼ η/S": contrast_runs[0.25]}
lines = {name: interpolation.between(reference, run) for name, run in partners.items()}
results.save(xr.concat(list(lines.values()), dim=xr.DataArray(list(lines), dims="partner")),
             finding.out / "b2_interpolation.nc")
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for name, line in lines.items():
    axes[0].plot(line.alpha, line.train_loss, label=name)
    axes[1].plot(line.alpha, line.test_acc, label=name)
for ax, label in zip(axes, ["training loss", "test accuracy"]):
    ax.axvline(0, color="0.6", lw=0.8)
    ax.axvline(1, color="0.6", lw=0.8)
    ax.set_xlabel("α  (θ = (1 − α)·θ₁ + α·θ₂)")
    ax.set_ylabel(label)
axes[0].set_yscale("log")
axes[0].legend(frameon=False)
fig.suptitle(f"From the β={s.betas[1]:g} endpoint θ₁ through another endpoint θ₂")
caption = (f"Training loss and test accuracy on the line from the β={s.betas[1]:g} endpoint θ₁ (α=0) through "
           "another endpoint θ₂ (α=1): one with the same η/S, and ones with 4× and ¼ of it.")
finding.save_figure(fig, "b2_interpolation", caption=caption)
plt.show()


# %% [markdown] tags=[]
# **Shape of a line.** Each endpoint's width along the line is the loss it gains when the line moves one segment length beyond it: rise₁ = L(α = −1) − L(0) beyond θ₁, rise₂ = L(2) − L(1) beyond θ₂. The shape statistic is |log(rise₂ / rise₁)|: zero when both ends are equally wide.

# %% tags=[]
def asymmetry(line):
    """|log(rise beyond θ₂ / rise beyond θ₁)| of a line's training loss."""
    loss = line.train_loss
    rise_first = float(loss.sel(alpha=-1.0) - loss.sel(alpha=0.0))
    rise_second = float(loss.sel(alpha=2.0) - loss.sel(alpha=1.0))
    return abs(np.log(rise_second / rise_first))


ends = endpoints(results.stack({"reference": reference, **partners}, "run"))
compare = {name: {"lambda1": abs(float(ends.lambda1.sel(run=name) - ends.lambda1.sel(run="reference"))),
                  "test_acc": abs(float(ends.test_acc.sel(run=name) - ends.test_acc.sel(run="reference"))),
                  "asymmetry": asymmetry(lines[name])} for name in partners}
for name, row in compare.items():
    print(f"{name:>16}: |Δλ1| {row['lambda1']:6.2f}  |Δ test acc| {row['test_acc']:.3f}  line asymmetry {row['asymmetry']:.2f}")

# %% [markdown] tags=[]
# ## B3 — where the invariance breaks

# %% tags=[]
fam = {n: endpoints(results.load_grid([family_runs[n, beta] for beta in s.betas], ["lr"])) for n in s.train_sizes}
results.save(xr.concat(list(fam.values()), dim=xr.DataArray([n or 0 for n in fam], dims="train_size")),
             finding.out / "b3_family.nc")
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for n, rows in fam.items():
    label = f"{n or 'all'} training examples"
    axes[0].plot(s.betas, rows.test_acc, "o-", label=label)
    axes[1].plot(s.betas, rows.lambda1, "o-", label=label)
for ax, label in zip(axes, ["test accuracy", "$\\lambda_1$ at the end"]):
    ax.set_xscale("log", base=2)
    ax.set_xlabel("β  (η = η₀β, S = S₀β)")
    ax.set_ylabel(label)
axes[0].legend(frameon=False)
fig.suptitle("One ratio η/S, growing β")
caption = ("Test accuracy and final λ₁ along the family η = η₀β, S = S₀β (one ratio η/S), on the full training "
           "set and on a subset: invariance in β holds up to a point, which comes earlier on less data.")
finding.save_figure(fig, "b3_breakdown", caption=caption)
plt.show()
for n, rows in fam.items():
    print(f"{n or 'all':>5} examples: test acc {np.round(rows.test_acc.values, 3)}  λ1 {np.round(rows.lambda1.values, 2)}")

# %% [markdown] tags=[]
# ## Verdict
#
# Thresholds, fixed before the runs:
#
# - **B1.sharpness-vs-ratio**: over the 9 grid endpoints, the rank correlation of λ₁ with η/S is at most −0.5, and so is that of ‖H‖_F (sharpness falls as η/S grows).
# - **B1.accuracy-vs-ratio**: the rank correlation of test accuracy with η/S is at least +0.5 (accuracy does not fall; it rises).
# - **B2.same-ratio-agrees**: the same-ratio pair (β = 1 and 4) differs less than either contrast pair (4× and ¼ the ratio) in all three of λ₁, test accuracy and line asymmetry.
# - **B3.breakdown**: the invariance holds at β while the test accuracy stays within 0.044 of β = 1's: two binomial standard errors of a difference of two accuracies on 1,000 test examples at ≈ 60% (2·√2·√(0.6·0.4/1000)). The smallest β beyond that is the breakdown point; it must exist for the smaller training set and come earlier than for the larger one (never breaking counts as later).
#
# **What does not reproduce robustly at the quick scale.** B2 and B3 hold at seed 1 but not at seed 0: at seed 0 the same-ratio pair (β = 1 and 4) ends 1.89 apart in λ₁, more than the ¼ η/S contrast (1.43), and the full set's test accuracy drifts 0.05 at β = 16, past the 0.044 tolerance, before the 1,000-example set breaks at β = 32. A verdict that flips with the seed is not a reproduction, so both are marked as known failures at this scale; averaging over seeds or more test examples is open work.

# %% tags=[]
# NBVAL_CHECK_OUTPUT
runs_b1 = b1.stack(run=["lr", "batch_size"])  # the grid's endpoints in one list
rho_lambda = claims.rank_correlation(runs_b1.ratio, runs_b1.lambda1)
rho_fro = claims.rank_correlation(runs_b1.ratio, runs_b1.hessian_fro)
rho_acc = claims.rank_correlation(runs_b1.ratio, runs_b1.test_acc)
same_name, *contrast_names = list(compare)
TOLERANCE = 2 * np.sqrt(2) * np.sqrt(0.6 * 0.4 / 1000)


def breakdown(rows):
    drift = np.abs(rows.test_acc.values - rows.test_acc.values[0])
    broken = [beta for beta, d in zip(s.betas, drift) if d > TOLERANCE]
    return min(broken) if broken else float("inf")


breaks = {str(n or "all"): breakdown(rows) for n, rows in fam.items()}
small, large = breaks[str(s.train_sizes[0])], breaks[str(s.train_sizes[-1] or "all")]
verdicts = [
    claims.claim("B1.sharpness-vs-ratio", "a higher η/S ends in a flatter region (λ1 and ‖H‖F fall)",
                 rho_lambda <= -0.5 and rho_fro <= -0.5, spearman_lambda1=rho_lambda, spearman_fro=rho_fro),
    claims.claim("B1.accuracy-vs-ratio", "a higher η/S generalises at least as well (test accuracy rises)",
                 rho_acc >= 0.5, spearman=rho_acc),
    claims.claim("B2.same-ratio-agrees", "same η/S, different β: same sharpness, accuracy and line shape",
                 all(compare[same_name][k] < min(compare[c][k] for c in contrast_names) for k in compare[same_name]),
                 differences=compare),
    claims.claim("B3.breakdown", "invariance breaks at large β, earlier for the smaller training set",
                 small < float("inf") and small < large, breakdown_beta=breaks, tolerance=TOLERANCE),
]
finding.report(verdicts, known_failures={"quick": {
    "B2.same-ratio-agrees": "seed-dependent at this scale: at seed 0 the same-ratio pair differs in λ1 by 1.89, more "
                            "than the ¼ η/S contrast (1.43); at seed 1 all of B2 holds",
    "B3.breakdown": "seed-dependent at this scale: at seed 0 the full set's test accuracy drifts 0.05 at β = 16 "
                    "(tolerance 0.044), before the 1,000-example set breaks (β = 32); at seed 1 it holds",
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
