# %% [markdown]
# # 08 — Curvature-aware learning-rate tuning on the edge (finding C3)
#
# *Roulet, Agarwala, Grill, Swirszcz, Blondel, Pedregosa, Stepping on the Edge: Curvature Aware Learning Rate Tuners, NeurIPS 2024.*
#
# **C3.** The tuner CDAT sets $\eta_t = \sigma\max(-\nabla f(w_t)^\top u_t, 0)/|u_t^\top\nabla^2 f(w_t)\,u_t|$ for the update direction $u_t$ ($-\nabla f$ for gradient descent); σ = 1 is the greedy quadratic step, σ = 2 puts the step "on edge". In the paper's words (abstract): "classical learning rate tuners may yield greater one-step loss reduction, yet they ultimately underperform in the long term when compared to constant learning rates in the full batch regime. These models break the stabilization of the sharpness", and "In the full batch regime, CDAT shows behavior akin to prefixed warm-up schedules on deep learning objectives, outperforming tuned constant learning rates." Its mechanism for the greedy tuner: the step size falls a lot while the sharpness λ₁ rises, their product $\eta_t\lambda_1$ staying roughly constant, below the edge of stability ($\eta_t\lambda_1$ < 2), and the update's alignment with the top eigenvector e₁ is plotted beside them.
#
# We run CDAT at σ = 1 and σ = 2 in notebook 07's setting and compare with its constant-η runs (the same cached runs) and one larger constant η; σ = 2 also runs in a second setting whose sharpness falls early, where a warm-up can show.

# %% tags=["parameters"]
profile = "quick"
sigmas = None  # None: the profile's σ grid
extra_learning_rates = None  # None: the profile's constant η beyond notebook 07's (quick: chosen at this seed)
steps = None  # None: the profile's step budget
mean_seeds = None  # None: the profile's number of seeds (from this one on) in the final-loss comparison
seed = 0
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown]
# ## Setup
#
# Notebook 07's setting (quick: 1,000 MNIST-1D examples, a 2×100 tanh MLP with PyTorch's default initialisation, MSE, full-batch GD, 1,000 steps). CDAT measures $u_t^\top\nabla^2 f\,u_t$ by one exact Hessian-vector product on the whole training set at every step (no EMA: full batch); its $\eta_t$ is recorded every step. The constant-η grid is notebook 07's, chosen at each seed from that seed's λ₁ at initialisation (2/η = 2.5, 2 and 1.5 times λ₁(0); η = 0.2, 0.24, 0.33 at seed 0), and one larger step with 2/η = 1.25 λ₁(0) (η = 0.39 at seed 0); the best constant step is the one with the lowest final training loss, the mean over the last 5% of steps (the loss oscillates at the edge).
#
# **Per step of the cycle.** Greedy σ = 1 settles into a two-step cycle (a short step, then a long one), so λ₁ is measured at two consecutive states every 100 steps (by warm-started Lanczos on all 1,000 examples), together with the update's alignment $|\cos(u_t, e_1)|$ (full batch: $u_t = -\nabla f$); $\eta_t\lambda_1$ is read at the short and at the long step of each pair. The trend of a quantity over the second half of the run is the factor by which it changes, from a least-squares line through its logarithm; greedy σ = 1 runs at each of the seeds compared below, and its trend factors are averaged over them (geometric mean). σ = 2 is measured every 40 steps.
#
# **Ends worse, over seeds.** The final losses are compared over seeds `seed` … `seed + 2` (the same runs of σ = 1), paired by seed: at this notebook's seed against the best of its constant grid; at the other seeds against the constant step at the best ratio 2/(ηλ₁(0)) of this seed, from that seed's own λ₁(0) (a step tuned at another seed, which can only favour σ = 1).
#
# **Where a warm-up can show.** With u = −∇f, $\eta_t\lambda_1$ ≥ σ at every step, so σ = 2 keeps $\eta_t$ at or below 2/λ₁: $\eta_t$ can only grow where λ₁ falls. In notebook 07's setting λ₁ rises from initialisation (progressive sharpening), so no warm-up can show there. The second setting is the same tanh MLP with the Keras (Glorot-uniform) initialisation and zero biases: larger weights (about 1.7 times PyTorch's default on the hidden layers), whose λ₁ starts high and falls early; σ = 2 runs there for the same 1,000 steps, λ₁ every 50 steps.
#
# The **paper** profile uses notebook 07's paper setting (CIFAR-10, 5,000 images, 2×200 tanh MLP, MSE), its warm-up setting the same MLP with Glorot initialisation.
#
# **Deviations.** The claims below follow the abstract quoted above and the mechanism as stated; three details of the paper's figures were not read in its text: which models show the warm-up (its Figure 5 caption speaks of "various datasets, architectures, losses in a full batch regime"), the exact wording of "below the edge", and whether that reads $\eta_t\lambda_1$ at every step or averaged over steps. Our σ = 1 tuner is the quadratically greedy rule; the paper's linesearch tuner is not run.

