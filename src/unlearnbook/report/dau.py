"""DAU (Sharma, Zhou, Ji & Chen, 2024): items, claims, average disparity and figures."""
from __future__ import annotations

import pandas as pd

from .. import plots
from .core import (BookData, Claim, Gap, Item, PaperReport, Regime, SettingCheck,
                   register_paper)

METRICS = ("UA", "MIA_efficacy", "RA", "TA")
# the deciding metric first: on a phone it must show without scrolling sideways
TABLE_METRICS = ("avg_disparity",) + METRICS + ("runtime_min",)
ATTACKS = plots.DAU_ATTACKS
SETTING = ["profile", "group", "target", "dataset", "scenario", "arch_key", "arch", "sparsity",
           "suite"]


def with_disparity(agg: pd.DataFrame) -> pd.DataFrame:
    """Add ``avg_disparity`` (mean over UA, MIA-efficacy, RA and TA of |method − Retrain|, from
    the means over seeds, as the paper computes it) and ``runtime_min`` rows to DAU's
    aggregated results."""
    dau = agg[(agg["paper"] == "dau") & agg["metric"].isin(METRICS)]
    extra = []
    for _, setting in dau.groupby(SETTING, sort=False, dropna=False):
        means = setting.pivot_table(index="label", columns="metric", values="mean")
        if "retrain" not in means.index or not set(METRICS) <= set(means.columns):
            continue
        gaps = (means[list(METRICS)] - means.loc["retrain", list(METRICS)]).abs().mean(axis=1)
        stds = setting.pivot_table(index="label", columns="metric", values="std",
                                   dropna=False).reindex(columns=list(METRICS)).fillna(0.0)
        # the spread of a mean of four differences, each of two independent numbers
        spread = ((stds ** 2).add(stds.loc["retrain"] ** 2, axis=1).sum(axis=1)) ** 0.5 / 4
        firsts = setting.drop_duplicates("label").set_index("label")
        for label, gap in gaps.items():
            base = firsts.loc[label].to_dict()
            extra.append({**base, "label": label, "metric": "avg_disparity", "mean": gap,
                          "std": float(spread.get(label, 0.0)) if label != "retrain" else 0.0})
            extra.append({**base, "label": label, "metric": "runtime_min",
                          "mean": base["seconds"] / 60, "std": float("nan")})
    return pd.concat([agg, pd.DataFrame(extra)], ignore_index=True) if extra else agg


def _settings(frame: pd.DataFrame):
    for (target, sparsity), part in frame.groupby(["target", "sparsity"], sort=False):
        name = f"{target} · {'dense' if not sparsity else f'{100 * sparsity:.0f}% sparse'}"
        yield name, part.set_index(["label", "metric"])


def lowest_disparity(frame: pd.DataFrame, classwise: bool) -> list[SettingCheck]:
    """Per (target, sparsity), atomic checks: DAU has the lowest average disparity of the
    methods other than Retrain; class-wise also its UA and its MIA-efficacy each within 1 point
    of Retrain's (three checks, so the claim can hold in part)."""
    checks = []
    for name, values in _settings(frame):
        mean, std = values["mean"], values["std"].fillna(0.0)
        disparity = {label: v for (label, metric), v in mean.items()
                     if metric == "avg_disparity" and label not in ("retrain", "dau_no_vss",
                                                                    "original")}
        if "dau" not in disparity or len(disparity) < 2:
            continue
        rivals = {k: v for k, v in disparity.items() if k != "dau"}
        best_rival = min(rivals, key=rivals.get)
        effect = rivals[best_rival] - disparity["dau"]
        spread = float(max((std.get(("dau", m), 0.0) for m in METRICS), default=0.0))
        checks.append(SettingCheck(
            f"{name} · lowest disparity", effect >= 0, effect, spread,
            f"DAU {disparity['dau']:.2f} vs {best_rival} {rivals[best_rival]:.2f}"))
        if classwise:
            for metric in ("UA", "MIA_efficacy"):
                if ("dau", metric) not in mean.index or ("retrain", metric) not in mean.index:
                    continue
                gap = abs(mean[("dau", metric)] - mean[("retrain", metric)])
                checks.append(SettingCheck(
                    f"{name} · {metric}", gap <= 1.0, 1.0 - gap,
                    float(max(std.get(("dau", metric), 0.0), std.get(("retrain", metric), 0.0))),
                    f"{metric} DAU {mean[('dau', metric)]:.1f} vs Retrain "
                    f"{mean[('retrain', metric)]:.1f}"))
    return checks


def vss_helps(frame: pd.DataFrame) -> list[SettingCheck]:
    """Per (target, sparsity): DAU's average disparity is below that of DAU without V_ss (a tie
    does not "lower" it)."""
    checks = []
    for name, values in _settings(frame):
        mean, std = values["mean"], values["std"].fillna(0.0)
        keys = [("dau", "avg_disparity"), ("dau_no_vss", "avg_disparity")]
        if not all(k in mean for k in keys):
            continue
        effect = mean[keys[1]] - mean[keys[0]]
        checks.append(SettingCheck(name, effect > 0, effect, float(max(std[k] for k in keys)),
                                   f"with V_ss {mean[keys[0]]:.2f}, without {mean[keys[1]]:.2f}"))
    return checks


