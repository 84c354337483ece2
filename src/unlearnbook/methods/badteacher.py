"""Bad Teacher (Chundawat et al., AAAI'23): distil from a competent and an incompetent teacher."""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .._checks import check_choice
from ..data.dataset import ArrayDataset, batches
from ..device import device_of
from ..models import rebuild
from ..train import progress_enabled
from .registry import register


@register("badteacher", needs=())
def badteacher(model: nn.Module, task, *, epochs: int = 1, lr: float = 1e-4,
               batch_size: int = 256, retain_fraction: float = 0.3, temperature: float = 1.0,
               kl_reduction: str = "mean", seed: int = 0,
               progress: bool | None = None) -> nn.Module:
    """Student (a copy of the original) matches a randomly initialised teacher on D_f and the
    original model on a random ``retain_fraction`` of D_r: KL(p_teacher || p_student), Adam.

    ``kl_reduction="mean"`` averages over batch x classes as the reference code does;
    ``"batchmean"`` is the mathematically proper KL per sample.
    """
    check_choice("kl_reduction", kl_reduction, ("mean", "batchmean"))
    competent = copy.deepcopy(model).eval()
    device = device_of(model)
    incompetent = rebuild(model, seed=seed, init=False).to(device).eval()
    rng = np.random.RandomState(seed)
    keep = rng.choice(len(task.retain), int(retain_fraction * len(task.retain)), replace=False)
    retain_part = task.retain.subset(np.sort(keep))
    data = ArrayDataset.concat([task.forget, retain_part])
    is_forget = torch.cat([torch.ones(len(task.forget)), torch.zeros(len(retain_part))]).bool()
    tagged = data.relabel(is_forget.long())  # labels now carry the forget tag
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in tqdm(range(epochs), desc="badteacher", disable=not progress_enabled(progress),
                  leave=False):
        for x, tag in batches(tagged, batch_size, shuffle=True, generator=generator,
                              device=device):
            with torch.no_grad():
                good = torch.softmax(competent(x) / temperature, dim=1)
                bad = torch.softmax(incompetent(x) / temperature, dim=1)
                target = torch.where(tag.bool()[:, None], bad, good)
            log_student = torch.log_softmax(model(x) / temperature, dim=1)
            pointwise = target * (torch.log(target.clamp_min(1e-12)) - log_student)
            loss = pointwise.mean() if kl_reduction == "mean" else pointwise.sum() / len(x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model.eval()
