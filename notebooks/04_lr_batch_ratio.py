# %% [markdown] tags=[]
# # 04 — Only the ratio η/S matters, until it does not (findings B1, B2, B3)
#
# *Jastrzębski et al., Three Factors Influencing Minima in SGD, 2017.*
#
# Seen as a stochastic differential equation, SGD with learning rate η and batch size S has a temperature proportional to η/S: to first order only the ratio sets which minima it reaches.
#
# **B1.** A higher η/S ends in a wider minimum (a smaller Hessian norm) and generalises better (higher validation accuracy). Paper: a ReLU MLP on Fashion-MNIST, η ∈ [0.005, 0.05], S ∈ [50, 1000], the Hessian norm and the validation accuracy plotted against η/S.
#
# **B2.** Scaling η and S by the same factor β leaves the endpoint unchanged: same sharpness, same accuracy, same shape of the loss along the line L((1−α)θ₁ + αθ₂), α ∈ [−1, 2], through two endpoints. Paper: VGG-11 on CIFAR-10, η = 0.1β, S = 50β, β ∈ {¼, 1, 4}, the pairs (1, 4) and (1, ¼).
#
# **B3.** The invariance breaks down at large β (η too large, S too small a share of the steps), and earlier for a smaller training set. Paper: VGG-11's validation accuracy against β on 12k, 22.5k and 45k examples.

# %% tags=["parameters"]
profile = "quick"
dataset = None  # None: the profile's dataset of the family (B2, B3)
model = None  # None: the profile's model of the family ("mlp": two hidden layers of 100 units)
grid_dataset = None  # None: the profile's dataset of the B1 grid
grid_model = None  # None: the profile's model of the B1 grid
learning_rates = None  # None: the profile's η grid (B1)
batch_sizes = None  # None: the profile's S grid (B1)
base_lr = None  # η₀ of the family (η₀β, S₀β) of B2 and B3
base_batch_size = None  # S₀
betas = None  # the family's β (must include 1, the reference)
train_sizes = None  # training set sizes of the family (None: the whole set)
epochs = None  # of the family
grid_epochs = None  # of the B1 grid
seeds = None  # None: the profile's number of seeds, seed, seed + 1, ...; every number is a mean over them
seed = 0
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown] tags=[]
# ## Setup
#
# **Quick profile: the MNIST-1D `cnn`** (two convolution blocks of width 32, 4,000 training and 1,000 test examples), plain SGD, 20 epochs, every number a mean over **two seeds** (`seed`, `seed + 1`). The `cnn` is the quick analogue of the papers' convnets: it reaches about 90% test accuracy where an MLP with two hidden layers of 100 units (`model="mlp", grid_model="mlp"`) reaches about 60% and overfits, and it trains in 20 epochs where the MLP needs 120 to bring its low-η/S runs near a minimum. Every endpoint is averaged over two seeds, and each line shape is measured per seed, then averaged.
#
# - **B1**: a 3 × 3 grid η ∈ {0.05, 0.1, 0.2} × S ∈ {32, 128, 512} (η/S spans a factor 64).
# - **B2, B3**: the family η = 0.2β, S = 128β for β ∈ {¼, 1, 2, 4} (β = 1 is the `cnn`'s usual η = 0.2, S = 128), on the whole training set (4,000 examples) and on a subset of 1,000. B2 compares β = 1 with β = ¼ and β = 4 (the paper's pairs) against two contrast runs at β = 1's η with S = 32 and S = 512 (four times and a quarter of the family's ratio).
# - At the end of each run: λ₁ (Lanczos) and the Frobenius norm of the Hessian (Hutchinson, 10 probe vectors) on 1,000 fixed training examples, in inference mode. Every epoch counts examples seen, so the runs of one ratio travel the same "SDE time" η · steps.
#
# **Paper profile** (for a GPU), as the paper ran it: B1 on Fashion-MNIST with a ReLU MLP, η ∈ {0.005, 0.01, 0.05} × S ∈ {50, 250, 1000}; we use 4 hidden layers of 256 units. B2/B3 on CIFAR-10 (45k/5k train/validation split, augmentation) with VGG-11, η = 0.1β, S = 50β (β = ¼ rounds S to 12), β ∈ {¼, 1, 4}, on 12k, 22.5k and 45k examples; accuracy is the validation accuracy. Deviations: the MLP's depth is not settled by the text we could read (the first version of the paper says 20 layers, a later summary 4), so the paper profile uses 4, and its width of 256 is ours; 100 epochs for every run and one seed, where the paper's epochs and number of seeds were not read in its text; the Hessian on 2,560 fixed unaugmented training examples.

