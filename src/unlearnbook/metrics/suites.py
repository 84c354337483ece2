"""Metric suites, one per paper, built from the shared metric functions:
``evaluate(model, task, suite=...)`` returns a flat dict of floats."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from .._checks import UnlearnbookError, check_choice
from ..codehash import function_fingerprint
from ..data.dataset import stratified_sample
from ..data.tasks import Task
from .core import (accuracy, confidence, embed, entropy, mean_kl, neighbour_distance_ratio,
                   per_sample_loss, predict)
from .mia import (binary_attack_accuracy, class_threshold_efficacy, entropy_lr_mia, knn_attack,
                  svc_mia_efficacy)
from .rebasin import aligned_distance

Suite = Callable[[nn.Module, Task], dict[str, float]]
_SUITES: dict[str, Suite] = {}


def suite(name: str) -> Callable[[Suite], Suite]:
    def wrap(fn: Suite) -> Suite:
        _SUITES[name] = fn
        return fn
    return wrap


def suites() -> list[str]:
    return sorted(_SUITES)


def suite_fingerprint(name: str) -> str:
    """A hash of the code that makes suite ``name``'s numbers: its function, its oracle
    comparisons (:func:`pairwise`) and every metrics function they call, transitively. A run
    records it; a change to the suite's math makes the run stale (another suite's does not)."""
    check_choice("metric suite", name, suites())
    parts = [_SUITES[name]] + ([_PAIRWISE[name]] if name in _PAIRWISE else [])
    return function_fingerprint(parts, package=__name__.rsplit(".", 1)[0])


def evaluate(model: nn.Module, task: Task, suite: str = "lfssd") -> dict[str, float]:
    """Score ``model`` on ``task`` with a paper's metric suite (all accuracies in percent)."""
    check_choice("metric suite", suite, suites())
    if len(task.forget) == 0 or len(task.retain) == 0:
        raise UnlearnbookError(f"cannot score a task with forget {len(task.forget)} and retain "
                               f"{len(task.retain)} samples; allowed: both non-empty")
    return _SUITES[suite](model, task)


def accuracies(model: nn.Module, task: Task) -> tuple[dict[str, float], dict]:
    """Accuracy on retain, forget, test, the forgotten class's and the retained classes' test
    images; also returns the logits computed on the way, for attacks."""
    out = {name: predict(model, getattr(task, name)) for name in ("retain", "forget", "test")}
    scores = {f"{name}_acc": accuracy(*out[name]) for name in out}
    if task.test_forget_mask is not None:
        logits, labels = out["test"]
        mask = task.test_forget_mask
        scores["test_forget_acc"] = accuracy(logits[mask], labels[mask])
        scores["test_retain_acc"] = accuracy(logits[~mask], labels[~mask])
    else:
        scores["test_retain_acc"] = scores["test_acc"]
    return scores, out


@suite("lfssd")
def lfssd_suite(model: nn.Module, task: Task) -> dict[str, float]:
    """SSD/LFSSD tables: ``Dr`` = accuracy on the retained classes' test images, ``Df`` =
    accuracy on the forgotten class's test images (class / sub-class) or on the forget samples
    themselves (sample-level scenarios, as the reference code's forget_valid = forget_train),
    ``MIA`` = entropy-LR attack on D_f (retain vs whole test set)."""
    scores, out = accuracies(model, task)
    scores["Dr"] = scores["test_retain_acc"]
    scores["Df"] = scores.get("test_forget_acc", scores["forget_acc"])
    scores["MIA"] = entropy_lr_mia(entropy(out["retain"][0]), entropy(out["test"][0]),
                                   entropy(out["forget"][0]))
    return scores


def modified_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Song & Mittal's Mentr(p, y) = -(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i)."""
    p = torch.softmax(logits, dim=1)
    log_p = torch.log(p.clamp_min(1e-30))
    log_not_p = torch.log((1 - p).clamp_min(1e-30))
    p_y = p.gather(1, labels[:, None]).squeeze(1)
    mask = nn.functional.one_hot(labels, p.shape[1]).bool()
    return -(1 - p_y) * log_p.gather(1, labels[:, None]).squeeze(1) - (
        p * log_not_p).masked_fill(mask, 0.0).sum(1)


def metric_attack_features(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, np.ndarray]:
    """The four per-sample scores of DAU Sec. 4.4, oriented so that larger means 'member'."""
    return {"correctness": (logits.argmax(1) == labels).float().numpy(),
            "confidence": confidence(logits, labels).numpy(),
            "entropy": (-entropy(logits)).numpy(),
            "m_entropy": (-modified_entropy(logits, labels)).numpy()}


