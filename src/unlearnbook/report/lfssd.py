"""LFSSD (Foster, Schoepf & Brintrup, ICLR 2024 Tiny Papers): items, claims and figures."""
from __future__ import annotations

import pandas as pd

from .. import plots
from .core import BookData, Claim, Item, PaperReport, SettingCheck, register_paper, stacked

METRICS = ("Dr", "Df", "MIA")
SETTING = ("group", "arch_key", "target")


def _setting_name(values: tuple) -> str:
    return " · ".join(str(v) for v in values)


def forgets_like_retrain(frame: pd.DataFrame, df_tolerance: float = 10.0,
                         dr_drop: float = 3.0) -> list[SettingCheck]:
    """Per setting: LFSSD's D_f within ``df_tolerance`` points of Retrain's and its D_r within
    ``dr_drop`` points of the original model's. Retrain is the from-scratch oracle where the
    frame has it, else the head-only retrain (the only one the paper printed)."""
    checks = []
    for setting, part in frame.groupby(list(SETTING), sort=False):
        values = part.set_index(["label", "metric"])
        oracle = "retrain" if ("retrain", "Df") in values.index else "retrain_head"
        needed = [("lfssd", "Df"), (oracle, "Df"), ("lfssd", "Dr"), ("original", "Dr")]
        if not all(k in values.index for k in needed):
            continue
        mean, std = values["mean"], values["std"].fillna(0.0)
        df_gap = abs(mean[("lfssd", "Df")] - mean[(oracle, "Df")])
        dr_loss = mean[("original", "Dr")] - mean[("lfssd", "Dr")]
        effect = min(df_tolerance - df_gap, dr_drop - dr_loss)
        checks.append(SettingCheck(
            _setting_name(setting), effect >= 0, effect, float(max(std[k] for k in needed)),
            f"D_f {mean[('lfssd', 'Df')]:.1f} vs {oracle} {mean[(oracle, 'Df')]:.1f}, "
            f"D_r {mean[('lfssd', 'Dr')]:.1f} vs original {mean[('original', 'Dr')]:.1f}"))
    return checks


def alpha_value(label: str) -> float:
    """The α of a T2 label ``alpha=<value>``."""
    return float(label.split("=")[1])


def alpha_plateau(frame: pd.DataFrame, df_max: float = 5.0, dr_drop: float = 3.0) -> list[str]:
    """α values that forget (D_f ≤ ``df_max``) and keep D_r within ``dr_drop`` of the best."""
    if frame.empty:
        return []
    table = frame.pivot_table(index="label", columns="metric", values="mean")
    if not {"Dr", "Df"} <= set(table.columns):
        return []
    good = table[(table["Df"] <= df_max) & (table["Dr"] >= table["Dr"].max() - dr_drop)]
    return sorted((label.split("=")[1] for label in good.index), key=float)


def wide_plateau(frame: pd.DataFrame) -> list[SettingCheck]:
    """Per target: at least two α values on the plateau of :func:`alpha_plateau`."""
    checks = []
    for target, part in frame.groupby("target", sort=False):
        plateau = alpha_plateau(part)
        checks.append(SettingCheck(str(target), len(plateau) >= 2, len(plateau) - 1.5, 0.0,
                                   f"plateau at α ∈ {{{', '.join(plateau) or 'none'}}}"))
    return checks


def alpha_figure(data: BookData, item: Item):
    frame = stacked(data, item.id)
    return plots.alpha_sweep(frame) if not frame.empty else None


FORGETS = Claim("LFSSD's D_f accuracy is within 10 points of the retrained model's while its D_r "
                "accuracy stays within 3 points of the original's.", forgets_like_retrain)
PLATEAU = Claim("A wide plateau of α forgets the class (D_f ≤ 5%) while D_r stays within 3 "
                "points of the best.", wide_plateau)
ROWS = ("arch_key", "target")

REPORT = register_paper(PaperReport(
    name="lfssd",
    position=1,
    title="LFSSD: loss-free selective synaptic dampening",
    method="lfssd",
    competitor="ssd",
    suite="lfssd",
    labels=("original", "retrain", "retrain_head", "finetune", "badteacher", "amnesiac", "ssd",
            "lfssd"),
    headline=METRICS,
    items=(
        Item("LFSSD-T1", "headline: full class and sub-class 'lamp'",
             {"group": ["class", "subclass"], "target": ["lamp"]}, METRICS,
             ("group",) + ROWS, claim=FORGETS),
        Item("LFSSD-T2", "sensitivity to α", {"group": ["alpha"], "target": ["rocket"]}, METRICS,
             ("target",), label_key=alpha_value, claim=PLATEAU, figure=alpha_figure),
        Item("LFSSD-T3", "face unlearning (PINS)", {"group": ["faces"]}, METRICS, ROWS,
             unavailable="The PINS face dataset needs a Kaggle registration; this build cannot "
                         "fetch it."),
        Item("LFSSD-T4", "full-class unlearning on CIFAR-100", {"group": ["class"]}, METRICS,
             ROWS, claim=FORGETS),
        Item("LFSSD-T5", "superclass unlearning on CIFAR-20", {"group": ["superclass"]}, METRICS,
             ROWS, claim=FORGETS),
        Item("LFSSD-T6", "sub-class unlearning on CIFAR-20", {"group": ["subclass"]}, METRICS,
             ROWS, claim=FORGETS),
        Item("LFSSD-T7", "random-sample unlearning on CIFAR-10", {"group": ["random"]}, METRICS,
             ROWS, claim=FORGETS),
    ),
))