# %% tags=[]
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sgdlab import run_grid
from sgdlab.findings import Finding, claims, interpolation, plots, summaries
from sgdlab.grid import tables
from sgdlab.task import data
from sgdlab.training import run_cache
from sgdlab.training.clock import Every

finding = Finding.open(
    "04_lr_batch_ratio", globals(),
    common=dict(betas=[0.25, 1.0, 4.0], top_k=1, probes=("losses", "eigen", "hessian_norm"),
                hutchinson_samples=10, save_parameters=True, grid_model_options={}),
    quick=dict(dataset="mnist1d", model="cnn", grid_dataset="mnist1d", grid_model="cnn",
               learning_rates=[0.05, 0.1, 0.2], batch_sizes=[32, 128, 512], base_lr=0.2, base_batch_size=128,
               betas=[0.25, 1.0, 2.0, 4.0], train_sizes=[1000, None], epochs=20, grid_epochs=20, seeds=2,
               hessian_size=1000),
    paper=dict(dataset="cifar10", model="vgg11", grid_dataset="fashion_mnist", grid_model="mlp",
               grid_model_options={"width": 256, "depth": 4}, learning_rates=[0.005, 0.01, 0.05],
               batch_sizes=[50, 250, 1000], base_lr=0.1, base_batch_size=50, train_sizes=[12000, 22500, None], epochs=100,
               grid_epochs=100, seeds=1, hessian_size=2560, augment=True, holdout="validation"),
    smoke=dict(train_size=64, eval_size=32, learning_rates=[0.1, 0.2], batch_sizes=[8, 32], base_batch_size=8,
               betas=[1.0, 4.0], train_sizes=[32, None], epochs=1, grid_epochs=1, seeds=1, hessian_size=16,
               hutchinson_samples=2, model_options={"width": 4} if profile == "paper" else {}),  # a narrow VGG-11
    cites=("jastrzebski2017",),
)
s = finding.settings
if 1.0 not in s.betas:
    raise ValueError(f"betas must include 1 (the reference of the family), got {s.betas}")
run_seeds = [seed + i for i in range(s.seeds)]
grid_data = finding.dataset(s.grid_dataset)


def at_end(config, epochs):
    """``config`` for ``epochs`` epochs, its losses measured at the start and the end, its Hessian at the end."""
    end = {name: Every(epochs=epochs, start=epochs) for name in ("eigen", "hessian_norm")}
    return dataclasses.replace(config, epochs=epochs, measure_every=epochs, every=end)


base = at_end(finding.config(), s.epochs)
grid_base = at_end(dataclasses.replace(finding.config(), dataset=grid_data, model=s.grid_model,
                                       model_options=s.grid_model_options,
                                       augment=s.grid_dataset == s.dataset and base.augment), s.grid_epochs)
grid = {(r, lr, b): dataclasses.replace(grid_base, lr=lr, batch_size=b, seed=r)
        for r in run_seeds for lr in s.learning_rates for b in s.batch_sizes}
full, largest = base.train_size, s.train_sizes[-1]  # the whole training set (None: all of it), its key
family = {
    (n, beta, r): dataclasses.replace(base, train_size=n or full, lr=s.base_lr * beta,
                                      batch_size=round(s.base_batch_size * beta), seed=r)
    for n in s.train_sizes for beta in s.betas for r in run_seeds
}
contrast = {  # β = 1's η, S a quarter / four times its batch size: 4× and ¼ of the family's ratio
    (factor, r): dataclasses.replace(base, lr=s.base_lr, batch_size=round(s.base_batch_size / factor), seed=r)
    for factor in (4, 0.25) for r in run_seeds
}
print(f"{s.profile} profile, seeds {run_seeds}")
print(f"B1: {s.grid_model} on {grid_data}, {s.grid_epochs} epochs, η {s.learning_rates} × S {s.batch_sizes}")
print(f"B2, B3: {s.model} on {base.dataset}, {s.epochs} epochs, η = {s.base_lr}β, S = {s.base_batch_size}β, "
      f"β {s.betas}, training sizes {s.train_sizes}")

