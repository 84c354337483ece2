"""Per-epoch evaluation and epoch selection (SURE §5.2): every iterative method is scored after
each unlearning epoch; the reported model is the "best" epoch, and the "top-5" numbers average
the five best epochs (not top-5 classification accuracy).

The paper does not define "best" beyond "the utility versus privacy trade-off is optimized".
Our default rule (``"oracle"``) picks the epoch whose accuracies are closest to the oracle's:
score_e = mean |m_e − m_oracle| over UA, RA, Utility (and CTA in class scenarios). ``"val"``
uses no oracle: |err(D_f) − err(D_val)| + err(D_r), D_val = validation samples of D_f's
classes. ``"last"`` keeps the final epoch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from torch import nn

from ._checks import check_choice
from .data.tasks import Task
from .methods.common import forget_validation
from .metrics.core import accuracy, predict
from .metrics.suites import accuracies

SELECTIONS = ("oracle", "val", "last")
CURVE_METRICS = ("RA", "UA", "Utility", "CTA")


def epoch_scores(model: nn.Module, task: Task) -> dict[str, float]:
    """RA, UA, Utility (and CTA when a class is forgotten) in percent, plus ``val_error`` on the
    validation samples of D_f's classes: what selection reads after every epoch."""
    computed, _ = accuracies(model, task)
    names = {"retain_acc": "RA", "forget_acc": "UA", "test_acc": "Utility",
             "test_forget_acc": "CTA"}
    scores = {name: computed[key] for key, name in names.items() if key in computed}
    unseen = forget_validation(task)
    scores["val_error"] = 100.0 - accuracy(*predict(model, unseen)) if len(unseen) else np.nan
    return scores


def selection_score(scores: dict[str, float], reference: dict[str, float] | None,
                    rule: str) -> float:
    """Lower is better. ``oracle``: mean |m − m_oracle| over the curve metrics present;
    ``val``: |err(D_f) − err(D_val)| + err(D_r); ``last``: 0 (ties go to the latest epoch)."""
    check_choice("epoch selection", rule, SELECTIONS)
    if rule == "oracle":
        gaps = [abs(scores[m] - reference[m]) for m in CURVE_METRICS
                if m in scores and m in reference]
        return float(np.mean(gaps))
    if rule == "val":
        return abs((100.0 - scores["UA"]) - scores["val_error"]) + (100.0 - scores["RA"])
    return 0.0


@dataclass
class EpochTracker:
    """The ``on_epoch`` callback the pipeline hands to iterative methods: scores the model
    after every epoch and keeps a CPU snapshot of the best one. Its own time is kept apart
    (``seconds``) so that run times exclude evaluation."""

    task: Task
    rule: str = "oracle"
    reference: dict[str, float] | None = None
    rows: list[dict] = field(default_factory=list)
    best: dict | None = None
    seconds: float = 0.0

    def __call__(self, epoch: int, model: nn.Module) -> None:
        start = time.perf_counter()
        scores = epoch_scores(model, self.task)
        score = selection_score(scores, self.reference, self.rule)
        self.rows.append({"epoch": epoch, **scores, "score": score})
        if self.best is None or score <= self.best["score"]:
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            self.best = {"epoch": epoch, "score": score, "state": state}
        self.seconds += time.perf_counter() - start

    @property
    def curves(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def restore_best(self, model: nn.Module) -> int:
        """Load the best epoch's weights into ``model``; returns that epoch."""
        model.load_state_dict(self.best["state"])
        return self.best["epoch"]


def top_epochs(curves: pd.DataFrame, order: pd.Series, k: int = 5) -> pd.DataFrame:
    """The ``k`` epochs with the lowest ``order`` (the selection score, or SCRUB+R's distance
    to its reference error)."""
    return curves.loc[order.nsmallest(min(k, len(order)), keep="last").index]