def shadow_sets(retain_labels: torch.Tensor, test_labels: torch.Tensor, seed: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Indices of the DAU suite's shadow sets, each a seeded class-stratified draw: members and
    non-members for MIA-efficacy (min(|D_r|, |D_test|) each) and half of D_r for the metric
    attacks. The reference code takes the first samples, which a class-sorted source fills
    with one or two classes."""
    n = min(len(test_labels), len(retain_labels))
    def draw(labels, count):
        return torch.from_numpy(stratified_sample(labels.numpy(), count, seed))
    return (draw(retain_labels, n), draw(test_labels, n),
            draw(retain_labels, len(retain_labels) // 2))


@suite("dau")
def dau_suite(model: nn.Module, task: Task) -> dict[str, float]:
    """Unlearn-Sparse metrics as DAU reports them: ``UA`` = 100 - accuracy on D_f, ``RA`` on D_r,
    ``TA`` on the test set (the forgotten class removed in class-wise forgetting),
    ``MIA_efficacy`` = TN/|D_f| of an RBF SVC on confidence trained on |D_test| retain samples
    (members) vs D_test (both cut to the smaller size when D_r is the smaller); plus the four
    metric attacks of Sec. 4.4 twice (percent of D_f called non-member): as DAU's Fig. 2 states
    them, each an RBF SVC on one score over MIA-efficacy's shadow sets (``MIA_svm_correctness``,
    ``MIA_svm_confidence``, ``MIA_svm_entropy``, ``MIA_svm_m_entropy``), and as Song & Mittal's
    code computes them, with class-wise thresholds fitted on one half of D_r vs D_test
    (``MIA_correctness``, ...). The reference code takes the first samples of D_r; we draw them
    class-stratified with the split seed (:func:`~unlearnbook.data.dataset.stratified_sample`)."""
    scores, out = accuracies(model, task)
    test_logits, test_labels = out["test"]
    if task.scenario == "class" and task.test_forget_mask is not None:
        keep = torch.from_numpy(~task.test_forget_mask)
        test_logits, test_labels = test_logits[keep], test_labels[keep]
    retain_logits, retain_labels = out["retain"]
    forget_logits, forget_labels = out["forget"]
    scores["UA"] = 100.0 - scores["forget_acc"]
    scores["RA"] = scores["retain_acc"]
    scores["TA"] = accuracy(test_logits, test_labels)
    members, nonmembers, half = shadow_sets(retain_labels, test_labels, task.seed)
    shadow_in = metric_attack_features(retain_logits[half], retain_labels[half])
    shadow_out = metric_attack_features(test_logits, test_labels)
    target = metric_attack_features(forget_logits, forget_labels)
    svm_in = metric_attack_features(retain_logits[members], retain_labels[members])
    svm_out = metric_attack_features(test_logits[nonmembers], test_labels[nonmembers])
    for name in shadow_in:
        scores[f"MIA_svm_{name}"] = svc_mia_efficacy(svm_in[name], svm_out[name], target[name])
        scores[f"MIA_{name}"] = class_threshold_efficacy(
            shadow_in[name], retain_labels[half].numpy(), shadow_out[name],
            test_labels.numpy(), target[name], forget_labels.numpy())
    scores["MIA_efficacy"] = scores["MIA_svm_confidence"]  # the same SVC on the same sets
    return scores


def loss_mia(model: nn.Module, task: Task, seed: int = 0) -> tuple[float, float]:
    """Loss-based MIA (Kurmanji et al.): per-sample losses of D_f (members) vs test samples of
    the classes present in D_f (non-members), balanced, logistic regression over 5 splits;
    mean and std accuracy in percent (50% = indistinguishable)."""
    return loss_attack(*predict(model, task.forget), *predict(model, task.test), seed=seed)


def loss_attack(forget_logits: torch.Tensor, forget_labels: torch.Tensor,
                test_logits: torch.Tensor, test_labels: torch.Tensor, seed: int = 0
                ) -> tuple[float, float]:
    """:func:`loss_mia` on logits already computed (D_f vs the test samples of D_f's classes)."""
    keep = torch.isin(test_labels, forget_labels.unique())
    return binary_attack_accuracy(per_sample_loss(forget_logits, forget_labels).numpy(),
                                  per_sample_loss(test_logits[keep], test_labels[keep]).numpy(),
                                  seed=seed)


Pairwise = Callable[[nn.Module, nn.Module, dict, dict, Task], dict[str, float]]
_PAIRWISE: dict[str, Pairwise] = {}


def pairwise(name: str) -> Callable[[Pairwise], Pairwise]:
    """Register the oracle comparisons of suite ``name``: ``fn(model, oracle, scores,
    oracle_scores, task)`` returns metrics that need both models (gaps, weight distance)."""
    def wrap(fn: Pairwise) -> Pairwise:
        _PAIRWISE[name] = fn
        return fn
    return wrap


def compare(suite: str, model: nn.Module, oracle: nn.Module, scores: dict, oracle_scores: dict,
            task: Task) -> dict[str, float]:
    """The suite's oracle comparisons ({} for a suite that has none)."""
    fn = _PAIRWISE.get(suite)
    return {} if fn is None else fn(model, oracle, scores, oracle_scores, task)


def interclass_confusion(logits: torch.Tensor, labels: torch.Tensor, classes: tuple[int, int]
                         ) -> tuple[float, int]:
    """SURE-T2 / SCRUB's IC test on samples with their true labels: IC-ERR = share of the samples
    of the two confused classes predicted as anything but their label (a fraction); FGT-ERR =
    count of a→b plus b→a predictions."""
    first, second = classes
    predicted = logits.argmax(1)
    inside = (labels == first) | (labels == second)
    ic = float((predicted[inside] != labels[inside]).float().mean()) if inside.any() else float("nan")
    fgt = int(((labels == first) & (predicted == second)).sum()
              + ((labels == second) & (predicted == first)).sum())
    return ic, fgt


@suite("sure")
def sure_suite(model: nn.Module, task: Task, seed: int = 0, neighbours: int = 5,
               pool_per_class: int = 1000) -> dict[str, float]:
    """SURE §3.2: ``RA``, ``UA`` (accuracy on D_f, not 100 − it), ``Utility`` (test accuracy,
    all classes), ``CTA`` (test accuracy on the forgotten class, class scenarios); ``MIA_I`` =
    Kurmanji's loss attack (D_f vs test samples of D_f's classes, accuracy %), ``MIA_II`` = the
    confidence SVC (members: a random subset of D_r the size of the test set) with the share of
    D_f called non-member, ``MIARS_I`` / ``MIARS_II`` = the same two attacks on penultimate
    embeddings with a k-NN attacker (k = 5); ``NNR`` = :func:`neighbour_distance_ratio` with at
    most ``pool_per_class`` retained samples per class of D_f (SURE-F6). Canary tasks add
    ``UA_in`` / ``UA_ood``; the confusion task adds SURE-T2's errors and inter-class-confusion
    counts."""
    scores, out = accuracies(model, task)
    forget_logits, forget_labels = out["forget"]
    test_logits, test_labels = out["test"]
    retain_logits, retain_labels = out["retain"]
    result = {"RA": scores["retain_acc"], "UA": scores["forget_acc"],
              "Utility": scores["test_acc"]}
    if "test_forget_acc" in scores:
        result["CTA"] = scores["test_forget_acc"]
    if task.forget_ood_mask is not None:
        mask = torch.from_numpy(task.forget_ood_mask)
        result["UA_in"] = accuracy(forget_logits[~mask], forget_labels[~mask])
        result["UA_ood"] = accuracy(forget_logits[mask], forget_labels[mask])
    forget_classes = forget_labels.unique()
    same_class = torch.isin(test_labels, forget_classes)
    result["MIA_I"] = loss_attack(forget_logits, forget_labels, test_logits, test_labels,
                                  seed=seed)[0]
    rng = np.random.RandomState(seed)
    members = np.sort(rng.choice(len(retain_labels), min(len(retain_labels), len(test_labels)),
                                 replace=False))
    result["MIA_II"] = svc_mia_efficacy(
        confidence(retain_logits[members], retain_labels[members]).numpy(),
        confidence(test_logits, test_labels).numpy(),
        confidence(forget_logits, forget_labels).numpy())
    forget_embedding, test_embedding = embed(model, task.forget), embed(model, task.test)
    balanced = min(len(forget_labels), int(same_class.sum()))
    result["MIARS_I"] = binary_attack_accuracy(
        forget_embedding.numpy(), test_embedding[same_class].numpy(), seed=seed,
        classifier=knn_attack(min(neighbours, 2 * balanced - 2)))[0]
    result["MIARS_II"] = svc_mia_efficacy(
        embed(model, task.retain.subset(members)).numpy(), test_embedding.numpy(),
        forget_embedding.numpy(), classifier=knn_attack(neighbours))
    in_class = np.flatnonzero(torch.isin(retain_labels, forget_classes).numpy())
    if len(in_class):  # not for class-wise forgetting: D_f's class has no retained samples
        pool = np.sort(in_class[stratified_sample(retain_labels[in_class].numpy(),
                                                  pool_per_class * len(forget_classes), seed)])
        result["NNR"] = neighbour_distance_ratio(
            forget_embedding, forget_labels, embed(model, task.retain.subset(pool)),
            retain_labels[pool], test_embedding[same_class], test_labels[same_class])
    if task.scenario == "confusion":
        classes = task.params["confusion_classes"]
        result["retain_err"] = 100.0 - scores["retain_acc"]
        result["forget_err"] = confusion_forget_error(forget_logits, forget_labels, classes)
        result["test_err"] = 100.0 - scores["test_acc"]
        result["ic_retain"], result["fgt_retain"] = interclass_confusion(  # D_r keeps its
            retain_logits, retain_labels, classes)                           # true labels
        result["ic_test"], result["fgt_test"] = interclass_confusion(test_logits, test_labels,
                                                                     classes)
    return result


def confusion_forget_error(forget_logits: torch.Tensor, forget_labels: torch.Tensor,
                           classes: tuple[int, int]) -> float:
    """SURE App. F's forget error on the confusion task, in %: against D_f's true labels (each
    sample of D_f carries the other confusion class's label), so a method that relabels the
    swapped samples correctly scores low and one that keeps the confusion scores 100."""
    true_labels = torch.where(forget_labels == classes[0], classes[1], classes[0])
    return 100.0 * float((forget_logits.argmax(1) != true_labels).float().mean())


SURE_GAPS = ("RA", "UA", "Utility", "CTA", "UA_in", "UA_ood", "MIA_I", "MIA_II", "MIARS_I",
             "MIARS_II", "NNR")


@pairwise("sure")
def sure_pairwise(model: nn.Module, oracle: nn.Module, scores: dict, oracle_scores: dict,
                  task: Task) -> dict[str, float]:
    """Per run, against that run's oracle: ``d<metric>`` = |metric − oracle's| for every SURE
    metric; ``Avg_error_gap`` = mean gap over UA, Utility, RA, CTA and MIARS-I (Fig. 5a); the
    weight distance after Git Re-Basin alignment (``weight_distance`` of the penultimate layer,
    ``weight_distance_all``); ``RRT`` = run time / the oracle's training time."""
    gaps = {f"d{m}": abs(scores[m] - oracle_scores[m]) for m in SURE_GAPS
            if m in scores and m in oracle_scores}
    averaged = [gaps[f"d{m}"] for m in ("UA", "Utility", "RA", "CTA", "MIARS_I")
                if f"d{m}" in gaps]
    gaps["Avg_error_gap"] = float(np.mean(averaged))
    try:
        distance = aligned_distance(model, oracle)
        gaps["weight_distance"], gaps["weight_distance_all"] = distance["layer"], distance["all"]
    except UnlearnbookError:  # an architecture without a permutation spec (the ViT)
        pass
    gaps["RRT"] = model.unlearn_seconds / max(oracle.unlearn_seconds, 1e-9)
    return gaps


@suite("adaprob")
def adaprob_suite(model: nn.Module, task: Task, seed: int = 0) -> dict[str, float]:
    """AdaProb §5.1 / the SCRUB protocol: ``test_err``, ``retain_err``, ``forget_err`` (100 −
    accuracy on the whole test set, D_r and D_f), ``MIA`` / ``MIA_std`` (Kurmanji's loss attack,
    :func:`loss_attack`: accuracy over 5 splits; 50% = indistinguishable) and ``time_s``, the
    unlearning wall time (0 for a model no method produced)."""
    scores, out = accuracies(model, task)
    mia, mia_std = loss_attack(*out["forget"], *out["test"], seed=seed)
    return {"test_err": 100.0 - scores["test_acc"], "retain_err": 100.0 - scores["retain_acc"],
            "forget_err": 100.0 - scores["forget_acc"], "MIA": mia, "MIA_std": mia_std,
            "time_s": float(getattr(model, "unlearn_seconds", 0.0))}


@pairwise("adaprob")
def adaprob_pairwise(model: nn.Module, oracle: nn.Module, scores: dict, oracle_scores: dict,
                     task: Task) -> dict[str, float]:
    """AdaProb Tables 1 and 3: ``kl_forget`` / ``kl_test`` = mean KL(p_model(x) ‖ p_oracle(x))
    over D_f / the test set (natural log; ε = 1e-8 added to both, as the official notebook)."""
    return {f"kl_{name}": mean_kl(predict(model, data)[0], predict(oracle, data)[0])
            for name, data in (("forget", task.forget), ("test", task.test))}
