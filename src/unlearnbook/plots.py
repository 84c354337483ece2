"""Figures for notebooks and the book (matplotlib + seaborn)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import FancyBboxPatch

#: The most panels a figure puts side by side (issue 38.5: a panel stays readable in the text
#: column and on a phone).
PANELS_PER_ROW = 2


def panel_grid(count: int, width: float, height: float, **kwargs):
    """A figure of ``count`` panels of ``width`` x ``height`` inches, at most
    :data:`PANELS_PER_ROW` per row, the unused ones switched off; (figure, the used axes)."""
    columns = max(1, min(count, PANELS_PER_ROW))
    rows = max(1, -(-count // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows),
                             squeeze=False, **kwargs)
    for ax in list(axes.flat)[count:]:
        ax.axis("off")
    return fig, list(axes.flat)[:max(count, 1)]


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
                     title: str, size: tuple[float, float] = (10, 3.2), width: float = 0.2):
    """A schematic drawn from labelled boxes centred at (x, y) in [0, 1] and arrows between them."""
    fig, ax = plt.subplots(figsize=size)
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    half_w, half_h = width / 2, 0.11
    for text, x, y in boxes:
        ax.add_patch(FancyBboxPatch((x - half_w, y - half_h), width, 2 * half_h,
                                    boxstyle="round,pad=0.01", fc="#eef3fb", ec="#34558b"))
        ax.text(x, y, text, ha="center", va="center", fontsize=8.5)
    for start, end in arrows:
        (_, x0, y0), (_, x1, y1) = boxes[start], boxes[end]
        if abs(x1 - x0) > 1e-9:  # left to right: leave from the right edge, enter the left edge
            tail, head = (x0 + half_w, y0), (x1 - half_w, y1)
        else:                    # vertical
            sign = 1 if y1 > y0 else -1
            tail, head = (x0, y0 + sign * half_h), (x1, y1 - sign * half_h)
        ax.annotate("", xy=head, xytext=tail, arrowprops=dict(arrowstyle="->", color="#34558b"))
    ax.set_title(title, fontsize=10)
    return fig


def lfssd_schematic():
    """LFSSD-F1: loss-free importance replaces SSD's Fisher importance."""
    boxes = [
        ("forget samples x ∈ D_f\n(no labels needed)", 0.11, 0.75),
        ("all training samples\nx ∈ D", 0.11, 0.25),
        ("mean |∂‖f(x)‖² / ∂θ|\n= Ω_Df  (Eq. 3)", 0.37, 0.75),
        ("mean |∂‖f(x)‖² / ∂θ|\n= Ω_D  (Eq. 3)", 0.37, 0.25),
        ("select θ_i where\nΩ_Df,i > α · Ω_D,i", 0.63, 0.5),
        ("θ_i ← β θ_i,\nβ = min(λ Ω_D,i / Ω_Df,i, 1)", 0.89, 0.5),
    ]
    return boxes_and_arrows(boxes, [(0, 2), (1, 3), (2, 4), (3, 4), (4, 5)],
                            "LFSSD: loss-free importance (left) feeds Selective Synaptic "
                            "Dampening (right, Eq. 1); SSD uses the Fisher diagonal instead")


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
    fig, axes = panel_grid(len(columns), 3.2, 2.6)
    titles = {"attacker_loss": "attacker loss (-L_A)", "defender_ce": "defender CE on D_r",
              "vss": "V_ss (Barlow Twins)"}
    for ax, column in zip(axes, columns):
        ax.plot(history["iteration"], history[column].rolling(window, min_periods=1).mean())
        ax.set_title(titles[column], fontsize=9)
        ax.set_xlabel("iteration")
    fig.tight_layout()
    return fig


#: DAU-F2's attacks as the paper states them (an SVM per score); the class-threshold versions
#: (``MIA_correctness``, ...) are in every DAU run's results too.
DAU_ATTACKS = ("MIA_svm_correctness", "MIA_svm_confidence", "MIA_svm_entropy", "MIA_svm_m_entropy")


def attack_bars(frame: pd.DataFrame, metrics: tuple[str, ...] = DAU_ATTACKS,
                col: str = "sparsity"):
    """DAU-F2 style: percent of D_f that each metric-based attack calls non-member, per method."""
    data = frame[frame["metric"].isin(metrics)].copy()
    value = "mean" if "mean" in data else "value"
    data["attack"] = data["metric"].str.replace(r"^MIA_(svm_)?", "", regex=True)
    grid = sns.catplot(data=data, x="label", y=value, hue="attack", col=col, kind="bar",
                       height=3, aspect=1.4, errorbar=None)
    grid.set_axis_labels("", "D_f called non-member (%)")
    grid.set_titles("{col_name}")
    grid.set_xticklabels(rotation=45, ha="right")
    silent = sorted(label for label, values in data.groupby("label")[value]
                    if values.fillna(0).abs().max() == 0)
    if silent:  # a missing bar is a 0, not a method left out: say so
        grid.figure.text(0.5, -0.08, f"No bar for {', '.join(silent)}: every attack calls 0% of "
                         "its D_f non-member.", ha="center", fontsize=9)
    return grid


