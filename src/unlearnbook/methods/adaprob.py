"""AdaProb: adaptive pseudo-probabilities (Zhao, Yang, Field & Cao, 2024).

Four stages: (A) the original model's softmax outputs on D = D_r ∪ D_f; (B) reference rows Ĝ:
uniform pseudo-probabilities for D_f, the original's outputs for D_r; (C) the KL projection of Ĝ
onto row sums 1 and prescribed class totals M (Eq. 1-4), λ weighting the retain rows, solved by
dual coordinate descent (Eq. 5-7); (D) fine-tune the network to the refined targets G* (Eq. 8-9).

Reconstructions (the paper and its code leave them open; all are parameters, the book lists them):
the class totals M (``marginal``), the solver's exact form, and all of stage D's optimisation
(no public code exists for it).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .._checks import UnlearnbookError, check_choice
from ..data.dataset import ArrayDataset, batches
from ..device import device_of
from ..metrics.core import predict
from .common import OnEpoch, descend, optimizer_for, run_epochs
from .registry import register

INITS = ("uniform", "random")
MARGINALS = ("auto", "heldout", "original", "retain", "pseudo", "halve")
ROW_WEIGHTS = ("lambda", "entropy", "ones")
SUPPORTS = ("all", "forget_plus_ce")


@dataclass(frozen=True)
class Refined:
    """The solution of the projection: targets ``G`` (N × K) and how the solver ended."""

    targets: torch.Tensor
    iterations: int
    column_residual: float


def refine(reference: torch.Tensor, weights: torch.Tensor, totals: torch.Tensor, *,
           tol: float = 1e-6, max_iter: int = 200, newton_steps: int = 50) -> Refined:
    """Eq. 1-4: minimise Σ_n w_n KL(G_n ‖ Ĝ_n) subject to Σ_k G_nk = 1 and Σ_n G_nk = M_k.

    The stationarity condition of the Lagrangian (Eq. 5-6) gives
    log G_nk = log Ĝ_nk − (μ_n + ν_k) / w_n. Dual block coordinate descent: the row step sets
    μ_n in closed form (rows sum to 1); the column step solves each ν_k exactly by Newton's
    method on the convex, decreasing log Σ_n G_nk(ν_k) − log M_k (vectorised over k; with equal
    weights it is Sinkhorn scaling). Stops when max_k |Σ_n G_nk − M_k| / M_k < ``tol``.
    The result's rows sum to 1 exactly; entries lie in [0, 1] (Eq. 4) by construction.
    """
    n, k = reference.shape
    if weights.shape != (n,) or totals.shape != (k,):
        raise UnlearnbookError(f"refine needs weights of shape ({n},) and totals of shape ({k},);"
                               f" got {tuple(weights.shape)} and {tuple(totals.shape)}")
    if bool((weights <= 0).any()):
        raise UnlearnbookError(f"row weights must be > 0; got min {float(weights.min())!r}; "
                               "allowed: lambda > 0")
    total = float(totals.sum())
    if bool((totals <= 0).any()) or abs(total - n) > 1e-6 * n:
        raise UnlearnbookError(f"class totals must be > 0 and sum to N = {n} (every row sums to "
                               f"1); got sum {total:.6g}, min {float(totals.min()):.3g}")
    log_ref = torch.log(reference.double().clamp_min(1e-12))
    log_ref = log_ref - torch.logsumexp(log_ref, 1, keepdim=True)
    inv_w = (1.0 / weights.double())[:, None]
    log_totals = torch.log(totals.double())
    nu = torch.zeros(k, dtype=torch.float64)
    residual, iteration = float("inf"), 0
    for iteration in range(1, max_iter + 1):
        shifted = log_ref - nu * inv_w
        rows = shifted - torch.logsumexp(shifted, 1, keepdim=True)  # row step (closed form)
        residual = float(((torch.logsumexp(rows, 0) - log_totals).exp() - 1).abs().max())
        if residual < tol:
            break
        base = rows + nu * inv_w  # log Ĝ − μ/w: the column step solves for ν with μ fixed
        for _ in range(newton_steps):  # column step: Newton per class, all classes at once
            column = base - nu * inv_w
            value = torch.logsumexp(column, 0) - log_totals
            slope = -(torch.softmax(column, 0) * inv_w).sum(0)
            nu = nu - value / slope
            if float(value.abs().max()) < 1e-12:
                break
    shifted = log_ref - nu * inv_w
    targets = torch.softmax(shifted, 1).to(reference.dtype)
    return Refined(targets, iteration, residual)


def row_weights(reference: torch.Tensor, forget_mask: torch.Tensor, lam: float,
                rule: str) -> torch.Tensor:
    """w_n: ``lambda`` (Eq. 1: 1 for D_f rows, λ for D_r rows), ``entropy`` (the official
    notebooks: 1 / H(Ĝ_n), H(p) = −Σ p log(p + 1e-6)) or ``ones`` (its script)."""
    check_choice("row_weights", rule, ROW_WEIGHTS)
    if rule == "ones":
        return torch.ones(len(reference), dtype=torch.float64)
    if rule == "entropy":
        ref = reference.double()
        return 1.0 / (-(ref * torch.log(ref + 1e-6)).sum(1)).clamp_min(1e-6)
    return torch.where(forget_mask, torch.tensor(1.0), torch.tensor(float(lam))).double()


def class_totals(original: torch.Tensor, reference: torch.Tensor, forget_mask: torch.Tensor,
                 marginal: str, forget_class: int | None = None,
                 unseen: torch.Tensor | None = None) -> torch.Tensor:
    """The prescribed class totals M (Eq. 2, circular as printed; our reading, ★):
    ``heldout`` Σ_{j∈D_r} f(x_j) + Σ_{n∈D_f} u_{y_n}, where ``unseen`` row c, u_c, is the
    original's mean output on held-out samples of class c: each forget sample counts as the
    original treats data it never saw, as a model retrained without it would (sample-level
    forgetting); ``original`` Σ_{n∈D} f(x_n) (the original model's class mass on all of D),
    ``retain`` (N / N_r) Σ_{j∈D_r} f(x_j) (its class distribution on the data it may keep: the
    forgotten class of class-wise forgetting keeps almost no mass), ``pseudo`` colsum(Ĝ) (the
    official code: the projection is then the identity) or ``halve`` (a comment in that code:
    colsum(Ĝ) with the forgotten class's total halved and the removed mass spread evenly over
    the other classes)."""
    check_choice("marginal", marginal, MARGINALS[1:])
    if marginal == "heldout":
        if unseen is None:
            raise UnlearnbookError("marginal 'heldout' needs the original's mean outputs on "
                                   "held-out samples of the forget set's classes; allowed: a "
                                   "task with validation samples of those classes, or 'retain'")
        return original[~forget_mask].double().sum(0) + unseen.double().sum(0)
    if marginal == "original":
        return original.double().sum(0)
    if marginal == "retain":
        kept = original[~forget_mask].double()
        return kept.sum(0) * len(original) / len(kept)
    totals = reference.double().sum(0)
    if marginal == "halve":
        if forget_class is None:
            raise UnlearnbookError("marginal 'halve' needs a forgotten class; got a task "
                                   "without one; allowed: 'auto', 'original', 'retain', 'pseudo'")
        removed = totals[forget_class] / 2
        others = torch.arange(len(totals)) != forget_class
        totals[forget_class] -= removed
        totals[others] += removed / int(others.sum())
    return totals


def unseen_outputs(model: nn.Module, task, labels: torch.Tensor) -> torch.Tensor | None:
    """Per forget sample, the original's mean softmax output on the validation samples of its
    class (the rows u_{y_n} of :func:`class_totals`' ``heldout``), or None when some forget
    class has no validation sample."""
    if not len(task.val):
        return None
    probs = torch.softmax(predict(model, task.val)[0].double(), 1)
    means = {}
    for label in labels.unique().tolist():
        own = task.val.labels == label
        if not bool(own.any()):
            return None
        means[label] = probs[own].mean(0)
    return torch.stack([means[label] for label in labels.tolist()])


def soft_kl(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Eq. 8's terms, per sample: Σ_k g*_k (log g*_k − log softmax(z)_k)."""
    log_p = torch.log_softmax(logits, 1)
    return (targets * (torch.log(targets.clamp_min(1e-12)) - log_p)).sum(1)


#: ``fn(original, forget_mask) -> reference``: stage B, Ĝ from the original's softmax rows.
Pseudo = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: ``fn(reference, weights, totals) -> targets``: stage C, the projection of Eq. 1-7.
Projection = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def projected(targets: torch.Tensor, totals: torch.Tensor) -> Refined:
    """A variant's projection as a :class:`Refined` (its own iteration count unknown: 0)."""
    columns = targets.double().sum(0)
    residual = float(((columns - totals.double()) / totals.double()).abs().max())
    return Refined(targets, 0, residual)


@register("adaprob", needs=(), parts=("pseudo_fn", "refine_fn", "kl_fn"))
def adaprob(model: nn.Module, task, *, lam: float = 1.0, init: str = "uniform",
            marginal: str = "auto", row_weight: str = "lambda", solver_tol: float = 1e-6,
            max_iter: int = 2000, support: str = "all", epochs: int = 2, lr: float = 0.01,
            batch_size: int = 64, momentum: float = 0.9, weight_decay: float = 5e-4,
            freeze_bn: bool = False, seed: int = 0, progress: bool | None = None,
            on_epoch: OnEpoch | None = None, pseudo_fn: Pseudo | None = None,
            refine_fn: Projection | None = None,
            kl_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = soft_kl) -> nn.Module:
    """AdaProb (§4). Stage A: the original's softmax on D_r and D_f. Stage B: Ĝ = uniform rows
    for D_f (``init="random"``: normalised U(0, 1) rows, as the official script), the original's
    rows for D_r. Stage C: :func:`refine` with totals :func:`class_totals` (``marginal="auto"``:
    ``heldout`` in sample-level forgetting, where the forget rows' mass follows the original's
    outputs on unseen samples of their classes, as a retrained model's would; ``retain`` in
    class-wise forgetting and wherever the task holds no validation sample of a forget class.
    ``retain`` in sample-level forgetting leaves the uniform rows almost as they are, the
    "uniform targets" variant the paper rejects in §4.1; ``original`` pushes the deficit the
    uniform D_f rows leave in their own class's column back into those rows, so the targets
    restore each forget sample's label and no training can raise its forget error) and weights
    :func:`row_weights` (λ = ``lam`` on D_r; the paper uses 1, its ablation 1-4). Stage D
    (Eq. 8-9): SGD on :func:`soft_kl` between the network and G* over shuffled batches of D
    (``support="forget_plus_ce"``: G* on D_f, cross-entropy on D_r).

    ``max_iter`` 2000: the coupled row and column steps converge slowly when the D_r rows are
    confident (on digits with ``heldout`` totals: 800-1,100 iterations to a 1e-6 residual); the
    residual is recorded either way (``column_residual``, ``solver_converged``).

    Stage D's defaults (2 epochs, lr 0.01, batch 64, SGD momentum 0.9, weight decay 5e-4) are
    ours: the paper gives none. The profiles set the SCRUB protocol's per-setting values.
    Parts (a variant's own math, see the registry): ``pseudo_fn`` (stage B; replaces ``init``),
    ``refine_fn`` (stage C's projection) and ``kl_fn`` (Eq. 8's per-sample term)."""
    if lam <= 0:
        raise UnlearnbookError(f"lam {lam!r} is out of range; allowed: lam > 0")
    check_choice("init", init, INITS)
    check_choice("marginal", marginal, MARGINALS)
    check_choice("support", support, SUPPORTS)
    started = time.perf_counter()
    union = ArrayDataset.concat([task.retain, task.forget])
    forget_mask = torch.arange(len(union)) >= len(task.retain)
    original = torch.softmax(predict(model, union)[0].double(), 1)  # stage A
    reference = original.clone()                                      # stage B
    generator = torch.Generator().manual_seed(seed)
    if pseudo_fn is not None:
        reference = pseudo_fn(original.clone(), forget_mask.clone()).double()
    elif init == "uniform":
        reference[forget_mask] = 1.0 / task.num_classes
    else:
        rows = torch.rand(int(forget_mask.sum()), task.num_classes, generator=generator,
                          dtype=torch.float64)
        reference[forget_mask] = rows / rows.sum(1, keepdim=True)
    unseen = None
    if marginal in ("auto", "heldout"):
        unseen = unseen_outputs(model, task, task.forget.labels)
    if marginal == "auto":
        sample_level = task.scenario != "class" and unseen is not None
        marginal = "heldout" if sample_level else "retain"
    totals = class_totals(original, reference, forget_mask, marginal, task.forget_class, unseen)
    weights = row_weights(reference, forget_mask, lam, row_weight)
    if refine_fn is None:                                              # stage C
        refined = refine(reference, weights, totals, tol=solver_tol, max_iter=max_iter)
    else:
        refined = projected(refine_fn(reference, weights, totals), totals)
    solver_seconds = time.perf_counter() - started

    device = device_of(model)
    targets = refined.targets.float().to(device)
    labels = union.labels.to(device)
    is_forget = forget_mask.to(device)
    indexed = union.relabel(torch.arange(len(union)))  # a batch's "labels" are its row numbers
    torch.manual_seed(seed)
    optimizer = optimizer_for(model.parameters(), "sgd", lr, momentum, weight_decay)

    def one_epoch(epoch: int) -> torch.Tensor:                        # stage D
        total = torch.zeros((), device=device)
        for x, rows in batches(indexed, batch_size, shuffle=True, generator=generator,
                               device=device):
            logits = model(x)
            per_sample = kl_fn(logits, targets[rows])
            if support == "forget_plus_ce":
                retained = nn.functional.cross_entropy(logits, labels[rows], reduction="none")
                per_sample = torch.where(is_forget[rows], per_sample, retained)
            loss = per_sample.mean()
            total += descend(optimizer, loss)
        return total

    history = run_epochs(model, one_epoch, optimizer, epochs=epochs, lr=lr, decay_epochs=(),
                         freeze_bn=freeze_bn, desc="adaprob", progress=progress,
                         on_epoch=on_epoch)
    diagnostics = target_diagnostics(refined, forget_mask, union.labels, solver_tol)
    model.unlearn_info = {
        "history": history, "marginal": marginal, "solver_iterations": refined.iterations,
        "column_residual": refined.column_residual, "solver_seconds": solver_seconds,
        **diagnostics, "report": diagnostics,
    }
    return model.eval()


def target_diagnostics(refined: Refined, forget_mask: torch.Tensor, labels: torch.Tensor,
                       tol: float) -> dict[str, float]:
    """What the refined targets ask of D_f: ``target_forget_error`` (% of forget rows whose own
    label does not hold the unique largest mass: a uniform row restores nothing),
    ``target_forget_mass`` (mean mass on the own label) and ``solver_converged`` (1 when the
    column residual fell below ``tol`` within the iteration budget, else 0)."""
    rows = refined.targets[forget_mask].double()
    own = rows.gather(1, labels[forget_mask][:, None]).squeeze(1)
    others = rows.scatter(1, labels[forget_mask][:, None], -1.0).max(1).values
    return {"target_forget_error": 100.0 * float((own <= others + 1e-9).double().mean()),
            "target_forget_mass": float(own.mean()),
            "solver_converged": float(refined.column_residual < tol)}
