"""Building blocks that several unlearning methods share (not a method itself)."""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from tqdm import tqdm

from .._checks import UnlearnbookError, check_choice
from ..data.dataset import batches
from ..device import device_of
from ..train import progress_enabled, proximal

#: ``on_epoch(epoch, model)``: called after every unlearning epoch (1-based), e.g. to score and
#: snapshot the model for best-epoch selection (SURE's protocol). It must not change the model.
OnEpoch = Callable[[int, nn.Module], None]
#: ``loss(x_r, y_r, x_f, y_f)`` of a method that pairs every retain batch with a forget batch.
PairedLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def per_sample_gradients(model: nn.Module,
                         objective: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
                         = nn.functional.cross_entropy
                         ) -> Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]:
    """``fn(x, y)``: ∇_θ objective(f(x_n), y_n) for every sample n of a batch, as
    {parameter name: (n, *shape)}, at the model's current weights and buffers (``torch.func``
    per-sample gradients; the model's mode, e.g. eval, is the caller's)."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def one(weights: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return objective(functional_call(model, (weights, buffers), (x[None],)), y[None]).sum()

    batched = vmap(grad(one), in_dims=(None, 0, 0))
    return lambda x, y: batched(params, x, y)


def cycle(dataset, batch_size: int, generator: torch.Generator, device: torch.device,
          full: bool = False, augment: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless shuffled mini-batches (a forget or validation loader paired with D_r batches).
    ``full``: every batch holds exactly ``min(batch_size, len(dataset))`` samples (each pass
    drops its last partial batch; the reference loaders keep it, so only DAU's pairs ask).
    ``augment`` False: plain images even where the set carries the training transform."""
    if len(dataset) == 0:
        raise UnlearnbookError("cannot cycle over an empty set; allowed: a non-empty forget, "
                               "validation or retain set")
    while True:
        yield from batches(dataset, batch_size, shuffle=True, generator=generator, device=device,
                           drop_last=full, augment=augment)


def kl_temperature(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                   temperature: float) -> torch.Tensor:
    """Hinton's distillation KL, KL_T(s, t) = T² Σ_k softmax(t/T)_k (log softmax(t/T)_k −
    log softmax(s/T)_k), summed over classes and averaged over the batch (SCRUB's DistillKL)."""
    log_s = torch.log_softmax(student_logits / temperature, dim=1)
    log_t = torch.log_softmax(teacher_logits / temperature, dim=1)
    return (log_t.exp() * (log_t - log_s)).sum(1).mean() * temperature ** 2


