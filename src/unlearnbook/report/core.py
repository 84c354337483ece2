"""The generic report: collect finished runs, aggregate them over seeds, and render any paper's
items (tables and figures beside the paper's printed numbers) and claim verdicts.

A paper is one module of this package that calls :func:`register_paper` with a
:class:`PaperReport`: its items with their ids, its claims as checks, any derived metric. Nothing
here knows a paper by name.
"""
from __future__ import annotations

import html
import json
import math
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import pandas as pd

from .._checks import UnlearnbookError, check_choice
from ..io import atomic_write, write_text
from ..papers import add as add_paper
from ..runner import RECORD, finished, run_dir, stale

KEYS = ["paper", "profile", "group", "target", "dataset", "scenario", "arch_key", "arch",
        "sparsity", "suite", "label", "method", "metric", "epoch", "ran"]
#: The labels of a planned run that an item's ``select`` can filter on.
PLANNED_KEYS = ("group", "target", "arch_key", "dataset", "scenario")
SEED_COLUMNS = {"train": "train_seed", "split": "split_seed", "unlearn": "unlearn_seed"}
MISSING = "–"


# --- declarations a paper module makes ----------------------------------------------------------

@dataclass(frozen=True)
class SettingCheck:
    """A claim checked in one setting (e.g. one architecture and target).

    ``effect``: the margin in points by which the claim holds (> 0) or fails (< 0); ``spread``:
    the largest standard deviation among the numbers the check read; ``noise``: the half-width
    of the margin's one-sided interval, from the spread, the number of runs and (``sampled``
    checks, margins in accuracy points) the binomial error on D_f
    (:func:`~unlearnbook.report.verdicts.calibrate`)."""

    setting: str
    holds: bool
    effect: float
    spread: float = 0.0
    detail: str = ""
    noise: float = 0.0
    sampled: bool = True

    @property
    def noise_level(self) -> float:
        """The half-width of the margin's interval (:func:`~unlearnbook.report.verdicts.
        calibrate` sets ``noise``); the raw spread for a check never calibrated."""
        return self.noise or self.spread

    @property
    def uncertain(self) -> bool:
        """The margin lies inside the noise: the outcome may flip with seeds or samples (a
        noise below 1e-9, rounding in a standard deviation of equal numbers, is none)."""
        return self.noise_level > max(abs(self.effect), 1e-9)


@dataclass(frozen=True)
class Claim:
    """A claim of the paper and its check on aggregated numbers (mean, std per setting).

    ``forgetting``: a claim that the method forgets (the null-effect guard applies: a method that
    left the original's forget-side metrics unchanged cannot replicate it); ``units``: "points"
    when the checks' margins are accuracy points (then the binomial error is their noise floor),
    else e.g. "count"; ``method``: the label the claim is about (default: the paper's method).
    ``kind``: "close" (the method matches the oracle: the simulation that gives the method the
    oracle's numbers must replicate it) or "better" (it beats ``rival``, default the paper's
    competitor: the simulation that gives it the rival's numbers must rarely replicate it)."""

    text: str
    check: Callable[[pd.DataFrame], list[SettingCheck]]
    forgetting: bool = False
    units: str = "points"
    method: str | None = None
    kind: str = ""
    rival: str | None = None


@dataclass(frozen=True)
class Gap:
    """A regime quantity of one setting, in points: ``constant`` plus the weighted sum of
    reference-model numbers ``terms`` ((weight, label, metric), ...), e.g. a generalisation gap
    RA − TA. ``groups``: the forgetting kinds (the ``group`` column) it describes; () for all."""

    name: str
    terms: tuple[tuple[float, str, str], ...]
    constant: float = 0.0
    groups: tuple[str, ...] = ()

    def applies(self, group: object) -> bool:
        return not self.groups or group in self.groups

    def value(self, numbers: dict) -> float | None:
        """The quantity from ``numbers[(label, metric)]`` (means), None where one is missing."""
        if any((label, metric) not in numbers for _, label, metric in self.terms):
            return None
        return self.constant + sum(weight * numbers[(label, metric)]
                                   for weight, label, metric in self.terms)

    def spread(self, stds: dict) -> float:
        """Its standard deviation from the terms' (independent) ones, ``stds[(label, metric)]``
        (missing or NaN count as 0)."""
        return math.sqrt(sum((weight * (0.0 if pd.isna(stds.get((label, metric)))
                                        else stds[(label, metric)])) ** 2
                             for weight, label, metric in self.terms))


@dataclass(frozen=True)
class Regime:
    """The paper's regime: its reference models (``labels``, e.g. the original and the oracle) on
    ``metrics`` (accuracy-like, in points) as the paper printed them in item ``item`` (None: the
    checked item itself), or as ``declared`` from the paper's text ((label, metric, value);
    shown as declared). A run whose reference models sit more than ``tolerance`` points away is
    not testable (``why`` justifies the tolerance). ``forget_metrics``: the metrics that say
    whether a method forgot (the null-effect guard). ``select`` restricts the paper's rows
    (column -> allowed values) to the setting that defines the regime. ``train_images``: the
    size of the paper's training set (from its text); a run trained on less than half of it is
    outside the regime whatever its accuracies (a model that fits 4,000 images is not one that
    fits 45,000). ``samples``: per forget-side metric measured on other images than D_f, the
    column holding their count (the binomial error's n).

    ``gaps``: where declared, the regime is read on these quantities instead of the absolute
    numbers (what a claim depends on: how much the model memorised, how it generalises), against
    the band the paper's own printed settings span for the same forgetting kind (and the same
    ``band_by`` columns, e.g. the architecture), widened by the one-sided 95% normal quantile of
    the paper's seed spread and our sampling error combined; ``why`` states the derivation.
    ``kinds`` maps a ``group`` to the forgetting kind it is (e.g. an α sweep of class
    forgetting is "class"). ``by_protocol``: forgetting kinds (``group`` -> the reason) whose
    regime is the protocol itself: the paper prints no reference model for them, but our runs
    repeat its data and recipe at its own scale, so they are judged, with the reason shown."""

    labels: tuple[str, ...]
    metrics: tuple[str, ...]
    tolerance: float = 10.0
    why: str = ""
    item: str | None = None
    declared: tuple[tuple[str, str, float], ...] = ()
    forget_metrics: tuple[str, ...] = ()
    select: dict = field(default_factory=dict)
    train_images: int | None = None
    samples: dict = field(default_factory=dict)
    gaps: tuple[Gap, ...] = ()
    band_by: tuple[str, ...] = ("group",)
    kinds: dict = field(default_factory=dict)
    by_protocol: dict = field(default_factory=dict)

    def sample_count(self, row: pd.Series | pd.DataFrame, metric: str) -> float:
        """How many images ``metric`` was measured on in ``row`` (a row or rows of our
        aggregate): the column ``samples`` names for it (e.g. ``n_test_forget``), else |D_f|;
        the smallest over rows; NaN where unknown."""
        column = self.samples.get(metric, "n_forget")
        for name in (column, "n_forget"):
            if name in row:
                values = pd.Series(row[name]).dropna()
                if not values.empty:
                    return float(values.min())
        return float("nan")


