"""Parameter importance and Selective Synaptic Dampening, shared by SSD and LFSSD.

Dampening (LFSSD Eq. 1; SSD): select parameter i when ``imp_f[i] > alpha * imp_D[i]`` and scale it
by ``beta = min(lam * imp_D[i] / imp_f[i], 1)``.
"""
from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Callable

import pandas as pd
import torch
from torch import nn
from torch.utils.data import ConcatDataset, Dataset, Subset

from .._checks import check_choice
from ..data.dataset import (ArrayDataset, batches, dataset_fingerprint, dataset_labels,
                            sample_digests, stratified_order)
from ..device import device_of
from ..train import state_hash
from .common import per_sample_gradients

IMPORTANCE_MODES = ("per_sample", "batch_mean")
Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (logits, y) -> per-sample
#: ``fn(model, dataset, batch_size) -> {parameter name: importance}``: a variant's estimator.
Importance = Callable[[nn.Module, Dataset, int], dict[str, torch.Tensor]]
#: ``fn(model, forget_importance, full_importance, alpha, lam)``: a variant's rule, in place.
Dampen = Callable[[nn.Module, dict, dict, float, float], object]


def output_sq_norm(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """LFSSD objective: squared L2 norm of each output vector, ``||f(x)||^2`` (labels unused)."""
    return (logits ** 2).sum(dim=1)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """SSD objective: per-sample cross-entropy (its squared gradient is the diagonal Fisher)."""
    return nn.functional.cross_entropy(logits, labels, reduction="none")


_CACHE: "OrderedDict[tuple, dict[str, torch.Tensor]]" = OrderedDict()


def importance(model: nn.Module, dataset, objective: Objective, statistic: str,
               mode: str = "per_sample", batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Per-parameter importance over ``dataset``, with the model in eval mode.

    ``per_sample``: ``(1/N) sum_k stat(d objective(x_k) / d theta)``, stat = ``abs`` or ``square``,
    as LFSSD Eq. 3 is written; it does not depend on batch size or order.
    ``batch_mean``: the reference code: ``(1/#batches) sum_b stat(d mean_{k in b} objective / d
    theta)``; the statistic of a batch-mean gradient lets opposite per-sample gradients cancel, so
    it depends on how the data is batched. Results are memoised on (weights, data, settings).
    """
    check_choice("importance mode", mode, IMPORTANCE_MODES)
    check_choice("importance statistic", statistic, ("abs", "square"))
    key = (state_hash(model), dataset_fingerprint(dataset), objective.__name__, statistic, mode,
           batch_size if mode == "batch_mean" else None)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    stat = torch.abs if statistic == "abs" else torch.square
    was_training = model.training
    model.eval()
    totals = {k: torch.zeros_like(v) for k, v in model.named_parameters()}
    count = 0
    if mode == "per_sample":
        per_sample_grad = per_sample_gradients(model, objective)
        with warnings.catch_warnings():  # vmap falls back to a loop for CPU attention kernels
            warnings.filterwarnings("ignore", message="There is a performance drop")
            for x, y in batches(dataset, batch_size, device=device_of(model)):
                for k, g in per_sample_grad(x, y).items():
                    totals[k] += stat(g).sum(0)
                count += len(y)
    else:
        for x, y in batches(dataset, batch_size, device=device_of(model)):
            model.zero_grad(set_to_none=True)
            objective(model(x), y).mean().backward()
            for k, p in model.named_parameters():
                if p.grad is not None:
                    totals[k] += stat(p.grad.detach())
            count += 1
        model.zero_grad(set_to_none=True)
    model.train(was_training)
    result = {k: v / max(count, 1) for k, v in totals.items()}
    _CACHE[key] = result
    while len(_CACHE) > 8:
        _CACHE.popitem(last=False)
    return result


@torch.no_grad()
def dampen(model: nn.Module, forget_importance: dict[str, torch.Tensor],
           full_importance: dict[str, torch.Tensor], alpha: float, lam: float) -> pd.DataFrame:
    """Apply Eq. 1 in place; return per-tensor counts of selected parameters and mean beta."""
    rows = []
    for name, param in model.named_parameters():
        imp_f, imp_d = forget_importance[name], full_importance[name]
        selected = imp_f > alpha * imp_d
        beta = torch.clamp(lam * imp_d / imp_f.clamp_min(torch.finfo(imp_f.dtype).tiny), max=1.0)
        param[selected] *= beta[selected]
        ratio = (imp_f / imp_d.clamp_min(1e-30))
        rows.append({"parameter": name, "size": param.numel(), "selected": int(selected.sum()),
                     "mean_beta": float(beta[selected].mean()) if selected.any() else 1.0,
                     "median_ratio": float(ratio.median())})
    return pd.DataFrame(rows)


def reference_order(task) -> tuple[Dataset, Dataset]:
    """D and D_f as the SSD reference code batches them: D = D_r then D_f, unshuffled. Each part
    is in :func:`~unlearnbook.data.dataset.stratified_order` (seed 0) over a canonical,
    content-hashed order, so batches mix classes as the reference's torchvision order does and
    do not depend on the order in which the data source lists the images."""
    def ordered(part: Dataset) -> Dataset:
        order = stratified_order(dataset_labels(part), 0, sample_digests(part))
        if isinstance(part, ArrayDataset):
            return part.subset(order)
        return Subset(part, order.tolist())
    retain, forget = ordered(task.retain), ordered(task.forget)
    if isinstance(retain, ArrayDataset) and isinstance(forget, ArrayDataset):
        return ArrayDataset.concat([retain, forget]), forget
    return ConcatDataset([retain, forget]), forget


def selective_synaptic_dampening(model: nn.Module, task, objective: Objective, statistic: str,
                                 alpha: float, lam: float, mode: str, batch_size: int,
                                 forget_batch_size: int, importance_fn: Importance | None = None,
                                 dampen_fn: Dampen | None = None) -> nn.Module:
    """Importance over D_f and over D = D_r + D_f (the whole training set, in
    :func:`reference_order`, which only the batch-mean form depends on), then dampen.
    ``importance_fn`` / ``dampen_fn``: a variant's own estimator and rule (the registry's
    parts); the selection report is then measured on the weights before and after."""
    full, forget = reference_order(task)
    if importance_fn is None:
        def importance_fn(net: nn.Module, data: Dataset, size: int) -> dict[str, torch.Tensor]:
            return importance(net, data, objective, statistic, mode, size)
    imp_full = importance_fn(model, full, batch_size)
    imp_forget = importance_fn(model, forget, forget_batch_size)
    if dampen_fn is None:
        report = dampen(model, imp_forget, imp_full, alpha, lam)
    else:
        before = {k: v.detach().clone() for k, v in model.named_parameters()}
        dampen_fn(model, imp_forget, imp_full, alpha, lam)
        report = pd.DataFrame([{"parameter": k, "size": p.numel(),
                                "selected": int((p.detach() != before[k]).sum())}
                               for k, p in model.named_parameters()])
    model.unlearn_info = {"dampening": report, "selected_fraction":
                          report["selected"].sum() / report["size"].sum()}
    return model
