# %% [markdown]
# # 09 — A walk with SGD: bouncing between valley walls (finding C1)
#
# *Xing, Arpit, Tsirigotis & Bengio, A Walk with SGD, 2018, arXiv:1802.08770.*
#
# **C1.** The loss on the segment between consecutive iterates θ_t → θ_{t+1} is roughly convex with a minimum (the valley floor) inside it, for most of training: SGD moves by bouncing between the walls of a valley at a height above its floor. A large learning rate η keeps that height large, while a small batch size S adds noise that helps exploration — the two play different roles even at the same η/S — and this lets SGD travel far from its initialisation.
#
# We record ℓ_t(α) = L_train(θ_t + α(θ_{t+1} − θ_t)) for α from −0.25 to 1.25 (steps of 0.05) on a fixed training subset (inference mode), for windows of consecutive real steps at several epochs (`sgdlab.walk`, trace `"segment"`), over a grid of η and S and one pair of runs at equal η/S.

# %% tags=["parameters"]
profile = "quick"
dataset = None  # None: the profile's dataset
model = None  # None: the profile's model
learning_rates = None  # None: the profile's η grid (at batch size `base_batch_size`)
batch_sizes = None  # None: the profile's S grid (at learning rate `base_lr`)
base_lr = None
base_batch_size = None
epochs = None
seed = 0
device = "cpu"
output_dir = ""
smoke = False  # True: the profile's path at tiny sizes, to prove it runs (its claims cannot hold)

# %% [markdown]
# ## Setup
#
# The **quick** profile: MNIST-1D (4,000 training examples), the MLP with two hidden layers of 100 ReLU units, plain SGD for 30 epochs; η ∈ {0.05, 0.1, 0.2} at S = 128 and S ∈ {32, 128, 512} at η = 0.1; the equal-ratio pair is (η = 0.1, S = 128) against (η = 0.4, S = 512). Each run traces windows of 16 consecutive steps starting at epochs 1, 5, 10, 20 and 29 (80 segments a run), each segment on the same 1,000 training examples. The **paper** profile (VGG-11 on CIFAR-10, **[verify]** the paper's grid and epochs) is for a GPU.

# %%
import matplotlib.pyplot as plt
import numpy as np

import sgdlab
from sgdlab import run_grid
from sgdlab.findings import Finding, claims, plots
from sgdlab.theory import segments
from sgdlab.training.clock import Every

finding = Finding.open(
    "09_walk_with_sgd", globals(),
    common=dict(probes=("losses", "distance_from_init"), window_steps=16, segment_examples=1000),
    quick=dict(dataset="mnist1d", model="mlp", learning_rates=[0.05, 0.1, 0.2], batch_sizes=[32, 128, 512],
               base_lr=0.1, base_batch_size=128, equal_ratio=[0.4, 512], epochs=30, measure_every=5.0,
               window_epochs=[1.0, 5.0, 10.0, 20.0, 29.0]),
    paper=dict(dataset="cifar10", model="vgg11", learning_rates=[0.05, 0.1, 0.2], batch_sizes=[64, 128, 512],
               base_lr=0.1, base_batch_size=128, equal_ratio=[0.4, 512], epochs=100, measure_every=5.0,
               window_epochs=[1.0, 10.0, 30.0, 60.0, 99.0], augment=True, holdout="validation"),
    smoke=dict(train_size=32, eval_size=16, hessian_size=16, epochs=1, measure_every=1.0, window_epochs=[0.5],
               window_steps=1, segment_examples=2, learning_rates=[0.05, 0.1], batch_sizes=[4, 8], base_batch_size=8,
               equal_ratio=[0.2, 16]),
    cites=("xing2018",),
)
s = finding.settings
n_train = len(sgdlab.load(s.dataset, train_size=getattr(s, "train_size", None)).y_train)


def windows(batch_size: int) -> tuple[Every, ...]:
    """Windows of `window_steps` consecutive steps starting at each of the profile's epochs."""
    length = (s.window_steps - 1) * batch_size / n_train
    return tuple(Every(steps=1, start=e, stop=e + length) for e in s.window_epochs)


