"""Git Re-Basin weight matching (Ainsworth, Hayase & Srinivasa, ICLR'23), for SURE's weight
distance to the oracle (SURE §3.2, Fig. 5a): permute the hidden units of one network so that its
weights align with another's, then measure the Euclidean distance between them.

A permutation spec maps each permutation (a group of hidden units) to the (parameter, axis)
pairs it acts on. Units that write to a residual stream share one permutation. Coordinate
ascent over permutations solves a linear assignment per permutation until no sweep improves.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from .._checks import UnlearnbookError


@dataclass(frozen=True)
class PermutationSpec:
    """``axes[perm]`` = [(state-dict key, axis), ...]; ``views[key]`` reshapes a tensor before
    permuting (a Linear layer after a flatten sees channel × position); ``layer`` is the prefix
    of the penultimate layer whose distance SURE reports."""

    axes: dict[str, list[tuple[str, int]]]
    views: dict[str, tuple[int, ...]]
    layer: str


def _batchnorm(prefix: str) -> list[tuple[str, int]]:
    return [(f"{prefix}.{name}", 0) for name in ("weight", "bias", "running_mean", "running_var")]


def permutation_spec(model: nn.Module) -> PermutationSpec:
    """The spec of a package model: ResNet-18, ALL-CNN or the small CNN (not the ViT)."""
    from ..models import AllCNN, ResNet18, SmallCNN

    axes: dict[str, list[tuple[str, int]]] = {}

    def add(perm: str, *pairs: tuple[str, int]) -> None:
        axes.setdefault(perm, []).extend(pairs)

    if isinstance(model, ResNet18):
        add("stem", ("stem.0.weight", 0), *_batchnorm("stem.1"))
        stream = "stem"
        for stage in range(1, 5):
            for block in range(2):
                name = f"layer{stage}.{block}"
                inner = f"{name}.inner"
                module = getattr(model, f"layer{stage}")[block]
                add(stream, (f"{name}.conv1.weight", 1))
                if len(module.shortcut):
                    new = f"layer{stage}.stream"
                    add(stream, (f"{name}.shortcut.0.weight", 1))
                    add(new, (f"{name}.shortcut.0.weight", 0), *_batchnorm(f"{name}.shortcut.1"))
                    stream = new
                add(inner, (f"{name}.conv1.weight", 0), *_batchnorm(f"{name}.bn1"),
                    (f"{name}.conv2.weight", 1))
                add(stream, (f"{name}.conv2.weight", 0), *_batchnorm(f"{name}.bn2"))
        add(stream, ("head.weight", 1))
        return PermutationSpec(axes, {}, "layer4.1.")
    if isinstance(model, AllCNN):
        previous = None
        for i in range(len(model.body)):
            perm = f"block{i}"
            add(perm, (f"body.{i}.0.weight", 0), *_batchnorm(f"body.{i}.1"))
            if previous:
                add(previous, (f"body.{i}.0.weight", 1))
            previous = perm
        add(previous, ("head.weight", 1))
        return PermutationSpec(axes, {}, f"body.{len(model.body) - 1}.")
    if isinstance(model, SmallCNN):
        conv2, hidden = model.body[3], model.body[8]
        add("conv1", ("body.0.weight", 0), ("body.0.bias", 0), *_batchnorm("body.1"),
            ("body.3.weight", 1))
        add("conv2", ("body.3.weight", 0), ("body.3.bias", 0), *_batchnorm("body.4"),
            ("body.8.weight", 1))
        add("hidden", ("body.8.weight", 0), ("body.8.bias", 0), ("head.weight", 1))
        positions = hidden.in_features // conv2.out_channels
        views = {"body.8.weight": (hidden.out_features, conv2.out_channels, positions)}
        return PermutationSpec(axes, views, "body.8.")
    raise UnlearnbookError(f"weight matching has no permutation spec for "
                           f"{type(model).__name__}; allowed: ResNet18, AllCNN, SmallCNN")


def _viewed(spec: PermutationSpec, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.reshape(spec.views[k]) if k in spec.views else v).detach().double().cpu()
            for k, v in state.items() if v.is_floating_point()}


def _permute(spec: PermutationSpec, state: dict[str, torch.Tensor],
             perms: dict[str, torch.Tensor], skip: str | None = None) -> dict[str, torch.Tensor]:
    out = dict(state)
    for perm, pairs in spec.axes.items():
        if perm == skip:
            continue
        for key, axis in pairs:
            out[key] = torch.index_select(out[key], axis, perms[perm])
    return out


def weight_matching(spec: PermutationSpec, target: dict[str, torch.Tensor],
                    source: dict[str, torch.Tensor], max_sweeps: int = 100,
                    seed: int = 0) -> dict[str, torch.Tensor]:
    """Permutations of ``source``'s units maximising Σ ⟨W_target, π(W_source)⟩ over the
    trainable tensors (coordinate ascent from the identity, permutations visited in a seeded
    random order each sweep, stop after a sweep without improvement)."""
    a, b = _viewed(spec, target), _viewed(spec, source)
    trainable = {k for k in a if "running_" not in k}
    sizes = {perm: a[pairs[0][0]].shape[pairs[0][1]] for perm, pairs in spec.axes.items()}
    perms = {perm: torch.arange(n) for perm, n in sizes.items()}
    rng = np.random.RandomState(seed)
    names = list(spec.axes)
    for _ in range(max_sweeps):
        improved = False
        for perm in [names[i] for i in rng.permutation(len(names))]:
            n = sizes[perm]
            others = _permute(spec, b, perms, skip=perm)
            cost = torch.zeros(n, n, dtype=torch.float64)
            for key, axis in spec.axes[perm]:
                if key not in trainable:
                    continue
                w_a = torch.movedim(a[key], axis, 0).reshape(n, -1)
                w_b = torch.movedim(others[key], axis, 0).reshape(n, -1)
                cost += w_a @ w_b.T
            _, assignment = linear_sum_assignment(cost.numpy(), maximize=True)
            old = cost[torch.arange(n), perms[perm]].sum().item()
            new = cost[torch.arange(n), torch.as_tensor(assignment)].sum().item()
            if new > old + 1e-12:
                perms[perm] = torch.as_tensor(assignment, dtype=torch.long)
                improved = True
        if not improved:
            break
    return perms


def apply_permutation(spec: PermutationSpec, state: dict[str, torch.Tensor],
                      perms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with its units permuted (the function the network computes is unchanged)."""
    viewed = {k: (v.reshape(spec.views[k]) if k in spec.views else v) for k, v in state.items()}
    moved = _permute(spec, {k: v.cpu() for k, v in viewed.items()}, perms)
    return {k: v.reshape(state[k].shape) for k, v in moved.items()}


def aligned_distance(model: nn.Module, reference: nn.Module, seed: int = 0
                     ) -> dict[str, float]:
    """Align ``model`` to ``reference`` by weight matching, then the Euclidean distance of the
    trainable weights: ``layer`` (the penultimate layer, SURE's Fig. 5a), ``head`` and ``all``."""
    spec = permutation_spec(model)
    target = reference.state_dict()
    perms = weight_matching(spec, target, model.state_dict(), seed=seed)
    aligned = apply_permutation(spec, model.state_dict(), perms)
    trainable = [k for k, _ in model.named_parameters()]

    def distance(keys: list[str]) -> float:
        return float(sum(((aligned[k].double().cpu() - target[k].double().cpu()) ** 2).sum()
                         for k in keys) ** 0.5)

    return {"layer": distance([k for k in trainable if k.startswith(spec.layer)]),
            "head": distance([k for k in trainable if k.startswith("head.")]),
            "all": distance(trainable)}
