# %% [markdown]
# # 00 — A one-minute tour
#
# What the finding notebooks stand on, at a size where every number can be checked exactly: the Hessian of a tiny model, its top eigenpairs by Lanczos checked against the dense Hessian, its spectral density, and the `Tracker` measuring the sharpness along a training loop written by hand. The last cell checks that the engine agrees with the dense reference, as every finding notebook checks its paper's claims.
#
# The tour has one scale: `profile` and `smoke` are accepted so that `sgdlab reproduce` runs it like the others, and change nothing.

# %% tags=["parameters"]
profile = "quick"
examples = 256  # training examples of MNIST-1D the Hessian is taken over
width = 8  # hidden units of the tanh MLP (40 → width → 10: 418 parameters at 8)
steps = 60  # steps of the hand-written training loop
seed = 0
output_dir = ""
smoke = False

# %% [markdown]
# ## The Hessian of a tiny model
#
# A 40 → 8 → 10 tanh MLP on 256 MNIST-1D examples, in float64. `sgdlab.hessian` gives the Hessian of the mean cross-entropy as a linear operator (one Hessian-vector product costs about one extra backward pass); `torch.func.hessian` gives the dense 418 × 418 matrix, which is only possible because the model is tiny.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.func import functional_call

import sgdlab
from sgdlab.findings import claims, plots, profiles

warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", FutureWarning)  # inside torch.func.hessian
torch.manual_seed(seed)
out = profiles.output_path(output_dir, "00_tour")
data = sgdlab.load("mnist1d")
x, y = data.x_train[:examples].flatten(1).double(), data.y_train[:examples]
model = nn.Sequential(nn.Linear(x.shape[1], width), nn.Tanh(), nn.Linear(width, data.num_classes)).double()
names = [n for n, _ in model.named_parameters()]
shapes = [p.shape for p in model.parameters()]
theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def loss_at(flat):
    """The mean cross-entropy at the flat parameter vector ``flat``."""
    pieces = torch.split(flat, [s.numel() for s in shapes])
    params = {n: p.reshape(s) for n, p, s in zip(names, pieces, shapes)}
    return nn.functional.cross_entropy(functional_call(model, params, (x,)), y)


dense = torch.func.hessian(loss_at)(theta)
dense_values, dense_vectors = torch.linalg.eigh(dense)  # ascending
print(f"{theta.numel()} parameters; dense Hessian symmetric to {float((dense - dense.T).abs().max()):.1e}")

# %% [markdown]
# ## Top eigenpairs: Lanczos against the dense Hessian

# %%
with sgdlab.hessian(model, [(x, y)]) as H:
    eig = sgdlab.top_eigen(H, k=5, tol=1e-8)
    density = sgdlab.spectral_density(H, n_iter=80, n_vectors=5, seed=seed)
reference = dense_values.flip(0)[:5]
cosines = (eig.vectors.T @ dense_vectors.flip(1)[:, :5]).diagonal().abs()
for i in range(5):
    print(f"λ{i + 1}: Lanczos {float(eig.values[i]):.6f}, dense {float(reference[i]):.6f}, "
          f"|cos(v, v_dense)| = {float(cosines[i]):.6f}")
print(f"{eig.n_products} Hessian-vector products, converged: {eig.converged}")

# %% [markdown]
# ## Spectral density
#
# Stochastic Lanczos quadrature (5 probe vectors, 80 steps) gives the density of all 418 eigenvalues without forming the matrix; most of the mass sits near zero and a few eigenvalues stand apart, the picture the findings track along training. The dense eigenvalues are drawn beneath as a histogram.

# %%
grid = np.linspace(float(dense_values.min()) - 0.05, float(dense_values.max()) + 0.05, 400)
plots.use_style()
fig, ax = plots.figure(width="column", aspect=0.62)
ax.hist(dense_values.numpy(), bins=60, density=True, color="0.8", label="dense eigenvalues")
ax.plot(grid, density.smooth(grid, sigma=0.01), color=plots.distinct_colours(1)[0], lw=1,
        label="stochastic Lanczos quadrature")
plots.plain_log(ax)
ax.set_ylim(1e-2, 50)
ax.set_xlabel("eigenvalue $\\lambda$ of the Hessian")
ax.set_ylabel("density of eigenvalues")
ax.set_xticks(np.arange(np.ceil(grid[0] * 2) / 2, grid[-1], 0.5))
ax.legend(frameon=False, fontsize=6.5, loc="upper left")
plots.save(fig, "density", out, "00_tour", {"profile": profile, "examples": examples, "width": width, "seed": seed},
           caption=f"Eigenvalue density of the Hessian of a {theta.numel()}-parameter MLP on {examples} MNIST-1D "
                   "examples: stochastic Lanczos quadrature (line) over the dense eigenvalues (histogram).")
plt.show()

# %% [markdown]
# ## The Tracker on a hand-written loop
#
# Any training loop can be measured: `Tracker` takes the model and a fixed measurement set, and `tracker.step()` after each optimizer step measures λ₁ every 10 steps (warm-started Lanczos) into the same Dataset layout as `sgdlab.run`.

# %%
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
tracker = sgdlab.Tracker(model, (x, y), k=1, every=10)
for _ in range(steps):
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    tracker.step(lr=optimizer.param_groups[0]["lr"])
tracked = tracker.dataset()
final_theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
final_dense = float(torch.linalg.eigvalsh(torch.func.hessian(loss_at)(final_theta))[-1])
lam = tracked["lambda"].sel(eig=1)
print("λ₁ along training:", ", ".join(f"{float(v):.3f}" for v in lam.values))
print(f"at step {int(lam.step[-1])}: Tracker {float(lam[-1]):.6f}, dense {final_dense:.6f}")

# %% [markdown]
# ## Claims
#
# The engine agrees with the dense reference: the top five eigenvalues to a relative 10⁻⁶, their eigenvectors to |cos| ≥ 0.9999, the spectral density's nodes inside the dense spectrum with its largest one at λ₁, and the Tracker's last λ₁ at the dense value.

# %%
# NBVAL_CHECK_OUTPUT
relative = ((eig.values - reference).abs() / reference.abs()).max()
nodes = density.nodes
verdicts = [
    claims.claim("T.eigenvalues", "Lanczos's top five eigenvalues match the dense Hessian's (relative error ≤ 1e-6)",
                 float(relative) <= 1e-6, relative_error=float(relative)),
    claims.claim("T.eigenvectors", "Lanczos's top five eigenvectors match the dense ones (|cos| ≥ 0.9999)",
                 float(cosines.min()) >= 0.9999, min_cosine=float(cosines.min())),
    claims.claim("T.density", "the spectral density lies within the dense spectrum and its largest node is λ1 "
                 "(relative 1e-4)",
                 float(nodes.min()) >= float(dense_values[0]) - 1e-6 and float(nodes.max()) <= float(dense_values[-1]) + 1e-6
                 and abs(float(nodes.max()) - float(dense_values[-1])) <= 1e-4 * float(dense_values[-1]),
                 largest_node=float(nodes.max()), dense_lambda1=float(dense_values[-1])),
    claims.claim("T.tracker", "the Tracker's last λ1 matches the dense Hessian of the trained model (relative 1e-3)",
                 abs(float(lam[-1]) - final_dense) <= 1e-3 * final_dense, tracker=float(lam[-1]), dense=final_dense),
]
claims.report(verdicts, out, raise_on_failure=not smoke)
