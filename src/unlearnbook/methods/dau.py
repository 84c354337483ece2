"""DAU (Sharma, Zhou, Ji & Chen, 2024): discriminative adversarial unlearning.

An attacker A (a membership-inference transformer) learns to tell the defender's outputs on the
forget set D_f (members) from those on the validation set D_v (non-members); the defender D
(the model being unlearned) minimises L_D + alpha * L_A + beta * V_ss (Eq. 1-3), updated in turn
with A at every iteration (Algorithm 1).
"""
from __future__ import annotations

import itertools
import math
from typing import Callable

import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from .._checks import check_choice
from ..data.dataset import batches
from ..device import device_of
from ..prune import is_pruned
from ..train import progress_enabled
from .common import cycle
from .registry import register


def sensitivity(clean: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
    """Delta(x) = (1/n) sum_i ||D(x) - D(x + eps_i)||_2 (Sec. 3.1), from the softmax outputs on
    x, (B, K), and on its n noisy copies, (n, B, K); one value per sample."""
    return (noisy - clean.unsqueeze(0)).norm(dim=2).mean(dim=0)


def defender_view(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                  samples: int = 10, noise_std: float = 1.0,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """What the defender shows of x in one pass over x and its noisy copies x + eps_i,
    eps_i ~ N(0, noise_std^2) (Algorithm 1, lines 5-6): the penultimate features of x (for V_ss)
    and the attacker's input D(x)' = [D(x), y, Delta(x)], one token (p_k, onehot_k, Delta) per
    class. Differentiable in the model; call it in eval mode, so that BatchNorm does not mix x
    with its noisy copies."""
    noise = torch.randn((samples, *x.shape), generator=generator).to(x.device) * noise_std
    features = model.features(torch.cat([x, (x.unsqueeze(0) + noise).flatten(0, 1)]))
    probs = torch.softmax(model.head(features), dim=1)
    clean, noisy = probs[:len(x)], probs[len(x):].view(samples, len(x), -1)
    delta = sensitivity(clean, noisy)
    onehot = nn.functional.one_hot(y, num_classes).float()
    return features[:len(x)], torch.stack([clean, onehot, delta[:, None].expand_as(clean)], dim=2)


class Attacker(nn.Module):
    """Batch-normalised inputs, an FC encoding of each (p_k, y_k, Delta) token, a transformer
    (3 self-attention layers, 4 heads), then a binary membership logit (after Yuan & Zhang's
    SAMIA attacker, which also normalises its inputs first)."""

    def __init__(self, num_classes: int, dim: int = 64, layers: int = 3, heads: int = 4,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.normalise = nn.BatchNorm1d(3 * num_classes)
        self.encode = nn.Sequential(nn.Linear(3, dim), nn.GELU())
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout, activation="gelu",
                                           batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.classify = nn.Sequential(nn.Flatten(), nn.Linear(num_classes * dim, 64), nn.ReLU(),
                                      nn.Linear(64, 1))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = self.normalise(tokens.flatten(1)).view_as(tokens)
        return self.classify(self.transformer(self.encode(tokens))).squeeze(1)


def barlow_twins(z_forget: torch.Tensor, z_val: torch.Tensor, lam: float = 5e-3) -> torch.Tensor:
    """V_ss (Eq. 2): C_ij = sum_b z^f_bi z^v_bj / (sqrt(sum_b z^f_bi^2) sqrt(sum_b z^v_bj^2)) on
    mean-centred features; V_ss = sum_i (1 - C_ii)^2 + lam * sum_{i != j} C_ij^2."""
    zf = z_forget - z_forget.mean(0)
    zv = z_val - z_val.mean(0)
    norms = zf.norm(dim=0)[:, None] * zv.norm(dim=0)[None, :]
    c = zf.T @ zv / norms.clamp_min(1e-12)
    diagonal = torch.diagonal(c)
    off_diagonal = c - torch.diag_embed(diagonal)
    return ((1 - diagonal) ** 2).sum() + lam * (off_diagonal ** 2).sum()


def membership_log_likelihood(attacker: nn.Module, members: torch.Tensor,
                              nonmembers: torch.Tensor) -> torch.Tensor:
    """L_A = E[log A(D(x_f)') + log(1 - A(D(x_v)'))], the attacker's objective (maximised by A).

    Members and non-members are scored in one pass, so the attacker is one binary classifier on
    their union (Algorithm 1, line 7): its input BatchNorm sees both groups together and keeps
    the differences between them (scored apart, each group would be standardised on its own)."""
    logits = attacker(torch.cat([members, nonmembers]))
    return (nn.functional.logsigmoid(logits[:len(members)]).mean()
            + nn.functional.logsigmoid(-logits[len(members):]).mean())


def default_lr(task, model: nn.Module) -> float:
    """Sec. 4.2: 0.01 for random forgetting (0.03 for a sparse model), 0.02 class-wise."""
    if task.scenario == "class":
        return 0.02
    return 0.03 if is_pruned(model) else 0.01


#: ``fn(attacker, members, nonmembers) -> L_A``: :func:`membership_log_likelihood`'s form.
Likelihood = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def attacker_step(attacker: nn.Module, optimizer: torch.optim.Optimizer, members: torch.Tensor,
                  nonmembers: torch.Tensor,
                  likelihood: Likelihood = membership_log_likelihood) -> torch.Tensor:
    """One ascent step on L_A (Algorithm 1, line 7) in training mode; returns -L_A, detached."""
    attacker.train()
    loss = -likelihood(attacker, members, nonmembers)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def pretrain_attacker(attacker: nn.Module, optimizer: torch.optim.Optimizer,
                      members: torch.Tensor, nonmembers: torch.Tensor, iterations: int,
                      batch_size: int, generator: torch.Generator,
                      likelihood: Likelihood = membership_log_likelihood) -> list[float]:
    """Sec. 4.2's warm start: ``iterations`` steps on random batches of member and non-member
    tokens (the frozen defender's outputs on D and on D_v); returns the losses."""
    losses = []
    for _ in range(iterations):
        pick_m = torch.randint(len(members), (batch_size,), generator=generator)
        pick_v = torch.randint(len(nonmembers), (batch_size,), generator=generator)
        losses.append(attacker_step(attacker, optimizer, members[pick_m.to(members.device)],
                                    nonmembers[pick_v.to(nonmembers.device)], likelihood))
    return torch.stack(losses).tolist() if losses else []


#: How many held-out members and non-members score the pre-trained attacker (at most).
HELDOUT = 1000


def attacker_accuracy(attacker: nn.Module, members: torch.Tensor | None,
                      nonmembers: torch.Tensor | None) -> float:
    """The attacker's balanced accuracy in percent (mean of its accuracy on members and on
    non-members; 50 is chance) on tokens it was not trained on, or NaN without both groups."""
    if members is None or nonmembers is None or not len(members) or not len(nonmembers):
        return float("nan")
    attacker.eval()
    with torch.no_grad():
        hits = (attacker(members) > 0).float().mean() + (attacker(nonmembers) <= 0).float().mean()
    return float(hits) * 50.0


def alpha_schedule(task, iterations: int, alpha_iterations: int | None) -> int:
    """How many of the first iterations carry alpha: the paper's 30 in class-wise forgetting
    (Sec. 4.2), all of them otherwise, unless ``alpha_iterations`` says."""
    if alpha_iterations is not None:
        return alpha_iterations
    return 30 if task.scenario == "class" else iterations


@register("dau", needs=("val", "labels"), parts=("view_fn", "likelihood_fn", "vss_fn"))
def dau(model: nn.Module, task, *, alpha: float = 0.9, beta: float = 0.001, lam: float = 5e-3,
        lr: float | None = None, attacker_lr: float = 1e-3, epochs: float = 3.0,
        min_iterations: int = 100, batch_size: int = 256, pretrain_iterations: int = 1000,
        alpha_iterations: int | None = None, noise_samples: int = 10, noise_std: float = 1.0,
        use_vss: bool = True, objective: str = "saturating", momentum: float = 0.9,
        weight_decay: float = 5e-4, seed: int = 0, progress: bool | None = None,
        view_fn: Callable[..., tuple[torch.Tensor, torch.Tensor]] = defender_view,
        likelihood_fn: Likelihood = membership_log_likelihood,
        vss_fn: Callable[..., torch.Tensor] = barlow_twins) -> nn.Module:
    """Algorithm 1. ``lr`` None: the paper's rate for the scenario and sparsity. One iteration per
    retain batch (D_f and D_v are cycled) for ``epochs`` passes over D_r, and at least
    ``min_iterations`` (our choice; the paper gives no run length): on a small D_r three passes
    are a dozen iterations, too few for the class-wise schedule to both forget and repair. The
    attacker is first trained for ``pretrain_iterations`` on members from D vs D_v.
    ``alpha_iterations`` None: alpha drops to 0 after the first 30 iterations in class-wise
    forgetting (the paper's number), never otherwise. ``use_vss=False`` is the ablation of
    Table 2; ``objective="non_saturating"`` the GAN-style form of Sec. 3.3 (the defender
    maximises log(1 - A(f')) + log A(v')). Parts (a variant's own math, see the registry):
    ``view_fn`` (:func:`defender_view`'s form), ``likelihood_fn`` (L_A) and ``vss_fn`` (V_ss)."""
    check_choice("objective", objective, ("saturating", "non_saturating"))
    lr = default_lr(task, model) if lr is None else lr
    iterations = max(min_iterations, int(epochs * math.ceil(len(task.retain) / batch_size)), 1)
    alpha_iterations = alpha_schedule(task, iterations, alpha_iterations)
    weights = [alpha if step < alpha_iterations else 0.0 for step in range(iterations)]
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    k = task.num_classes
    device = device_of(model)
    attacker = Attacker(k).to(device)
    attacker_opt = torch.optim.Adam(attacker.parameters(), lr=attacker_lr)
    defender_opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                                   weight_decay=weight_decay)
    pair = min(batch_size, len(task.forget), len(task.val))

    def view(x, y):
        return view_fn(model, x, y, k, noise_samples, noise_std, generator)

    # pre-train A on the frozen defender: members from D, non-members from D_v (tokens cached).
    # The attacker and V_ss see plain images on both sides: with the training transform on D
    # and D_f only (D_v has none), augmentation itself would look like membership.
    model.eval()
    with torch.no_grad():
        # held out from the pre-training: further members of D and test images (non-members)
        heldout = min(len(task.test), HELDOUT, len(task.train) // 4)
        pool = min(4 * len(task.val), len(task.train) - heldout)
        members_stream = batches(task.train, batch_size, shuffle=True, generator=generator,
                                 device=device, augment=False)
        members_pool = [view(x, y)[1] for x, y in itertools.islice(
            members_stream, max(1, pool // batch_size))]
        val_pool = [view(x, y)[1] for x, y in batches(task.val, batch_size, device=device)]
        # (their noise from a generator of their own: the diagnostic leaves the method's draws)
        probe = torch.Generator().manual_seed(seed + 1)

        def heldout_view(x, y):
            return view_fn(model, x, y, k, noise_samples, noise_std, probe)[1]
        heldout_members = [heldout_view(x, y) for x, y in itertools.islice(
            members_stream, math.ceil(heldout / batch_size))]
        heldout_nonmembers = [heldout_view(x, y) for x, y in itertools.islice(
            batches(task.test, batch_size, device=device), math.ceil(heldout / batch_size))]
    pretrain_losses = pretrain_attacker(attacker, attacker_opt, torch.cat(members_pool),
                                        torch.cat(val_pool), pretrain_iterations, pair, generator,
                                        likelihood_fn)
    report = {"attacker_heldout_acc": attacker_accuracy(
        attacker, torch.cat(heldout_members)[:heldout] if heldout_members else None,
        torch.cat(heldout_nonmembers)[:heldout] if heldout_nonmembers else None)}

    # full-size pairs: a last partial batch of 2 + 2 samples would make V_ss's centred
    # correlations exactly +-1 and the attacker step a coin flip
    forget_batches = cycle(task.forget, pair, generator, device, full=True, augment=False)
    val_batches = cycle(task.val, pair, generator, device, full=True)
    retain_batches = cycle(task.retain, batch_size, generator, device)
    history = []
    for step in tqdm(range(iterations), desc="dau", disable=not progress_enabled(progress),
                     leave=False):
        x_r, y_r = next(retain_batches)
        x_f, y_f = next(forget_batches)
        x_v, y_v = next(val_batches)
        size = len(x_f)
        model.train()
        ce = nn.functional.cross_entropy(model(x_r), y_r)
        # lines 5-6: D(x_f)', D(x_v)' and the features for V_ss, once, in eval mode (running BN
        # statistics; after the train-mode pass, whose BN update would otherwise invalidate them)
        model.eval()
        features, tokens = view(torch.cat([x_f[:size], x_v[:size]]),
                                torch.cat([y_f[:size], y_v[:size]]))
        members, nonmembers = tokens[:size], tokens[size:]
        # line 7: the attacker ascends L_A on the defender's (detached) outputs
        attack_loss = attacker_step(attacker, attacker_opt, members.detach(), nonmembers.detach(),
                                    likelihood_fn)
        # line 8: the defender descends L_D + alpha L_A + beta V_ss against the updated attacker
        attacker.eval()
        if objective == "saturating":
            adversarial = likelihood_fn(attacker, members, nonmembers)
        else:
            adversarial = -likelihood_fn(attacker, nonmembers, members)
        loss = ce + weights[step] * adversarial
        vss = torch.zeros((), device=device)
        if use_vss:
            vss = vss_fn(features[:size], features[size:], lam)
            loss = loss + beta * vss
        defender_opt.zero_grad(set_to_none=True)
        loss.backward()
        defender_opt.step()
        history.append(torch.stack([attack_loss, ce.detach(), adversarial.detach(),
                                    vss.detach(), torch.tensor(float(size), device=device),
                                    torch.tensor(float(len(x_v)), device=device)]))
    frame = pd.DataFrame(torch.stack(history).cpu().numpy(),
                         columns=["attacker_loss", "defender_ce", "adversarial", "vss",
                                  "forget_pair", "val_pair"])
    frame.insert(0, "iteration", range(iterations))
    frame["alpha"] = weights
    model.unlearn_info = {"history": frame, "pretrain_losses": pretrain_losses, "lr": lr,
                          "iterations": iterations, "alpha_iterations": alpha_iterations,
                          "attacker": attacker, "report": report}
    return model.eval()
