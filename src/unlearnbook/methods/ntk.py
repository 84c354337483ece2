"""NTK forgetting (Golatkar et al., 2020b, "Forgetting outside the box"), a baseline of AdaProb's
protocol, as the SCRUB code runs it: linearise the trained network, solve the kernel ridge
regressions of the linearised training on D and on D_r, and move the weights by the difference.

G holds one Jacobian column per (sample, class) pair, P x N K floats: feasible at small scale only
(the CIFAR-5 protocol), which is why the method refuses more than ``max_columns`` columns. The
kernel GᵀG is assembled in blocks of per-sample Jacobians (``torch.func``) and the products G v
are vector-Jacobian products, so G is never stored whole.
"""
from __future__ import annotations

import math
import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap
from tqdm import tqdm

from .._checks import UnlearnbookError
from ..data.dataset import batches, stratified_sample
from ..device import device_of
from ..models import rebuild
from ..train import progress_enabled
from .registry import register


def logit_jacobian(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Rows ∂z_k(x_n)/∂θ for every sample n of ``x`` and class k, sample-major: (n K, P)."""
    params = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    buffers = dict(model.named_buffers())

    def logits_of(weights: dict, sample: torch.Tensor) -> torch.Tensor:
        return functional_call(model, (weights, buffers), (sample[None],))[0]

    jac = vmap(jacrev(logits_of), in_dims=(None, 0))(params, x)
    return torch.cat([j.flatten(2) for j in jac.values()], dim=2).flatten(0, 1)


def ntk_gram(model: nn.Module, chunks: list[torch.Tensor], num_classes: int,
             progress: bool | None = None) -> torch.Tensor:
    """The empirical NTK GᵀG over the samples of ``chunks`` (in order), float64, assembled block
    by block: one chunk's Jacobian is kept while the others are recomputed beside it."""
    sizes = [len(x) * num_classes for x in chunks]
    offsets = [0, *torch.tensor(sizes).cumsum(0).tolist()]
    gram = torch.zeros(offsets[-1], offsets[-1], dtype=torch.float64)
    pairs = [(i, j) for i in range(len(chunks)) for j in range(i, len(chunks))]
    rows, row_index = None, -1
    for i, j in tqdm(pairs, desc="ntk kernel", disable=not progress_enabled(progress), leave=False):
        if i != row_index:
            rows, row_index = logit_jacobian(model, chunks[i]), i
        cols = rows if j == i else logit_jacobian(model, chunks[j])
        block = (rows @ cols.T).double().cpu()
        gram[offsets[i]:offsets[i + 1], offsets[j]:offsets[j + 1]] = block
        gram[offsets[j]:offsets[j + 1], offsets[i]:offsets[i + 1]] = block.T
    return gram


def jacobian_product(model: nn.Module, chunks: list[torch.Tensor], vector: torch.Tensor
                     ) -> torch.Tensor:
    """G v = Σ_n Σ_k v_nk ∂z_k(x_n)/∂θ as one vector over the trainable parameters (a
    vector-Jacobian product per chunk; ``vector`` is sample-major like :func:`logit_jacobian`)."""
    params = [p for p in model.parameters() if p.requires_grad]
    total = torch.zeros(sum(p.numel() for p in params), device=params[0].device)
    start = 0
    for x in chunks:
        logits = model(x)
        weights = vector[start:start + logits.numel()].view_as(logits).to(logits)
        start += logits.numel()
        grads = torch.autograd.grad((logits * weights).sum(), params, allow_unused=True)
        total += torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                            for g, p in zip(grads, params)])
    return total


def residuals(model: nn.Module, dataset, batch_size: int) -> torch.Tensor:
    """softmax(z(x)) − onehot(y), sample-major (the cross-entropy residual of the linearised
    model at the trained weights)."""
    rows = []
    with torch.no_grad():
        for x, y in batches(dataset, batch_size, device=device_of(model)):
            probs = torch.softmax(model(x).double(), 1)
            probs[torch.arange(len(y)), y] -= 1.0
            rows.append(probs.cpu())
    return torch.cat(rows).reshape(-1)


def ridge_weights(gram: torch.Tensor, residual: torch.Tensor, samples: int, ridge: float
                  ) -> torch.Tensor:
    """α = (GᵀG + N λ I)⁻¹ r, so that the linearised training's weight change is −G α."""
    eye = torch.eye(len(gram), dtype=gram.dtype)
    return torch.linalg.solve(gram + samples * ridge * eye, residual)