def dau_schematic():
    """DAU-F1: the attacker / defender game with the self-supervised term."""
    boxes = [
        ("forget set D_f (members)\nvalidation set D_v\n(non-members)", 0.11, 0.5),
        ("defender D\n(the model being\nunlearned)", 0.37, 0.5),
        ("[D(x), Δ(x), y]\noutput, sensitivity,\nlabel", 0.63, 0.78),
        ("attacker A\ntransformer MIA:\nmax L_A", 0.89, 0.78),
        ("V_ss: Barlow Twins on\nfeatures of D_f vs D_v", 0.63, 0.22),
        ("D minimises\nL_D + α L_A + β V_ss", 0.89, 0.22),
    ]
    return boxes_and_arrows(boxes, [(0, 1), (1, 2), (2, 3), (1, 4), (4, 5), (3, 5)],
                            "DAU (Figure 1, redrawn): attacker and defender updated in turn "
                            "(Algorithm 1)")


def sure_schematic():
    """SURE-F1: feature extractor, label predictor and domain classifier behind a GRL."""
    boxes = [
        ("retain set D_r\n(images, labels)", 0.1, 0.78),
        ("forget set D_f (domain 1)\nvalidation set D_val\n(domain 0)", 0.1, 0.22),
        ("feature extractor G_f\n(the network up to its\npenultimate layer)", 0.4, 0.5),
        ("label predictor G_y\nCE on D_r (weight α)", 0.72, 0.78),
        ("gradient reversal R\nforward x, backward −I", 0.66, 0.22),
        ("domain classifier G_d\nBCE: D_f vs D_val\n(weight 1 − α)", 0.9, 0.22),
    ]
    return boxes_and_arrows(boxes, [(0, 2), (1, 2), (2, 3), (2, 4), (4, 5)],
                            "SURE (Figure 1, redrawn): G_d learns to tell D_f from D_val; through R "
                            "the features learn to hide it")


def _value(frame: pd.DataFrame) -> str:
    return "value" if "value" in frame else "mean"


def epoch_curves(frame: pd.DataFrame, oracle: str = "retrain"):
    """SURE-F7/F10: each method's accuracies after every unlearning epoch (``curve_<m>`` rows
    with an ``epoch``); the oracle's final value as a grey dashed line."""
    value = _value(frame)
    curves = frame[frame["metric"].str.startswith("curve_")].copy()
    if curves.empty:
        return None
    curves["metric"] = curves["metric"].str.removeprefix("curve_")
    metrics = list(dict.fromkeys(curves["metric"]))
    finals = frame[frame["label"].eq(oracle) & frame["metric"].isin(metrics)]
    grid = sns.relplot(data=curves, x="epoch", y=value, hue="label", col="metric",
                       col_order=metrics, col_wrap=PANELS_PER_ROW, kind="line", height=2.6,
                       aspect=1.1,
                       facet_kws={"sharey": False}, errorbar=None)
    for metric, ax in grid.axes_dict.items():
        for level in finals[finals["metric"] == metric][value]:
            ax.axhline(level, color="grey", linestyle="--", linewidth=1)
        ax.set_ylabel("accuracy (%)")
    return grid


#: The paper's own method in every comparison figure; every other method in one muted colour.
HIGHLIGHT, BASE = "#dd8452", "#4c72b0"