# %% [markdown] tags=[]
# ## Run
#
# Cached runs are loaded; the rest run in parallel worker processes.

# %% tags=[]
grid_runs, family_runs, contrast_runs = (run_grid(configs, progress=False) for configs in (grid, family, contrast))


def endpoints(ds):
    """Sharpness and accuracy at the end of each run of ``ds``."""
    return xr.Dataset({"lambda1": summaries.final(ds["lambda"].sel(eig=1)),
                       "hessian_fro": summaries.final(ds["hessian_frobenius"]),
                       "test_acc": summaries.final(ds["test_acc"]), "train_acc": summaries.final(ds["train_acc"])})


b1_grid = tables.load_grid(grid_runs, ["seed", "lr", "batch_size"])
b1 = endpoints(b1_grid).mean("seed").assign(ratio=b1_grid.lr / b1_grid.batch_size)
run_cache.save(b1, finding.out / "b1_endpoints.nc")
all_runs = [*grid_runs.values(), *family_runs.values(), *contrast_runs.values()]
print(f"{len(all_runs)} runs, {sum(int(r.attrs['diverged']) for r in all_runs)} diverged; results in {finding.out}")

# %% [markdown] tags=[]
# ## B1 — sharpness and accuracy against η/S (means over seeds)

# %% tags=[]
plots.use_style()
fig, axes = plots.figure(1, 3, width="page", aspect=0.9)
colors = plots.continuous_key(fig, axes, b1.lr.values, r"learning rate $\eta$")
for ax, var, label in zip(axes, ["lambda1", "hessian_fro", "test_acc"],
                          ["$\\lambda_1$ at the end", "$\\|H\\|_F$ at the end", "test accuracy"]):
    for color, lr in zip(colors, b1.lr.values):
        rows = b1.sel(lr=lr)
        ax.plot(rows.ratio, rows[var], "o-", color=color)
    ax.set_xscale("log")
    ax.set_xlabel("$\\eta / S$")
    ax.set_ylabel(label)
caption = (f"Endpoints of the η × S grid ({s.grid_model} on {grid_data}, {s.grid_epochs} epochs, mean of "
           f"{len(run_seeds)} seeds) against η/S: the top Hessian eigenvalue, the Hessian's Frobenius norm "
           "and the test accuracy; the points of one η are joined, S growing to the left.")
finding.save_figure(fig, "b1_ratio", caption=caption)
plt.show()
for r in (b1.sel(lr=lr, batch_size=b) for lr in b1.lr.values for b in b1.batch_size.values):
    print(f"η={float(r.lr):<5g} S={int(r.batch_size):<4d} η/S={float(r.ratio):.2e}  λ1 {float(r.lambda1):6.2f}  "
          f"‖H‖F {float(r.hessian_fro):6.2f}  test acc {float(r.test_acc):.3f}  train acc {float(r.train_acc):.3f}")

# %% [markdown] tags=[]
# ## B2 — the family η = η₀β, S = S₀β, and the loss along lines between endpoints
#
# Lines start at the endpoint θ₁ of β = 1 and pass through the endpoint θ₂ of a run of the same seed: the family's β = ¼ and β = 4 (same ratio), and the two contrast runs (4× and ¼ the ratio), for α ∈ [−1, 2]. At α < 0 the line leaves θ₁ on the far side from θ₂, at α > 1 it leaves θ₂ beyond it. The figure shows the first seed.

# %% tags=[]
b2_betas = [beta for beta in s.betas if beta in (0.25, 4.0)] or [beta for beta in s.betas if beta != 1.0]
partner_keys = {**{f"same η/S (β={beta:g})": ("family", beta) for beta in b2_betas},
                "4× η/S": ("contrast", 4), "¼ η/S": ("contrast", 0.25)}


def partner(key, r):
    kind, value = key
    return family_runs[largest, value, r] if kind == "family" else contrast_runs[value, r]


alphas = (-1.0, 0.0, 1.0, 2.0) if finding.smoke else np.linspace(-1.0, 2.0, 13)  # steps of ¼; smoke: the shape's points
lines = xr.concat([xr.concat([interpolation.between(family_runs[largest, 1.0, r], partner(key, r), alphas)
                              for key in partner_keys.values()], dim=xr.DataArray(list(partner_keys), dims="partner"))
                   for r in run_seeds], dim=xr.DataArray(run_seeds, dims="seed"))
