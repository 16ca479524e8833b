"""Dense float64 references for parameter blocks, forward hooks and the Gauss–Newton matrix, and the tiny
models the engine's tests share: a causal transformer over token ids, built from torch.nn (no download)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sgdlab.curvature import default_forward


class Hooked(nn.Module):
    """``forward(model, batch)`` as a module, so that torch.func can call it with other parameters."""

    def __init__(self, model: nn.Module, forward):
        super().__init__()
        self.model, self.hook = model, forward

    def forward(self, batch):
        return self.hook(self.model, batch)


def _functional(model, batches, loss_fn, forward, names):
    """The weighted mean loss as a function of the flat block ``names`` (the rest fixed), and the block."""
    forward = forward or default_forward
    hooked = Hooked(model, forward)
    named = {n: p.detach() for n, p in model.named_parameters()}
    names = names or [n for n, p in model.named_parameters() if p.requires_grad]
    sizes = [named[n].numel() for n in names]
    counts = [forward(model, b)[1].numel() for b in batches]
    total = sum(counts)

    def weights_of(flat: Tensor) -> dict[str, Tensor]:
        block = {n: t.view_as(named[n]) for n, t in zip(names, flat.split(sizes))}
        return {"model." + n: block.get(n, t) for n, t in named.items()}

    def call(flat: Tensor, batch):
        return torch.func.functional_call(hooked, weights_of(flat), (batch,))

    flat = torch.cat([named[n].reshape(-1) for n in names])
    return call, flat, [c / total for c in counts]


def dense_hessian(model, batches, loss_fn=F.cross_entropy, forward=None, names=None) -> Tensor:
    """The exact Hessian of the target-weighted mean loss over the block ``names`` (default: every trainable),
    by torch.autograd.functional.hessian: torch.func's second derivatives of LayerNorm are wrong in
    torch 2.14 (finite differences agree with torch.autograd's)."""
    call, flat, weights = _functional(model, batches, loss_fn, forward, names)

    def loss(theta: Tensor) -> Tensor:
        return sum(loss_fn(*call(theta, b)) * w for b, w in zip(batches, weights))

    model.eval()
    return torch.autograd.functional.hessian(loss, flat)


def dense_gauss_newton(model, batches, loss_fn=F.cross_entropy, forward=None, names=None) -> Tensor:
    """``Σ_b w_b J_bᵀ H_ℓ,b J_b`` from dense Jacobians and output Hessians."""
    call, flat, weights = _functional(model, batches, loss_fn, forward, names)
    model.eval()
    total = torch.zeros(len(flat), len(flat), dtype=flat.dtype)
    for batch, w in zip(batches, weights):
        outputs, targets = call(flat, batch)
        J = torch.func.jacrev(lambda theta, b=batch: call(theta, b)[0])(flat).reshape(-1, len(flat))
        H = torch.func.hessian(lambda z, t=targets, s=outputs.shape: loss_fn(z.view(s), t))(outputs.detach().reshape(-1))
        total += w * J.T @ H @ J
    return total


class CausalSelfAttention(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.qkv, self.out = nn.Linear(width, 3 * width), nn.Linear(width, width)

    def forward(self, h: Tensor) -> Tensor:
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        causal = torch.ones(h.shape[1], h.shape[1], dtype=torch.bool, device=h.device).triu(1)
        return self.out(scores.masked_fill(causal, float("-inf")).softmax(dim=-1) @ v)


class TinyCausalLM(nn.Module):
    """Token ids ``(B, T)`` → next-token logits ``(B, T, vocab)``: embedding, one pre-norm attention block
    with an MLP, a linear head."""

    def __init__(self, vocab: int = 7, width: int = 6, length: int = 8):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Parameter(0.1 * torch.randn(length, width))
        self.norm = nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.Tanh(), nn.Linear(2 * width, width))
        self.head = nn.Linear(width, vocab)

    def forward(self, ids: Tensor) -> Tensor:
        h = self.embed(ids) + self.position[: ids.shape[1]]
        h = h + self.attention(self.norm(h))
        return self.head(h + self.mlp(h))


def next_token(model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """The forward hook of a causal language model: logits of every position but the last against the
    next token, flattened to ``(tokens, vocab)`` and ``(tokens,)``."""
    logits = model(batch["input_ids"])[:, :-1]
    labels = batch["labels"][:, 1:]
    return logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)


def token_batches(vocab: int = 7, shapes=((2, 6), (3, 4)), seed: int = 0) -> list[dict[str, Tensor]]:
    """Dictionary batches of random token ids of different sizes (so that weights by target count matter)."""
    g = torch.Generator().manual_seed(seed)
    batches = []
    for b, t in shapes:
        ids = torch.randint(0, vocab, (b, t), generator=g)
        batches.append({"input_ids": ids, "labels": ids.clone()})
    return batches


def tiny_lm() -> TinyCausalLM:
    torch.manual_seed(0)
    return TinyCausalLM().double()