def gap_bars(frame: pd.DataFrame, metrics: list[str], row: str | None = None,
             order: list[str] | None = None, highlight: str | None = None):
    """Bars of |method − oracle| per metric (SURE-F2, F4, F8, F11, F5b/c), the paper's method
    (``highlight``) in its own colour; ``row`` facets by a column (e.g. the forget size, in
    numeric order), with method names under every row; error bars are the std over runs when
    given."""
    value = _value(frame)
    data = frame[frame["metric"].isin(metrics)]
    labels = order or list(dict.fromkeys(data["label"]))
    panels = metrics
    if row is not None:  # one panel per (row value, metric), the row values in numeric order
        def number(value: object) -> float:
            digits = "".join(c for c in str(value) if c.isdigit())
            return float(digits) if digits else float("inf")
        row_order = sorted(dict.fromkeys(data[row]), key=lambda v: (number(v), str(v)))
        data = data.assign(metric=data[row].astype(str) + " · " + data["metric"])
        panels = [f"{r} · {m}" for r in row_order for m in metrics
                  if f"{r} · {m}" in set(data["metric"])]
    grid = sns.catplot(data=data, x="label", y=value, col="metric", col_order=panels,
                       col_wrap=PANELS_PER_ROW, kind="bar", order=labels, hue="label",
                       hue_order=labels, legend=False, height=2.3, aspect=1.3, sharey=False,
                       sharex=False, errorbar=None, saturation=1,
                       palette={l: HIGHLIGHT if l == highlight else BASE for l in labels})
    grid.set_titles("{col_name}")
    for ax in grid.axes.flat:
        ax.tick_params(axis="x", rotation=60, labelsize=9)
        ax.set_xlabel("")
        ax.set_ylabel("gap to oracle (points)")
        if all(abs(bar.get_height()) == 0 or np.isnan(bar.get_height()) for bar in ax.patches):
            ax.set_ylim(0, 1)  # an empty panel says why
            ax.text(0.5, 0.5, "every gap is 0", transform=ax.transAxes, ha="center",
                    fontsize=9, color="grey")
    grid.figure.tight_layout()
    return grid


def ours_vs_paper(frame: pd.DataFrame, metric: str, setting: list[str],
                  highlight: str | None = None, reference: float | None = None):
    """One panel per setting: each method's value, ours (filled) beside the paper's printed one
    (hollow), the paper's method in its own colour and bold; ``reference``: a vertical line
    (e.g. 50% for a membership attack)."""
    data = frame[frame["metric"] == metric].copy()
    data["setting"] = data[setting].astype(str).agg(" ".join, axis=1) if setting else ""
    settings = list(dict.fromkeys(data["setting"]))
    labels = list(dict.fromkeys(data["label"]))
    fig, axes = panel_grid(len(settings), 3.2, 0.28 * len(labels) + 0.9, sharey=True)
    for ax, name in zip(axes, settings):
        part = data[data["setting"] == name]
        for source, style in (("paper", dict(facecolors="none")), ("ours", {})):
            points = part[part["source"] == source].set_index("label").reindex(labels)
            colours = [HIGHLIGHT if l == highlight else BASE for l in labels]
            ax.scatter(points["mean"], range(len(labels)), s=36, edgecolors=colours,
                       c=None if style else colours, label=source, **style)
        if reference is not None:
            ax.axvline(reference, color="grey", linestyle="--", linewidth=1)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(metric)
        ax.set_yticks(range(len(labels)), labels, fontsize=9)
        for tick in ax.get_yticklabels():
            tick.set_fontweight("bold" if tick.get_text() == highlight else "normal")
        ax.grid(axis="x", alpha=0.3)
    axes[0].invert_yaxis()  # shared: the first method on top in every panel
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=2,
               fontsize=9, bbox_to_anchor=(0.5, -0.06), frameon=False)
    fig.tight_layout()
    return fig


def radar(frame: pd.DataFrame, axes: list[str], title: str = "", ax=None):
    """SURE-F3: per method, each axis's mean gap divided by the largest over methods (closer
    to the centre is better)."""
    table = frame.pivot_table(index="label", columns="metric", values=_value(frame))
    axes = [a for a in axes if a in table]
    normalised = table[axes] / table[axes].max().replace(0, 1)
    angles = np.linspace(0, 2 * np.pi, len(axes), endpoint=False).tolist()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4.2), subplot_kw={"polar": True})
    for label, values in normalised.iterrows():
        closed = values.tolist() + values.tolist()[:1]
        paper_method = label == "sure"  # drawn thick, in the highlight colour, on top
        ax.plot(angles + angles[:1], closed, linewidth=2.2 if paper_method else 1, label=label,
                color=HIGHLIGHT if paper_method else None, zorder=3 if paper_method else 2)
    ax.set_xticks(angles)
    ax.set_xticklabels(axes, fontsize=9.5)
    ax.tick_params(axis="x", pad=8)
    ax.set_yticklabels([])
    ax.set_title(title, fontsize=10)
    return ax


def embedding_panels(embedding: pd.DataFrame):
    """SURE-F6: one t-SNE panel per model; red D_f, cyan retained samples of D_f's classes,
    blue the other retained samples."""
    colours = {"other": "#1f4e9c", "forget class": "#17becf", "forget": "#d62728"}
    labels = list(dict.fromkeys(embedding["label"]))
    fig, axes = panel_grid(len(labels), 2.5, 2.5)
    for ax, label in zip(axes, labels):
        part = embedding[embedding["label"] == label]
        for group in ("other", "forget class", "forget"):
            points = part[part["group"] == group]
            ax.scatter(points["x"], points["y"], s=4 if group != "forget" else 14,
                       c=colours[group], label=group, linewidths=0)
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(fontsize=8, markerscale=2, loc="best")
    fig.tight_layout()
    return fig


