"""Bad Teacher in the paired, weighted form that SURE and the SCRUB protocol run: every retain
batch is paired with a forget batch; the student follows the original ("good teacher") on D_r
and a randomly initialised network ("bad teacher") on D_f. (``badteacher`` is the original
paper's form: one mixed loader over D_f and 30% of D_r, Adam.)"""
from __future__ import annotations

import copy

from torch import nn

from ..models import rebuild
from .common import OnEpoch, kl_temperature, paired_unlearning
from .registry import register


@register("badteacher_paired", needs=())
def badteacher_paired(model: nn.Module, task, *, epochs: int = 20, lr: float = 0.035,
                      alpha: float = 0.954, temperature: float = 1.0,
                      retain_batch_size: int = 128, forget_batch_size: int = 8,
                      decay_epochs: tuple[int, ...] = (8,), optimizer: str = "sgd",
                      momentum: float = 0.9, weight_decay: float = 5e-4, seed: int = 0,
                      progress: bool | None = None,
                      on_epoch: OnEpoch | None = None) -> nn.Module:
    """Minimise α·KL_T(s ‖ good on x_r) + (1 − α)·KL_T(s ‖ bad on x_f) (KL_T: Hinton's KL × T²).
    Defaults: SURE's Table 3 (SGD, lr 0.035, α 0.954, forget batch 8, decay at 8; T = 1, our
    reading of its "retain weight"). The SCRUB protocol's form (AdaProb): ``optimizer="adam"``,
    lr 1e-3, T 4, α 0.5 (its loss weights 1 and 1; Adam is scale-invariant), 1 epoch,
    forget batch 512."""
    good = copy.deepcopy(model).eval()
    bad = rebuild(model, seed=seed, init=False).to(model.head.weight.device).eval()
    for teacher in (good, bad):
        for p in teacher.parameters():
            p.requires_grad_(False)

    def loss(x_r, y_r, x_f, y_f):
        return (alpha * kl_temperature(model(x_r), good(x_r), temperature)
                + (1 - alpha) * kl_temperature(model(x_f), bad(x_f), temperature))

    history = paired_unlearning(
        model, task, loss, epochs=epochs, lr=lr, retain_batch_size=retain_batch_size,
        forget_batch_size=forget_batch_size, decay_epochs=decay_epochs, momentum=momentum,
        weight_decay=weight_decay, seed=seed, progress=progress, on_epoch=on_epoch,
        desc="badteacher_paired", optimizer=optimizer)
    model.unlearn_info = {"history": history}
    return model.eval()