run_cache.save(lines, finding.out / "b2_interpolation.nc")
fig, axes = plots.figure(1, 2, width="page", aspect=0.7)
for name in partner_keys:
    line = lines.sel(partner=name, seed=run_seeds[0])
    axes[0].plot(line.alpha, line.train_loss, label=name)
    axes[1].plot(line.alpha, line.test_acc, label=name)
for ax, label in zip(axes, ["training loss", "test accuracy"]):
    ax.axvline(0, color="0.6", lw=0.8)
    ax.axvline(1, color="0.6", lw=0.8)
    ax.set_xlabel("$\\alpha$, on the line $(1-\\alpha)\\,\\theta_1 + \\alpha\\,\\theta_2$")
    ax.set_ylabel(label)
axes[0].set_yscale("log")
axes[0].legend(frameon=False, title=f"$\\theta_2$ (seed {run_seeds[0]})")
caption = ("Training loss and test accuracy on the line from the β=1 endpoint θ₁ (α=0) through another endpoint "
           "θ₂ (α=1): ones with the same η/S, and ones with 4× and ¼ of it.")
finding.save_figure(fig, "b2_interpolation", caption=caption)
plt.show()


# %% [markdown] tags=[]
# **Shape of a line.** Each endpoint's width along the line is the loss it gains when the line moves one segment length beyond it: rise₁ = L(α = −1) − L(0) beyond θ₁, rise₂ = L(2) − L(1) beyond θ₂. The shape statistic is |log(rise₂ / rise₁)|: zero when both ends are equally wide. It is measured on each seed's line, then averaged over seeds; sharpness and accuracy are compared as means over seeds.

# %% tags=[]
def asymmetry(line):
    """|log(rise beyond θ₂ / rise beyond θ₁)| of a line's training loss (along the other dims)."""
    loss = line.train_loss
    rise_first = loss.sel(alpha=-1.0) - loss.sel(alpha=0.0)
    rise_second = loss.sel(alpha=2.0) - loss.sel(alpha=1.0)
    return np.abs(np.log(rise_second / rise_first))


def mean_end(runs):
    """The seed-mean endpoint of a list of runs (one per seed)."""
    return endpoints(tables.stack(dict(zip(map(str, run_seeds), runs)), "seed")).mean("seed")


reference = mean_end([family_runs[largest, 1.0, r] for r in run_seeds])
shape = asymmetry(lines).mean("seed")
compare = {}
for name, key in partner_keys.items():
    ends = mean_end([partner(key, r) for r in run_seeds])
    compare[name] = {"lambda1": abs(float(ends.lambda1 - reference.lambda1)),
                     "test_acc": abs(float(ends.test_acc - reference.test_acc)),
                     "asymmetry": float(shape.sel(partner=name))}
for name, row in compare.items():
    print(f"{name:>16}: |Δλ1| {row['lambda1']:6.2f}  |Δ test acc| {row['test_acc']:.3f}  line asymmetry {row['asymmetry']:.2f}")

# %% [markdown] tags=[]
# ## B3 — where the invariance breaks

# %% tags=[]
fam = {n: endpoints(tables.load_grid([family_runs[n, beta, r] for beta in s.betas for r in run_seeds],
                                      ["lr", "seed"])).mean("seed") for n in s.train_sizes}
run_cache.save(xr.concat(list(fam.values()), dim=xr.DataArray([n or 0 for n in fam], dims="train_size")),
             finding.out / "b3_family.nc")
fig, axes = plots.figure(1, 2, width="page", aspect=0.7)
for n, rows in fam.items():
    label = f"{n or 'all'} training examples"
    axes[0].plot(s.betas, rows.test_acc, "o-", label=label)
    axes[1].plot(s.betas, rows.lambda1, "o-", label=label)
for ax, label in zip(axes, ["test accuracy", "$\\lambda_1$ at the end"]):
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter("{x:g}")
    ax.set_xlabel("$\\beta$ ($\\eta = \\eta_0\\beta$, $S = S_0\\beta$)")
    ax.set_ylabel(label)
axes[0].legend(frameon=False)
caption = (f"Test accuracy and final λ₁ along the family η = η₀β, S = S₀β (one ratio η/S), on the full training "
           f"set and on a subset, mean of {len(run_seeds)} seeds: invariance in β holds up to a point, which comes "
           "earlier on less data.")