# %%
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from scipy import stats

from sgdlab import run_grid
from sgdlab.findings import Finding, claims, eos_settings, plots, summaries
from sgdlab.optim import CDAT
from sgdlab.theory import edge_of_stability
from sgdlab.training.clock import Every

finding = Finding.open(
    "08_curvature_aware_tuning", globals(),
    common=dict(sigmas=[1.0, 2.0], mean_seeds=3, pair_every=100, edge_every=40, warm_up_every=50),
    quick=eos_settings.SETTINGS["quick"] | dict(
        extra_learning_rates=None, extra_edge_ratios=[1.25],
        warm_up_model_options={"width": 100, "depth": 2, "activation": "tanh", "init": "glorot"}),
    paper=eos_settings.SETTINGS["paper"] | dict(
        extra_learning_rates=[0.08], extra_edge_ratios=None,
        warm_up_model_options={"width": 200, "depth": 2, "activation": "tanh", "init": "glorot"}),
    smoke=eos_settings.SETTINGS["smoke"] | dict(
        mean_seeds=2, pair_every=3, edge_every=4, warm_up_every=4, stop_at_train_acc=None,
        warm_up_model_options={"width": 16, "depth": 2, "activation": "tanh", "init": "glorot"}),
    cites=("roulet2024", "cohen2021"),
)
s = finding.settings
base = finding.config()
gd = eos_settings.full_batch(base, 0.1, s.steps, s.eigen_every)  # its η is replaced by each run's
ratios = list(s.edge_ratios or []) + list(s.extra_edge_ratios or [])  # 2/(ηλ₁(0)) of each constant step
learning_rates = eos_settings.step_sizes(gd, s.edge_ratios, s.learning_rates)  # notebook 07's
extra = eos_settings.step_sizes(gd, s.extra_edge_ratios, s.extra_learning_rates)
constant = {lr: dataclasses.replace(gd, lr=lr) for lr in learning_rates}
constant |= {lr: eos_settings.loss_only(dataclasses.replace(gd, lr=lr)) for lr in extra}


def cdat(config, sigma: float, every) -> object:
    """``config`` tuned by CDAT at ``sigma``, with λ₁ and the update's alignment with e₁ measured on ``every``."""
    return dataclasses.replace(config, optimizer=CDAT(sigma=sigma), probes=("losses", "eigen", "alignment"),
                               probe_gradients=1, every={"eigen": every, "losses": every, "alignment": every})


pairs = (Every(steps=s.pair_every), Every(steps=s.pair_every, start=1.0))  # two consecutive states (full batch: 1 step = 1 epoch)
tuned = {sg: cdat(constant[learning_rates[0]], sg, pairs if sg == 1 else Every(steps=s.edge_every)) for sg in s.sigmas}
warm_up = cdat(dataclasses.replace(gd, model_options=s.warm_up_model_options), 2.0, Every(steps=s.warm_up_every))
print(f"{s.profile} profile: {s.model} {s.model_options} on {s.train_size} {s.dataset} examples, {s.loss}, {s.steps} steps")
print(f"CDAT σ = {s.sigmas}; constant η = {sorted(constant)}; warm-up setting: {s.warm_up_model_options}")