def config(lr: float, batch_size: int) -> sgdlab.RunConfig:
    return finding.config(lr=lr, batch_size=batch_size, traces=("segment",), every={"segment": windows(batch_size)},
                          trace_options={"segment": {"examples": s.segment_examples}})


points = sorted({(lr, s.base_batch_size) for lr in s.learning_rates} | {(s.base_lr, b) for b in s.batch_sizes}
                | {tuple(s.equal_ratio)})
configs = {point: config(*point) for point in points}
print(f"{s.profile} profile: {s.model} on {s.dataset} ({n_train} examples), {s.epochs} epochs, {len(configs)} runs")
print(f"η grid {s.learning_rates} at S={s.base_batch_size}; S grid {s.batch_sizes} at η={s.base_lr}; "
      f"equal η/S: ({s.base_lr}, {s.base_batch_size}) vs {tuple(s.equal_ratio)}")

# %% [markdown]
# ## Run

# %%
runs = run_grid(configs, progress=False)
summaries = {point: segments.summarise(ds.segment_loss) for point, ds in runs.items()}
print(f"{len(runs)} runs, {sum(int(ds.attrs['diverged']) for ds in runs.values())} diverged; "
      f"{sum(sm.sizes['iteration'] for sm in summaries.values())} segments")

# %% [markdown]
# ## Segments
#
# Left: the segments of the base run (η = base, S = base) in its first and last windows, each shifted so that its own floor is at zero. Right: the height ℓ_t(0) − ℓ_t(α*) along training for the η grid.

# %%
plots.use_style()
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
base_point = (s.base_lr, s.base_batch_size)
segment = runs[base_point].segment_loss.dropna("iteration", how="all")
epoch_of = segment.iteration_epoch.values
for window, color in [(epoch_of.min(), "tab:blue"), (epoch_of.max(), "tab:red")]:
    chosen = segment.isel(iteration=np.abs(epoch_of - window) <= s.window_steps * s.base_batch_size / n_train)
    for ell in chosen.values:
        axes[0].plot(segment.alpha, ell - ell.min(), color=color, alpha=0.3, lw=1)
    axes[0].plot([], [], color=color, label=f"window near epoch {window:.0f}")
axes[0].axvline(0, color="k", lw=0.5)
axes[0].axvline(1, color="k", lw=0.5)
axes[0].set(xlabel="α (0: θ_t, 1: θ_{t+1})", ylabel="ℓ_t(α) − min ℓ_t", title=f"segments, η={s.base_lr}, S={s.base_batch_size}")
axes[0].legend()
for lr in s.learning_rates:
    sm = summaries[(lr, s.base_batch_size)]
    axes[1].plot(sm.iteration_epoch, sm.height, ".", ms=3, label=f"η={lr:g}")
axes[1].set(xlabel="epoch", ylabel="height ℓ_t(0) − ℓ_t(α*)", yscale="log", title=f"height above the floor, S={s.base_batch_size}")
axes[1].legend()
caption = (f"Loss on the segment between consecutive SGD iterates on {s.dataset}: segments of the base run in its "
           f"first and last windows (left); height of the iterate above the segment's floor for each η (right).")
finding.save_figure(fig, "segments", caption=caption)
plt.show()

# %% [markdown]
# ## Per-run summary
#
# Over all traced segments of a run: the fraction with an interior floor (0 < α* < 1), the fraction that is roughly convex (the segment rises above its lower convex envelope by at most 10% of its range), the median height, and the distance ‖θ − θ₀‖ at the end.

# %%
table = {}
for point, sm in summaries.items():
    ds = runs[point]
    table[f"η={point[0]:g} S={point[1]}"] = {
        "interior": float(sm.interior.mean()), "convex": float((sm.nonconvexity <= 0.1).mean()),
        "median_height": float(sm.height.median()),
        "distance": float(ds.distance_from_init.dropna("step").isel(step=-1)),
        "final_train_loss": float(ds.train_loss.dropna("step").isel(step=-1))}
