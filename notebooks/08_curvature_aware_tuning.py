# %% [markdown]
# # 08 — Curvature-aware learning-rate tuning on the edge (finding C3)
#
# *Roulet, Agarwala, Grill, Swirszcz, Blondel, Pedregosa, Stepping on the Edge: Curvature Aware Learning Rate Tuners, NeurIPS 2024.*
#
# **C3.** The tuner CDAT sets η_t = σ·max(−∇f(w_t)ᵀu_t, 0)/|u_tᵀ∇²f(w_t)u_t| for the update direction u_t (−∇f for gradient descent). With σ = 1, the greedy quadratic step, full-batch GD *undershoots* the edge of stability: η_tλ₁ stays below 2, λ₁ keeps growing, η_t keeps falling, and it ends worse than a tuned constant step. With σ = 2, "on edge", λ₁ stabilises near 2/η_t, η_t starts small and grows like a warm-up, and the run matches or beats the tuned constant step.
#
# We run CDAT at σ = 1 and σ = 2 in notebook 07's setting and compare with its constant-η runs (the same cached runs) and one larger constant η.

# %% tags=["parameters"]
profile = "quick"
sigmas = None  # None: the profile's σ grid
extra_learning_rates = None  # None: the profile's constant η beyond notebook 07's (quick: chosen at this seed)
steps = None  # None: the profile's step budget
seed = 0
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown]
# ## Setup
#
# Notebook 07's setting (quick: 1,000 MNIST-1D examples, a 2×100 tanh MLP with PyTorch's default initialisation, MSE, full-batch GD, 1,000 steps, λ₁ every 20 steps). CDAT measures u_tᵀ∇²f u_t by one exact Hessian-vector product on the whole training set at every step (no EMA: full batch); its η_t is recorded every step. The constant-η grid is notebook 07's, chosen at each seed from that seed's λ₁ at initialisation (2/η = 2.5, 2 and 1.5 times λ₁(0); η = 0.2, 0.24, 0.33 at seed 0), and one larger step with 2/η = 1.25 λ₁(0) (η = 0.39 at seed 0); the best constant step is the one with the lowest final training loss. The final training loss is the mean over the last 5% of steps (the loss oscillates at the edge). The **paper** profile uses notebook 07's paper setting (CIFAR-10, 5,000 images, 2×200 tanh MLP, MSE); the paper's own full-batch experiments also cover other architectures and budgets (**[verify]**: not checked against its text).

# %%
import dataclasses

import matplotlib.pyplot as plt
import numpy as np

from sgdlab import run_grid
from sgdlab.findings import Finding, claims, eos_settings, plots
from sgdlab.optim import CDAT
from sgdlab.theory import edge_of_stability

finding = Finding.open(
    "08_curvature_aware_tuning", globals(),
    common=dict(sigmas=[1.0, 2.0]),
    quick=eos_settings.SETTINGS["quick"] | dict(extra_learning_rates=None, extra_edge_ratios=[1.25]),
    paper=eos_settings.SETTINGS["paper"] | dict(extra_learning_rates=[0.08], extra_edge_ratios=None),
    smoke=eos_settings.SETTINGS["smoke"],
    cites=("roulet2024", "cohen2021"),
)
s = finding.settings
base = finding.config()
gd = eos_settings.full_batch(base, 0.1, s.steps, s.eigen_every)  # its η is replaced by each run's
learning_rates = eos_settings.step_sizes(gd, s.edge_ratios, s.learning_rates)  # notebook 07's
learning_rates += eos_settings.step_sizes(gd, s.extra_edge_ratios, s.extra_learning_rates)
constant = {lr: dataclasses.replace(gd, lr=lr) for lr in learning_rates}
tuned = {sigma: dataclasses.replace(constant[learning_rates[0]], optimizer=CDAT(sigma=sigma)) for sigma in s.sigmas}
print(f"{s.profile} profile: {s.model} {s.model_options} on {s.train_size} {s.dataset} examples, {s.loss}, {s.steps} steps")
print(f"CDAT σ = {s.sigmas}; constant η = {sorted(constant)}")