def sensitivity_heatmaps(frame: pd.DataFrame, metrics: list[str]):
    """SURE-F16: one heat map per metric of its change from the tuned point over the lr × α
    grid (rows: lr factor, columns: α factor)."""
    fig, axes = panel_grid(len(metrics), 3.2, 2.9)
    for ax, metric in zip(axes, metrics):
        grid = frame[frame["metric"] == metric].pivot_table(index="lr", columns="alpha",
                                                             values="delta")
        limit = max(1.0, float(grid.abs().max().max()))
        sns.heatmap(grid, annot=True, fmt=".1f", cmap="vlag", vmin=-limit, vmax=limit, ax=ax,
                    cbar=False, annot_kws={"fontsize": 8})
        ax.set_title(f"Δ{metric} (points)", fontsize=10)
        ax.set_xlabel("α × tuned")
        ax.set_ylabel("lr × tuned")
    fig.tight_layout()
    return fig


def distance_scatter(frame: pd.DataFrame):
    """SURE-F5a: per method, the aligned weight distance to the oracle against the Average
    Error Gap."""
    table = frame.pivot_table(index="label", columns="metric", values=_value(frame))
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    ax.scatter(table["weight_distance"], table["Avg_error_gap"], color="#4c72b0")
    for label, row in table.iterrows():
        ax.annotate(label, (row["weight_distance"], row["Avg_error_gap"]), fontsize=8,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("weight distance to the oracle (penultimate layer, aligned)")
    ax.set_ylabel("Average Error Gap (points)")
    fig.tight_layout()
    return fig


def adaprob_schematic():
    """AdaProb-F1: outputs → pseudo-probabilities for D_f → KL projection → weight update."""
    boxes = [
        ("original model's\nsoftmax outputs\non D_r and D_f", 0.1, 0.5),
        ("D_f rows → uniform\npseudo-probabilities;\nD_r rows kept", 0.33, 0.5),
        ("KL projection (Eq. 1-4):\nrows sum to 1, class\ntotals M, λ on D_r", 0.58, 0.5),
        ("fine-tune the weights\nto the refined rows g*\n(KL loss, Eq. 8-9)", 0.85, 0.5),
    ]
    return boxes_and_arrows(boxes, [(0, 1), (1, 2), (2, 3)],
                            "AdaProb (Figure 1, redrawn): refine the output matrix, then fit the "
                            "network to it", size=(10, 2.4))


#: The paper's colours in Figures 2-3: Retrain yellow, SCRUB blue, AdaProb purple.
OUTPUT_COLOURS = {"retrain": "#e6b800", "scrub": "#1f77b4", "adaprob": "#7b3294"}


def output_panels(outputs: pd.DataFrame):
    """AdaProb-F2/F3: the joint t-SNE of the models' softmax outputs, one panel per input set
    (test set, D_f); Retrain yellow, SCRUB blue, AdaProb purple."""
    sets = list(dict.fromkeys(outputs["inputs"]))
    fig, axes = panel_grid(len(sets), 4.6, 4.2)
    for ax, inputs in zip(axes, sets):
        part = outputs[outputs["inputs"] == inputs]
        for label in dict.fromkeys(part["label"]):
            points = part[part["label"] == label]
            ax.scatter(points["x"], points["y"], s=8 if inputs == "test" else 22, alpha=0.75,
                       c=OUTPUT_COLOURS.get(label, "grey"), label=label, linewidths=0)
        ax.set_title(f"outputs on the {'test set' if inputs == 'test' else 'forget set D_f'}",
                     fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(fontsize=8, markerscale=1.5)
    fig.tight_layout()
    return fig


def time_bars(frame: pd.DataFrame, order: list[str], row: str = "setting"):
    """AdaProb-F4: unlearning time per method, mean ± standard error (``mean``, ``sem``), one
    group of bars per ``row`` value."""
    ax = sns.barplot(frame, x=row, y="mean", hue="label", hue_order=order, errorbar=None)
    groups = list(dict.fromkeys(frame[row]))
    for container, label in zip(ax.containers, order):
        part = frame[frame["label"] == label].set_index(row).reindex(groups)
        ax.errorbar([bar.get_x() + bar.get_width() / 2 for bar in container],
                    part["mean"], yerr=part["sem"], fmt="none", ecolor="black", capsize=3)
    ax.set_ylabel("unlearning time (s), mean ± s.e.")
    ax.set_xlabel("")
    ax.figure.set_size_inches(8, 3.6)
    return ax.figure
