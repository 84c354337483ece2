"""Metric suites, one per paper, built from the shared metric functions:
``evaluate(model, task, suite=...)`` returns a flat dict of floats."""
from __future__ import annotations

from typing import Callable

from torch import nn

from .._checks import check_choice
from ..data.tasks import Task
from .core import accuracy, entropy, predict
from .mia import entropy_lr_mia

Suite = Callable[[nn.Module, Task], dict[str, float]]
_SUITES: dict[str, Suite] = {}


def suite(name: str) -> Callable[[Suite], Suite]:
    def wrap(fn: Suite) -> Suite:
        _SUITES[name] = fn
        return fn
    return wrap


def suites() -> list[str]:
    return sorted(_SUITES)


def evaluate(model: nn.Module, task: Task, suite: str = "lfssd") -> dict[str, float]:
    """Score ``model`` on ``task`` with a paper's metric suite (all accuracies in percent)."""
    check_choice("metric suite", suite, suites())
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
