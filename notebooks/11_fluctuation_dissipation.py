# %% [markdown]
# # 11 — Fluctuation–dissipation relations of SGD (finding C5)
#
# *Yaida, Fluctuation-dissipation relations for stochastic gradient descent, ICLR 2019* (code: `facebookresearch/FDR_scheduler`).
#
# **FDR1.** At stationarity, SGD on f = L + (λ/2)‖θ‖² obeys ⟨θ·∇f_B⟩ = (η/2)⟨‖∇f_B‖²⟩ exactly; with momentum μ and dampening δ the right side is (η/2)(1+μ)/(1−δ)⟨‖v‖²⟩. The ratio ⟨O_L⟩/⟨O_R⟩ over the last half of the steps measures how close training is to equilibrium, and drives a schedule: cut η by (1 − Y) once it is within X of 1, checked every t_adaptive steps. Without weight decay SGD "typically does not reach equilibrium".
#
# **FDR2.** To first order in η, ⟨‖∇f‖²⟩ = (η/2)⟨E_B[∇f_Bᵀ H ∇f_B]⟩; with FDR1 it yields the Hessian's magnitude along the gradient noise from two cheap observables, ⟨‖∇f‖²⟩/⟨θ·∇f_B⟩, without a Hessian-vector product.
#
# We train with the FDR scheduler with and without weight decay, follow the FDR1 ratio and the learning rate, then run plain SGD with weight decay until ⟨f⟩ is stationary, at η and at η/2, and check FDR2, measure its first-order reading in η, and check the observable Hessian magnitude against a direct measurement by Hessian-vector products.

# %% tags=["parameters"]
profile = "quick"
dataset = None  # None: the profile's dataset
model = None  # None: the profile's model
lr = None  # initial learning rate of the FDR1 runs
momentum = None  # of the FDR1 runs (FDR2 runs use plain SGD)
weight_decay = None  # λ of f, L + λ/2 ‖θ‖² (PyTorch convention)
batch_size = None
epochs = None  # of the FDR1 runs
fdr2_lr = None  # the learning rate of the FDR2 run (a second run at half of it)
fdr2_epochs = None  # of the FDR2 run at fdr2_lr (twice as many at half of it); measured over the last half
fdr2_measurements = None  # FDR2 measurements over that last half
fdr2_probe_gradients = None  # mini-batches per measurement for E_B
t_adaptive = None  # steps between the scheduler's checks
seed = 0
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown]
# ## Setup
#
# The **quick** profile is a small analogue of the paper's code (a 784-200-200-10 ReLU MLP on MNIST, S = 100, η = 0.1, momentum 0.5, weight decay 0.01, X = 0.01, Y = 0.9, t_adaptive = 1,000): the same optimizer settings and scheduler defaults on MNIST-1D (4,000 training examples) with a 40-100-100-10 ReLU MLP (Glorot initialisation, as the paper's code). The **paper** profile is the paper's code's MNIST setting, for a GPU. FDR2 is checked on plain SGD (μ = 0, the form of the relation derived here) with the same weight decay, at the paper's η = 0.1 and at η/2 = 0.05. Each FDR2 run lasts many relaxation times of the weight norm, 1/(2ηλ) steps (500 steps at η = 0.1, 1,000 at η/2; the run at η/2 lasts twice as many epochs), and is measured only over its second half. The Hessian is on the whole training set in inference mode, ‖∇f‖² on the whole training set, and E_B over `fdr2_probe_gradients` fresh mini-batches per measurement.

# %%
import dataclasses

import matplotlib.pyplot as plt
import numpy as np

from sgdlab import run_grid
from sgdlab.findings import Finding, claims, plots
from sgdlab.optim import SGD, FDRScheduler
from sgdlab.theory import fluctuation_dissipation
from sgdlab.training import run_cache
from sgdlab.training.clock import Every

finding = Finding.open(
    "11_fluctuation_dissipation", globals(),
    common=dict(lr=0.1, momentum=0.5, weight_decay=0.01, batch_size=100, t_adaptive=1000, X=0.01, Y=0.9,
                top_k=1, probe_gradients=8),
    quick=dict(dataset="mnist1d", model="mlp", epochs=250, measure_every=5.0, fdr_window=40, fdr2_lr=0.1,
               fdr2_epochs=100, fdr2_measurements=40, fdr2_probe_gradients=8, hessian_size=4000),
    paper=dict(dataset="mnist", model="mlp", model_options={"width": 200}, epochs=100, measure_every=1.0,
               fdr_window=200, fdr2_lr=0.1, fdr2_epochs=20, fdr2_measurements=40, fdr2_probe_gradients=16,
               hessian_size=10000, eval_size=10000),
    smoke=dict(train_size=256, epochs=2, measure_every=1.0, fdr_window=2, fdr2_epochs=2, fdr2_measurements=5,
               fdr2_probe_gradients=2, t_adaptive=4, hessian_size=64, eval_size=None, probe_gradients=2),
    cites=("yaida2019",),
)
s = finding.settings
scheduler = FDRScheduler(X=s.X, Y=s.Y, t_adaptive=s.t_adaptive)
fdr1_base = finding.config(optimizer=scheduler, probes=("losses",), traces=("loss", "fdr"),
                           every={"fdr": Every(steps=s.fdr_window)})