@dataclass(frozen=True)
class Item:
    """A table or figure of the paper, by its stable id.

    ``select`` filters the aggregated results (column -> allowed values); ``rows`` are the row
    keys placed before the method; ``labels`` the methods in order (None: the paper's order,
    else ``label_key`` sorts them); ``unavailable`` says why this build cannot produce the item.
    """

    id: str
    title: str
    select: dict = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    rows: tuple[str, ...] = ("target",)
    labels: tuple[str, ...] | None = None
    label_key: Callable[[str], object] | None = None
    claim: Claim | None = None
    figure: Callable[["BookData", "Item"], object] | None = None
    render: Callable[["BookData", "Item"], object] | None = None
    unavailable: str = ""
    folded: str = ""  # a reference table shown behind "Show <folded>" (e.g. hyper-parameters)
    page: str = ""  # the book page that shows the item, when not its paper's chapter
    printed: tuple[str, ...] = ()  # the items whose printed numbers it reads (default: its own)

    @property
    def printed_ids(self) -> tuple[str, ...]:
        """The ids of the transcribed items this item's paper side reads."""
        return self.printed or (self.id,)


@dataclass(frozen=True)
class PaperReport:
    """Everything the book needs to know about one paper."""

    name: str
    title: str
    method: str
    competitor: str
    suite: str
    labels: tuple[str, ...]
    items: tuple[Item, ...]
    headline: tuple[str, ...] = ()
    derive: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    relabel: dict = field(default_factory=dict)
    reported_numbers: bool = True
    position: int = 50  # the book's order of papers (the cross-paper chapter last)
    regime: Regime | None = None
    runs: int = 1  # the paper's runs per table cell (its ± is over these)
    oracle: str = "retrain"  # the label of the paper's reference model in its tables

    def relabelled(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the values of each column in :attr:`relabel` renamed for readers
        (e.g. DAU's sparsity 0.0 as "dense"); other values and columns as they are."""
        frame = frame.copy()
        for column, names in self.relabel.items():
            if column in frame:
                frame[column] = frame[column].map(lambda v, n=names: n.get(v, v))
        return frame


_PAPERS: dict[str, PaperReport] = {}


def register_paper(report: PaperReport) -> PaperReport:
    """Add a paper to the book (its module calls this once, at import)."""
    if report.name in _PAPERS and _PAPERS[report.name] is not report:
        raise ValueError(f"paper {report.name!r} registered twice")
    add_paper(report.name)
    _PAPERS[report.name] = report
    for name in sorted(_PAPERS, key=lambda n: (_PAPERS[n].position, n)):  # keep book order
        _PAPERS[name] = _PAPERS.pop(name)
    return report


def papers() -> list[str]:
    """Names of the registered papers, in registration order."""
    return list(_PAPERS)


def paper_report(name: str) -> PaperReport:
    check_choice("paper", name, papers())
    return _PAPERS[name]


def find_item(item_id: str) -> tuple[PaperReport, Item]:
    """The paper and item of an id such as ``LFSSD-T4``."""
    for report in _PAPERS.values():
        for item in report.items:
            if item.id == item_id:
                return report, item
    raise UnlearnbookError(f"unknown item {item_id!r}; allowed: "
                           f"{', '.join(i.id for r in _PAPERS.values() for i in r.items)}")


# --- results: collect and aggregate -------------------------------------------------------------

def collect(results: str | os.PathLike, profile: str, paper: str | None = None) -> pd.DataFrame:
    """Concatenate ``results.csv`` of every finished run (its ``run.json`` present)."""
    root = Path(results) / profile
    frames = []
    for marker in sorted(root.glob(f"{paper or '*'}/*/{RECORD}")):
        try:
            run = pd.read_csv(marker.parent / "results.csv")
            frames.append(run.assign(ran=what_ran(run.iloc[0]) if len(run) else "",
                                     **forget_counts(marker.parent)))
        except (OSError, ValueError) as err:  # missing, empty or cut: not a finished run
            warnings.warn(f"run {marker.parent.name} left out: its results.csv cannot be read "
                          f"({type(err).__name__}); the grid redoes it", stacklevel=2)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=KEYS)


#: Architectures as a reader names them (the ``ran`` label of a row).
ARCH_NAMES = {"smallcnn": "small CNN", "vit": "ViT", "resnet18": "ResNet-18",
              "allcnn": "ALL-CNN"}


def what_ran(run: pd.Series) -> str:
    """One run's setting in words, from its own parameters: dataset, scenario with its forget
    class or size, architecture ("digits, class 3, small CNN")."""
    def given(name: str) -> str:
        value = run.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)

    scenario, forget_class, size = given("scenario"), given("forget_class"), given("forget_size")
    forgets = {"class": f"class {forget_class}", "subclass": f"subclass {forget_class}",
               "random": f"random {size}", "partial": f"{size} of class {forget_class}"}
    arch = given("arch").split(" ")[0]
    parts = [given("dataset"), forgets.get(scenario, scenario).strip(), ARCH_NAMES.get(arch, arch)]
    return ", ".join(p for p in parts if p)


@lru_cache(maxsize=None)
def paper_datasets(paper: str) -> frozenset[str]:
    """The datasets the shipped ``paper`` profile runs for ``paper`` (its own settings): a
    row of ours on another dataset stands in for the paper's and is labelled by what ran (none
    for a paper that profile does not run: its rows are what they say)."""
    from ..profiles import expand, load

    try:
        return frozenset(run.parameters.get("dataset") for run in expand(load("paper"), paper))
    except UnlearnbookError:  # a paper the shipped profile does not run
        return frozenset()


def forget_counts(folder: Path) -> dict[str, float]:
    """A finished run's sample counts (from its ``forget_set.json``; NaN when absent):
    ``n_forget`` = |D_f|, ``n_test_forget`` = the test images of the forgotten class (the set
    class-level metrics such as LFSSD's D_f are measured on)."""
    path = folder / "forget_set.json"
    if not path.exists():
        return {"n_forget": float("nan"), "n_test_forget": float("nan")}
    record = json.loads(path.read_text())
    test = record.get("test_forget_count")
    return {"n_forget": float(len(record.get("forget_indices", []))),
            "n_test_forget": float("nan") if test is None else float(test)}


