# %% [markdown] tags=[]
# # 05 — A cyclic batch size acts like a cyclic learning rate (finding B4)
#
# *Jastrzębski et al., Three Factors Influencing Minima in SGD, 2017.*
#
# **B4.** If only η/S matters, a schedule of the batch size can replace a schedule of the learning rate. A cyclic batch size (S 640 ↔ 128) matches a cyclic learning rate (η 0.001 ↔ 0.005) with the same η/S trajectory: both reach the same test accuracy (paper: 89.39% and 89.24%), better than the constant schedules at the low ratio, and both alternate between sharper regions (low η/S) and wider ones (high η/S).

# %% tags=["parameters"]
profile = "quick"
dataset = None  # None: the profile's dataset
model = None  # None: the profile's model
lr_range = None  # [low, high] learning rate of the cyclic learning rate, at batch size batch_range[0]
batch_range = None  # [low, high] batch size of the cyclic batch size, at learning rate lr_range[1]
step_size = None  # half a cycle, in epochs
epochs = None
seed = 0
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown] tags=[]
# ## Setup
#
# Four runs. **Cyclic η**: η moves linearly between its low and high value (triangle, half a cycle = `step_size` epochs) at the small batch size. **Cyclic S**: η fixed at its high value, S moves between its high and low value so that η/S follows exactly the same triangle (1/S moves linearly). Two constant runs sit at the cycle's low ratio: (low η, small S) and (high η, large S). The **quick** profile: MNIST-1D, an MLP with two hidden layers of 100 units, η ∈ [0.02, 0.1] at S = 32, S ∈ [32, 160] at η = 0.1, half cycles of 5 epochs, 30 epochs; λ₁ every epoch on 1,000 training examples. The **paper** profile is the paper's: CIFAR-10, VGG-11, η ∈ [0.001, 0.005], S ∈ [128, 640], for a GPU.

# %% tags=[]
import dataclasses

import matplotlib.pyplot as plt
import numpy as np

from sgdlab import claims, plots, results, summaries
from sgdlab.finding import Finding
from sgdlab.schedules import Triangular
from sgdlab.sweep import run_grid

finding = Finding.open(
    "05_cyclic_schedules", profile,
    parameters=dict(dataset=dataset, model=model, lr_range=lr_range, batch_range=batch_range, step_size=step_size,
                    epochs=epochs, seed=seed, device=device, output_dir=output_dir, smoke=smoke),
    common=dict(measure_every=1.0, top_k=1),
    quick=dict(dataset="mnist1d", model="mlp", lr_range=[0.02, 0.1], batch_range=[32, 160], step_size=5, epochs=30,
               hessian_size=1000),
    paper=dict(dataset="cifar10", model="vgg11", lr_range=[0.001, 0.005], batch_range=[128, 640], step_size=15,
               epochs=150, hessian_size=2560, augment=True, holdout="validation"),
    smoke=dict(train_size=256, step_size=1, epochs=2, hessian_size=64),
    cites=("jastrzebski2017",),
)
s = finding.settings
base = finding.config()
(lr_low, lr_high), (s_low, s_high) = s.lr_range, s.batch_range
configs = {
    "cyclic η": dataclasses.replace(base, batch_size=s_low, lr_schedule=Triangular(lr_low, lr_high, s.step_size)),
    "cyclic S": dataclasses.replace(base, lr=lr_high,
                                    batch_schedule=Triangular(s_high, s_low, s.step_size, reciprocal=True)),
    f"constant η={lr_low:g}, S={s_low}": dataclasses.replace(base, lr=lr_low, batch_size=s_low),
    f"constant η={lr_high:g}, S={s_high}": dataclasses.replace(base, lr=lr_high, batch_size=s_high),
}
print(f"{s.profile} profile: {s.model} on {s.dataset}, {s.epochs} epochs, half cycle {s.step_size} epochs")

# %% [markdown] tags=[]
# ## Run
#
# The four runs side by side along `schedule`. Each run is measured on its own clock (the cyclic-S run's steps change length), so a run holds NaN at the others' measurement times.

