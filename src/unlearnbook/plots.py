"""Figures for notebooks and the book (matplotlib + seaborn)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.patches import FancyBboxPatch


def dampening_by_layer(reports: dict[str, pd.DataFrame], ax=None):
    """Percentage of each layer's parameters selected (and dampened) by SSD-style methods."""
    frames = []
    for label, report in reports.items():
        layer = report["parameter"].str.rsplit(".", n=1).str[0]
        grouped = report.assign(layer=layer).groupby("layer", sort=False)[["selected", "size"]].sum()
        grouped["percent selected"] = 100 * grouped["selected"] / grouped["size"]
        frames.append(grouped.reset_index().assign(method=label))
    if ax is None:
        height = 0.25 * max(len(frames[0]) if frames else 1, 8)
        _, ax = plt.subplots(figsize=(7, height))
    if not frames:
        ax.text(0.5, 0.5, "no dampening method in this run", ha="center")
        return ax
    data = pd.concat(frames)
    sns.barplot(data=data, y="layer", x="percent selected", hue="method", ax=ax, orient="h")
    ax.set_xlabel("parameters dampened (%)")
    ax.set_ylabel("")
    return ax


def boxes_and_arrows(boxes: list[tuple[str, float, float]], arrows: list[tuple[int, int]],
                     title: str, size: tuple[float, float] = (9, 3.2)):
    """A schematic drawn from labelled boxes at (x, y) in [0, 1] and arrows between them."""
    fig, ax = plt.subplots(figsize=size)
    ax.set_axis_off()
    for text, x, y in boxes:
        ax.add_patch(FancyBboxPatch((x - 0.11, y - 0.09), 0.22, 0.18,
                                    boxstyle="round,pad=0.01", fc="#eef3fb", ec="#34558b"))
        ax.text(x, y, text, ha="center", va="center", fontsize=8.5, wrap=True)
    for start, end in arrows:
        (_, x0, y0), (_, x1, y1) = boxes[start], boxes[end]
        ax.annotate("", xy=(x1 - 0.115 if x1 > x0 else x1, y1 + (0.095 if y1 < y0 else 0)),
                    xytext=(x0 + 0.115 if x1 > x0 else x0, y0 - (0.095 if y1 < y0 else 0)),
                    arrowprops=dict(arrowstyle="->", color="#34558b"))
    ax.set_title(title, fontsize=10)
    return fig


def lfssd_schematic():
    """LFSSD-F1: loss-free importance replaces SSD's Fisher importance."""
    boxes = [
        ("forget samples $x \\in D_f$\n(no labels)", 0.12, 0.75),
        ("all training\nsamples $x \\in D$", 0.12, 0.25),
        ("$|\\partial\\|f(x)\\|_2^2/\\partial\\theta|$\naveraged: $\\Omega_{D_f}$", 0.42, 0.75),
        ("$|\\partial\\|f(x)\\|_2^2/\\partial\\theta|$\naveraged: $\\Omega_{D}$", 0.42, 0.25),
        ("select $\\Omega_{D_f,i} > \\alpha\\,\\Omega_{D,i}$", 0.68, 0.5),
        ("$\\theta_i \\leftarrow \\min(\\lambda\\Omega_{D,i}/\\Omega_{D_f,i}, 1)\\,\\theta_i$", 0.9, 0.5),
    ]
    return boxes_and_arrows(boxes, [(0, 2), (1, 3), (2, 4), (3, 4), (4, 5)],
                            "LFSSD: loss-free importance (left) feeds Selective Synaptic "
                            "Dampening (right); SSD uses the Fisher diagonal instead")


def alpha_sweep(frame: pd.DataFrame):
    """LFSSD-T2 as a figure: D_r, D_f and MIA against alpha, ours beside the paper's."""
    data = frame.assign(alpha=frame["label"].str.split("=").str[1].astype(float))
    grid = sns.relplot(data=data, x="alpha", y="mean", hue="metric", col="source", kind="line",
                       marker="o", height=3, aspect=1.3, facet_kws={"sharex": False})
    grid.set(xscale="log")
    grid.set_axis_labels("α (log scale)", "percent")
    return grid


def dau_history(history: pd.DataFrame, window: int = 5):
    """DAU's min-max game: the attacker's loss, the defender's retain loss and V_ss per iteration
    (moving averages)."""
    columns = [c for c in ("attacker_loss", "defender_ce", "vss") if c in history]
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 2.6))
    titles = {"attacker_loss": "attacker loss (-L_A)", "defender_ce": "defender CE on D_r",
              "vss": "V_ss (Barlow Twins)"}
    for ax, column in zip(axes, columns):
        ax.plot(history["iteration"], history[column].rolling(window, min_periods=1).mean())
        ax.set_title(titles[column], fontsize=9)
        ax.set_xlabel("iteration")
    fig.tight_layout()
    return fig


def attack_bars(frame: pd.DataFrame, metrics: tuple[str, ...] = (
        "MIA_correctness", "MIA_confidence", "MIA_entropy", "MIA_m_entropy"), col: str = "sparsity"):
    """DAU-F2 style: percent of D_f that each metric-based attack calls non-member, per method."""
    data = frame[frame["metric"].isin(metrics)].copy()
    value = "mean" if "mean" in data else "value"
    data["attack"] = data["metric"].str.replace("MIA_", "", regex=False)
    grid = sns.catplot(data=data, x="label", y=value, hue="attack", col=col, kind="bar",
                       height=3, aspect=1.4, errorbar=None)
    grid.set_axis_labels("", "D_f called non-member (%)")
    grid.set_xticklabels(rotation=45, ha="right")
    return grid


def dau_schematic():
    """DAU-F1: the attacker / defender game with the self-supervised term."""
    boxes = [
        ("forget set $D_f$\n(members)", 0.1, 0.78), ("validation set $D_v$\n(non-members)", 0.1, 0.22),
        ("defender D\n(the model)", 0.38, 0.5),
        ("$[D(x), \\Delta(x), y]$\noutputs, sensitivity, label", 0.64, 0.78),
        ("attacker A\n(transformer MIA)", 0.9, 0.78),
        ("$V_{ss}$: Barlow Twins\non features of $D_f$, $D_v$", 0.64, 0.22),
    ]
    return boxes_and_arrows(boxes, [(0, 2), (1, 2), (2, 3), (3, 4), (2, 5)],
                            "DAU: A maximises L_A; D minimises L_D + αL_A + βV_ss (Algorithm 1)")