configs = {"weight decay": fdr1_base,
           "no weight decay": dataclasses.replace(fdr1_base, weight_decay=0.0)}
fdr2_lrs = {"lr": s.fdr2_lr, "half lr": s.fdr2_lr / 2}


def fdr2_config(lr, probes):
    """Plain SGD at ``lr`` for fdr2_epochs·fdr2_lr/lr epochs, FDR2 (and λ₁) measured over the last half only."""
    epochs = s.fdr2_epochs * s.fdr2_lr / lr
    every = epochs / 2 / s.fdr2_measurements
    return finding.config(optimizer=SGD(), lr=lr, momentum=0.0, epochs=epochs, measure_every=every,
                          probe_gradients=s.fdr2_probe_gradients, probes=("losses", "fdr2", *probes),
                          traces=("fdr",), every={"fdr2": Every(epochs=every, start=epochs / 2 + every)}
                          | {probe: Every(epochs=epochs / 4, start=epochs / 2) for probe in probes})


configs |= {"FDR2 lr": fdr2_config(s.fdr2_lr, ("eigen",)), "FDR2 half lr": fdr2_config(s.fdr2_lr / 2, ())}
print(f"{s.profile} profile: {s.model} on {s.dataset}, S={s.batch_size}")
print(f"FDR1: FDR scheduler (X={s.X}, Y={s.Y}, t_adaptive={s.t_adaptive}) from η={s.lr}, μ={s.momentum}, "
      f"λ ∈ {{{s.weight_decay}, 0}}, {s.epochs} epochs")
print(f"FDR2: plain SGD, η ∈ {{{s.fdr2_lr}, {s.fdr2_lr / 2}}}, λ={s.weight_decay}, {s.fdr2_epochs} and "
      f"{2 * s.fdr2_epochs} epochs, {s.fdr2_measurements} measurements over the last half, E_B over "
      f"{s.fdr2_probe_gradients} mini-batches")

# %% [markdown]
# ## Run

# %%
runs = run_grid(configs, progress=False)
for name, ds in runs.items():
    run_cache.save(ds, finding.out / f"{name.replace(' ', '_')}.nc")
print(f"{len(runs)} runs, {sum(int(ds.diverged) for ds in runs.values())} diverged; results in {finding.out}")

# %% [markdown]
# ## FDR1 along training
#
# The "fdr" trace holds the means of O_L and O_R over windows of steps; the ratio at an epoch is that of their means over the last half of the steps since the last cut, as the scheduler computes it (to within one window of `fdr_window` steps: the windows end at its checks, and the half-window starts at the first window ending past half of the steps).


# %%
def cuts(ds):
    """(step, epoch, new η) of every cut of the learning rate, from the loss trace's per-step lr."""
    step_lr = ds.step_lr.values
    at = np.nonzero(np.diff(step_lr))[0] + 1
    return [(int(ds.iteration.values[i]), float(ds.iteration_epoch.values[i]), float(step_lr[i])) for i in at]


def fdr1_curve(ds):
    """The epochs of the trace's windows and the scheduler's half-window FDR1 ratio at each."""
    window = (ds.fdr_steps > 0).values
    restarts = [step for step, _, _ in cuts(ds)]
    return ds.epoch.values[window], fluctuation_dissipation.running_half_ratio(ds.fdr_ol.values[window], ds.fdr_or.values[window],
                                                           ds.fdr_steps.values[window], restarts)


def first_stretch(ds):
    """The FDR1 ratio after the first window, and at the end of the first stretch at the initial η (the first
    cut, else the end of the run), with that epoch."""
    t, ratio = fdr1_curve(ds)
    first_cut = cuts(ds)[0][1] if cuts(ds) else np.inf
    before = t <= first_cut + 1e-9
    return float(ratio[0]), float(ratio[before][-1]), float(t[before][-1])