def step_lr(lr: float, epoch: int, milestones: tuple[int, ...], gamma: float = 0.1) -> float:
    """The learning rate of (1-based) ``epoch``: ``lr · gamma^{#(milestones < epoch)}``."""
    return lr * gamma ** sum(epoch > m for m in milestones)


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    """One optimiser step on ``loss``; returns the loss, detached (no host sync)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def train_mode(model: nn.Module, freeze_bn: bool) -> None:
    """Training mode, or eval mode (BatchNorm statistics frozen) as the SCRUB small scale."""
    model.train(not freeze_bn)


def optimizer_for(params, name: str, lr: float, momentum: float, weight_decay: float
                  ) -> torch.optim.Optimizer:
    """SGD (with ``momentum``) or Adam over ``params``."""
    check_choice("optimizer", name, ("sgd", "adam"))
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def forget_validation(task):
    """The validation samples whose class occurs in D_f: SCRUB+R's reference error and SURE's
    D_val (unseen samples from D_f's distribution)."""
    classes = torch.unique(torch.as_tensor(task.forget.labels))
    keep = np.flatnonzero(torch.isin(torch.as_tensor(task.val.labels), classes).numpy())
    return task.val.subset(keep)


def retain_pass(model: nn.Module, optimizer: torch.optim.Optimizer, retain, batch_size: int,
                generator: torch.Generator,
                penalty: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:
    """One shuffled pass of cross-entropy steps over ``retain`` (plus ``penalty()`` when given);
    returns the summed loss as a device tensor."""
    device = device_of(model)
    total = torch.zeros((), device=device)
    for x, y in batches(retain, batch_size, shuffle=True, generator=generator, device=device):
        loss = nn.functional.cross_entropy(model(x), y)
        total += descend(optimizer, loss + penalty() if penalty is not None else loss)
    return total


def finetune_on_retain(model: nn.Module, task, *, epochs: int, lr: float, batch_size: int,
                       momentum: float, weight_decay: float, decay_epochs: tuple[int, ...],
                       freeze_bn: bool, prox: float, seed: int, progress: bool | None,
                       on_epoch: OnEpoch | None, desc: str,
                       trainable: nn.Module | None = None) -> pd.DataFrame:
    """SGD with cross-entropy on D_r (plus prox·½‖θ − θ_start‖² when ``prox``), lr × 0.1 after
    each epoch in ``decay_epochs``. ``trainable``: only this sub-module learns (CF-k / EU-k); the
    rest is frozen, in eval mode, so its BatchNorm statistics stay too."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    learner = model if trainable is None else trainable
    if trainable is not None:
        model.requires_grad_(False)
        trainable.requires_grad_(True)
    params = [p for p in learner.parameters() if p.requires_grad]
    optimizer = optimizer_for(params, "sgd", lr, momentum, weight_decay)
    start = [p.detach().clone() for p in model.parameters()]
    penalty = (lambda: prox * proximal(model, start)) if prox else None

    def one_epoch(epoch: int) -> torch.Tensor:
        if trainable is not None:
            model.eval()
            trainable.train(not freeze_bn)
        return retain_pass(model, optimizer, task.retain, batch_size, generator, penalty)

    history = run_epochs(model, one_epoch, optimizer, epochs=epochs, lr=lr,
                         decay_epochs=decay_epochs, freeze_bn=freeze_bn, desc=desc,
                         progress=progress, on_epoch=on_epoch)
    model.requires_grad_(True)
    return history


def run_epochs(model: nn.Module, one_epoch: Callable[[int], torch.Tensor],
               optimizer: torch.optim.Optimizer, *, epochs: int, lr: float,
               decay_epochs: tuple[int, ...], freeze_bn: bool = False, desc: str,
               progress: bool | None, on_epoch: OnEpoch | None) -> pd.DataFrame:
    """The epoch loop every iterative SURE-lineage method shares: lr × 0.1 after each epoch in
    ``decay_epochs`` (the tables' "lr decay"), ``one_epoch(epoch)`` returns the summed loss
    (a device tensor: one host sync per epoch), then ``on_epoch``. Returns the loss history."""
    history = []
    for epoch in tqdm(range(1, epochs + 1), desc=desc, disable=not progress_enabled(progress),
                      leave=False):
        set_lr(optimizer, step_lr(lr, epoch, tuple(decay_epochs)))
        train_mode(model, freeze_bn)
        history.append({"epoch": epoch, "loss": one_epoch(epoch).item()})
        if on_epoch is not None:
            on_epoch(epoch, model)
    return pd.DataFrame(history)


def paired_unlearning(model: nn.Module, task, loss: PairedLoss, *, epochs: int, lr: float,
                      retain_batch_size: int, forget_batch_size: int,
                      decay_epochs: tuple[int, ...], momentum: float, weight_decay: float,
                      seed: int, progress: bool | None, on_epoch: OnEpoch | None, desc: str,
                      freeze_bn: bool = False, optimizer: str = "sgd",
                      extra_parameters: tuple[nn.Parameter, ...] = ()) -> pd.DataFrame:
    """One epoch = one pass over D_r; each retain batch is paired with the next batch of a
    cycled, shuffled forget loader (the SCRUB code's ``train_negrad`` pairing) and one optimiser
    step is taken on ``loss(x_r, y_r, x_f, y_f)``. ``extra_parameters`` (a domain classifier,
    an extra head row) are optimised with the model."""
    device = device_of(model)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    params = list(model.parameters()) + list(extra_parameters)
    opt = optimizer_for(params, optimizer, lr, momentum, weight_decay)
    forget_batches = cycle(task.forget, forget_batch_size, generator, device)

    def one_epoch(epoch: int) -> torch.Tensor:
        total = torch.zeros((), device=device)
        for x_r, y_r in batches(task.retain, retain_batch_size, shuffle=True,
                                generator=generator, device=device):
            x_f, y_f = next(forget_batches)
            total += descend(opt, loss(x_r, y_r, x_f, y_f))
        return total

    return run_epochs(model, one_epoch, opt, epochs=epochs, lr=lr, decay_epochs=decay_epochs,
                      freeze_bn=freeze_bn, desc=desc, progress=progress, on_epoch=on_epoch)
