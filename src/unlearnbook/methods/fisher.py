"""Fisher forgetting (FF), the Unlearn-Sparse variant: Gaussian noise scaled by the inverse of
the diagonal Fisher information of the retain set."""
from __future__ import annotations

import torch
from torch import nn

from ..data.dataset import batches
from ..device import device_of
from .common import per_sample_gradients
from .registry import register


def retain_fisher(model: nn.Module, dataset, num_classes: int, batch_size: int = 32
                  ) -> dict[str, torch.Tensor]:
    """Diagonal Fisher over D_r: for every class y, F += mean_batch p(y|x) * (grad CE(f(x), y))^2,
    averaged over batches (the expectation over the model's own predictive distribution).
    ``batch_size=1`` (the SCRUB code's per-sample Fisher) is computed by
    :func:`per_sample_fisher`, with the same result and without a loop over samples."""
    if batch_size == 1:
        return per_sample_fisher(model, dataset, num_classes)
    model.eval()
    params = dict(model.named_parameters())
    fisher = {k: torch.zeros_like(v) for k, v in params.items()}
    count = 0
    for x, _ in batches(dataset, batch_size, device=device_of(model)):
        logits = model(x)
        probs = torch.softmax(logits, dim=1).detach()
        for y in range(num_classes):
            target = torch.full((len(x),), y, dtype=torch.long, device=x.device)
            loss = nn.functional.cross_entropy(logits, target)
            grads = torch.autograd.grad(loss, list(params.values()), retain_graph=True,
                                        allow_unused=True)
            for (k, _), g in zip(params.items(), grads):
                if g is not None:
                    fisher[k] += probs[:, y].mean() * g.detach() ** 2
        count += 1
    return {k: v / max(count, 1) for k, v in fisher.items()}


def per_sample_fisher(model: nn.Module, dataset, num_classes: int, chunk: int = 64
                      ) -> dict[str, torch.Tensor]:
    """F = mean_x Σ_y p(y|x) (∇ CE(f(x), y))², with one gradient per sample (``torch.func``
    per-sample gradients over chunks of D_r)."""
    model.eval()
    sample_grads = per_sample_gradients(model)
    fisher = {k: torch.zeros_like(v) for k, v in model.named_parameters()}
    for x, _ in batches(dataset, chunk, device=device_of(model)):
        with torch.no_grad():
            probs = torch.softmax(model(x), dim=1)
        for y in range(num_classes):
            target = torch.full((len(x),), y, dtype=torch.long, device=x.device)
            for k, g in sample_grads(x, target).items():
                weight = probs[:, y].view(-1, *([1] * (g.ndim - 1)))
                fisher[k] += (weight * g ** 2).sum(0)
    return {k: v / max(len(dataset), 1) for k, v in fisher.items()}


@register("ff", needs=())
def ff(model: nn.Module, task, *, alpha: float = 1e-7, batch_size: int = 32,
       seed: int = 0) -> nn.Module:
    """theta <- mu + sqrt(var) * N(0, 1), var = alpha * min(1/(F + 1e-8), 1e3) (1e2 for head-shaped
    tensors), averaged over the input dimension for matrices/kernels, x10 for head-shaped and 1-D
    tensors; for class-wise forgetting the forgotten class's head row gets mu = 0, var = 1e-4."""
    fisher = retain_fisher(model, task.retain, task.num_classes, batch_size)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            head_shaped = param.shape[0] == task.num_classes
            var = alpha * torch.clamp(1.0 / (fisher[name] + 1e-8), max=1e2 if head_shaped else 1e3)
            if param.ndim > 1:
                var = var.mean(dim=1, keepdim=True).expand_as(param).clone()
            mu = param.detach().clone()
            if task.scenario == "class" and task.forget_class is not None and head_shaped:
                mu[task.forget_class] = 0.0
                var[task.forget_class] = 1e-4
            if head_shaped or param.ndim == 1:
                var = var * 10
            noise = torch.randn(param.shape, generator=generator).to(param.device)
            param.copy_(mu + var.sqrt() * noise)
    return model
