"""BE+ (SURE's variant of Boundary Expanding, Chen et al., CVPR'23): widen the head by one
"shadow" class, push D_f into it, keep D_r's cross-entropy, and drop the extra class again."""
from __future__ import annotations

import torch
from torch import nn

from .common import OnEpoch, paired_unlearning
from .registry import register


def expanded_logits(model: nn.Module, extra: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """Logits over K + 1 classes: the model's head and the shadow row ``extra``."""
    features = model.features(x)
    return torch.cat([model.head(features), extra(features)], dim=1)


@register("be_plus", needs=())
def be_plus(model: nn.Module, task, *, epochs: int = 20, lr: float = 0.0092,
            alpha: float = 0.982, retain_batch_size: int = 128, forget_batch_size: int = 128,
            decay_epochs: tuple[int, ...] = (14,), momentum: float = 0.9,
            weight_decay: float = 5e-4, seed: int = 0, progress: bool | None = None,
            on_epoch: OnEpoch | None = None) -> nn.Module:
    """Minimise α·CE_{K+1}(x_r, y_r) + (1 − α)·CE_{K+1}(x_f, K) over the whole network and a
    freshly initialised shadow row (SURE §5.1: BE plus a retain cross-entropy term; its "D_f"
    there reads as a typo for D_r, given the α column). The model keeps its K outputs, so every
    epoch's snapshot is already pruned back. Defaults: SURE's Table 3 (lr 0.0092, α 0.982,
    forget batch 128, decay at 14); ``alpha=0`` is plain BE without the retain term."""
    torch.manual_seed(seed)
    extra = nn.Linear(model.head.in_features, 1).to(model.head.weight.device)
    shadow = task.num_classes

    def loss(x_r, y_r, x_f, y_f):
        forget_logits = expanded_logits(model, extra, x_f)
        shadow_labels = torch.full_like(y_f, shadow)
        return (alpha * nn.functional.cross_entropy(expanded_logits(model, extra, x_r), y_r)
                + (1 - alpha) * nn.functional.cross_entropy(forget_logits, shadow_labels))

    history = paired_unlearning(
        model, task, loss, epochs=epochs, lr=lr, retain_batch_size=retain_batch_size,
        forget_batch_size=forget_batch_size, decay_epochs=decay_epochs, momentum=momentum,
        weight_decay=weight_decay, seed=seed, progress=progress, on_epoch=on_epoch,
        desc="be_plus", extra_parameters=tuple(extra.parameters()))
    model.unlearn_info = {"history": history}
    return model.eval()