finding.save_figure(fig, "b3_breakdown", caption=caption)
plt.show()
for n, rows in fam.items():
    print(f"{n or 'all':>5} examples: test acc {np.round(rows.test_acc.values, 3)}  λ1 {np.round(rows.lambda1.values, 2)}")

# %% [markdown] tags=[]
# ## Verdict
#
# Thresholds, fixed from the paper's words before the runs; every number is a mean over the seeds:
#
# - **B1.sharpness-vs-ratio**: over the 9 grid endpoints, the rank correlation of the Hessian norm ‖H‖_F (the paper's measure) with η/S is at most −0.5. The correlation of λ₁ is reported, not required.
# - **B1.accuracy-vs-ratio**: the rank correlation of test (paper: validation) accuracy with η/S is at least +0.5.
# - **B2.same-ratio-agrees**: each same-ratio pair (β = 1 with β = ¼, and with β = 4) differs less than both contrast pairs (4× and ¼ the ratio) in each of λ₁, test accuracy and line asymmetry.
# - **B3.breakdown**: the invariance holds at β > 1 while the test accuracy has not fallen more than two binomial standard errors of a difference of two accuracies below β = 1's (2·√(2p(1−p)/n), p the accuracy at β = 1 of that training set, n the test examples). The smallest β > 1 beyond that is the breakdown point; it must exist for the smallest training set and come earlier than for the whole set (never breaking counts as later).

# %% [markdown] tags=[]
# **What reproduces at the quick scale.** B1 does: across the grid the Hessian norm falls and the test accuracy rises with η/S (rank correlations in `claims.json`; the low-η/S runs with large batches end both sharper and far less accurate). **B2 and B3 do not.** At β = 4 (η = 0.8, S = 512, an eighth of the 4,000 examples per step, 160 steps in all) the whole set is already past the breakdown: at seed 0 the pair (1, 4) differs in test accuracy by 0.177 (contrasts 0.093 and 0.304) and in line asymmetry by 2.48 (contrasts 2.49 and 1.17), and the pair (1, ¼) agrees in accuracy (0.030) but differs more in λ₁ (4.42) than the ¼ η/S contrast (2.18). The paper's pair (S = 200 of 45,000 examples) lies well inside the invariant regime. For B3 the 1,000-example set trains only 160 steps at β = 1 (test accuracy 0.42 at seed 0), so its drop with β is not larger than the whole set's: at seed 0 both sets first break at β = 4 (drops 0.25 and 0.18 against tolerances 0.044 and 0.032), at seed 2 both at β = 2. Both are known failures at this scale, and the paper profile checks them at the paper's scale.
#
# **The family in the paper's regime, tried.** With a family whose β = 4 is a regular setting — η = 0.05β, S = 32β, β ∈ {1, 2, 4, 8}, on 16,000 examples from the same generator and a 4,000-example subset trained for as many steps, each number a mean over three seeds, started at seeds 0, 1, 2 and 3 — B2 and B3 come closer but neither holds at every start:
# - **B2.** Accuracy and line shape agree between β = 1 and β = 4 at every start (|Δ test accuracy| 0.001-0.017 against at least 0.075 for the contrasts; line asymmetry 0.10-0.97 against at least 1.35), but the sharpness does not: β = 4's λ₁ lies 38-45% below β = 1's, held there by its own step (η = 0.2, ηλ₁/2 = 0.87-0.97), and at the start at seed 2 it differs from β = 1 more than the ¼-ratio contrast does (|Δλ₁| 7.1 against 6.1).
# - **B3.** The smaller set breaks at β = 4 at every start; the larger at β = 8 for the starts at seeds 0-2, but at β = 4 for the start at seed 3 (a drop of 0.017 against a tolerance of 0.015), so "earlier on less data" holds at three starts of four.
#
# **A smaller base step, tried.** The family η = 0.025β, S = 16β (the same ratio; β = 8 is η = 0.2, S = 128), β ∈ {1, 2, 4, 8, 16}, on 16,000 examples and on subsets of 4,000 and 1,000 trained for as many steps (8,000/β, eight epochs of the whole set), seeds 0-5, test accuracy on the 4,000 test examples. The whole set keeps its accuracy within 0.008 of β = 1's up to β = 16 (seed means 0.942, 0.940, 0.942, 0.935, 0.934). The 4,000-example subset keeps it up to β = 8 (0.917-0.923) and loses 0.021 at β = 16 (0.897), where two seeds of the six lose 0.04 and 0.10 at η = 0.4. The 1,000-example subset gains instead (0.752, 0.755, 0.767, 0.786, 0.807): trained for as many steps it fits its training set exactly, and a larger step generalises better. Over the six seeds, the pair of 4,000 and 16,000 examples reads as the paper's breakdown, earlier on less data; on three-seed means, as this notebook judges, it holds at the starts at seeds 1 and 3 and not at 0 and 2 (at 0 the whole set's drop at β = 8 is 0.012 against a tolerance of 0.011), and the smallest set never breaks. B1 and B2 held at the starts at seeds 0-3 in an earlier run of this family. The verdicts above stay on the earlier protocol: whether six seeds a start would give a B3 verdict that holds at every start is untested (one six-seed sample was measured), and six seeds of two sets would add about 8 minutes on 2 cores to a notebook that now takes under 2.

