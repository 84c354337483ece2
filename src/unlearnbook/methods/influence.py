"""Influence unlearning (IU) with the WoodFisher inverse-Hessian approximation (Unlearn-Sparse)."""
from __future__ import annotations

import torch
from torch import nn

from ..data.dataset import batches, stratified_sample
from ..device import device_of
from ..metrics.core import accuracy, predict
from . import common
from .registry import register


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def summed_gradient(model: nn.Module, dataset, batch_size: int = 256) -> torch.Tensor:
    """sum_i grad CE(f(x_i), y_i), flattened (model in eval mode)."""
    params = [p for p in model.parameters()]
    total = torch.zeros(sum(p.numel() for p in params), device=device_of(model))
    for x, y in batches(dataset, batch_size, device=device_of(model)):
        loss = nn.functional.cross_entropy(model(x), y, reduction="sum")
        total += _flat(torch.autograd.grad(loss, params)).detach()
    return total


def per_sample_gradients(model: nn.Module, dataset, chunk: int = 32):
    """Yield the flattened per-sample loss gradients of ``dataset``, in order."""
    per_sample = common.per_sample_gradients(model)
    for x, y in batches(dataset, chunk, device=device_of(model)):
        grads = per_sample(x, y)
        flat = torch.cat([g.reshape(len(x), -1) for g in grads.values()], dim=1)
        yield from flat


def woodfisher_direction(model: nn.Module, task, vector: torch.Tensor, samples: int
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply the Unlearn-Sparse WoodFisher recursion to ``vector`` over ``samples`` + 1 retain
    samples, as that code writes it: o <- g_0; then for each g: t = o.g;
    k <- k - (k.g)/(N + t) o; o <- o - t/(N + t) o (N = samples, k starts at ``vector``). The
    code takes the first retain samples in dataset order; we draw a class-stratified sample
    with the split seed, as the first samples of a class-sorted source cover one class.
    Returns the direction and the drawn samples' class counts."""
    drawn = task.retain.subset(stratified_sample(task.retain.labels.numpy(), samples + 1, task.seed))
    grads = per_sample_gradients(model, drawn)
    k = vector.clone()
    o = next(grads).clone()
    for g in grads:
        t = torch.dot(o, g)
        k -= torch.dot(k, g) / (samples + t) * o
        o -= t / (samples + t) * o
    return k, torch.bincount(drawn.labels, minlength=task.num_classes)


#: The step sizes IU tries when the profile fixes none (Unlearn-Sparse tunes α by grid search).
ALPHA_GRID = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)


@register("iu", needs=("labels",), deterministic=True)
def iu(model: nn.Module, task, *, alpha: float | None = None,
       alpha_grid: tuple[float, ...] = ALPHA_GRID, ra_drop: float = 5.0,
       ra_samples: int = 2000, samples: int = 1000, batch_size: int = 256) -> nn.Module:
    """theta <- theta + alpha * H^-1 v with v = g_f/n - g_r n_f/(n n_r) (n = n_f + n_r); the
    inverse Hessian is WoodFisher's, estimated on ``samples`` retain samples.

    ``alpha`` None: the largest α of ``alpha_grid`` whose update keeps the accuracy on a seeded,
    class-stratified sample of ``ra_samples`` retain images within ``ra_drop`` points of the
    original's (the smallest α when none does); the grid, each α's accuracy and the winner are
    in ``unlearn_info`` (``chosen`` reaches the results' hyper-parameters)."""
    model.eval()
    n_f, n_r = len(task.forget), len(task.retain)
    n = n_f + n_r
    g_f = summed_gradient(model, task.forget, batch_size)
    g_r = summed_gradient(model, task.retain, batch_size)
    v = g_f / n - g_r * n_f / (n * n_r)
    step, hessian_classes = woodfisher_direction(model, task, v, min(samples, n_r - 1))
    start = [p.detach().clone() for p in model.parameters()]

    def apply(scale: float) -> None:
        with torch.no_grad():
            offset = 0
            for p, p0 in zip(model.parameters(), start):
                p.copy_(p0 + scale * step[offset:offset + p.numel()].view_as(p))
                offset += p.numel()

    info = {"hessian_class_counts": hessian_classes.tolist()}
    if alpha is None:
        check = task.retain.subset(stratified_sample(
            task.retain.labels.numpy(), min(ra_samples, n_r), task.seed))
        before = accuracy(*predict(model, check, batch_size))
        accuracies = {}
        for scale in sorted(alpha_grid):
            apply(scale)
            accuracies[scale] = accuracy(*predict(model, check, batch_size))
        kept = [a for a, acc in accuracies.items() if acc >= before - ra_drop]
        alpha = max(kept) if kept else min(accuracies)
        info.update(alpha_grid=list(accuracies), grid_retain_acc=list(accuracies.values()),
                    original_retain_acc=before, chosen={"alpha": alpha})
    apply(alpha)
    info["update_norm"] = float(alpha * step.norm())
    model.unlearn_info = info
    return model

