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
from .profiles import load, papers_in
from .runner import MARKER

KEYS = ["paper", "profile", "group", "target", "dataset", "scenario", "arch_key", "arch",
        "label", "method", "metric"]
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
    grouped = frame.groupby(KEYS, sort=False, dropna=False)
    out = grouped["value"].agg(["mean", "std", "count"]).rename(columns={"count": "n"})
    out["std"] = out["std"].fillna(0.0)
    out["seconds"] = grouped["seconds"].mean()
    return out.reset_index()


def reported(paper: str, book_dir: str | os.PathLike = "book") -> pd.DataFrame:
    """The numbers a paper printed, as transcribed in ``book/reported/<paper>.csv``."""
    return pd.read_csv(Path(book_dir) / "reported" / f"{paper}.csv")


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
    agg = aggregate(frame)
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
    def said(pair):
        return f"holds in {pair[0]} of {pair[1]} settings" if pair[1] else "not run"
    return ("Claim: LFSSD's D_f accuracy is within 10 points of the retrained model's while its "
            f"D_r accuracy stays within 3 points of the original. Paper's numbers: "
            f"{said(paper_held)}; ours: {said(ours_held)}.")


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
    """Ours and the paper's rows stacked with a ``source`` column, for bar charts."""
    ours = data.ours(paper, groups, targets).assign(source="ours")
    theirs = data.paper(paper, item).assign(source="paper")
    if targets is not None:
        theirs = theirs[theirs["target"].isin(targets)]
    columns = ["arch_key", "target", "metric", "label", "mean", "std", "source"]
    return pd.concat([ours[columns], theirs[columns]], ignore_index=True)