for name, row in table.items():
    print(f"{name:>14}  interior {row['interior']:.2f}  convex {row['convex']:.2f}  median height "
          f"{row['median_height']:.2e}  distance {row['distance']:6.2f}  train loss {row['final_train_loss']:.3f}")

# %% [markdown]
# ## Verdict
#
# Thresholds fixed before the runs were made:
# - **C1.interior-floor**: in every run, more than half of the traced segments have an interior floor ("for most of training").
# - **C1.convex-segment**: in every run, more than half of the traced segments are roughly convex (non-convexity ≤ 0.1).
# - **C1.height-vs-lr**: the median height rises strictly with η at fixed S (rank correlation exactly +1).
# - **C1.equal-ratio-roles**: at equal η/S, the run with the larger η has the larger median height.
# - **C1.distance**: the distance from initialisation at the end rises strictly with η and falls strictly with S (rank correlations exactly +1 and −1).
#
# At the quick scale the interior floor does not hold in every run: the two runs with the smallest η/S (η = 0.05 at S = 128 and η = 0.1 at S = 512, still at a training loss above 1 after 30 epochs) cross the floor in only 47% and 22% of their traced steps — their steps are too short to reach the far wall — while the other four runs cross it in 75–93% (seed 0; only this scale was tried). It is stated as a known failure. The same holds at seeds 1, 2 and 3: the two runs cross the floor in 44% and 19%, 42% and 21%, 59% and 31% of their steps (η = 0.05 at S = 128 passes the threshold at seed 3 alone), the other four in 71–96%; the other four claims pass at all four seeds.

# %%
# NBVAL_CHECK_OUTPUT
lr_grid = [f"η={lr:g} S={s.base_batch_size}" for lr in s.learning_rates]
batch_grid = [f"η={s.base_lr:g} S={b}" for b in s.batch_sizes]
pair = [f"η={s.base_lr:g} S={s.base_batch_size}", f"η={s.equal_ratio[0]:g} S={s.equal_ratio[1]}"]
rho_height = claims.rank_correlation(s.learning_rates, [table[k]["median_height"] for k in lr_grid])
rho_distance_lr = claims.rank_correlation(s.learning_rates, [table[k]["distance"] for k in lr_grid])
rho_distance_s = claims.rank_correlation(s.batch_sizes, [table[k]["distance"] for k in batch_grid])
verdicts = [
    claims.claim("C1.interior-floor", "the segment's minimum lies between the iterates for most of training",
                 all(row["interior"] > 0.5 for row in table.values()), runs=table),
    claims.claim("C1.convex-segment", "the loss on the segment is roughly convex for most of training",
                 all(row["convex"] > 0.5 for row in table.values()), runs=table),
    claims.claim("C1.height-vs-lr", "a larger learning rate keeps SGD higher above the valley floor",
                 rho_height == 1, spearman=rho_height),
    claims.claim("C1.equal-ratio-roles", "at equal η/S the larger-η run bounces higher (η and S play different roles)",
                 table[pair[1]]["median_height"] > table[pair[0]]["median_height"],
                 heights={k: table[k]["median_height"] for k in pair}),
    claims.claim("C1.distance", "SGD travels farther from initialisation with a larger η and a smaller S",
                 rho_distance_lr == 1 and rho_distance_s == -1, spearman_lr=rho_distance_lr,
                 spearman_batch=rho_distance_s),
]
finding.report(verdicts, known_failures={"quick": {
    "C1.interior-floor": "the runs with the smallest η/S (η=0.05 S=128, η=0.1 S=512) cross the floor in under half "
                         "of their steps within 30 epochs"}})

# %% [markdown]
# ## Reference
#
# ```bibtex
# @article{xing2018walk,
#   title   = {A Walk with {SGD}},
#   author  = {Xing, Chen and Arpit, Devansh and Tsirigotis, Christos and Bengio, Yoshua},
#   journal = {arXiv preprint arXiv:1802.08770},
#   year    = {2018}
# }
# ```