curves = {name: fdr1_curve(runs[name]) for name in ("weight decay", "no weight decay")}
stretches = {name: first_stretch(runs[name]) for name in curves}
for name, (start, end, end_epoch) in stretches.items():
    print(f"{name:>16}: FDR1 ratio {start:8.3f} after the first window, {end:8.3f} at epoch {end_epoch:g} "
          f"(end of the first stretch); cuts (epoch, η): {[(e, round(v, 6)) for _, e, v in cuts(runs[name])]}")

plots.use_style()
fig, axes = plots.figure(1, 3, width="page", aspect=0.9)
for (name, (t, ratio)), colour in zip(curves.items(), plots.distinct_colours(2)):
    axes[0].plot(t, np.abs(ratio - 1), color=colour, label=name)
    axes[1].plot(runs[name].iteration_epoch, runs[name].step_lr, color=colour, label=name)
    loss = runs[name].train_loss.dropna("step")
    axes[2].plot(loss.epoch, loss, color=colour, label=name)
for _, epoch, _ in cuts(runs["weight decay"]):
    axes[0].axvline(epoch, color="grey", lw=0.8)
axes[0].axhline(s.X, color="grey", ls=":")
axes[0].text(float(curves["weight decay"][0][-1]), s.X / 1.3, f"X = {s.X}", ha="right", va="top", color="grey",
             fontsize=7)
axes[0].set_ylim(bottom=s.X / 5)
axes[0].set(yscale="log", xlabel="epoch", ylabel=r"$|\langle O_L\rangle / \langle O_R\rangle - 1|$",
            title="FDR1, last half of the steps")
axes[1].set(yscale="log", xlabel="epoch", ylabel=r"learning rate $\eta$", title="FDR scheduler")
axes[2].set(xlabel="epoch", ylabel="training loss", title="training loss")
axes[2].legend()
caption = (f"FDR1 on {s.dataset}: distance of the half-window ratio ⟨θ·∇f_B⟩/⟨(η/2)(1+μ)‖v‖²⟩ from 1 (left), the "
           f"learning rate set by the FDR scheduler (middle) and the training loss (right), with and without weight "
           f"decay λ = {s.weight_decay}.")
finding.save_figure(fig, "fdr1", caption=caption)
plt.show()

# %% [markdown]
# ## FDR2 and the Hessian magnitude
#
# Time averages over the second half of each FDR2 run, with standard errors by batch means (five consecutive blocks of measurements). FDR2 follows from the stationarity of ⟨f⟩; a drift of f over the window unbalances it by −Δf/(ηT⟨‖∇f‖²⟩) (`drift_fraction`), computed from the training loss at the window's ends and the weight norm's change, which the per-step identity gives exactly from the "fdr" trace (`norm_sq_change`). The magnitude from gradient norms, ⟨‖∇f‖²⟩/⟨O_R⟩ with O_R = (η/2)‖∇f_B‖² averaged over every training step, needs no Hessian-vector product; at equilibrium FDR1 lets ⟨θ·∇f_B⟩ stand for ⟨O_R⟩ (the paper's form), and the FDR1 ratio over the window is printed beside it. The direct magnitude is ⟨∇f_Bᵀ H_f ∇f_B⟩/⟨‖∇f_B‖²⟩ by Hessian-vector products; λ₁ + λ of H_f (Lanczos) bounds both.
#
# FDR1 over the same window stays below 1 (printed): the weight norm still grows slowly while the loss creeps down. FDR2 needs only a stationary ⟨f⟩, which the drift fraction checks.


# %%
def fdr2_window(ds, lr):
    """FDR2's ratio and error, the drift fraction, FDR1 and both Hessian magnitudes over the run's last half."""
    half = float(ds.epoch.max()) / 2
    late = (ds.epoch > half + 1e-9).values
    probed = late & ds.fdr2_grad_sq.notnull().values
    ratio, error = fluctuation_dissipation.ratio_with_error(ds.fdr2_grad_sq.values[probed], ds.fdr2_right.values[probed],
                                                            blocks=min(5, int(probed.sum())))
    grad_sq = float(ds.fdr2_grad_sq[probed].mean())
    norm_sq = fluctuation_dissipation.norm_sq_change(ds.fdr_ol.values[late], ds.fdr_or.values[late],
                                                     ds.fdr_steps.values[late], lr)[-1]
    loss = ds.train_loss.dropna("step")
    ends = loss.sel(step=[int(ds.step[~late].max()), int(ds.step.max())]).values
    steps = int(ds.fdr_steps.values[late].sum())
    drift = fluctuation_dissipation.drift_fraction(ends[0], ends[1] + 0.5 * s.weight_decay * norm_sq, steps, lr, grad_sq)
    forms = (ds.fdr2_rayleigh * ds.fdr2_batch_grad_sq)[probed]
    return dict(ratio=ratio, error=error, drift=drift, grad_sq=grad_sq, right=float(ds.fdr2_right[probed].mean()),
                fdr1=float(ds.fdr_ol[late].mean() / ds.fdr_or[late].mean()),
                observable=fluctuation_dissipation.hessian_magnitude(grad_sq, float(ds.fdr_or[probed].mean())),
                direct=float(forms.mean() / ds.fdr2_batch_grad_sq[probed].mean()),
                lambda_f=float(ds["lambda"].sel(eig=1).dropna("step").mean()) + s.weight_decay if "lambda" in ds
                else np.nan)


