"""Shared metric functions: predictions, accuracy, per-sample loss, entropy, confidence."""
from __future__ import annotations

import torch
from torch import nn

from ..data.dataset import batches
from ..device import device_of


@torch.no_grad()
def predict(model: nn.Module, dataset, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels of ``dataset`` (on the CPU) with the model in eval mode."""
    was_training = model.training
    model.eval()
    logits, labels = [], []
    for x, y in batches(dataset, batch_size, device=device_of(model)):
        logits.append(model(x).cpu())
        labels.append(y.cpu())
    model.train(was_training)
    if not logits:
        return torch.empty(0, 0), torch.empty(0, dtype=torch.long)
    return torch.cat(logits), torch.cat(labels)


@torch.no_grad()
def embed(model: nn.Module, dataset, batch_size: int = 512) -> torch.Tensor:
    """Penultimate features G_f(x) of ``dataset`` (on the CPU), model in eval mode."""
    was_training = model.training
    model.eval()
    parts = [model.features(x).cpu() for x, _ in batches(dataset, batch_size,
                                                         device=device_of(model))]
    model.train(was_training)
    return torch.cat(parts) if parts else torch.empty(0, 0)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in percent (NaN for an empty set)."""
    if len(labels) == 0:
        return float("nan")
    return 100.0 * (logits.argmax(1) == labels).float().mean().item()


def per_sample_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(logits, labels, reduction="none")


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Shannon entropy of the softmax output, per sample (nats)."""
    log_p = torch.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(1)


def confidence(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Softmax probability of the given label, p(y|x)."""
    return torch.softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)


def mean_kl(logits: torch.Tensor, reference_logits: torch.Tensor, eps: float = 1e-8) -> float:
    """Mean over samples of KL(p ‖ q) = Σ_k p_k log(p_k / q_k), p and q the softmax outputs of the
    two logit sets with ``eps`` added and renormalised (AdaProb Tables 1 and 3)."""
    p = torch.softmax(logits.double(), 1) + eps
    q = torch.softmax(reference_logits.double(), 1) + eps
    p, q = p / p.sum(1, keepdim=True), q / q.sum(1, keepdim=True)
    return float((p * (p.log() - q.log())).sum(1).mean())