# %% tags=[]
# NBVAL_CHECK_OUTPUT
runs_b1 = b1.stack(run=["lr", "batch_size"])  # the grid's endpoints in one list
rho_lambda = claims.rank_correlation(runs_b1.ratio, runs_b1.lambda1)
rho_fro = claims.rank_correlation(runs_b1.ratio, runs_b1.hessian_fro)
rho_acc = claims.rank_correlation(runs_b1.ratio, runs_b1.test_acc)
same_names = [name for name in compare if name.startswith("same")]
contrast_names = [name for name in compare if name not in same_names]
n_test = len(data.load(base.dataset, holdout=base.holdout, seed=seed).y_test)
n_test = min(n_test, base.eval_size or n_test)


def breakdown(rows):
    """The smallest β > 1 whose accuracy fell below β = 1's by more than the tolerance (inf: none), and the tolerance."""
    p = float(rows.test_acc.sel(lr=s.base_lr))
    tolerance = 2 * np.sqrt(2 * p * (1 - p) / n_test)
    fallen = [beta for beta, acc in zip(s.betas, rows.test_acc.values) if beta > 1 and acc < p - tolerance]
    return (min(fallen) if fallen else float("inf")), tolerance


breaks = {str(n or "all"): breakdown(rows) for n, rows in fam.items()}
small, large = breaks[str(s.train_sizes[0])][0], breaks[str(s.train_sizes[-1] or "all")][0]
verdicts = [
    claims.claim("B1.sharpness-vs-ratio", "a higher η/S ends in a flatter region (the Hessian norm falls)",
                 rho_fro <= -0.5, spearman_fro=rho_fro, spearman_lambda1=rho_lambda),
    claims.claim("B1.accuracy-vs-ratio", "a higher η/S generalises better (test accuracy rises)",
                 rho_acc >= 0.5, spearman=rho_acc),
    claims.claim("B2.same-ratio-agrees", "same η/S, different β: same sharpness, accuracy and line shape",
                 all(compare[same][k] < min(compare[c][k] for c in contrast_names)
                     for same in same_names for k in compare[same]), differences=compare),
    claims.claim("B3.breakdown", "invariance breaks at large β, earlier for the smaller training set",
                 small < float("inf") and small < large,
                 breakdown_beta={k: b for k, (b, _) in breaks.items()}, tolerance={k: t for k, (_, t) in breaks.items()},
                 test_acc={str(n or "all"): rows.test_acc.values for n, rows in fam.items()}),
]
finding.report(verdicts, known_failures={"quick": {
    "B2.same-ratio-agrees": "β = 4 (η = 0.8, S = 512 of 4,000 examples, 160 steps) is past the breakdown: at seed 0 "
                            "its accuracy differs by 0.177 (contrasts 0.093, 0.304), line asymmetry 2.48 (2.49, 1.17); "
                            "β = ¼ differs in λ1 by 4.42, more than the ¼ η/S contrast (2.18)",
    "B3.breakdown": "the 1,000-example set is undertrained at β = 1 (test accuracy 0.42 at seed 0) and breaks no "
                    "earlier than the whole set: both at β = 4 at seed 0 (drops 0.25, 0.18; tolerances 0.044, "
                    "0.032), both at β = 2 at seed 2",
}})

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
