"""BS+ (SURE's variant of Boundary Shrinking, Chen et al., CVPR'23): relabel each forget sample
to the class its FGSM neighbour falls into under the original model, keep D_r's cross-entropy."""
from __future__ import annotations

import copy

import torch
from torch import nn

from .common import OnEpoch, paired_unlearning
from .registry import register


def nearest_boundary_labels(original: nn.Module, x: torch.Tensor, y: torch.Tensor,
                            mean: torch.Tensor, std: torch.Tensor, bound: float = 0.1
                            ) -> torch.Tensor:
    """y_nbi = argmax f_orig(x_adv), x_adv = clamp₀¹(x + bound·sign ∇_x CE(f_orig(x), y)) in
    [0, 1] pixel space, rounded to 1/255 (one FGSM step on the frozen original; ``x`` arrives
    normalised with ``mean``/``std`` and is re-normalised)."""
    mean, std = mean.to(x.device), std.to(x.device)
    pixels = (x * std + mean).detach().requires_grad_(True)
    loss = nn.functional.cross_entropy(original((pixels - mean) / std), y)
    grad, = torch.autograd.grad(loss, pixels)
    adversarial = torch.round((pixels + bound * grad.sign()).clamp(0, 1) * 255) / 255
    with torch.no_grad():
        return original((adversarial - mean) / std).argmax(1)


@register("bs_plus", needs=("labels",))
def bs_plus(model: nn.Module, task, *, epochs: int = 20, lr: float = 0.0079,
            alpha: float = 0.998, bound: float = 0.1, retain_batch_size: int = 128,
            forget_batch_size: int = 128, decay_epochs: tuple[int, ...] = (10,),
            momentum: float = 0.9, weight_decay: float = 5e-4, seed: int = 0,
            progress: bool | None = None, on_epoch: OnEpoch | None = None) -> nn.Module:
    """Minimise α·CE(x_r, y_r) + (1 − α)·CE(x_f, y_nbi) (defaults: SURE's Table 3, lr 0.0079,
    α 0.998, forget batch 128, decay at 10; FGSM bound 0.1 as Boundary Shrinking's code).
    ``alpha=0`` is plain BS without the retain term."""
    original = copy.deepcopy(model).eval()
    for p in original.parameters():
        p.requires_grad_(False)
    mean, std = task.forget.mean, task.forget.std

    def loss(x_r, y_r, x_f, y_f):
        y_nbi = nearest_boundary_labels(original, x_f, y_f, mean, std, bound)
        return (alpha * nn.functional.cross_entropy(model(x_r), y_r)
                + (1 - alpha) * nn.functional.cross_entropy(model(x_f), y_nbi))

    history = paired_unlearning(
        model, task, loss, epochs=epochs, lr=lr, retain_batch_size=retain_batch_size,
        forget_batch_size=forget_batch_size, decay_epochs=decay_epochs, momentum=momentum,
        weight_decay=weight_decay, seed=seed, progress=progress, on_epoch=on_epoch,
        desc="bs_plus")
    model.unlearn_info = {"history": history}
    return model.eval()
