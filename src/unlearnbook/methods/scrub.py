"""SCRUB and SCRUB+R (Kurmanji, Triantafillou, Hayes & Triantafillou, NeurIPS'23).

The student (a copy of the original) moves away from the frozen original ("teacher") on D_f (max
steps) and stays close to it on D_r (min steps). SCRUB+R saves the student after every epoch and
rewinds to the epoch whose D_f error is closest to the error on held-out samples of D_f's classes.
Shared by SURE and AdaProb.
"""
from __future__ import annotations

import copy
import functools

import numpy as np
import torch
from torch import nn

from .._checks import check_choice
from ..data.dataset import batches
from ..device import device_of
from ..metrics.core import accuracy, predict
from .common import (OnEpoch, descend, forget_validation, kl_temperature, optimizer_for,
                     run_epochs)
from .registry import check_needs, register


def rewind_epoch(forget_errors: list[float], reference_error: float) -> int:
    """SCRUB+R: the (1-based) epoch whose D_f error is closest to ``reference_error``."""
    return int(np.argmin([abs(e - reference_error) for e in forget_errors])) + 1


def _scrub(model: nn.Module, task, *, epochs: int, max_steps: int, lr: float,
           milestones: tuple[int, ...], gamma: float, alpha: float, max_weight: float,
           temperature: float, retain_batch_size: int, forget_batch_size: int, momentum: float,
           weight_decay: float, freeze_bn: bool, smoothing: float, smoothing_start: int,
           smoothing_steps: str, rewind: bool, seed: int, progress: bool | None,
           on_epoch: OnEpoch | None,
           desc: str) -> nn.Module:
    device = device_of(model)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    optimizer = optimizer_for(model.parameters(), "sgd", lr, momentum, weight_decay)
    average = [p.detach().clone() for p in model.parameters()]  # SGDA smoothing target

    def smoothed(loss: torch.Tensor) -> torch.Tensor:
        if not smoothing:
            return loss
        return loss + smoothing * sum(torch.linalg.vector_norm(p - a)
                                      for p, a in zip(model.parameters(), average))
    reference = forget_validation(task) if rewind else None
    snapshots, max_losses, forget_errors = [], [], []

    def one_epoch(epoch: int) -> torch.Tensor:
        total = torch.zeros((), device=device)
        if epoch <= max_steps:  # max steps: maximise KL(student || teacher) on D_f
            for x_f, _ in batches(task.forget, forget_batch_size, shuffle=True,
                                  generator=generator, device=device):
                with torch.no_grad():
                    target = teacher(x_f)
                loss = -max_weight * kl_temperature(model(x_f), target, temperature)
                total += descend(optimizer, smoothed(loss) if smoothing_steps == "both" else loss)
        max_losses.append(total.item() if epoch <= max_steps else float("nan"))
        total = torch.zeros((), device=device)
        for x_r, y_r in batches(task.retain, retain_batch_size, shuffle=True,
                                generator=generator, device=device):
            with torch.no_grad():
                target = teacher(x_r)
            logits = model(x_r)
            loss = (gamma * nn.functional.cross_entropy(logits, y_r)
                    + alpha * kl_temperature(logits, target, temperature))
            total += descend(optimizer, smoothed(loss))
        if smoothing and epoch >= smoothing_start:  # EMA of the student, rate 0.1
            with torch.no_grad():
                for a, p in zip(average, model.parameters()):
                    a.mul_(0.9).add_(p.detach(), alpha=0.1)
        return total

    def after_epoch(epoch: int, current: nn.Module) -> None:
        if rewind:
            forget_errors.append(100.0 - accuracy(*predict(current, task.forget)))
            snapshots.append({k: v.detach().cpu().clone()
                              for k, v in current.state_dict().items()})
        if on_epoch is not None:
            on_epoch(epoch, current)

    history = run_epochs(model, one_epoch, optimizer, epochs=epochs, lr=lr,
                         decay_epochs=milestones, freeze_bn=freeze_bn, desc=desc,
                         progress=progress, on_epoch=after_epoch)
    history = history.rename(columns={"loss": "min_loss"}).assign(max_loss=max_losses)
    info = {"history": history}
    if rewind:
        history["forget_error"] = forget_errors
        info["reference_error"] = 100.0 - accuracy(*predict(model, reference))
        info["epoch"] = rewind_epoch(forget_errors, info["reference_error"])
        model.load_state_dict(snapshots[info["epoch"] - 1])
    model.unlearn_info = info
    return model.eval()


@register("scrub", needs=())
def scrub(model: nn.Module, task, *, epochs: int = 3, max_steps: int = 2, lr: float = 5e-4,
          milestones: tuple[int, ...] = (3, 5, 9), gamma: float = 0.95, alpha: float = 0.001,
          max_weight: float = 1.0, temperature: float = 4.0, retain_batch_size: int = 256,
          forget_batch_size: int = 512,
          momentum: float = 0.9, weight_decay: float = 5e-4, freeze_bn: bool = False,
          smoothing: float = 0.0, smoothing_start: int = 10, smoothing_steps: str = "min",
          rewind: bool = False, seed: int = 0,
          progress: bool | None = None, on_epoch: OnEpoch | None = None) -> nn.Module:
    """Per epoch e: if e ≤ ``max_steps``, one pass over D_f minimising −max_weight·KL_T(s, t);
    then one pass over D_r minimising γ·CE + α·KL_T(s, t) (KL_T: :func:`kl_temperature`). SGD, lr × 0.1 after
    each milestone. Defaults: the SCRUB protocol's large-scale CIFAR-10 class-wise ResNet values
    (lr 5e-4, 3 epochs, 2 max epochs, γ 0.95, α 0.001, T 4, batches 256 / 512).
    ``smoothing``: AdaProb's SCRUB fork adds smoothing·Σ_tensors ‖θ − θ_ema‖_F (Frobenius
    norms, not squared; EMA from epoch
    ``smoothing_start``; upstream SCRUB dropped it, so 0 by default); ``smoothing_steps``:
    ``min`` adds it to the min (retain) steps only, ``both`` to the max steps too, as AdaProb's
    copy of SCRUB does; ``freeze_bn`` keeps
    BatchNorm in eval mode (small-scale protocol). ``rewind``: SCRUB+R, registered as
    ``scrub_r``: keep the epoch whose D_f error is closest to the error on the validation samples
    of D_f's classes (epoch 0, the original, is no candidate). SURE's tables give SCRUB one
    "retain weight" α; the profiles read it as γ = α = α_SURE on the min step and keep the max
    step at the SCRUB code's weight 1 (1 − α_SURE there, 0.003 in the random table, all but
    switches the forget step off: the labelled variant ``scrub_alpha``)."""
    check_choice("smoothing_steps", smoothing_steps, ("min", "both"))
    if rewind:
        check_needs("scrub_r", 1.0 if len(forget_validation(task)) else 0.0)
    return _scrub(model, task, epochs=epochs, max_steps=max_steps, lr=lr, milestones=milestones,
                  gamma=gamma, alpha=alpha, max_weight=max_weight, temperature=temperature,
                  retain_batch_size=retain_batch_size, forget_batch_size=forget_batch_size,
                  momentum=momentum, weight_decay=weight_decay, freeze_bn=freeze_bn,
                  smoothing=smoothing, smoothing_start=smoothing_start,
                  smoothing_steps=smoothing_steps, rewind=rewind, seed=seed,
                  progress=progress, on_epoch=on_epoch, desc="scrub_r" if rewind else "scrub")


register("scrub_r", needs=("val", "labels"))(functools.partial(scrub, rewind=True))
