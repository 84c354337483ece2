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


def neighbour_distance_ratio(forget: torch.Tensor, forget_labels: torch.Tensor,
                             pool: torch.Tensor, pool_labels: torch.Tensor,
                             unseen: torch.Tensor, unseen_labels: torch.Tensor,
                             neighbours: int = 10) -> float:
    """SURE-F6 in one number (claim S11 of the brief): the mean distance from each D_f embedding
    to its ``neighbours`` nearest ``pool`` embeddings of its class (retained training samples),
    over the same mean for ``unseen`` embeddings of D_f's classes (test samples). About 1 when
    D_f is embedded like unseen data, as the oracle embeds it; below 1 when it is embedded like
    training data. NaN when a class of D_f has no pool samples (class-wise forgetting)."""
    classes = forget_labels.unique()
    if not all(bool((pool_labels == c).any()) for c in classes):
        return float("nan")

    def mean_knn(points: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        distances = []
        for c in classes:
            candidates = pool[pool_labels == c]
            within = torch.cdist(points[labels == c].double(), candidates.double())
            distances.append(within.topk(min(neighbours, len(candidates)), largest=False)
                             .values.mean(1))
        return torch.cat(distances).mean()

    return float(mean_knn(forget, forget_labels) / mean_knn(unseen, unseen_labels))