# %% [markdown]
# ## Run
#
# Notebook 07's constant-η runs come from the cache when it ran before.

# %%
runs = run_grid({("constant", lr): c for lr, c in constant.items()} | {("cdat", sg): c for sg, c in tuned.items()}
                | {("warm-up", 2.0): warm_up}, progress=False)


def final_loss(ds):
    """The mean training loss over the last 5% of the steps taken."""
    loss = ds.batch_loss.values
    return float(np.mean(loss[-max(1, len(loss) // 20):]))


def measured(ds, name: str):
    """(states, values) of a probe's variable at e₁ where it was measured, the last state (no step from it) left out."""
    da = ds[name].sel(eig=1).dropna("step")
    da = da.sel(step=da.step[da.step < ds.sizes["iteration"]])
    return da.step.values, da.values


for (kind, value), ds in runs.items():
    print(f"{kind:>8} {'σ' if kind != 'constant' else 'η'}={value:<5g} final training loss {final_loss(ds):.4f}, "
          f"accuracy {float(ds.batch_acc[-1]):.3f}, diverged: {bool(ds.attrs['diverged'])}")

# %% [markdown]
# Greedy σ = 1 at the other seeds, and the constant step at this seed's best ratio there (training loss only).

# %%
best_lr = min(constant, key=lambda lr: final_loss(runs[("constant", lr)]))
ratio_of = {} if s.learning_rates else dict(zip(learning_rates + extra, ratios))
best_ratio = ratio_of.get(best_lr)
others = {}
for k in range(1, s.mean_seeds):
    at_seed = dataclasses.replace(gd, seed=seed + k)
    lr = (eos_settings.step_sizes(at_seed, [best_ratio]) if best_ratio else [best_lr])[0]
    others[("constant", seed + k)] = eos_settings.loss_only(dataclasses.replace(at_seed, lr=lr))
    others[("cdat", seed + k)] = cdat(dataclasses.replace(at_seed, lr=lr), 1.0, pairs)
other_runs = run_grid(others, progress=False)
greedy_vs_best = xr.DataArray(
    [final_loss(runs[("cdat", 1.0)]) - final_loss(runs[("constant", best_lr)])]
    + [final_loss(other_runs[("cdat", seed + k)]) - final_loss(other_runs[("constant", seed + k)])
       for k in range(1, s.mean_seeds)], dims="seed", coords={"seed": seed + np.arange(s.mean_seeds)})
print(f"best constant η at seed {seed}: {best_lr:g} (ratio {best_ratio}); σ=1 minus best constant, final loss, by "
      f"seed: {dict(zip(greedy_vs_best.seed.values.tolist(), greedy_vs_best.values.round(4).tolist()))}")

# %% [markdown]
# ## Summaries
#
# **σ = 1, per step of the cycle.** For each pair of consecutive measured states: $\eta_t\lambda_1$ at the short and at the long step, and $|\cos(u_t, e_1)|$ at each; over the second half, the trend factors of λ₁ (the pair's mean), of $\eta_t$ (the cycle's mean) and of $\eta_t\lambda_1$ at each step of the cycle, at each seed and their geometric mean over the seeds. **σ = 2.** $\eta_t\lambda_1/2$ (at least 1 by construction) and the spread of λ₁ over the second half; in both settings, λ₁ at initialisation against its later values (`initial_excess`, above 1 where the sharpness falls early) and the median $\eta_t$ over the last half against the first 5% of steps (`warm_up_ratio`, above 1 for a warm-up).

# %%
def greedy_summary(ds) -> dict:
    states, lam, lr = edge_of_stability.cycle_pairs(*measured(ds, "lambda"), ds.step_lr.values)
    _, cos, _ = edge_of_stability.cycle_pairs(*measured(ds, "grad_cos_top"), ds.step_lr.values)
    products, late = lam * lr, states >= len(ds.step_lr) // 2

    def trend(values):
        return edge_of_stability.trend_factor(states[late], values[late])

    return {"sharpness_trend": trend(lam.mean(axis=1)), "lr_trend": trend(lr.mean(axis=1)),
            "product_trends": [trend(products[:, 0]), trend(products[:, 1])],
            "eta_lambda_first_half": np.median(products[~late], axis=0).tolist(),
            "eta_lambda_second_half": np.median(products[late], axis=0).tolist(),
            "below_2_second_half": float(np.mean(products[late] < 2)),
            "two_step_multiplier": float(np.median(np.prod(1 - products[late], axis=1))),
            "alignment_second_half": np.median(cos[late], axis=0).tolist(),
            "lambda1_second_half": [float(lam[late].mean(axis=1)[0]), float(lam[late].mean(axis=1)[-1])],
            "final_loss": final_loss(ds)}


def edge_summary(ds) -> dict:
    steps_, lam = measured(ds, "lambda")
    late = steps_ >= len(ds.step_lr) // 2
    edge = edge_of_stability.normalised_sharpness(lam, ds.step_lr.values[steps_])
    cos = measured(ds, "grad_cos_top")[1]
    return {"median_eta_lambda_over_2_second_half": float(np.median(edge[late])),
            "lambda1_spread_second_half": float(np.ptp(lam[late]) / np.median(lam[late])),
            "alignment_second_half": float(np.median(cos[late])),
            "initial_excess": edge_of_stability.initial_excess(steps_, lam),
            "warm_up_ratio": edge_of_stability.warm_up_ratio(ds.step_lr.values),
            "lambda1_first_last": [float(lam[0]), float(lam[-1])],
            "lr_first_5pct_last_half": [float(np.median(ds.step_lr.values[:max(1, len(ds.step_lr) // 20)])),
                                        float(np.median(ds.step_lr.values[len(ds.step_lr) // 2:]))],
            "final_loss": final_loss(ds)}


best_loss = final_loss(runs[("constant", best_lr)])
greedy_by_seed = {seed: greedy_summary(runs[("cdat", 1.0)])}
greedy_by_seed |= {seed + k: greedy_summary(other_runs[("cdat", seed + k)]) for k in range(1, s.mean_seeds)}
mean_trends = {key: stats.gmean([g[key] for g in greedy_by_seed.values()]).tolist()
               for key in ("sharpness_trend", "lr_trend", "product_trends")}
greedy = greedy_by_seed[seed]
on_edge, warm = edge_summary(runs[("cdat", 2.0)]), edge_summary(runs[("warm-up", 2.0)])
mean_gap, gap_error = (float(v) for v in summaries.mean_with_error(greedy_vs_best))
for k, row in greedy_by_seed.items():
    print(f"σ=1, seed {k}: over the second half λ1 ×{row['sharpness_trend']:.2f} ({row['lambda1_second_half'][0]:.1f} "
          f"→ {row['lambda1_second_half'][1]:.1f}), η_t ×{row['lr_trend']:.2f}, η_tλ1 at the short / long step "
          f"×{row['product_trends'][0]:.2f} / ×{row['product_trends'][1]:.2f}; below 2 at "
          f"{row['below_2_second_half']:.0%} of its measured steps")
print(f"σ=1, geometric mean over the seeds: λ1 ×{mean_trends['sharpness_trend']:.2f}, η_t ×{mean_trends['lr_trend']:.2f}, "
      f"η_tλ1 at the short / long step ×{mean_trends['product_trends'][0]:.2f} / ×{mean_trends['product_trends'][1]:.2f}")
print(f"σ=1, seed {seed}: median η_tλ1 at the short / long step: first half {np.round(greedy['eta_lambda_first_half'], 2).tolist()}, "
      f"second half {np.round(greedy['eta_lambda_second_half'], 2).tolist()}; below 2 at "
      f"{greedy['below_2_second_half']:.0%} of the second half's steps; two-step multiplier along e1 "
      f"(1 − η_tλ1)(1 − η_t+1λ1) {greedy['two_step_multiplier']:.2f}")
print(f"     median |cos(u_t, e1)| at the short / long step over the second half: "
      f"{np.round(greedy['alignment_second_half'], 2).tolist()}; final loss minus the best constant's over seeds "
      f"{seed}–{seed + s.mean_seeds - 1}: {mean_gap:+.4f} ± {gap_error:.4f}")
for name, row in [("σ=2, PyTorch initialisation", on_edge), ("σ=2, Glorot initialisation", warm)]:
    print(f"{name}: median η_tλ1/2 over the second half {row['median_eta_lambda_over_2_second_half']:.3f}, λ1 spread "
          f"{row['lambda1_spread_second_half']:.2f}, |cos(u_t, e1)| {row['alignment_second_half']:.2f}; λ1 "
          f"{row['lambda1_first_last'][0]:.1f} → {row['lambda1_first_last'][1]:.1f} (initial excess "
          f"{row['initial_excess']:.2f}); η_t median {row['lr_first_5pct_last_half'][0]:.3f} (first 5%) → "
          f"{row['lr_first_5pct_last_half'][1]:.3f} (last half), warm-up ratio {row['warm_up_ratio']:.2f}; final "
          f"loss {row['final_loss']:.4f}")
print(f"best constant η={best_lr:g}: final loss {best_loss:.4f}")

# %% [markdown]
# ## The step size, the sharpness and the loss
#
# Top, notebook 07's setting: $\eta_t$ per step (constant steps as horizontal lines), λ₁ with the edge $2/\eta_t$ (dashed; for σ = 1, $2/\eta_t$ over the two steps of the cycle), and the training loss (log scale). Bottom: greedy σ = 1 per step of its cycle ($\eta_t\lambda_1$ at the short and long step, the edge at 2), the update's alignment with e₁, and σ = 2 in the setting whose sharpness falls early ($\eta_t$ against 2/λ₁: on the edge they coincide).

# %%
plots.use_style()
colours = plots.distinct_colours(len(s.sigmas) + len(constant))
fig, axes = plots.figure(2, 3, width="page", aspect=0.9)
for i, sigma in enumerate(s.sigmas):
    ds, colour = runs[("cdat", sigma)], colours[i]
    steps_, lam = measured(ds, "lambda")
    axes[0, 0].plot(ds.iteration, ds.step_lr, color=colour, lw=0.6, label=f"CDAT $\\sigma={sigma:g}$")
    axes[0, 1].plot(steps_, lam, color=colour, marker=".", ls="none", label=f"$\\lambda_1$, $\\sigma={sigma:g}$")
    edge_lr = edge_of_stability.cycle_step_size(ds.step_lr.values, steps_) if sigma == 1 else ds.step_lr.values[steps_]
    axes[0, 1].plot(steps_, 2 / edge_lr, color=colour, ls="--", lw=0.9, label=f"$2/\\eta_t$, $\\sigma={sigma:g}$")
    axes[0, 2].plot(ds.iteration, ds.batch_loss, color=colour, lw=0.7, label=f"CDAT $\\sigma={sigma:g}$")
for j, lr in enumerate(sorted(constant)):
    ds, colour = runs[("constant", lr)], colours[len(s.sigmas) + j]
    axes[0, 0].axhline(lr, color=colour, ls=":", lw=1, label=f"$\\eta={lr:g}$")
    axes[0, 2].plot(ds.iteration, ds.batch_loss, color=colour, lw=0.5, alpha=0.8, label=f"$\\eta={lr:g}$")
axes[0, 0].set(xlabel="step $t$", ylabel="step size $\\eta_t$", title="learning rate")
axes[0, 1].set(xlabel="step $t$", ylabel="sharpness $\\lambda_1$", title="sharpness and the edge $2/\\eta_t$")
axes[0, 2].set(xlabel="step $t$", ylabel="training loss (MSE)", title="training loss")
for ax in (axes[0, 0], axes[0, 2]):
    plots.plain_log(ax)
ds = runs[("cdat", 1.0)]
states, lam, lr = edge_of_stability.cycle_pairs(*measured(ds, "lambda"), ds.step_lr.values)
_, cos, _ = edge_of_stability.cycle_pairs(*measured(ds, "grad_cos_top"), ds.step_lr.values)
for k, (phase, marker) in enumerate([("short", "o"), ("long", "^")]):
    axes[1, 0].plot(states, lam[:, k] * lr[:, k], marker=marker, markersize=3, lw=0.8, color=colours[0],
                    alpha=1 - 0.45 * k, label=f"{phase} step")
    axes[1, 1].plot(states, cos[:, k], marker=marker, markersize=3, lw=0.8, color=colours[0], alpha=1 - 0.45 * k,
                    label="$\\sigma=1$" if k == 0 else None)
axes[1, 0].axhline(2, color="k", ls="--", lw=0.9, label="edge (2)")
axes[1, 0].set(xlabel="step $t$", ylabel="$\\eta_t\\lambda_1$", title="greedy $\\sigma=1$, per step of its cycle")
edge_steps, edge_cos = measured(runs[("cdat", 2.0)], "grad_cos_top")
axes[1, 1].plot(edge_steps, edge_cos, marker=".", lw=0.8, color=colours[1], label="$\\sigma=2$")
axes[1, 1].set(xlabel="step $t$", ylabel="alignment $|\\cos(u_t, e_1)|$", ylim=(0, 1.15), yticks=np.linspace(0, 1, 6),
               title="the update's alignment with $e_1$")
ds = runs[("warm-up", 2.0)]
steps_, lam = measured(ds, "lambda")
axes[1, 2].plot(ds.iteration, ds.step_lr, color=colours[1], lw=0.8, label="$\\eta_t$, CDAT $\\sigma=2$")
axes[1, 2].plot(steps_, 2 / lam, color="k", marker=".", markersize=3, ls="--", lw=0.9, label="$2/\\lambda_1$")
axes[1, 2].set(xlabel="step $t$", ylabel="step size $\\eta_t$", title="$\\sigma=2$, Glorot initialisation")
axes[0, 1].set_ylim(top=1.25 * axes[0, 1].get_ylim()[1])
axes[0, 1].legend(frameon=False, fontsize=6, loc="upper left", ncol=2, handlelength=1.5, columnspacing=0.8)
axes[0, 2].legend(frameon=False, fontsize=6, loc="center left", bbox_to_anchor=(1, 0.5), title="key, top row")
axes[1, 0].legend(frameon=False, fontsize=6, loc="center right")
axes[1, 1].legend(frameon=False, fontsize=6, loc="upper center", ncol=3, handlelength=1.2, columnspacing=0.8)
axes[1, 2].legend(frameon=False, fontsize=6)
fig.suptitle(f"CDAT against constant steps: full-batch GD, tanh MLP on {s.train_size:,} {s.dataset} examples")
caption = (f"Full-batch GD on {s.train_size} {s.dataset} examples with CDAT (σ = {s.sigmas}) and constant η: "
           f"ηₜ per step, λ₁ with 2/ηₜ dashed, training loss (top); greedy σ = 1's ηₜλ₁ at the short and long "
           f"step of its cycle, the update's alignment with e₁, and σ = 2 with Glorot initialisation (bottom).")
finding.save_figure(fig, "curvature_aware_tuning", caption=caption)
plt.show()

# %% [markdown]
# ## Verdict
#
# Thresholds fixed from the paper's words before the runs were looked at.
#
# - **C3.greedy-mechanism** (σ = 1): over the second half, read per step of the cycle, with the trend factors averaged (geometric mean) over the seeds compared: λ₁ rises substantially (factor ≥ 1.2), $\eta_t$ falls (factor < 1), and $\eta_t\lambda_1$ stays roughly constant: at each step of the cycle its factor moves by at most half as much as λ₁'s, in log scale.
# - **C3.greedy-below-edge** (σ = 1): $\eta_t\lambda_1$ < 2 at every measured step of the second half, the short and the long step of each cycle, at every seed.
# - **C3.greedy-ends-worse** (σ = 1): over the seeds compared, its final training loss minus the best constant step's has a mean above twice its standard error.
# - **C3.on-edge-stabilises** (σ = 2): over the second half, the median of $\eta_t\lambda_1/2$ is at most 1.2 (it is at least 1 by construction) and λ₁ varies by at most 50% of its median (max − min).
# - **C3.warm-up-setting** (σ = 2, Glorot initialisation): λ₁ at initialisation is above every later measurement — the sharpness falls early, the regime the warm-up needs.
# - **C3.on-edge-warm-up** (σ = 2, Glorot initialisation): the median $\eta_t$ over the last half of the steps is above its median over the first 5%.
# - **C3.on-edge-matches-constant** (σ = 2, notebook 07's setting): its final training loss is at most 1.05 times the best constant step's.
#
# **Known failure at the quick scale: C3.greedy-below-edge.** The greedy tuner's mechanism shows here — averaged over the seeds, λ₁ rises, $\eta_t$ falls and $\eta_t\lambda_1$ stays roughly constant at each step of its cycle; at a single seed the long step's $\eta_t\lambda_1$ can drift by more than the threshold, up at one seed and down at another (the factors per seed printed above) — but it is not below the edge at every step: greedy σ = 1 is steepest descent with an exact quadratic line search, which zig-zags across the sharpest direction (its update is closely aligned with e₁), a short step below 2 and a long one above it (the medians printed above, at this notebook's seed). Over the cycle the two steps together multiply the e₁ component by about 1 (the two-step multiplier printed above): marginally stable over two steps, so the sharpness is not held back and keeps rising. At this model (the 2×100 tanh MLP on 1,000 MNIST-1D examples) it holds at the short step only.

# %%
# NBVAL_CHECK_OUTPUT
verdicts = [
    claims.claim("C3.greedy-mechanism", "σ=1: λ1 rises, η_t falls, η_tλ1 stays roughly constant (per step of the cycle)",
                 edge_of_stability.undershoot_mechanism(mean_trends["sharpness_trend"], mean_trends["lr_trend"],
                                                        mean_trends["product_trends"]),
                 mean_trends=mean_trends, by_seed={k: {key: row[key] for key in mean_trends}
                                                   for k, row in greedy_by_seed.items()}),
    claims.claim("C3.greedy-below-edge", "σ=1 stays below the edge: η_tλ1 < 2 at every step",
                 all(row["below_2_second_half"] == 1 for row in greedy_by_seed.values()),
                 below_2={k: row["below_2_second_half"] for k, row in greedy_by_seed.items()},
                 eta_lambda_short_long={k: row["eta_lambda_second_half"] for k, row in greedy_by_seed.items()}),
    claims.claim("C3.greedy-ends-worse", "σ=1 ends with a higher training loss than the best constant step (seed mean)",
                 bool(summaries.clearly_positive(greedy_vs_best)), mean=mean_gap, standard_error=gap_error,
                 by_seed=greedy_vs_best.values.tolist()),
    claims.claim("C3.on-edge-stabilises", "σ=2 holds ηλ1 near 2 with a stabilised λ1",
                 on_edge["median_eta_lambda_over_2_second_half"] <= 1.2
                 and on_edge["lambda1_spread_second_half"] <= 0.5, **on_edge),
    claims.claim("C3.warm-up-setting", "with Glorot initialisation λ1 starts above all its later values",
                 warm["initial_excess"] > 1, initial_excess=warm["initial_excess"]),
    claims.claim("C3.on-edge-warm-up", "σ=2's step size starts small and grows, like a warm-up, where λ1 falls early",
                 warm["warm_up_ratio"] > 1, **warm),
    claims.claim("C3.on-edge-matches-constant", "σ=2 ends at least as low as the best constant step (within 5%)",
                 on_edge["final_loss"] <= 1.05 * best_loss, final_loss=on_edge["final_loss"], best_constant=best_loss),
]
finding.report(verdicts, known_failures={"quick": {
    "C3.greedy-below-edge": "greedy σ=1 zig-zags along e1: a short step below the edge and a long one above it, "
                            "marginally stable over the two-step cycle; η_tλ1 is roughly constant at each, as the "
                            "mechanism says, but not below 2 at every step"}})

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