def aggregate(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation (ddof 1; NaN for one run), run count and mean run time over the
    runs that differ only in their seeds."""
    if frame.empty:
        return pd.DataFrame(columns=KEYS + ["mean", "std", "n", "seconds"])
    frame = frame.assign(**{k: "" if k == "suite" else float("nan") for k in KEYS
                            if k not in frame})
    grouped = frame.groupby(KEYS, sort=False, dropna=False)
    out = grouped["value"].agg(["mean", "std", "count"]).rename(columns={"count": "n"})
    out["seconds"] = grouped["seconds"].mean()
    for column in ("n_forget", "n_test_forget"):
        if column in frame:
            out[column] = grouped[column].mean()
    return out.reset_index()


def reported(paper: str, book_dir: str | os.PathLike = "book") -> pd.DataFrame:
    """The numbers a paper printed, as transcribed in ``book/reported/<paper>.csv``."""
    path = Path(book_dir) / "reported" / f"{paper}.csv"
    if not path.exists():
        return pd.DataFrame(columns=["item", "label", "metric", "mean", "std"])
    stat = path.stat()
    return _read_reported(str(path), stat.st_mtime_ns, stat.st_size).copy()


@lru_cache(maxsize=32)
def _read_reported(path: str, mtime: int, size: int) -> pd.DataFrame:
    """One transcription, read once per version of the file (simulations read it thousands
    of times)."""
    return pd.read_csv(path)


def seed_spread(frame: pd.DataFrame) -> dict[str, int]:
    """How many values each seed axis takes within the runs of one setting (the most over
    settings): 1 means that axis is fixed."""
    if frame.empty:
        return {}
    per_run = frame.drop_duplicates("run_id") if "run_id" in frame else frame
    keys = [k for k in ("group", "target", "dataset", "scenario", "arch_key") if k in per_run]
    counts = {}
    for axis, column in SEED_COLUMNS.items():
        if column in per_run:
            counts[axis] = int(per_run.groupby(keys, dropna=False)[column].nunique().max())
    return counts


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

    @property
    def profile(self) -> str:
        return self.meta.get("profile", "none")

    def ours(self, paper: str, item: Item, all_metrics: bool = False) -> pd.DataFrame:
        """Our aggregated rows for an item (on every metric with ``all_metrics``, else on the
        item's own)."""
        data = self.aggregate[self.aggregate["paper"] == paper]
        if data.empty:
            return data
        for column, allowed in item.select.items():
            data = data[data[column].isin(allowed)]
        if item.metrics and not all_metrics:
            data = data[data["metric"].isin(item.metrics)]
        return data

    def unfinished(self, paper: str, item: Item) -> tuple[int, list[str]]:
        """How many runs the profile plans for an item, and the ids of those not finished."""
        runs = _matching(self.meta.get("planned", {}).get(paper, []), item)
        return len(runs), [run["run_id"] for run in runs if not run["finished"]]

    def planned_elsewhere(self, paper: str, item: Item) -> dict[str, int]:
        """How many runs each shipped profile plans for an item (this build's included)."""
        return {name: len(_matching(plans.get(paper, []), item))
                for name, plans in self.meta.get("shipped", {}).items()}

    def extra(self, name: str, paper: str) -> pd.DataFrame:
        """A figure's extra table (``extra_<name>.csv`` of the runs), gathered across runs,
        with ``run_id``."""
        path = self.book_dir / "generated" / f"extra_{name}.csv"
        frame = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["paper", "run_id"])
        return frame[frame["paper"] == paper]

    def hyperparameters(self, paper: str) -> pd.DataFrame:
        """The hyper-parameters each method ran with, per (group, target, label), as JSON."""
        path = self.book_dir / "generated" / "hyperparameters.csv"
        frame = pd.read_csv(path) if path.exists() else pd.DataFrame(
            columns=["paper", "group", "target", "label", "hp"])
        return frame[frame["paper"] == paper]

    def recipes(self, paper: str) -> pd.DataFrame:
        """The training (and pre-training) recipes per (group, target, architecture), as JSON."""
        path = self.book_dir / "generated" / "recipes.csv"
        frame = pd.read_csv(path) if path.exists() else pd.DataFrame(
            columns=["paper", "group", "target", "arch_key", "arch", "arch_kwargs", "recipe",
                     "pretrain"])
        return frame[frame["paper"] == paper]

    def paper(self, paper: str, item: Item) -> pd.DataFrame:
        """The paper's printed numbers for an item."""
        data = reported(paper, self.book_dir)
        data = data[data["item"].isin(item.printed_ids)]
        if item.metrics and not data.empty:
            data = data[data["metric"].isin(item.metrics)]
        return data

    def provenance(self, paper: str) -> str:
        """One paragraph: which profile, data, hardware and seeds produced our numbers."""
        info = self.meta.get("papers", {}).get(paper)
        if not info:
            return (f"**Ours: no results for this paper in this build.** Run `unlearnbook run "
                    f"--profile {self.profile} --paper {paper}` and `unlearnbook report "
                    f"--profile {self.profile}`.")
        grid = info.get("grid") or {}
        run_seconds, commits = grid.get("run_seconds", {}), grid.get("run_commits", [])
        ran = ((f"; its runs took {sum(run_seconds.values()) / 3600:.1f} h of run time"
                + (f" (from {len(commits)} commits)" if len(commits) > 1 else "")
                if run_seconds else "")
               + f"; the latest grid ran at commit `{grid['commit']}` in "
               f"{grid['grid_wall_seconds'] / 60:.0f} min wall time"
               + (f" (together with {', '.join(p for p in grid['grid_papers'] if p != paper)})"
                  if len(grid.get("grid_papers", [])) > 1 else "")
               + f", finished {grid['finished']}") if grid else ""
        return (f"**Ours:** profile `{self.profile}` ({self.meta['description']}); "
                f"{info['runs']} runs; datasets {', '.join(info['datasets'])}; data from "
                f"{'; '.join(map(relative_paths, info['sources']))}; "
                f"hardware {'; '.join(info['hardware'])}; "
                f"{seeds_phrase(info.get('seeds', {}))}{ran}; report built "
                f"{self.meta['built']}.")

    def caption(self, paper: str, item: Item) -> str:
        """What produced a table: profile, data, and which seed axes its ± covers."""
        info = self.meta.get("papers", {}).get(paper)
        if not info:
            return f"{item.id}. Ours: not run in this build (profile `{self.profile}`)."
        ours = self.ours(paper, item)
        paper_part = (" Paper: as printed (± where it printed one)."
                      if paper_report(paper).reported_numbers else "")
        if ours.empty:
            return (f"{item.id}. Ours: profile `{self.profile}`, no finished run for this "
                    f"item.{paper_part}")
        n = int(ours["n"].max())
        spread = (f"mean ± std over {n} runs ({seeds_phrase(info.get('seeds', {}))})"
                  if n > 1 else "one run, no spread")
        return (f"{item.id}. Ours: profile `{self.profile}`, "
                f"{', '.join(sorted(ours['dataset'].dropna().unique()))}, {spread}.{paper_part}")


def relative_paths(text: str) -> str:
    """``text`` with every absolute path cut to its last two parts (a provenance line names the
    data folder, not the machine's layout): ``/work/main/data/cifar10`` -> ``data/cifar10``."""
    return re.sub(r"(?<![\w.])/(?:[^\s/()]+/)*([^\s/()]+/[^\s/()]+)", r"\1", text)


def seeds_phrase(seeds: dict[str, int]) -> str:
    """'varying the train seed (2 values) and the split seed (2)' from :func:`seed_spread`."""
    varied = [f"{axis} seed ({count})" for axis, count in seeds.items() if count > 1]
    if not varied:
        return "every seed fixed"
    return "varying the " + ", ".join(varied)


# --- tables -------------------------------------------------------------------------------------

def cell(mean: float, std: float | None) -> str:
    """'12.34 ± 0.56', or '12.34' when there is no spread to show."""
    if pd.isna(mean):
        return MISSING
    return f"{mean:.2f}" if std is None or pd.isna(std) or std == 0 else f"{mean:.2f} ± {std:.2f}"


def _stack(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """The non-empty frames, restricted to ``columns``, one under the other."""
    parts = [p.reindex(columns=columns) for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _cells(frame: pd.DataFrame, source: str, rows: list[str]) -> pd.DataFrame:
    """One formatted cell per row; one run has no std (NaN), a printed ±0.00 shows none."""
    text = [cell(m, s) for m, s in zip(frame["mean"], frame["std"])]
    return frame.assign(cell=text, source=source)


def table_frame(data: BookData, item_id: str, metrics: tuple[str, ...] | None = None
                ) -> pd.DataFrame:
    """An item as a frame: rows (row keys..., method), columns (metric, ours | paper);
    ``metrics`` restricts the columns to a subset of the item's."""
    report, item = find_item(item_id)
    rows = list(item.rows)
    ours, paper = data.ours(report.name, item), data.paper(report.name, item)
    for frame in (ours, paper):
        for column in rows:
            if column not in frame:
                frame[column] = MISSING
    cells = _stack([_cells(ours, "ours", rows), _cells(paper, "paper", rows)],
                   rows + ["label", "metric", "source", "cell"])
    cells = report.relabelled(cells)
    own = paper_datasets(report.name)
    if rows and "ran" in ours and own:  # a stand-in setting (digits for CIFAR) says what ran
        stand_ins = {tuple(report.relabel.get(c, {}).get(r[c], r[c]) for c in rows): r["ran"]
                     for _, r in ours.iterrows()
                     if r["dataset"] not in own and isinstance(r["ran"], str) and r["ran"]}
        keys = list(zip(*(cells[c] for c in rows)))
        cells[rows[-1]] = [f"{value} · ran: {stand_ins[key]}" if key in stand_ins else value
                           for key, value in zip(keys, cells[rows[-1]])]
    if cells.empty:
        return pd.DataFrame()
    present = list(dict.fromkeys(cells["label"]))
    if item.labels is not None:
        order = [l for l in item.labels if l in present]
    elif item.label_key is not None:
        order = sorted(present, key=item.label_key)
    else:
        order = [l for l in report.labels if l in present] + [
            l for l in present if l not in report.labels]
    cells = cells[cells["label"].isin(order)]
    cells["label"] = pd.Categorical(cells["label"], order, ordered=True)
    table = cells.pivot_table(index=rows + ["label"], columns=["metric", "source"],
                              values="cell", aggfunc="first", observed=True)
    metrics = [m for m in (metrics or item.metrics or dict.fromkeys(cells["metric"]))
               if m in table.columns.get_level_values(0)]
    columns = [(m, s) for m in metrics for s in ("ours", "paper") if (m, s) in table.columns]
    table = table.reindex(columns=pd.MultiIndex.from_tuples(columns)).fillna(MISSING)
    return table.sort_index(level=rows, sort_remaining=False) if rows else table


TABLE_STYLES = [
    {"selector": "", "props": "font-size: 0.78em; border-collapse: collapse; margin: 0;"},
    {"selector": "th, td", "props": "white-space: nowrap; padding: 1px 5px;"},
    {"selector": "caption", "props": "caption-side: top; text-align: left; font-size: 1.05em; "
                                    "color: #444; white-space: normal; padding-bottom: 4px;"},
    {"selector": "th.col_heading.level0", "props": "text-align: center; "
                                                   "border-bottom: 1px solid #999;"},
]


def html_caption(text: str) -> str:
    """A caption written in Markdown as the HTML a table caption needs: escaped, with
    ```code``` spans as <code> (a styled table's caption is not parsed as Markdown)."""
    import html

    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


def setting_keys(frame: pd.DataFrame) -> pd.Index:
    """Each row's setting: its row keys without the method (``()`` when the method is the only
    key, so that the whole table is one setting)."""
    if frame.index.nlevels > 1:
        return frame.index.droplevel(-1)
    return pd.Index([()] * len(frame), tupleize_cols=False)


def split_settings(frame: pd.DataFrame) -> tuple[list[tuple], list[tuple]]:
    """The settings of a table (:func:`setting_keys`) that have a number of ours, and those
    that hold the paper's numbers only."""
    if frame.empty:
        return [], []
    ours = [c for c in frame.columns if c[1] == "ours"]
    has_ours = (frame[ours] != MISSING).any(axis=1) if ours else pd.Series(False, frame.index)
    keys = setting_keys(frame)
    ran = list(dict.fromkeys(k for k, flag in zip(keys, has_ours) if flag))
    return ran, [k for k in dict.fromkeys(keys) if k not in ran]


def table(data: BookData, item_id: str, metrics: tuple[str, ...] | None = None,
          caption: bool = True, settings: list[tuple] | None = None):
    """An item as a styled HTML table: the paper's method bold and shaded, its caption naming
    the profile, data and seeds behind our numbers (``metrics``: a subset of the columns;
    ``settings``: only these row settings, as :func:`split_settings` names them)."""
    report, item = find_item(item_id)
    if item.render is not None:
        return item.render(data, item)
    frame = table_frame(data, item_id, metrics)
    if settings is not None and not frame.empty:
        frame = frame[[k in settings for k in setting_keys(frame)]]
    if frame.empty:
        frame = pd.DataFrame({"": [f"no numbers in this build or in the paper for {item_id}"]})
        return frame.style.hide(axis="index").set_caption(
            html_caption(data.caption(report.name, item)))

    def highlight(row: pd.Series) -> list[str]:
        label = row.name[-1] if isinstance(row.name, tuple) else row.name
        if label == report.method:
            return ["font-weight: bold; background-color: #e8eefa"] * len(row)
        if label == report.competitor:
            return ["background-color: #f5f5f5"] * len(row)
        return [""] * len(row)

    styler = frame.style.apply(highlight, axis=1)
    styler = styler.hide(axis="index", names=True).hide(axis="columns", names=True)
    if caption:
        styler = styler.set_caption(html_caption(data.caption(report.name, item)))
    return styler.set_table_styles(TABLE_STYLES)


def stacked(data: BookData, item_id: str) -> pd.DataFrame:
    """Ours and the paper's rows of an item stacked, with a ``source`` column (for figures)."""
    report, item = find_item(item_id)
    return _stack([data.ours(report.name, item).assign(source="ours"),
                   data.paper(report.name, item).assign(source="paper")],
                  list(item.rows) + ["label", "metric", "mean", "std", "source"])


def figure(data: BookData, item_id: str):
    """Draw an item's figure (items that declare one)."""
    _, item = find_item(item_id)
    if item.figure is None:
        raise UnlearnbookError(f"item {item_id!r} has no figure; allowed: an item with one")
    return item.figure(data, item)


def originals_table(data: BookData) -> pd.DataFrame | None:
    """The models this profile trained ahead of its runs (``results/<profile>/originals.csv``:
    originals and oracles, their accuracy on their training, forget and test sets, training
    time and machine), one row per model, with the runs of this build that use it; None when the
    profile recorded none. Whether they are in a paper's regime is the gate's to say
    (:func:`~unlearnbook.report.verdicts.regime_table`), on the runs' own reference models."""
    path = data.book_dir / "generated" / "originals.csv"
    if not path.exists():
        return None
    ours = pd.read_csv(path)
    finished = {(paper, run["run_id"]) for paper, runs in data.meta.get("planned", {}).items()
                for run in runs if run.get("finished")}
    ours = ours.assign(
        model=ours["model"] if "model" in ours else "original",
        used=[(paper, run) in finished for paper, run in zip(ours["paper"], ours["run"])])
    frame = pd.DataFrame({
        "model": ours["model"], "paper": ours["paper"].map(short_name),
        "trained for": ours["run"],
        "images × epochs": [f"{int(n):,} {dataset} × {int(e)}" for n, dataset, e
                            in zip(ours["train_images"], ours["dataset"], ours["epochs"])],
        "accuracy: train / forget set / test": [
            f"{a:.1f} / {b:.1f} / {c:.1f}"
            for a, b, c in zip(ours["train_acc"], ours["forget_acc"], ours["test_acc"])],
        "training (min)": (ours["train_seconds"] / 60).round(1),
        "used by a finished run": ours["used"].map({True: "yes", False: "not yet"})})
    return frame.drop_duplicates().reset_index(drop=True)


#: What a verdict at each shipped profile's scale means (other profiles: their description).
PROFILE_NOTES = {
    "smoke": "The smoke profile trains tiny models on scikit-learn's 8x8 digits: its verdicts "
             "show whether the pipeline and the methods behave, and the regime gate marks them "
             "not testable, because no digits model is in any paper's regime.",
    "cpu": "The cpu profile runs the papers' protocols on CIFAR with a narrow ResNet-18 on a "
           "2-core CPU; where its original models fall outside a paper's regime the verdicts say "
           "so and name the numbers.",
    "paper": "The paper profile runs the papers' own settings (GPU).",
}


#: What the rows labelled with a paper's datasets and architectures are in each shipped profile.
SCALE_NOTES = {
    "smoke": "In this build (smoke profile) every row comes from scikit-learn's 8x8 digits and "
             "small models trained from scratch, each paper setting mapped to a digits stand-in "
             "(the chapter's Choices say how): they check the pipeline and show the methods' "
             "behaviour, not the paper's numbers.",
    "cpu": "In this build (cpu profile) the rows come from CIFAR with a width-16 ResNet-18 (and "
           "the ALL-CNN at a quarter of its filters) on a 2-core CPU; the intro's regime table "
           "and every verdict say how far its models are from the paper's.",
    "paper": "In this build (paper profile) the rows come from the paper's own datasets, "
             "architectures and recipes.",
}


def short_name(paper: str) -> str:
    """A paper as its chapter title names it ("DAU" of "DAU: discriminative ..."); the
    cross-paper chapter, or a paper this build does not know, by its own name."""
    title = _PAPERS[paper].title if paper in _PAPERS else ""
    return title.split(":")[0] if ":" in title else ("cross-paper" if paper == "cross" else paper)


def scale_note(data: BookData, paper: str | None = None) -> str:
    """One sentence on what this build's rows are (:data:`SCALE_NOTES`), and, for ``paper``, one
    on its runs: how many of those the profile plans have finished, how many are left out as
    stale, how many have not run (from the build's ``meta.json``: the same record the verdicts
    read, so a chapter and the intro cannot disagree)."""
    note = SCALE_NOTES.get(data.profile, f"In this build the rows come from the "
                                         f"`{data.profile}` profile.")
    if paper is None:
        return note
    planned = data.meta.get("planned", {}).get(paper, [])
    finished = sum(run["finished"] for run in planned)
    stale = sum(entry.startswith(f"{paper}/") for entry in data.meta.get("stale") or [])
    note += (f" Of the {len(planned)} run(s) the `{data.profile}` profile plans for this paper, "
             f"{finished} have finished in this build")
    if stale:
        note += (f"; {stale} ran under earlier parameters or code and are left out as stale "
                 "(the grid redoes them)")
    return note + "."


def profile_note(data: BookData) -> str:
    """One paragraph on the build's profile: which it is and what its verdicts can mean, plus
    the runs the report refused as stale."""
    name = data.profile
    note = (f"These verdicts come from the **`{name}`** profile "
            f"({data.meta.get('description') or 'no results in this build'}). "
            + PROFILE_NOTES.get(name, ""))
    stale = data.meta.get("stale") or []
    if stale:
        per_paper = pd.Series([entry.split("/")[0] for entry in stale]).value_counts(sort=False)
        counts = ", ".join(f"{n} {short_name(p)}" for p, n in per_paper.items())
        listed = "".join(f"<li>{html.escape(entry)}</li>" for entry in stale)
        note += (f" Left out as stale, because their parameters or code changed since they ran "
                 f"(the grid redoes them): {counts} run(s).\n\n<details><summary>Which runs"
                 f"</summary><ul>{listed}</ul></details>")
    return note


def html_table(frame: pd.DataFrame, cards: bool = False):
    """A frame whose cells may hold HTML links, as a styled table without an index; ``cards``:
    below 600 px each row shows as a card, every cell under its column's name (the book's
    ``unlearnbook.css``)."""
    styler = frame.style.hide(axis="index").set_table_styles(TABLE_STYLES[:2] + [
        {"selector": "td", "props": "white-space: normal; vertical-align: top;"},
        {"selector": "th", "props": "white-space: normal; vertical-align: bottom;"},
        {"selector": "td:first-child", "props": "white-space: nowrap;"}]).format(precision=1)
    if not cards:
        return styler
    from IPython.display import HTML

    labels = [html.escape(str(c), quote=True) for c in frame.columns]
    cell = re.compile(r'<td id="T_\w+_row\d+_col(\d+)" class="data row\d+ col\d+" >')
    return HTML(cell.sub(lambda m: f'{m.group(0)[:-2]} data-label="{labels[int(m.group(1))]}" >',
                         styler.set_table_attributes('class="ub-cards"').to_html()))


WIDE = 5  # tables with more metrics than this are shown in two halves

#: What each method name in a table stands for, said under the first table of a chapter that
#: shows it (the glossary page has the long form).
METHOD_NAMES = {
    "original": "the model before unlearning", "retrain": "retrained from scratch on D_r (oracle)",
    "retrain_head": "new head retrained on D_r (the SSD code's retrain)",
    "finetune": "fine-tuning on D_r", "ft": "fine-tuning on D_r (FT)",
    "ga": "gradient ascent on D_f (GA)", "ff": "Fisher forgetting (FF)",
    "iu": "influence unlearning (IU)", "neggrad_plus": "NegGrad+",
    "badteacher": "Bad Teacher", "amnesiac": "amnesiac unlearning",
    "ssd": "selective synaptic dampening (SSD)", "l1sparse": "ℓ1-sparse fine-tuning",
    "rl": "random labels (RL)", "be_plus": "boundary expanding (BE+)",
    "bs_plus": "boundary shrinking (BS+)", "scrub": "SCRUB", "scrub_r": "SCRUB+R (rewinding)",
    "cfk": "CF-k (last block fine-tuned)", "euk": "EU-k (last block retrained)",
    "ntk": "NTK forgetting", "fisher": "Fisher forgetting",
}
_NAMED: set[str] = set()  # names already explained in this chapter (one kernel per chapter)


def method_legend(labels: list[str]) -> str:
    """One line of HTML under a table for the method names this chapter has not explained yet
    (the chapters are HTML pages beside the glossary's)."""
    new = [l for l in dict.fromkeys(labels) if l in METHOD_NAMES and l not in _NAMED]
    _NAMED.update(new)
    if not new:
        return ""
    names = "; ".join(f"<code>{l}</code> {METHOD_NAMES[l]}" for l in new)
    return (f"<p class='method-legend'><small>Methods: {names} (every name and metric: the "
            "<a href='glossary.html'>glossary</a>).</small></p>")


#: The resolution chapter figures are saved at (pixels per inch).
FIGURE_DPI = 100


def smallest_text_px(fig) -> float:
    """The height in pixels, at the figure's own size saved at :data:`FIGURE_DPI`, of the smallest
    visible text of a drawn figure (tick labels get their text when drawn; a browser scales it by
    the displayed width over the image's own width)."""
    from matplotlib.text import Text

    sizes = [text.get_fontsize() for text in fig.findobj(Text)
             if text.get_visible() and text.get_text().strip()]
    return min(sizes) * FIGURE_DPI / 72 if sizes else float("nan")


def figure_html(fig, alt: str) -> str:
    """A figure as an inline PNG whose alt text says what it shows (the figure's title after
    ``alt``), not where the file lies, in a box that opens it full size on a click (the book's
    ``unlearnbook.js``); ``data-text-px`` is :func:`smallest_text_px`, which the browser test
    scales to the displayed size."""
    import base64
    import html
    import io

    title = fig._suptitle.get_text() if fig._suptitle is not None else ""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    text = html.escape(f"{alt}. {title}" if title else alt)
    return (f'<div class="ub-figure"><img src="data:image/png;base64,'
            f'{base64.b64encode(buffer.getvalue()).decode()}" alt="{text}" '
            f'data-text-px="{smallest_text_px(fig):.1f}"></div>')


def show(data: BookData, item_id: str) -> None:
    """Display an item in a chapter: its table (unless it is a figure only), its figure, and
    its verdict when it states a claim."""
    from IPython.display import HTML, Markdown, display

    report, item = find_item(item_id)
    if item.unavailable and data.ours(report.name, item).empty:
        display(Markdown(f"**Not produced in this build:** {item.unavailable}"))
        if data.paper(report.name, item).empty:
            return

    def tables(settings: list[tuple] | None, caption: bool = True) -> list:
        if item.render is not None or len(item.metrics) <= WIDE:
            return [table(data, item_id, caption=caption, settings=settings)]
        half = -(-len(item.metrics) // 2)  # a wide table in two halves: every column fits
        return [table(data, item_id, item.metrics[:half], caption, settings),
                table(data, item_id, item.metrics[half:], False, settings)]

    def fold(summary: str, stylers: list) -> None:
        display(HTML(f"<details class='numbers'><summary>{summary}</summary>"
                     f"{''.join(t.to_html() for t in stylers)}</details>"))

    charted = item.figure is not None
    if charted:  # the figure first, with real alt text; the table it draws folded beneath it
        import matplotlib.pyplot as plt

        before = set(plt.get_fignums())
        figure(data, item_id)
        for number in [n for n in plt.get_fignums() if n not in before]:
            display(HTML(figure_html(plt.figure(number), f"{item.id}: {item.title}")))
            plt.close(number)
    shows_table = not charted or item.metrics or item.render is not None
    frame = (table_frame(data, item_id) if shows_table and item.render is None
             else pd.DataFrame())
    if shows_table:
        ran, paper_only = split_settings(frame)
        if item.folded:
            fold(f"Show {item.folded}", tables(None))
        elif charted and item.render is None:
            display(Markdown(data.caption(report.name, item)))
            fold("Show the numbers behind the figure, ours beside the paper's",
                 tables(None, caption=False))
        elif not paper_only:
            for shown in tables(None):
                display(shown)
        else:  # the settings we ran beside the paper's; the paper's other rows folded away
            for shown in tables(ran) if ran else []:
                display(shown)
            fold(f"Show the paper's numbers for the {len(paper_only)} other setting(s), not "
                 "run in this build" if ran else "Show the paper's table (not run in this build)",
                 tables(paper_only, caption=not ran))
    legend = method_legend(list(frame.index.get_level_values(-1))) if not frame.empty else ""
    if legend:
        display(HTML(legend))
    if item.claim is not None:
        from .verdicts import verdict  # verdicts builds on this module

        display(Markdown(verdict(data, item_id).markdown()))


# --- the book -----------------------------------------------------------------------------------

def _tutorial(source: Path | None, target: Path, paper: str, profile: str) -> None:
    """Copy an executed notebook as the paper's tutorial page with its parameter cells
    collapsed, or write a page saying there is none in this build (``profile``'s) and giving
    that profile's commands. The prose comes from the paper's notebook
    as it is now (markdown cells matched by cell id; a committed run keeps the notebook it was
    executed with), and so do the exercises (cells tagged ``exercises``), appended at the end;
    code cells and their outputs stay the run's, with absolute paths cut by
    :func:`relative_paths` as in the provenance lines."""
    import nbformat

    from ..profiles import notebook_path

    current = notebook_path(paper)
    cells = nbformat.read(current, as_version=4).cells if current.exists() else []

    def exercise(cell) -> bool:
        return "exercises" in cell.metadata.get("tags", [])
    if source is not None and source.exists():
        notebook = nbformat.read(source, as_version=4)
        prose = {c.get("id"): c.source for c in cells if c.cell_type == "markdown"}
        for c in notebook.cells:
            tags = c.metadata.get("tags", [])
            if "parameters" in tags or "injected-parameters" in tags:
                c.metadata["tags"] = sorted(set(tags) | {"hide-input"})
            if c.cell_type == "markdown" and c.get("id") in prose:
                c.source = prose[c.get("id")]
            for output in c.get("outputs", []):  # what the run printed names no machine path
                if "text" in output:
                    output["text"] = relative_paths(output["text"])
                for kind in ("text/plain", "text/markdown"):
                    if kind in output.get("data", {}):
                        output["data"][kind] = relative_paths(output["data"][kind])
    else:
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
            f"# {paper.upper()} tutorial\n\nThis build (the `{profile}` profile) has no "
            f"finished {short_name(paper)} run to walk through yet. `unlearnbook run --profile "
            f"{profile} --paper {paper}` runs them, then `unlearnbook report --profile "
            f"{profile}` and the book build show this page with the first one. The smoke "
            "build (`make book`, minutes on a laptop) walks through the same notebook on a "
            "digits run.")])
    notebook.cells = ([c for c in notebook.cells if not exercise(c)]
                      + [c for c in cells if exercise(c)])
    heading = f"{paper.upper()} tutorial"
    for c in notebook.cells:  # every figure's alt text names the section it illustrates
        if c.cell_type == "markdown" and c.source.lstrip().startswith("#"):
            heading = c.source.lstrip().splitlines()[0].lstrip("# ").strip()
        elif c.cell_type == "code" and any("image/png" in o.get("data", {})
                                           for o in c.get("outputs", [])):
            c.metadata.setdefault("mystnb", {}).setdefault("image", {})["alt"] = (
                f"{paper.upper()} tutorial, figure for: {heading}")
    with atomic_write(target) as tmp:
        nbformat.write(notebook, tmp)


def _gather_extras(results: str | os.PathLike, profile: str, frame: pd.DataFrame,
                   out: Path) -> None:
    """Write ``hyperparameters.csv`` (what each method ran with), ``recipes.csv`` (what each
    setting's models were trained with) and concatenate every
    finished run's ``extra_<name>.csv`` into ``out`` (tagged with paper and run id)."""
    keys = ["paper", "group", "target", "label", "hp"]
    used = (frame.reindex(columns=keys).drop_duplicates(keys[:4]) if not frame.empty
            else pd.DataFrame(columns=keys))
    with atomic_write(out / "hyperparameters.csv") as tmp:
        used.to_csv(tmp, index=False)
    recipe_keys = ["paper", "group", "target", "arch_key", "arch", "arch_kwargs", "recipe",
                   "pretrain"]
    recipes = (frame.reindex(columns=recipe_keys).drop_duplicates(recipe_keys[:4])
               if not frame.empty else pd.DataFrame(columns=recipe_keys))
    with atomic_write(out / "recipes.csv") as tmp:
        recipes.to_csv(tmp, index=False)
    runs = set(frame["run_id"]) if not frame.empty else set()
    extras: dict[str, list[pd.DataFrame]] = {}
    for path in sorted(Path(results, profile).glob("*/*/extra_*.csv")):
        if path.parent.name in runs and (path.parent / RECORD).exists():
            name = path.stem.removeprefix("extra_")
            extras.setdefault(name, []).append(
                pd.read_csv(path).assign(paper=path.parent.parent.name, run_id=path.parent.name))
    for name, parts in extras.items():
        with atomic_write(out / f"extra_{name}.csv") as tmp:
            pd.concat(parts, ignore_index=True).to_csv(tmp, index=False)


def _costs(runs: list, results: Path, done: set[str], meta: dict) -> list[dict]:
    """Per paper: the cost model's projection for the whole plan on the machine building the
    book (two threads, speeds probed once and cached per machine) beside the run time its
    finished runs took and where."""
    from ..runner import plan_costs
    from ..train import machine

    costs, headline = plan_costs(runs, results, done, threads=2)
    rows = []
    for cost in costs + ([headline] if headline else []):
        info = meta["papers"].get(cost.paper, {})
        seconds = (info.get("grid") or {}).get("run_seconds", {})
        rows.append({"paper": cost.paper, "runs": cost.runs, "finished": cost.runs - cost.left,
                     "images_m": round(cost.images / 1e6, 2), "projected_h": round(cost.hours, 2),
                     "left_h": round(cost.hours_left, 2),
                     "measured_h": round(sum(seconds.values()) / 3600, 2) if seconds else None,
                     "measured_on": "; ".join(info.get("hardware", [])) or None,
                     "projected_on": machine()})
    return rows


def cost_frame(data: BookData) -> pd.DataFrame:
    """The reproduce page's table: per paper (and for the headline runs) the projected hours
    of the whole plan and of what is left, beside the measured run time of the finished runs
    and the machines that ran them."""
    rows = data.meta.get("cost", [])
    frame = pd.DataFrame(rows, columns=["paper", "runs", "finished", "images_m", "projected_h",
                                        "left_h", "measured_h", "measured_on", "projected_on"])
    machines = sorted(set(frame["projected_on"].dropna()))
    for column in ("images_m", "projected_h", "left_h", "measured_h"):
        frame[column] = [MISSING if pd.isna(v) else f"{v:.1f}" for v in frame[column]]
    projected = f"projected h ({', '.join(machines)})" if machines else "projected h"
    return frame.drop(columns="projected_on").rename(columns={
        "images_m": "M training images", "projected_h": projected, "left_h": "h left",
        "measured_h": "measured h", "measured_on": "measured on"}).fillna(MISSING)


def _provenance(folder: Path) -> dict:
    """The grid's ``provenance.json`` (commit, wall time), or {} when it was not recorded."""
    path = folder / "provenance.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _matching(planned: list[dict], item: Item) -> list[dict]:
    """The planned runs (as :func:`_planned_labels` lists them) an item's ``select`` takes."""
    return [run for run in planned if all(run[column] in allowed for column, allowed
                                          in item.select.items() if column in run)]


def coverage_note(data: BookData, item_ids: list[str]) -> str:
    """Which profiles run these items (from every shipped profile's plan, the same record the
    verdicts read for this build's): for a chapter's "what this build cannot produce"."""
    found = [find_item(item_id) for item_id in item_ids]
    counts: dict[str, int] = {}
    for report, item in found:
        for name, count in data.planned_elsewhere(report.name, item).items():
            counts[name] = counts.get(name, 0) + count
    names = " and ".join(item_ids)
    here = counts.get(data.profile, 0)
    others = [f"the `{name}` profile plans {count}" for name, count in counts.items()
              if name != data.profile and count]
    text = (f"**{names}**: this build's `{data.profile}` profile plans "
            + (f"{here} run(s) of them" if here else "no run of them"))
    text += f"; {', '.join(others)}." if others else "; no shipped profile runs them."
    if not here:
        text += (" Their tables show the paper's numbers only, and their verdicts read "
                 "\"not run\".")
    return text


def _planned_labels(run, finished: set[str]) -> dict:
    """A planned run as the book's ``meta.json`` lists it: its id, :data:`PLANNED_KEYS` and
    whether it has finished."""
    return {"run_id": run.run_id, "finished": run.run_id in finished,
            "train_images": training_images(run.parameters),
            **{key: run.labels.get(key, run.parameters.get(key)) for key in PLANNED_KEYS}}


def training_images(parameters: dict) -> int | None:
    """How many images a run's original trains on, from its parameters alone (the dataset's
    size, or ``classes`` x ``train_per_class``, less the validation fraction); None for a dataset
    :data:`~unlearnbook.data.sources.SHAPES` does not know."""
    from ..data.sources import SHAPES

    dataset = parameters.get("dataset")
    if dataset not in SHAPES:
        return None
    total, classes, _ = SHAPES[dataset]
    kwargs = {**parameters, **(parameters.get("task_kwargs") or {})}
    chosen = kwargs.get("classes")
    count = classes if chosen is None else chosen if isinstance(chosen, int) else len(chosen)
    per_class = kwargs.get("train_per_class") or total // classes
    return int(round(count * per_class * (1 - (kwargs.get("val_fraction") or 0.0))))


def prepare_book(profile: str | os.PathLike, results: str | os.PathLike = "results",
                 out: str | os.PathLike = "book/generated") -> str:
    """Aggregate a profile's finished runs into ``out`` (aggregate.csv, meta.json) and copy each
    paper's tutorial run (its headline scenario) as ``<paper>_tutorial.ipynb``."""
    from ..profiles import BUILTIN, expand, load, papers_in, tutorial_run

    spec = load(profile)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = collect(results, spec["name"])
    plan = {paper: expand(spec, paper) for paper in papers_in(spec)}
    current, refused = set(), []
    for run in (run for runs in plan.values() for run in runs):
        folder = run_dir(Path(results), run)
        why = stale(folder, run)
        if why:
            refused.append(f"{run.paper}/{run.run_id} ({why})")
        elif finished(folder):
            current.add((run.paper, run.run_id))
    if not frame.empty:  # runs the profile no longer has, or has with other parameters: out
        keep = [(p, r) in current for p, r in zip(frame["paper"], frame["run_id"])]
        frame = frame[keep]
    done = set(frame["run_id"]) if not frame.empty else set()
    agg = aggregate(frame)
    for report in _PAPERS.values():
        if report.derive is not None and not agg.empty:
            agg = report.derive(agg)
    with atomic_write(out / "aggregate.csv") as tmp:
        agg.to_csv(tmp, index=False)
    _gather_extras(results, spec["name"], frame, out)
    # a profile's words reach the book as text, never as markup (escaped once, here)
    meta = {"profile": spec["name"], "description": html.escape(str(spec.get("description", ""))),
            "built": time.strftime("%Y-%m-%d %H:%M"), "papers": {},
            "planned": {paper: [_planned_labels(run, done) for run in runs]
                        for paper, runs in plan.items()},
            "shipped": {name: {paper: [_planned_labels(run, set()) for run in
                                       expand(load(name), paper)] for paper in papers_in(load(name))}
                        for name in BUILTIN}}
    lines = []
    for paper in papers():
        runs = frame[frame["paper"] == paper] if not frame.empty else frame
        source = None
        if not runs.empty:
            meta["papers"][paper] = {
                "runs": int(runs["run_id"].nunique()),
                "datasets": sorted(runs["dataset"].unique().tolist()),
                "sources": sorted(runs["data_source"].unique().tolist()),
                "hardware": sorted(runs["hardware"].unique().tolist()),
                "seeds": seed_spread(runs),
                "grid": _provenance(Path(results) / spec["name"] / paper),
            }
            wanted = tutorial_run(spec, paper)
            if wanted not in set(runs["run_id"]):
                wanted = runs["run_id"].iloc[0]
            source = Path(results) / spec["name"] / paper / wanted / f"{paper}.ipynb"
            lines.append(f"{paper}: {meta['papers'][paper]['runs']} runs aggregated; "
                         f"tutorial {wanted}")
        else:
            lines.append(f"{paper}: no finished runs")
        _tutorial(source, out / f"{paper}_tutorial.ipynb", paper, spec["name"])
    meta["stale"] = sorted(refused)
    meta["cost"] = _costs([run for runs in plan.values() for run in runs], Path(results),
                          {f"{p}/{r}" for p, r in current}, meta)
    originals = Path(results) / spec["name"] / "originals.csv"
    if originals.exists():
        with atomic_write(out / "originals.csv") as tmp:
            pd.read_csv(originals).to_csv(tmp, index=False)
    elif (out / "originals.csv").exists():
        (out / "originals.csv").unlink()
    write_text(out / "meta.json", json.dumps(meta, indent=1))
    if refused:
        lines.append(f"left out {len(refused)} stale run(s): {', '.join(sorted(refused))}")
    return "\n".join(lines) + f"\nwrote {out}"