def recomputed_disparity(data: BookData, item_id: str) -> pd.DataFrame:
    """The paper's printed average disparity beside the one recomputed from its printed metrics."""
    from .core import find_item

    _, item = find_item(item_id)
    paper = data.paper("dau", item)
    rows = []
    for (target, sparsity), setting in paper.groupby(["target", "sparsity"]):
        m = setting.set_index(["label", "metric"])["mean"]
        for label in setting["label"].unique():
            if all((label, k) in m and ("retrain", k) in m for k in METRICS):
                recomputed = sum(abs(m[(label, k)] - m[("retrain", k)]) for k in METRICS) / 4
                rows.append({"target": target, "sparsity": sparsity, "method": label,
                             "printed": m.get((label, "avg_disparity")),
                             "recomputed": round(recomputed, 2)})
    return pd.DataFrame(rows)


def attack_figure(data: BookData, item: Item):
    attacks = REPORT.relabelled(data.ours("dau", item))
    for (group, target), frame in attacks.groupby(["group", "target"]):
        grid = plots.attack_bars(frame)
        grid.figure.suptitle(f"{target}, {group} forgetting ({data.profile} profile)", y=1.04)
    return None


RANDOM = Claim("DAU has the lowest average disparity to Retrain of all methods.",
               lambda frame: lowest_disparity(frame, classwise=False), forgetting=True,
               kind="better")
CLASSWISE = Claim("DAU reaches Retrain's UA and MIA-efficacy (within 1 point) with the lowest "
                  "average disparity.", lambda frame: lowest_disparity(frame, classwise=True),
                  forgetting=True, kind="better")
#: The paper's regime, read on what its claims depend on. Its tables print only Retrain (RA, TA,
#: UA per setting), no original. Random forgetting: Retrain's generalisation gap (RA − TA) and its
#: memorisation gap (its error on the unseen D_f minus its error on the D_r it trained on, UA −
#: (100 − RA): how much better a model of this recipe does on data it saw, which is what the
#: original holds over Retrain on D_f). Class-wise forgetting: Retrain's D_r accuracy (the
#: original, trained by the same recipe, is not printed). The band: the paper's own settings of
#: the same kind (CIFAR-10 and CIFAR-100, dense and 95% sparse), widened by its seed spread and
#: our sampling error (:func:`~unlearnbook.report.verdicts.band_check`).
REGIME = Regime(labels=("retrain", "original"), metrics=("RA", "TA", "UA"),
                gaps=(Gap("Retrain generalisation gap (RA − TA)",
                          ((1.0, "retrain", "RA"), (-1.0, "retrain", "TA")), groups=("random",)),
                      Gap("Retrain memorisation gap (UA + RA − 100)",
                          ((1.0, "retrain", "UA"), (1.0, "retrain", "RA")), constant=-100.0,
                          groups=("random",)),
                      Gap("Retrain D_r accuracy (RA)", ((1.0, "retrain", "RA"),),
                          groups=("class",))),
                why="the band the paper's own settings of the same forgetting kind span "
                    "(CIFAR-10 and CIFAR-100, dense and 95% sparse: the models its claims were "
                    "shown on), widened by the one-sided 95% quantile of its seed spread and our "
                    "sampling error; random forgetting is read on Retrain's generalisation and "
                    "memorisation gaps, class-wise forgetting on Retrain's D_r accuracy (the "
                    "paper prints no original)",
                forget_metrics=("UA", "MIA_efficacy"), train_images=45000)
NO_CIFAR100 = ("Neither the smoke profile nor the cpu profile runs CIFAR-100; the paper "
               "profile (GPU) does.")
ROWS = ("target", "sparsity")

REPORT = register_paper(PaperReport(
    name="dau",
    position=2,
    title="DAU: discriminative adversarial unlearning",
    method="dau",
    competitor="ff",
    runs=5,  # "Five separate seeds are utilized for each method" (Table 1)
    suite="dau",
    labels=("original", "retrain", "ft", "ga", "ff", "iu", "dau", "dau_no_vss"),
    headline=METRICS,
    derive=with_disparity,
    regime=REGIME,
    relabel={"sparsity": {0.0: "dense", 0.95: "95% sparse"}},
    items=(
        Item("DAU-T1a", "CIFAR-10, random forgetting (10%)",
             {"group": ["random"], "target": ["cifar10"]}, TABLE_METRICS, ROWS,
             ("original", "retrain", "ft", "ga", "ff", "iu", "dau"), claim=RANDOM),
        Item("DAU-T1b", "CIFAR-10, class-wise forgetting",
             {"group": ["class"], "target": ["cifar10"]}, TABLE_METRICS, ROWS,
             ("original", "retrain", "ft", "ga", "ff", "iu", "dau"), claim=CLASSWISE),
        Item("DAU-T1c", "CIFAR-100, random forgetting (10%)",
             {"group": ["random"], "target": ["cifar100"]}, TABLE_METRICS, ROWS,
             ("original", "retrain", "ft", "ga", "ff", "iu", "dau"), claim=RANDOM, unavailable=NO_CIFAR100),
        Item("DAU-T1d", "CIFAR-100, class-wise forgetting",
             {"group": ["class"], "target": ["cifar100"]}, TABLE_METRICS, ROWS,
             ("original", "retrain", "ft", "ga", "ff", "iu", "dau"), claim=CLASSWISE,
             unavailable=NO_CIFAR100),
        Item("DAU-T2", "ablation of the self-supervised term V_ss",
             {"group": ["random"]}, ("avg_disparity",) + METRICS, ROWS,
             ("original", "retrain", "dau", "dau_no_vss"),
             claim=Claim("V_ss lowers DAU's average disparity to Retrain.", vss_helps,
                         kind="better", rival="dau_no_vss")),
        Item("DAU-F2", "robustness to four metric-based attacks", {"group": ["random", "class"]},
             ATTACKS, ROWS, figure=attack_figure),
    ),
))
