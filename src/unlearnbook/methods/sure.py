"""SURE (Sepahvand et al., ICLR'25): unlearning as domain adaptation. A domain classifier G_d
reads the penultimate features G_f(x) through a gradient-reversal layer and learns to tell D_f
(domain 1) from unseen validation samples of the same distribution (domain 0); the reversed
gradient pushes G_f to make the two indistinguishable, while cross-entropy on D_r keeps the
classifier G_y(G_f(x)) useful (Eq. 3-4, updates Eq. 7-9)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .._checks import UnlearnbookError
from ..device import device_of
from .common import OnEpoch, cycle, forget_validation, paired_unlearning
from .registry import register


class GradientReversal(torch.autograd.Function):
    """R(x) = x on the forward pass, dR/dx = −c·I on the backward pass (Ganin & Lempitsky)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, coefficient: float) -> torch.Tensor:
        ctx.coefficient = coefficient
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.coefficient * grad, None


def reverse_gradient(x: torch.Tensor, coefficient: float = 1.0) -> torch.Tensor:
    return GradientReversal.apply(x, coefficient)


class DomainClassifier(nn.Module):
    """G_d: "a two-layer fully connected network" on the features; returns the logit of
    P(x ∈ D_f) (the sigmoid sits in the loss)."""

    def __init__(self, feature_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(feature_dim, feature_dim), nn.ReLU(),
                                 nn.Linear(feature_dim, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(1)


#: ``fn(model, domain, x_r, y_r, x_f, x_v, retain_weight, domain_weight)``: :func:`sure_loss`'s form.
SureLoss = Callable[..., torch.Tensor]


def sure_loss(model: nn.Module, domain: DomainClassifier, x_r: torch.Tensor, y_r: torch.Tensor,
              x_f: torch.Tensor, x_v: torch.Tensor, retain_weight: float, domain_weight: float
              ) -> torch.Tensor:
    """w_r·CE(G_y(G_f(x_r)), y_r) + w_d·[BCE(G_d(R(G_f(x_f))), 1) + BCE(G_d(R(G_f(x_v))), 0)],
    each BCE a batch mean (Eq. 3-4 with the per-domain size weighting of App. C). One forward
    pass over [x_r; x_f; x_v] so BatchNorm sees the three batches jointly, as DANN code does."""
    features = model.features(torch.cat([x_r, x_f, x_v]))
    h_r, h_f, h_v = torch.split(features, [len(x_r), len(x_f), len(x_v)])
    classification = nn.functional.cross_entropy(model.head(h_r), y_r)
    d_f, d_v = torch.split(domain(reverse_gradient(torch.cat([h_f, h_v]))), [len(x_f), len(x_v)])
    bce = nn.functional.binary_cross_entropy_with_logits
    domain_loss = bce(d_f, torch.ones_like(d_f)) + bce(d_v, torch.zeros_like(d_v))
    return retain_weight * classification + domain_weight * domain_loss


@register("sure", needs=("val",), parts=("loss_fn",))
def sure(model: nn.Module, task, *, epochs: int = 20, lr: float = 0.045, alpha: float = 0.807,
         lam: float | None = None, retain_batch_size: int = 128, forget_batch_size: int = 256,
         decay_epochs: tuple[int, ...] = (10,), momentum: float = 0.9,
         weight_decay: float = 5e-4, seed: int = 0, progress: bool | None = None,
         on_epoch: OnEpoch | None = None, loss_fn: SureLoss = sure_loss) -> nn.Module:
    """SURE with SGD. ``momentum`` 0 gives exactly the updates of Eq. 7-9 (θ ← θ − μ·gradient);
    the default 0.9 is the brief's reading of an unstated optimiser (the paper follows Ganin &
    Lempitsky, who used momentum 0.9). G_d is freshly initialised (seeded) every run. The
    retain weight α enters as w_r = α, w_d = 1 − α (the paper's tables tune α, "the retain set
    loss weight"); ``lam`` set instead gives Eq. 4's form w_r = 1, w_d = λ. D_val: the
    validation samples of D_f's classes, cycled in batches the size of the forget batch.
    Defaults: Table 3, random forgetting (lr 0.045, α 0.807, forget batch 256, lr × 0.1 after
    epoch 10); Table 4 (partial / class): lr 0.0372, α 0.4241, forget batch 128, decay at 4.
    20 epochs and retain batch 128 are ours. Part ``loss_fn``: a variant's Eq. 3-4 in
    :func:`sure_loss`'s form (see the registry)."""
    if lam is not None and lam <= 0:
        raise UnlearnbookError(f"lam {lam!r} is out of range; allowed: > 0 (or None to use alpha)")
    if not 0.0 <= alpha <= 1.0:
        raise UnlearnbookError(f"alpha {alpha!r} is out of range; allowed: [0, 1]")
    unseen = forget_validation(task)
    if len(unseen) == 0:
        raise UnlearnbookError("method 'sure' needs validation samples of the forget set's "
                               "classes; the task has none; allowed: val_fraction > 0")
    retain_weight, domain_weight = (1.0, lam) if lam is not None else (alpha, 1.0 - alpha)
    device = device_of(model)
    torch.manual_seed(seed)
    domain = DomainClassifier(model.head.in_features).to(device)
    unseen_batches = cycle(unseen, forget_batch_size,
                           torch.Generator().manual_seed(seed + 1), device)

    def loss(x_r, y_r, x_f, y_f):
        x_v, _ = next(unseen_batches)
        return loss_fn(model, domain, x_r, y_r, x_f, x_v[:len(x_f)], retain_weight,
                       domain_weight)

    history = paired_unlearning(
        model, task, loss, epochs=epochs, lr=lr, retain_batch_size=retain_batch_size,
        forget_batch_size=forget_batch_size, decay_epochs=decay_epochs, momentum=momentum,
        weight_decay=weight_decay, seed=seed, progress=progress, on_epoch=on_epoch,
        desc="sure", extra_parameters=tuple(domain.parameters()))
    model.unlearn_info = {"history": history}
    return model.eval()