# %% [markdown]
# ## Run
#
# Notebook 07's constant-η runs come from the cache when it ran before.

# %%
runs = run_grid({("constant", lr): c for lr, c in constant.items()} | {("cdat", sg): c for sg, c in tuned.items()},
                progress=False)


def final_loss(ds):
    """The mean training loss over the last 5% of the steps taken."""
    loss = ds.batch_loss.values
    return float(np.mean(loss[-max(1, len(loss) // 20):]))


def lr_and_sharpness(ds):
    """(steps, η_t, λ₁) at the measurement steps before the last two; η_t: the mean of the two steps taken
    from that state (greedy CDAT's η_t alternates from step to step)."""
    lam = ds["lambda"].sel(eig=1).dropna("step")
    lam = lam.sel(step=lam.step[lam.step < len(ds.iteration) - 1])
    return lam.step.values, edge_of_stability.cycle_step_size(ds.step_lr.values, lam.step.values), lam.values


for (kind, value), ds in runs.items():
    print(f"{kind:>8} {'σ' if kind == 'cdat' else 'η'}={value:<5g} final training loss {final_loss(ds):.4f}, "
          f"accuracy {float(ds.batch_acc[-1]):.3f}, diverged: {bool(ds.attrs['diverged'])}")

# %% [markdown]
# ## η_t, λ₁ against 2/η_t, and the training loss
#
# As the paper's figures: the tuned step size over the steps (constant steps as horizontal lines), the sharpness with the edge 2/η_t (dashed) for each σ, and the training loss (log scale).

# %%
plots.use_style()
colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
for i, sigma in enumerate(s.sigmas):
    ds, colour = runs[("cdat", sigma)], colours[i]
    steps_, lr_t, lam = lr_and_sharpness(ds)
    axes[0].plot(ds.iteration, ds.step_lr, color=colour, label=f"CDAT σ={sigma:g}")
    axes[1].plot(steps_, lam, color=colour, marker=".", label=f"λ₁, CDAT σ={sigma:g}")
    axes[1].plot(steps_, 2 / lr_t, color=colour, ls="--", lw=1, label=f"2/η_t, σ={sigma:g}")
    axes[2].plot(ds.iteration, ds.batch_loss, color=colour, lw=0.8, label=f"CDAT σ={sigma:g}")
for j, lr in enumerate(sorted(constant)):
    ds, colour = runs[("constant", lr)], colours[len(s.sigmas) + j]
    axes[0].axhline(lr, color=colour, ls=":", lw=1, label=f"constant η={lr:g}")
    axes[2].plot(ds.iteration, ds.batch_loss, color=colour, lw=0.6, alpha=0.7, label=f"η={lr:g}")
axes[0].set(yscale="log", xlabel="step", ylabel="step size η_t", title="learning rate")
axes[1].set(xlabel="step", ylabel="sharpness λ₁", title="sharpness and the edge 2/η_t")
axes[2].set(yscale="log", xlabel="step", ylabel="training loss (MSE)", title="training loss")
for ax in axes:
    ax.legend(fontsize=8)
fig.suptitle(f"CDAT against constant steps — full-batch GD, tanh MLP on {s.train_size} {s.dataset} examples")
caption = (f"Full-batch GD on {s.train_size} {s.dataset} examples with CDAT (σ = {s.sigmas}) and constant η: "
           f"η_t per step (left), λ₁ with 2/η_t dashed (middle), training loss (right).")
finding.save_figure(fig, "curvature_aware_tuning", caption=caption)
plt.show()

# %% [markdown]
# ## Summaries
#
# Quarters are of the measurements (λ₁) or steps (η_t) of each run; η_tλ₁/2 = 1 is the edge (≥ σ/2 at each step by construction, since η_tλ₁ ≥ σ when u = −∇f). At σ = 1, η_t alternates between two values from one step to the next (e.g. 0.078 and 0.199 at seed 0, steps 500–508), so η_t at the measurement step alone depends on its parity: at seed 0 the eigenvalue steps fall on the small step (η_tλ₁/2 ≈ 0.7), at seed 1 on the large one (≈ 2.3). The edge is therefore read with η_t averaged over the two steps taken from each measured state.

# %%
best_lr = min(constant, key=lambda lr: final_loss(runs[("constant", lr)]))
best_loss = final_loss(runs[("constant", best_lr)])


def quarter_means(values):
    return [float(np.mean(part)) for part in np.array_split(np.asarray(values, dtype=float), 4)]


table = {}
for sigma in s.sigmas:
    ds = runs[("cdat", sigma)]
    steps_, lr_t, lam = lr_and_sharpness(ds)
    edge = edge_of_stability.normalised_sharpness(lam, lr_t)
    table[f"σ={sigma:g}"] = {
        "median_eta_lambda_over_2": float(np.median(edge)),
        "median_eta_lambda_over_2_second_half": float(np.median(edge[len(edge) // 2:])),
        "lambda1_quarter_means": quarter_means(lam), "lr_quarter_means": quarter_means(ds.step_lr.values),
        "lr_first_5pct": float(np.mean(ds.step_lr.values[:max(1, len(ds.step_lr) // 20)])),
        "lambda1_spread_second_half": float(np.ptp(lam[len(lam) // 2:]) / np.median(lam[len(lam) // 2:])),
        "final_loss": final_loss(ds), "best_constant_lr": best_lr, "best_constant_final_loss": best_loss,
    }
for name, row in table.items():
    print(f"{name}: median ηλ1/2 {row['median_eta_lambda_over_2']:.3f} (second half "
          f"{row['median_eta_lambda_over_2_second_half']:.3f}); λ1 by quarter "
          f"{[round(v, 2) for v in row['lambda1_quarter_means']]}; η_t by quarter "
          f"{[round(v, 3) for v in row['lr_quarter_means']]}; final loss {row['final_loss']:.4f} "
          f"(best constant η={best_lr:g}: {best_loss:.4f})")

# %% [markdown]
# ## Verdict
#
# Thresholds fixed from the paper's words before the runs were looked at.
#
# - **C3.greedy-undershoots** (σ = 1): the median of η_tλ₁/2 is below 0.9 (below the edge), λ₁ is higher in the last quarter than in the second, and η_t lower.
# - **C3.greedy-ends-worse** (σ = 1): its final training loss is above the best constant step's.
# - **C3.on-edge-stabilises** (σ = 2): over the second half, the median of η_tλ₁/2 lies in [0.9, 1.2] and λ₁ varies by at most 50% of its median (max − min).
# - **C3.on-edge-warm-up** (σ = 2): η_t over the first 5% of steps is below its mean over the last half.
# - **C3.on-edge-matches-constant** (σ = 2): its final training loss is at most 1.05 times the best constant step's.
#
# **Known failure at the quick scale: C3.greedy-undershoots.** Greedy σ = 1 does *not* stay below the edge here. Its η_t settles into a two-step cycle (0.078 and 0.199 at seed 0, 0.077 and 0.276 at seed 1, steps 500–508), and with η_t averaged over the cycle the median η_tλ₁/2 is 1.21, 1.45, 1.12 and 1.48 at seeds 0, 1, 2 and 3: at or above the edge. Read at a single step, the value depends on the parity of the measurement step: 0.70 at seed 0 (its eigenvalue steps fall on the short step) but 2.25 at seed 1, and 1.73 at seed 0 one step later; an earlier version of this check, read that way, passed at seed 0 and failed at seed 1. The rest of the claim holds at every seed: λ₁ keeps rising (quarter means from about 8 to 20–27) and η_t keeps falling (from about 0.32 to 0.10–0.16), and σ = 1 ends above the best constant step (0.237, 0.224, 0.248, 0.236 against 0.197, 0.222, 0.204, 0.207 at seeds 0–3; at seed 1 by only 1%).
#
# **Known failure at the quick scale: C3.on-edge-warm-up.** Here σ = 2 does *not* start small: at initialisation the gradient lies mostly outside the sharpest direction, so σ·gᵀg/gᵀ∇²f g is large (η_t ≈ 0.63–0.67 on average over the first quarter of the steps at seeds 0–3, with λ₁ ≈ 3.9–4.1), and η_t then falls as λ₁ sharpens to 2/η_t (quarter means 0.66, 0.37, 0.31, 0.28 at seed 0). The other σ = 2 claims hold at seeds 0–3: η_tλ₁/2 ≈ 1.07–1.08 over the second half with λ₁ levelling off, and it ends below every constant step tried (0.159, 0.160, 0.173, 0.164 against the best constant 0.197, 0.222, 0.204, 0.207). Tried: this scale only (1,000 MNIST-1D examples, 2×100 tanh MLP, 1,000 steps; constant η at 2/η = 2.5, 2, 1.5 and 1.25 times λ₁(0) at each seed).

# %%
# NBVAL_CHECK_OUTPUT
greedy, edge_row = table.get("σ=1"), table.get("σ=2")
verdicts = [
    claims.claim("C3.greedy-undershoots", "σ=1 stays below the edge: ηλ1 < 2, λ1 keeps rising, η_t keeps falling",
                 greedy["median_eta_lambda_over_2"] < 0.9
                 and greedy["lambda1_quarter_means"][3] > greedy["lambda1_quarter_means"][1]
                 and greedy["lr_quarter_means"][3] < greedy["lr_quarter_means"][1], **greedy),
    claims.claim("C3.greedy-ends-worse", "σ=1 ends with a higher training loss than the best constant step",
                 greedy["final_loss"] > best_loss, final_loss=greedy["final_loss"], best_constant=best_loss),
    claims.claim("C3.on-edge-stabilises", "σ=2 holds ηλ1 near 2 with a stabilised λ1",
                 0.9 <= edge_row["median_eta_lambda_over_2_second_half"] <= 1.2
                 and edge_row["lambda1_spread_second_half"] <= 0.5, **edge_row),
    claims.claim("C3.on-edge-warm-up", "σ=2's step size starts small and grows, like a warm-up",
                 edge_row["lr_first_5pct"] < np.mean(edge_row["lr_quarter_means"][2:]), **edge_row),
    claims.claim("C3.on-edge-matches-constant", "σ=2 ends at least as low as the best constant step (within 5%)",
                 edge_row["final_loss"] <= 1.05 * best_loss, final_loss=edge_row["final_loss"], best_constant=best_loss),
]
finding.report(verdicts, known_failures={"quick": {
    "C3.greedy-undershoots": "σ=1's η_t alternates with period two; averaged over the cycle, median η_tλ1/2 = 1.1–1.5 "
                             "at seeds 0–3 (at or above the edge, not below it); λ1 does rise and η_t fall",
    "C3.on-edge-warm-up": "at initialisation σ·gᵀg/gᵀHg is large (λ1 low, g off the top eigenvector): η_t starts high "
                          "and falls as λ1 sharpens, instead of growing"}})

# %% [markdown]
# ## Reference
#
# ```bibtex
# @inproceedings{roulet2024stepping,
#   title     = {Stepping on the Edge: Curvature Aware Learning Rate Tuners},
#   author    = {Roulet, Vincent and Agarwala, Atish and Grill, Jean-Bastien and Swirszcz, Grzegorz and
#                Blondel, Mathieu and Pedregosa, Fabian},
#   booktitle = {Advances in Neural Information Processing Systems},
#   year      = {2024},
#   eprint    = {2407.06183},
#   archivePrefix = {arXiv}
# }
#
# @inproceedings{cohen2021gradient,
#   title     = {Gradient Descent on Neural Networks Typically Occurs at the Edge of Stability},
#   author    = {Cohen, Jeremy and Kaur, Simran and Li, Yuanzhi and Kolter, J. Zico and Talwalkar, Ameet},
#   booktitle = {International Conference on Learning Representations},
#   year      = {2021},
#   eprint    = {2103.00065},
#   archivePrefix = {arXiv}
# }
# ```