fdr2 = {name: fdr2_window(runs[f"FDR2 {name}"], lr) for name, lr in fdr2_lrs.items()}
for name, w in fdr2.items():
    print(f"FDR2 at η = {fdr2_lrs[name]:g}: ratio {w['ratio']:.3f} ± {w['error']:.3f}, drift fraction "
          f"{w['drift']:+.4f}, FDR1 {w['fdr1']:.3f}; Hessian magnitude observable {w['observable']:.3g}, direct "
          f"{w['direct']:.3g}" + (f", λ1 + λ {w['lambda_f']:.3g}" if np.isfinite(w["lambda_f"]) else ""))
at, half = fdr2["lr"], fdr2["half lr"]
print(f"first order in η: the deviation d = ratio − 1 is {at['ratio'] - 1:+.3f} at η and {half['ratio'] - 1:+.3f} at η/2; "
      f"|d(η/2) − d(η)/2| = {abs((half['ratio'] - 1) - (at['ratio'] - 1) / 2):.3f} against twice its error "
      f"{2 * np.hypot(half['error'], at['error'] / 2):.3f}")

fig, axes = plots.figure(1, 2, width="page", aspect=0.8)
for (name, lr), colour in zip(fdr2_lrs.items(), plots.distinct_colours(2)):
    ds = runs[f"FDR2 {name}"]
    probed = ds.fdr2_grad_sq.notnull()
    steps = ds.step[probed]
    axes[0].plot(steps, (ds.fdr2_grad_sq / ds.fdr2_right)[probed], ".", color=colour, alpha=0.6,
                 label=f"$\\eta$ = {lr:g}, per measurement")
    axes[0].errorbar(steps.mean(), fdr2[name]["ratio"], yerr=fdr2[name]["error"], fmt="o", color=colour, ms=6,
                     mec="black", capsize=3, label=f"$\\eta$ = {lr:g}, window mean ± error")
    axes[1].plot(steps, ds.fdr2_rayleigh[probed], ".", color=colour, alpha=0.6,
                 label=f"direct, $\\eta$ = {lr:g}")
    axes[1].axhline(fdr2[name]["observable"], color=colour, ls="--", label=f"from gradient norms, $\\eta$ = {lr:g}")
axes[0].axhline(1, color="grey", lw=0.8)
axes[0].set(xlabel="step", ylabel=r"$\|\nabla f\|^2$ over $\frac{\eta}{2}E_B[\nabla f_B^\top H_f \nabla f_B]$",
            title="FDR2 over the second half")
axes[1].set(xlabel="step", ylabel="Hessian magnitude (loss / parameter²)", title="Hessian along the gradient noise")
for ax in axes:
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
caption = (f"FDR2 on {s.dataset} (plain SGD, λ = {s.weight_decay}) at η = {s.fdr2_lr:g} and η/2, over the second "
           f"half of each run: the ratio of its two sides per measurement and its window mean with its batch-means "
           f"error (left); the Hessian's Rayleigh quotient along the mini-batch gradients by Hessian-vector products, "
           f"per measurement, and the window's magnitude from gradient norms alone, ⟨‖∇f‖²⟩/⟨(η/2)‖∇f_B‖²⟩ (right).")
finding.save_figure(fig, "fdr2", caption=caption)
plt.show()

