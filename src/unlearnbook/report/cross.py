"""The cross-paper comparison: every registered method scored by every paper's metric suite on
the same task. No paper printed these numbers; all of them are ours."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .core import (TABLE_STYLES, BookData, Item, PaperReport, cell, html_caption, paper_report,
                   papers, register_paper)


def headline_columns(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(suite, metric) pairs: each registered paper's headline metrics, for suites present."""
    present = set(frame["suite"])
    columns = []
    for name in papers():
        report = paper_report(name)
        if report.suite in present and report.suite != "cross":
            columns += [(report.suite, metric) for metric in report.headline]
    return list(dict.fromkeys(columns))


def scores(data: BookData, item: Item) -> pd.DataFrame:
    """Methods as rows, (suite, metric) as columns, our means."""
    ours = data.ours("cross", item)
    if ours.empty:
        return pd.DataFrame()
    table = ours.pivot_table(index="label", columns=["suite", "metric"], values="mean")
    return table.reindex(columns=pd.MultiIndex.from_tuples(
        [c for c in headline_columns(ours) if c in table.columns]))


def render_table(data: BookData, item: Item):
    means = scores(data, item)
    if means.empty:
        return pd.DataFrame({"": ["not run in this build"]}).style.hide(axis="index")
    stds = data.ours("cross", item).pivot_table(index="label", columns=["suite", "metric"],
                                                values="std", dropna=False)
    stds = stds.reindex(index=means.index, columns=means.columns)
    text = pd.DataFrame([[cell(m, s) for m, s in zip(means.loc[label], stds.loc[label])]
                         for label in means.index], index=means.index, columns=means.columns)
    styler = text.style.hide(axis="index", names=True).hide(axis="columns", names=True)
    return styler.set_caption(html_caption(data.caption("cross", item))).set_table_styles(TABLE_STYLES)


def heatmap(data: BookData, item: Item):
    """|method − Retrain| on every paper's headline metrics, annotated with the method's value."""
    groups = item.select.get("group", [])
    fig, axes = plt.subplots(1, len(groups), figsize=(6.5 * len(groups), 5.5), squeeze=False)
    for ax, group in zip(axes[0], groups):
        means = scores(data, Item(item.id, "", {"group": [group]}))
        if means.empty or "retrain" not in means.index:
            ax.set_axis_off()
            ax.text(0.5, 0.5, f"{group}: not run in this build", ha="center")
            continue
        gap = (means - means.loc["retrain"]).abs()
        labels = [f"{suite}: {metric}" for suite, metric in means.columns]
        sns.heatmap(gap, annot=means.round(0), fmt=".0f", cmap="rocket_r", ax=ax, cbar=ax is
                    axes[0][-1], cbar_kws={"label": "|method − Retrain| (points)"},
                    xticklabels=labels, annot_kws={"fontsize": 8})
        ax.set_title(f"{group} forgetting ({data.profile} profile)", fontsize=10)
        ax.set_xlabel("paper suite: metric")
        ax.set_ylabel("")
    fig.tight_layout()
    return fig


register_paper(PaperReport(
    name="cross",
    position=9,
    title="Every method on every paper's metrics",
    method="",
    competitor="retrain",
    suite="cross",
    labels=(),
    reported_numbers=False,
    items=(
        Item("CROSS-F1", "every method x every paper's metric suite",
             {"group": ["class", "random"]}, figure=heatmap),
        Item("CROSS-T1", "class forgetting", {"group": ["class"]}, render=render_table),
        Item("CROSS-T2", "random forgetting", {"group": ["random"]}, render=render_table),
    ),
))