def trapezium_scale(delta: torch.Tensor, error: torch.Tensor) -> float:
    """The "trapezium trick" of the NTK forgetting code: rescale Δw by the norm it predicts from
    the angle between Δw and the linearisation's error e = θ − θ_init − w_retain:
    ‖Δw‖ + 2 ‖e‖ cos(angle) (or sin(angle − π/2) when the angle is obtuse), divided by ‖Δw‖."""
    delta_norm, error_norm = float(delta.norm()), float(error.norm())
    if delta_norm == 0.0 or error_norm == 0.0:
        return 1.0
    inner = max(-1.0, min(1.0, float(delta @ error) / (delta_norm * error_norm)))
    if inner < 0:
        predicted = delta_norm + 2 * math.sin(math.acos(inner) - math.pi / 2) * error_norm
    else:
        predicted = delta_norm + 2 * math.cos(math.acos(inner)) * error_norm
    return predicted / delta_norm


@register("ntk", deterministic=True)
def ntk(model: nn.Module, task, *, ridge: float = 0.1, trapezium: bool = True,
        retain_samples: int | None = None, memory_gb: float = 1.0, max_columns: int = 6000,
        progress: bool | None = None) -> nn.Module:
    """θ ← θ_o + s Δw with Δw = w_retain − w_complete, w_complete = −G(GᵀG + N λ I)⁻¹ r over
    D = D_r ∪ D_f and w_retain the same over D_r alone (N_r samples); G and r are taken at the
    trained weights, in eval mode. ``ridge`` is λ (the SCRUB code uses the training weight decay,
    0.1 in the CIFAR-5 protocol; the SSD code 0.1); ``trapezium`` applies the scale s of
    :func:`trapezium_scale` (else s = 1), with θ_init the model's initial weights (the pre-trained
    start under the SCRUB protocol, else its seeded initialisation). ``retain_samples``: linearise
    over a class-stratified draw of that many D_r samples (split seed) instead of all of D_r, an
    approximation for tasks too large for the kernel (None: all, as the reference). ``memory_gb``
    bounds one chunk of Jacobians; ``max_columns`` bounds N K (the kernel is (N K)² float64)."""
    if ridge <= 0:
        raise UnlearnbookError(f"NTK ridge must be > 0; got {ridge!r}")
    model.eval()
    device = device_of(model)
    params = [p for p in model.parameters() if p.requires_grad]
    size = sum(p.numel() for p in params)
    retain = task.retain
    if retain_samples is not None and not 1 <= retain_samples <= len(retain):
        raise UnlearnbookError(f"NTK retain_samples={retain_samples!r} is out of range; allowed: "
                               f"1..{len(retain)} (the size of D_r) or None")
    if retain_samples is not None:
        retain = retain.subset(stratified_sample(retain.labels.numpy(), retain_samples, task.seed))
    retain_count, forget_count = len(retain), len(task.forget)
    columns = (retain_count + forget_count) * task.num_classes
    if columns > max_columns:
        raise UnlearnbookError(
            f"NTK forgetting needs an (N K)² kernel and a P x N K Jacobian: N K = {columns} "
            f"columns for {retain_count + forget_count} samples x {task.num_classes} classes; "
            f"allowed: at most max_columns={max_columns} (small scale, e.g. the CIFAR-5 protocol)")
    chunk = max(1, int(memory_gb * 2 ** 30 / (4 * task.num_classes * size)))
    retain_chunks = [x for x, _ in batches(retain, chunk, device=device)]
    forget_chunks = [x for x, _ in batches(task.forget, chunk, device=device)]
    gram = ntk_gram(model, retain_chunks + forget_chunks, task.num_classes, progress)
    residual = torch.cat([residuals(model, retain, 256), residuals(model, task.forget, 256)])
    retain_columns = retain_count * task.num_classes
    alpha_complete = ridge_weights(gram, residual, retain_count + forget_count, ridge)
    alpha_retain = ridge_weights(gram[:retain_columns, :retain_columns],
                                 residual[:retain_columns], retain_count, ridge)
    padded_retain = torch.cat([alpha_retain, torch.zeros(len(residual) - retain_columns,
                                                         dtype=alpha_retain.dtype)])
    delta = jacobian_product(model, retain_chunks + forget_chunks, alpha_complete - padded_retain)
    w_retain = jacobian_product(model, retain_chunks, -alpha_retain)
    theta = torch.nn.utils.parameters_to_vector(params).detach()
    scale = 1.0
    if trapezium:
        start = rebuild(model, seed=getattr(model, "train_seed", 0)).to(device)
        theta_init = torch.nn.utils.parameters_to_vector(
            [p for p in start.parameters() if p.requires_grad]).detach()
        scale = trapezium_scale(delta, theta - theta_init - w_retain)
    with torch.no_grad():
        for param, value in zip(params, (theta + scale * delta).split([p.numel() for p in params])):
            param.copy_(value.view_as(param))
    model.unlearn_info = {"kernel_columns": columns, "chunk_samples": chunk, "scale": scale,
                          "delta_norm": float(delta.norm())}
    return model
