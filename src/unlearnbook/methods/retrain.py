"""Retrain from scratch on the retain set: the gold-standard reference ("oracle")."""
from __future__ import annotations

from torch import nn

from .._checks import UnlearnbookError
from ..models import rebuild
from ..prune import apply_masks, masks_of
from ..train import Recipe, fit
from .registry import register


@register("retrain", needs=(), seed_axis="train")
def retrain(model: nn.Module, task, *, recipe: Recipe | None = None, seed: int | None = None,
            progress: bool | None = None) -> nn.Module:
    """A fresh model of the same architecture trained on ``task.retain`` (cached by content).

    ``recipe`` and ``seed`` default to those the original model was trained with, so the oracle
    differs from the original only in its data. A pruned model is retrained with its masks
    fixed (random init, mask only, as in the Unlearn-Sparse protocol). (The SSD reference code re-initialises the head
    only and trains at lr 0.01; we follow the papers' "retrained from scratch".)
    """
    recipe = recipe or getattr(model, "recipe", None)
    if recipe is None:
        raise UnlearnbookError("method 'retrain' needs recipe=Recipe(...) when the model was not "
                               "trained with ub.train.fit; allowed: a ub.train.Recipe")
    seed = getattr(model, "train_seed", 0) if seed is None else seed
    fresh = apply_masks(rebuild(model, seed=seed), masks_of(model))  # a sparse model stays sparse
    oracle = fit(fresh, task.retain, recipe, seed, progress=progress, desc="retrain")
    oracle.unlearn_info = {"cached": oracle.fit_info.cached, "seconds": oracle.fit_info.seconds}
    return oracle
