"""The SSD reference code's "retrain": a new head on the original backbone, trained on D_r.

The LFSSD paper prints this column beside LFSSD. It is not an oracle: the backbone starts from the
original weights, which have seen D_f, so features of the forgotten data survive. ``retrain`` (from
scratch) stays the oracle the claim checks use; the LFSSD tables show both.
"""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from .._checks import UnlearnbookError
from ..train import Recipe, fit
from .registry import register


@register("retrain_head", needs=(), seed_axis="train")
def retrain_head(model: nn.Module, task, *, recipe: Recipe | None = None,
                 lr_factor: float = 0.1, seed: int | None = None,
                 progress: bool | None = None) -> nn.Module:
    """Re-initialise the classifier head (the only top-level module with ``reset_parameters``
    in the SSD models), then train the whole network on ``task.retain`` with the original's
    recipe at ``lr_factor`` times its learning rate (the SSD code: lr 0.01 after pre-training at
    0.1), cached by content like every trained model."""
    recipe = recipe or getattr(model, "recipe", None)
    if recipe is None:
        raise UnlearnbookError("method 'retrain_head' needs recipe=Recipe(...) when the model was "
                               "not trained with ub.train.fit; allowed: a ub.train.Recipe")
    if lr_factor <= 0:
        raise UnlearnbookError(f"lr_factor {lr_factor!r} is out of range; allowed: > 0")
    seed = getattr(model, "train_seed", 0) if seed is None else seed
    torch.manual_seed(seed)
    model.head.reset_parameters()
    trained = fit(model, task.retain, replace(recipe, lr=recipe.lr * lr_factor), seed,
                  progress=progress, desc="retrain head")
    trained.unlearn_info = {"cached": trained.fit_info.cached,
                            "seconds": trained.fit_info.seconds}
    return trained