# %% tags=[]
runs = results.stack(run_grid(configs, progress=False), "schedule")
results.save(runs, finding.out / "cyclic_schedules.nc")
lambda1 = runs["lambda"].sel(eig=1)
final_acc, final_lambda = summaries.final(runs.test_acc), summaries.final(lambda1)
for name in configs:
    print(f"{name:>24}: final test acc {float(final_acc.sel(schedule=name)):.3f}, "
          f"final λ1 {float(final_lambda.sel(schedule=name)):.2f}")

# %% [markdown] tags=[]
# ## Sharpness and accuracy along training
#
# Shaded: the phases where η/S is above the middle of its range.

# %% tags=[]
plots.use_style()
cyclic_lr_epochs = summaries.measured(lambda1.sel(schedule="cyclic η")).epoch.values
ratio = np.array([configs["cyclic η"].lr_schedule.at(e) for e in cyclic_lr_epochs]) / s_low
fig, axes = plt.subplots(1, 3, figsize=(16, 4))
for name in configs:
    run = summaries.measured(runs.sel(schedule=name))
    axes[0].plot(run.epoch, run["lambda"].sel(eig=1), label=name)
    axes[1].plot(run.epoch, run.test_acc, label=name)
axes[2].plot(cyclic_lr_epochs, ratio, color="k")
for ax, label in zip(axes, ["$\\lambda_1$", "test accuracy", "η/S of both cyclic runs"]):
    for start in np.arange(0, s.epochs, 2 * s.step_size):
        ax.axvspan(start + s.step_size / 2, start + 1.5 * s.step_size, color="0.92", zorder=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel(label)
axes[0].set_yscale("log")
axes[0].legend(frameon=False)
fig.suptitle(f"Cyclic η vs cyclic S — {s.model} on {s.dataset}")
finding.save_figure(fig, "cyclic_schedules")
plt.show()

# %% [markdown] tags=[]
# ## Verdict
#
# Thresholds, fixed before the runs:
#
# - **B4.same-accuracy**: the two cyclic runs' final test accuracies differ by less than half the smallest gap between a cyclic run and a constant run (they differ far less from each other than from another η/S).
# - **B4.same-sharpness-trajectory**: the mean over measurements (after the first epoch) of |log λ₁(cyclic η) − log λ₁(cyclic S)| is less than half of the same distance from either cyclic run to either constant run.
# - **B4.alternating-phases**: in both cyclic runs, λ₁ at every end of a high-η/S phase (epochs step_size, 3·step_size, …) is lower than at the ends of the neighbouring low-η/S phases (epochs 2·step_size, 4·step_size, …; initialisation excluded).
#
# **The first two hold; the third does not at this scale.** The two cyclic runs end within half a point of test accuracy of each other, about four points above both constant runs at the cycle's low ratio, and their λ₁ trajectories nearly coincide (mean log-distance about a sixth of that to the constant runs). But after the first cycle λ₁ of both cyclic runs hovers around one value (≈ 7, swinging by ±10% without following the phases): this small model does not move between sharper and wider regions within 5-epoch half cycles. The claim is marked as a known failure at the quick scale.
#
# **Larger scales tried (same claims, same thresholds), none reproduces the alternation.** Measured values of λ₁ at the ends of the high-η/S phases (epochs step_size, 3·step_size) against the ends of the low-η/S phases (2·step_size, 4·step_size), cyclic η | cyclic S:
#
# | setting | wall (2 shared cores) | λ₁ at high-η/S ends | λ₁ at low-η/S ends | other two claims |
# | --- | --- | --- | --- | --- |
# | quick ranges, half cycles of 10 epochs, 40 epochs | 30 s | 9.9, 7.3 \| 6.5, 8.8 | 7.4, 7.6 \| 7.0, 7.4 | trajectory holds; accuracy fails (gap 0.015 vs half-gap 0.013) |
# | η ∈ [0.01, 0.2], S ∈ [32, 640], half cycles of 10 epochs, 40 epochs | 30 s | 8.7, 5.8 \| 4.1, 5.3 | 5.1, 3.0 \| 4.7, 2.6 | both hold |
# | η ∈ [0.01, 0.2], S ∈ [32, 640], half cycles of 20 epochs, 80 epochs | 107 s | 5.3, 2.4 \| 5.0, 1.7 | 3.0, 0.8 \| 3.0, 0.8 | both hold |
# | as the row above but 40 epochs and hidden width 32 | 54 s | 5.2, 3.9 \| 5.1, 5.2 | 4.5, 4.1 \| 4.5, 4.0 | both hold |
#
# With the wider ratio range the two cyclic runs still agree closely with each other (test accuracy 0.666 vs 0.662, against 0.59 and 0.58 for the constant runs, with half cycles of 20 epochs) and end much flatter than the constant runs (λ₁ ≈ 0.8 vs ≈ 9.5), but their λ₁ falls through training almost regardless of the phase: the cyclic runs fit the 4,000 training examples, and the curvature of the cross-entropy fades as the training loss goes to zero, which outweighs any phase effect; where the phases show at all, λ₁ tends to rise while η/S rises. A model narrower than the data (width 32) keeps λ₁ near 4–5 after the first cycle without phase-locked swings. The paper's setting (VGG-11 on augmented CIFAR-10, where the training loss stays away from zero) is the one left to test; to rerun the widest row: `papermill notebooks/05_cyclic_schedules.ipynb out.ipynb -y "{lr_range: [0.01, 0.2], batch_range: [32, 640], step_size: 20, epochs: 80}"`; outside the paper profile the claims cell keeps the alternation as a known failure, so it raises if the alternation passes.

# %% tags=[]
# NBVAL_CHECK_OUTPUT
cyclic, constant = ["cyclic η", "cyclic S"], [n for n in configs if n.startswith("constant")]
acc = {name: float(final_acc.sel(schedule=name)) for name in configs}
whole_epochs = np.arange(1, s.epochs + 1)  # the cyclic-S clock lands within a step of each epoch
at_epochs = {name: summaries.measured(lambda1.sel(schedule=name)).sel(epoch=whole_epochs, method="nearest").values
             for name in configs}  # λ1 of each run at the measurement nearest each whole epoch
log_lambda = {name: np.log(values) for name, values in at_epochs.items()}


def distance(a, b):
    return float(np.mean(np.abs(log_lambda[a] - log_lambda[b])))


def alternates(name):
    at = dict(zip(whole_epochs.tolist(), at_epochs[name].tolist()))
    highs = np.arange(s.step_size, s.epochs, 2 * s.step_size)
    return all(at[h] < at[h - s.step_size] if h > s.step_size else True for h in highs) and all(
        at[h] < at[h + s.step_size] for h in highs if h + s.step_size <= s.epochs)


acc_gap = min(abs(acc[c] - acc[k]) for c in cyclic for k in constant)
traj_gap = min(distance(c, k) for c in cyclic for k in constant)
verdicts = [
    claims.claim("B4.same-accuracy", "cyclic S and cyclic η reach matching test accuracy, unlike another η/S",
                 abs(acc["cyclic η"] - acc["cyclic S"]) < acc_gap / 2, accuracy=acc, smallest_gap_to_constant=acc_gap),
    claims.claim("B4.same-sharpness-trajectory", "cyclic S and cyclic η follow matching λ1 trajectories",
                 distance(*cyclic) < traj_gap / 2, distance_cyclic=distance(*cyclic), smallest_to_constant=traj_gap),
    claims.claim("B4.alternating-phases", "cyclic schedules alternate between sharper and wider regions",
                 all(alternates(c) for c in cyclic), runs={c: alternates(c) for c in cyclic}),
]
finding.report(verdicts, known_failures={"quick": {
    "B4.alternating-phases": "after the first cycle λ1 of both cyclic runs hovers near one value with no phase-locked swings",
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
