"""Aggregate tidy run results and render each paper's tables beside the reported numbers."""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .io import atomic_write, write_text
from .profiles import expand, load, papers_in
from .runner import MARKER

KEYS = ["paper", "profile", "group", "target", "dataset", "scenario", "arch_key", "arch",
        "sparsity", "label", "method", "metric"]
ROW_KEYS = ["arch_key", "target", "metric"]


def wide(results: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """One run's tidy results as a table: methods as rows, metrics (and run time) as columns."""
    data = results if metrics is None else results[results["metric"].isin(metrics)]
    table = data.pivot_table(index="label", columns="metric", values="value", sort=False)
    table = table[[m for m in (metrics or table.columns) if m in table.columns]]
    table["seconds"] = results.groupby("label", sort=False)["seconds"].first()
    return table.round(2)


def collect(results: str | os.PathLike, profile: str, paper: str | None = None) -> pd.DataFrame:
    """Concatenate ``results.csv`` of every finished run (``DONE`` marker present)."""
    root = Path(results) / profile
    pattern = f"{paper or '*'}/*/{MARKER}"
    frames = [pd.read_csv(marker.parent / "results.csv") for marker in sorted(root.glob(pattern))]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=KEYS)


def aggregate(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation (ddof 1; 0 for one run) and count over seeds."""
    if frame.empty:
        return pd.DataFrame(columns=KEYS + ["mean", "std", "n", "seconds"])
    frame = frame.assign(**{k: float("nan") for k in KEYS if k not in frame})
    grouped = frame.groupby(KEYS, sort=False, dropna=False)
    out = grouped["value"].agg(["mean", "std", "count"]).rename(columns={"count": "n"})
    out["std"] = out["std"].fillna(0.0)
    out["seconds"] = grouped["seconds"].mean()
    return out.reset_index()


def reported(paper: str, book_dir: str | os.PathLike = "book") -> pd.DataFrame:
    """The numbers a paper printed, as transcribed in ``book/reported/<paper>.csv``."""
    return pd.read_csv(Path(book_dir) / "reported" / f"{paper}.csv")


def _said(counts: tuple[int, int]) -> str:
    """'holds in k of n settings' for a (held, checked) pair of a claim check."""
    held, checked = counts
    return f"holds in {held} of {checked} settings" if checked else "not run"


def fmt(mean: float, std: float) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.2f} ± {std:.2f}"


def side_by_side(ours: pd.DataFrame, paper: pd.DataFrame, labels: list[str],
                 row_keys: list[str] = ROW_KEYS) -> pd.DataFrame:
    """Rows ``row_keys``; for every method label two columns: ours and the paper's, 'mean ± std'."""
    parts = []
    for source, frame in (("ours", ours), ("paper", paper)):
        if frame.empty:
            continue
        cells = frame.assign(cell=[fmt(m, s) for m, s in zip(frame["mean"], frame["std"])],
                             source=source)
        parts.append(cells[row_keys + ["label", "source", "cell"]])
    if not parts:
        return pd.DataFrame()
    table = pd.concat(parts).pivot_table(index=row_keys, columns=["label", "source"],
                                         values="cell", aggfunc="first", sort=False)
    columns = [(label, source) for label in labels for source in ("ours", "paper")
               if (label, source) in table.columns]
    return table.reindex(columns=pd.MultiIndex.from_tuples(columns)).fillna("–")


@dataclass
class BookData:
    """What a book build reads: aggregated results, the reported numbers, provenance."""

    aggregate: pd.DataFrame
    meta: dict
    book_dir: Path

    @classmethod
    def load(cls, generated: str | os.PathLike = "generated") -> "BookData":
        """Load from the folder written by :func:`prepare_book` (relative to the page)."""
        folder = Path(generated)
        agg_path = folder / "aggregate.csv"
        agg = pd.read_csv(agg_path) if agg_path.exists() else aggregate(pd.DataFrame())
        meta_path = folder / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        return cls(agg, meta, folder.parent)

    def ours(self, paper: str, groups: list[str], targets: list[str] | None = None
             ) -> pd.DataFrame:
        data = self.aggregate[(self.aggregate["paper"] == paper)
                              & self.aggregate["group"].isin(groups)]
        return data if targets is None else data[data["target"].isin(targets)]

    def paper(self, paper: str, item: str) -> pd.DataFrame:
        data = reported(paper, self.book_dir)
        return data[data["item"] == item]

    def provenance(self, paper: str) -> str:
        info = self.meta.get("papers", {}).get(paper)
        if not info:
            return ("**Ours: no results for this paper in this build.** Run "
                    "`unlearnbook run --paper {0}` and `unlearnbook report`.".format(paper))
        return (f"**Ours:** profile `{self.meta['profile']}` ({self.meta['description']}); "
                f"{info['runs']} runs; datasets {', '.join(info['datasets'])}; data from "
                f"{'; '.join(info['sources'])}; hardware {'; '.join(info['hardware'])}; "
                f"report built {self.meta['built']}.")


def prepare_book(profile: str | os.PathLike, results: str | os.PathLike = "results",
                 out: str | os.PathLike = "book/generated") -> str:
    """Aggregate a profile's finished runs into ``out`` (aggregate.csv, meta.json) and copy one
    executed notebook per paper as its tutorial page (``<paper>_tutorial.ipynb``)."""
    spec = load(profile)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = collect(results, spec["name"])
    planned = {run.run_id for paper in papers_in(spec) for run in expand(spec, paper)}
    if not frame.empty:  # results of runs the profile no longer has are left out
        frame = frame[frame["run_id"].isin(planned)]
    agg = aggregate(with_dau_summaries(frame))
    with atomic_write(out / "aggregate.csv") as tmp:
        agg.to_csv(tmp, index=False)
    meta = {"profile": spec["name"], "description": spec.get("description", ""),
            "built": time.strftime("%Y-%m-%d %H:%M"), "papers": {}}
    lines = []
    for paper in papers_in(spec):
        runs = frame[frame["paper"] == paper] if not frame.empty else frame
        tutorial = out / f"{paper}_tutorial.ipynb"
        if runs.empty:
            lines.append(f"{paper}: no finished runs")
            continue
        meta["papers"][paper] = {
            "runs": int(runs["run_id"].nunique()),
            "datasets": sorted(runs["dataset"].unique().tolist()),
            "sources": sorted(runs["data_source"].unique().tolist()),
            "hardware": sorted(runs["hardware"].unique().tolist()),
        }
        first = Path(results) / spec["name"] / paper / runs["run_id"].iloc[0] / f"{paper}.ipynb"
        if first.exists():
            shutil.copyfile(first, tutorial)
        lines.append(f"{paper}: {meta['papers'][paper]['runs']} runs aggregated")
    write_text(out / "meta.json", json.dumps(meta, indent=1))
    return "\n".join(lines) + f"\nwrote {out}"


# --- LFSSD ---------------------------------------------------------------------------------

LFSSD_METRICS = ["Dr", "Df", "MIA"]
LFSSD_LABELS = ["original", "retrain", "finetune", "badteacher", "amnesiac", "ssd", "lfssd"]
LFSSD_ITEMS = {
    "LFSSD-T1": dict(groups=["class", "subclass"], targets=["lamp"], row_keys=["group"] + ROW_KEYS),
    "LFSSD-T2": dict(groups=["alpha"], targets=["rocket"]),
    "LFSSD-T4": dict(groups=["class"]),
    "LFSSD-T5": dict(groups=["superclass"]),
    "LFSSD-T6": dict(groups=["subclass"]),
    "LFSSD-T7": dict(groups=["random"]),
}


def lfssd_table(data: BookData, item: str) -> pd.DataFrame:
    """An LFSSD table: ours beside the paper's, rows (architecture, target, metric)."""
    spec = LFSSD_ITEMS[item]
    ours = data.ours("lfssd", spec["groups"], spec.get("targets"))
    ours = ours[ours["metric"].isin(LFSSD_METRICS)]
    paper = data.paper("lfssd", item)
    labels = LFSSD_LABELS if item != "LFSSD-T2" else _alpha_labels(ours, paper)
    return side_by_side(ours, paper, labels, spec.get("row_keys", ROW_KEYS))


def _alpha_labels(*frames: pd.DataFrame) -> list[str]:
    labels = {label for f in frames for label in f["label"].unique()}
    return sorted(labels, key=lambda s: float(s.split("=")[1]))


def _by_setting(frame: pd.DataFrame, keys=("arch_key", "group", "target")) -> dict:
    """{setting: {(label, metric): mean}} for claim checks."""
    out: dict = {}
    for row in frame.itertuples():
        setting = tuple(getattr(row, k) for k in keys)
        out.setdefault(setting, {})[(row.label, row.metric)] = row.mean
    return out


def lfssd_claim(frame: pd.DataFrame, df_tolerance: float = 10.0, dr_drop: float = 3.0
                ) -> tuple[int, int]:
    """Settings where LFSSD's Df is within ``df_tolerance`` points of Retrain's and its Dr within
    ``dr_drop`` points of the original's: (holds, settings checked)."""
    held = checked = 0
    for values in _by_setting(frame).values():
        needed = [("lfssd", "Df"), ("retrain", "Df"), ("lfssd", "Dr"), ("original", "Dr")]
        if not all(k in values for k in needed):
            continue
        checked += 1
        held += (abs(values[("lfssd", "Df")] - values[("retrain", "Df")]) <= df_tolerance
                 and values[("lfssd", "Dr")] >= values[("original", "Dr")] - dr_drop)
    return held, checked


def lfssd_verdict(data: BookData, item: str) -> str:
    """One sentence: does the paper's claim hold in the paper's numbers and in ours?"""
    if item == "LFSSD-T2":
        parts = []
        for source, frame in (("paper", data.paper("lfssd", item)),
                              ("ours", data.ours("lfssd", ["alpha"], ["rocket"]))):
            parts.append(f"{source}: plateau at α ∈ {{{', '.join(alpha_plateau(frame)) or '—'}}}")
        return ("Claim: a wide plateau of α forgets the class (D_f ≤ 5%) while keeping D_r within "
                "3 points of the best, with failure at the extremes. " + "; ".join(parts) + ".")
    spec = LFSSD_ITEMS[item]
    paper_held = lfssd_claim(data.paper("lfssd", item))
    ours_held = lfssd_claim(data.ours("lfssd", spec["groups"], spec.get("targets")))
    return ("Claim: LFSSD's D_f accuracy is within 10 points of the retrained model's while its "
            f"D_r accuracy stays within 3 points of the original. Paper's numbers: "
            f"{_said(paper_held)}; ours: {_said(ours_held)}.")


def alpha_plateau(frame: pd.DataFrame, df_max: float = 5.0, dr_drop: float = 3.0) -> list[str]:
    """α values (labels ``alpha=v``) that forget (Df ≤ df_max) and keep Dr near the best."""
    if frame.empty:
        return []
    table = frame.pivot_table(index="label", columns="metric", values="mean")
    best = table["Dr"].max()
    good = table[(table["Df"] <= df_max) & (table["Dr"] >= best - dr_drop)]
    return sorted((label.split("=")[1] for label in good.index), key=float)


def long_for_plot(data: BookData, paper: str, item: str, groups: list[str],
                  targets: list[str] | None = None) -> pd.DataFrame:
    """Ours and the paper's rows stacked with a ``source`` column (the paper's metrics only)."""
    theirs_metrics = set(data.paper(paper, item)["metric"])
    ours = data.ours(paper, groups, targets).assign(source="ours")
    ours = ours[ours["metric"].isin(theirs_metrics)]
    theirs = data.paper(paper, item).assign(source="paper")
    if targets is not None:
        theirs = theirs[theirs["target"].isin(targets)]
    columns = ["arch_key", "target", "metric", "label", "mean", "std", "source"]
    return pd.concat([ours[columns], theirs[columns]], ignore_index=True)


# --- DAU -----------------------------------------------------------------------------------

DAU_METRICS = ["UA", "MIA_efficacy", "RA", "TA"]
DAU_LABELS = ["retrain", "ft", "ga", "ff", "iu", "dau", "dau_no_vss"]
DAU_ITEMS = {
    "DAU-T1a": dict(group="random", targets=["cifar10"]),
    "DAU-T1b": dict(group="class", targets=["cifar10"]),
    "DAU-T1c": dict(group="random", targets=["cifar100"]),
    "DAU-T1d": dict(group="class", targets=["cifar100"]),
    "DAU-T2": dict(group="random", targets=["cifar10", "cifar100"],
                   labels=["retrain", "dau", "dau_no_vss"]),
}


def with_dau_summaries(frame: pd.DataFrame) -> pd.DataFrame:
    """Add, for every DAU run and sparsity, ``avg_disparity`` (mean |metric - Retrain's| over UA,
    MIA-efficacy, RA and TA, per run, so seeds give a spread) and ``runtime_min`` rows."""
    if frame.empty or "dau" not in set(frame.get("paper", [])):
        return frame
    dau = frame[frame["paper"] == "dau"]
    extra = []
    for _, run in dau.groupby(["run_id", "sparsity"], sort=False):
        values = run.pivot_table(index="label", columns="metric", values="value")
        if "retrain" not in values.index:
            continue
        gaps = (values[DAU_METRICS] - values.loc["retrain", DAU_METRICS]).abs().mean(axis=1)
        firsts = run.drop_duplicates("label").set_index("label")
        for label, gap in gaps.items():
            base = firsts.loc[label]
            extra.append({**base.to_dict(), "label": label, "metric": "avg_disparity",
                          "value": gap})
            extra.append({**base.to_dict(), "label": label, "metric": "runtime_min",
                          "value": base["seconds"] / 60})
    return pd.concat([frame, pd.DataFrame(extra)], ignore_index=True)


def dau_run_table(results: pd.DataFrame) -> pd.DataFrame:
    """One DAU run as a table: (sparsity, method) rows; UA, MIA-efficacy, RA, TA, average
    disparity to Retrain and run time (s) as columns."""
    data = with_dau_summaries(results.assign(paper="dau", run_id="this run"))
    data = data[data["metric"].isin(DAU_METRICS + ["avg_disparity"])]
    table = data.pivot_table(index=["sparsity", "label"], columns="metric", values="value",
                             sort=False)[DAU_METRICS + ["avg_disparity"]]
    table["seconds"] = data.groupby(["sparsity", "label"], sort=False)["seconds"].first()
    return table.round(2)


def dau_table(data: BookData, item: str) -> pd.DataFrame:
    """A DAU table: rows (target, sparsity, metric); ours beside the paper's for every method."""
    spec = DAU_ITEMS[item]
    ours = data.ours("dau", [spec["group"]], spec["targets"])
    paper = data.paper("dau", item)
    metrics = DAU_METRICS + ["avg_disparity", "runtime_min"]
    ours = ours[ours["metric"].isin(metrics)]
    return side_by_side(ours, paper, spec.get("labels", DAU_LABELS[:-1]),
                        ["target", "sparsity", "metric"])


def dau_claims(frame: pd.DataFrame, classwise: bool) -> tuple[int, int]:
    """Settings (target, sparsity) where DAU has the lowest average disparity of all methods
    other than Retrain and, for class-wise forgetting, UA and MIA-efficacy within 1 point of
    Retrain's: (holds, settings checked)."""
    held = checked = 0
    for _, setting in frame.groupby(["target", "sparsity"]):
        means = setting.set_index(["label", "metric"])["mean"]
        disparity = {label: v for (label, metric), v in means.items()
                     if metric == "avg_disparity" and label not in ("retrain", "dau_no_vss")}
        if "dau" not in disparity or len(disparity) < 2:
            continue
        checked += 1
        ok = disparity["dau"] <= min(disparity.values())
        if classwise:
            ok = ok and all(abs(means.get(("dau", m), float("nan"))
                                - means.get(("retrain", m), float("nan"))) <= 1.0
                            for m in ("UA", "MIA_efficacy"))
        held += bool(ok)
    return held, checked


def dau_verdict(data: BookData, item: str) -> str:
    spec = DAU_ITEMS[item]
    ours = data.ours("dau", [spec["group"]], spec["targets"])
    paper = data.paper("dau", item)

    if item == "DAU-T2":
        def with_vss(frame):
            held = checked = 0
            for _, setting in frame.groupby(["target", "sparsity"]):
                m = setting.set_index(["label", "metric"])["mean"]
                if ("dau_no_vss", "avg_disparity") in m and ("dau", "avg_disparity") in m:
                    checked += 1
                    held += m[("dau", "avg_disparity")] <= m[("dau_no_vss", "avg_disparity")]
            return held, checked
        return ("Claim: V_ss lowers DAU's average disparity to Retrain. Paper's numbers: "
                f"{_said(with_vss(paper))}; ours: {_said(with_vss(ours))}.")
    classwise = spec["group"] == "class"
    claim = ("DAU reaches Retrain's UA and MIA-efficacy (within 1 point) with the lowest average "
             "disparity" if classwise else "DAU has the lowest average disparity to Retrain")
    return (f"Claim: {claim}. Paper's numbers: {_said(dau_claims(paper, classwise))}; ours: "
            f"{_said(dau_claims(ours, classwise))}.")


def recomputed_disparity(data: BookData, item: str) -> pd.DataFrame:
    """The paper's printed average disparity beside the one recomputed from its printed metrics."""
    paper = data.paper("dau", item)
    rows = []
    for (target, sparsity), setting in paper.groupby(["target", "sparsity"]):
        m = setting.set_index(["label", "metric"])["mean"]
        for label in setting["label"].unique():
            if all((label, k) in m and ("retrain", k) in m for k in DAU_METRICS):
                recomputed = sum(abs(m[(label, k)] - m[("retrain", k)]) for k in DAU_METRICS) / 4
                rows.append({"target": target, "sparsity": sparsity, "label": label,
                             "printed": m.get((label, "avg_disparity")),
                             "recomputed": round(recomputed, 2)})
    return pd.DataFrame(rows)