# %% [markdown]
# ## Verdict
#
# Thresholds fixed before the data were looked at; "the end" is the end of the first stretch at the initial η (the first cut, or the end of the run without one):
#
# - **C5.fdr1-equilibrates** (with weight decay): the half-window ratio is far off after the first window (|ratio − 1| ≥ 0.5) and within a few percent at the end (|ratio − 1| < 0.05).
# - **C5.scheduler-fires** (with weight decay): the FDR scheduler cuts η at least once, at its default X = 0.01.
# - **C5.no-weight-decay**: without weight decay, FDR1 at the end is off by more than 0.05 and by more than twice the distance with weight decay.
# - **C5.fdr2-stationary**: FDR2 is derived at stationarity of ⟨f⟩. At η and at η/2, the drift of f over the measured half explains less than 5% of FDR2's left side (|drift fraction| < 0.05, a quarter of the tolerance below).
# - **C5.fdr2**: at η, FDR2's sides agree within 20% (|ratio − 1| < 0.2) over the second half of the run. The paper derives the relation to first order in η and states no tolerance; 20% is ours, fixed before the runs.
# - **C5.hessian-magnitude**: at η, the magnitude from gradient norms agrees with the direct one within 20%, and neither exceeds λ₁ + λ by more than 5%.

# %%
# NBVAL_CHECK_OUTPUT
wd_start, wd_end = (fluctuation_dissipation.fdr1_distance(r) for r in stretches["weight decay"][:2])
nowd_end = fluctuation_dissipation.fdr1_distance(stretches["no weight decay"][1])
fired = cuts(runs["weight decay"])
verdicts = [
    claims.claim("C5.fdr1-equilibrates", "with weight decay FDR1 goes from far off to within a few percent",
                 wd_start >= 0.5 and wd_end < 0.05, distance_first=wd_start, distance_end=wd_end,
                 end_epoch=stretches["weight decay"][2]),
    claims.claim("C5.scheduler-fires", "with weight decay the FDR scheduler cuts the learning rate",
                 len(fired) >= 1, cuts=[(epoch, value) for _, epoch, value in fired]),
    claims.claim("C5.no-weight-decay", "without weight decay FDR1 does not equilibrate as well",
                 nowd_end > 0.05 and nowd_end > 2 * wd_end, distance_end=nowd_end, with_weight_decay=wd_end),
    claims.claim("C5.fdr2-stationary", "the FDR2 windows are stationary: f's drift explains under 5% of FDR2",
                 max(abs(at["drift"]), abs(half["drift"])) < 0.05, drift_at_lr=at["drift"],
                 drift_at_half_lr=half["drift"]),
    claims.claim("C5.fdr2", "FDR2 holds within 20% at the paper's learning rate", abs(at["ratio"] - 1) < 0.2,
                 ratio=at["ratio"], error=at["error"], grad_sq=at["grad_sq"], right=at["right"]),
    claims.claim("C5.hessian-magnitude", "the Hessian magnitude from gradient norms agrees with the direct one",
                 abs(at["observable"] / at["direct"] - 1) < 0.2 and max(at["observable"], at["direct"]) <= 1.05 * at["lambda_f"],
                 observable=at["observable"], direct=at["direct"], lambda_1_plus_lambda=at["lambda_f"]),
]
finding.report(verdicts)

# %% [markdown]
# ## At other seeds
#
# The claims were checked at seeds 0–7 (`papermill -p seed N` at the quick defaults): every one holds at each of them.
#
# - FDR1 with weight decay: |ratio − 1| is 17.2-18.3 after the first window and 0.0075-0.0117 at the end of the first stretch; the scheduler's first cut comes at epoch 175, 200 or 225 (checks every 25 epochs, so 225 is the last one in a run of 250). Without weight decay the distance at epoch 250 is 255-277.
# - FDR2 at η = 0.1: ratio 0.93-1.13 (batch-means errors 0.025-0.075); at η/2: 0.84-1.09. Drift fractions 0.0006-0.0037. Hessian magnitude from gradient norms over the direct one: 0.89-1.07, with λ₁ + λ about 10.
#
# **FDR2's first-order reading in η is not resolved at this scale, so it is measured, not judged.** The relation holds to first order in η, so its deviation should shrink about linearly when η is halved. Over the eight seeds the ratio is about 1.02 at η and 0.96 at η/2, with a seed-to-seed scatter of about 0.07: the deviation does not shrink, and at three seeds of eight (2, 4 and 5) the two deviations differ by more than twice their batch-means errors allow for a linear shrink. The order-η correction is smaller than a window's scatter here; pilot runs at η = 0.4 and 0.2 (seed 0: 0.98 ± 0.03 and 0.99 ± 0.04) show no larger deviation at larger steps either. Resolving it needs seeds pooled over many windows, which this notebook does not afford.

# %% [markdown]
# ## Reference
#
# ```bibtex
# @inproceedings{yaida2019fluctuation,
#   title     = {Fluctuation-Dissipation Relations for Stochastic Gradient Descent},
#   author    = {Yaida, Sho},
#   booktitle = {International Conference on Learning Representations},
#   year      = {2019},
#   eprint    = {1810.00004},
#   archivePrefix = {arXiv}
# }
# ```
