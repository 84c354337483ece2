"""Verdicts: a paper's claims checked on our numbers and on the paper's own, by one rule and one
set of statistics on both sides.

A claim's rule (its :class:`~unlearnbook.report.core.Claim`) turns an aggregated frame into
atomic checks, one per setting: the margin by which the check holds (> 0) or fails (< 0) and the
largest standard deviation among the numbers it read. :func:`calibrate` gives each margin the
half-width of a one-sided interval at :data:`LEVEL`: across k runs Student's t with k − 1
degrees of freedom on the standard error of a difference of two means, t·s·√(2/k); within a run
the binomial (Wilson) error of the deciding accuracy at its own sample count, at the normal
quantile, also as a difference, z·e·√(2/k). A check holds when its margin clears that
half-width, fails when it clears it the other way, and is uncertain in between. The paper's side
uses the same code with its printed standard deviations and run count (its binomial error is not
known: its printed spread stands for it).

Then the gates (:func:`verdict`): settings where the paper's own numbers fail the rule leave our
verdict either way; a run outside the paper's regime is not testable; a method that left the
original's forget-side metrics unchanged, where the oracle moved them, does not replicate a
forgetting claim. :func:`simulate` feeds the rules synthetic numbers (the paper's own, the
original's, the oracle's, two equal methods) to show what each can and cannot conclude.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .._checks import UnlearnbookError, check_choice
from ..stats import binomial_se
from .core import (_PAPERS, KEYS, MISSING, BookData, Item, PaperReport, SettingCheck, find_item,
                   reported, short_name)

#: The one-sided confidence level of every check's interval.
LEVEL = 0.95


@lru_cache(maxsize=None)
def quantile(runs: int) -> float:
    """The one-sided :data:`LEVEL` quantile for a margin estimated from ``runs`` runs: Student's
    t with runs − 1 degrees of freedom, the normal one for a single run (binomial error only)."""
    from scipy import stats

    return float(stats.t.ppf(LEVEL, runs - 1) if runs >= 2 else stats.norm.ppf(LEVEL))


def margin_noise(spread: float, runs: int, binomial: float = 0.0) -> float:
    """The half-width of a margin's one-sided interval: the larger of the seed part
    t·spread·√(2/k) (k = ``runs`` ≥ 2; a difference of two means, each with standard deviation at
    most ``spread``) and the sampling part z·binomial·√(2/k) (``binomial``: one accuracy's
    standard error at its sample count, :func:`binomial_se`)."""
    runs = max(int(runs), 1)
    scale = math.sqrt(2.0 / runs)
    seed = quantile(runs) * float(spread) * scale if runs >= 2 and spread > 0 else 0.0
    return max(seed, quantile(1) * float(binomial) * scale)


def calibrate(checks: list[SettingCheck], runs: int, binomial: float = 0.0
              ) -> list[SettingCheck]:
    """``checks`` with their ``noise`` set by :func:`margin_noise` from their spread, the number
    of runs behind them and (for ``sampled`` checks) the binomial error of one run."""
    return [replace(c, noise=margin_noise(c.spread if math.isfinite(c.spread) else 0.0, runs,
                                          binomial if c.sampled else 0.0))
            for c in checks]


STATUSES = ("replicated", "partly replicated", "not replicated", "uncertain",
            "not testable at this scale", "not run")
REPLICATED, PARTLY, NOT_REPLICATED, UNCERTAIN, NOT_TESTABLE, NOT_RUN = STATUSES


def status_of(checks: list[SettingCheck]) -> str:
    """A claim's status from its atomic checks: replicated when every check holds beyond its
    noise; uncertain when none fails beyond its noise but some margin lies inside it; partly
    when some hold and some fail beyond the noise; not replicated when none holds beyond it;
    not run when there is nothing to check (no finished run of ours: "not testable" is kept for
    runs outside the paper's regime)."""
    if not checks:
        return NOT_RUN
    held = [c for c in checks if c.holds and not c.uncertain]
    failed = [c for c in checks if not c.holds and not c.uncertain]
    if failed:
        return PARTLY if held else NOT_REPLICATED
    return UNCERTAIN if any(c.uncertain for c in checks) else REPLICATED


def _summary(checks: list[SettingCheck]) -> tuple[str, str]:
    """The status of ``checks`` and a sentence naming the failing and the uncertain ones."""
    status = status_of(checks)
    if not checks:
        return status, ""
    held = [c for c in checks if c.holds]
    detail = f"Holds in {len(held)} of {len(checks)} settings."
    failed = [c for c in checks if not c.holds]
    if failed:
        detail += " Fails at " + "; ".join(
            f"{c.setting}{f' ({c.detail})' if c.detail else ''}" for c in failed) + "."
    shaky = [c for c in checks if c.uncertain]
    if shaky:
        detail += (" Inside the noise at " + "; ".join(
            f"{c.setting} (margin {c.effect:+.2f} vs noise {c.noise_level:.2f})"
            if math.isfinite(c.noise_level) else f"{c.setting} (one run)" for c in shaky)
            + ", so those outcomes may flip with other seeds or samples.")
    return status, detail


@dataclass(frozen=True)
class RegimeCheck:
    """How far our reference models are from the paper's regime: ``gap`` (in points, the
    largest absolute difference over the settings compared, or, for a regime read on
    :class:`~unlearnbook.report.core.Gap` quantities, the largest distance outside the paper's
    band; None when nothing could be compared), ``tolerance`` (how far ``gap`` may go), the
    numbers that decide it, and ``unreferenced``: our settings whose reference models the paper
    prints no number for (in that setting, nor declared from its text)."""

    gap: float | None
    ours: str = ""
    theirs: str = ""
    note: str = ""
    unreferenced: tuple[str, ...] = ()
    tolerance: float = 0.0

    @property
    def outside(self) -> bool:
        return self.gap is not None and self.gap > self.tolerance

    @property
    def pair(self) -> str:
        if self.gap is None:
            return self.note or "regime not measured"
        return f"ours: {self.ours}; paper: {self.theirs}"


def regime_check(data: "BookData", report: PaperReport, item: Item) -> RegimeCheck:
    """Our reference models (the paper module's :class:`Regime` labels, e.g. the original) on
    the regime metrics, setting by setting (the item's ``rows``), beside the paper's printed
    numbers for the same setting (or the values the regime declares from the text); never a
    mean over the paper's settings or another setting's row. The largest gap decides whether our
    runs were in the paper's regime; a setting the paper prints no reference for is named.
    A regime with ``gaps`` is read on those quantities instead (:func:`band_check`)."""
    regime = report.regime
    if regime is None:
        return RegimeCheck(None, note="the paper module declares no regime")
    sizes = [run.get("train_images") for run in data.meta.get("planned", {}).get(report.name, [])
             if run.get("finished") and all(run.get(c) in allowed for c, allowed
                                            in item.select.items() if c in run)]
    sizes = [s for s in sizes if s]
    if regime.train_images and sizes and min(sizes) < regime.train_images / 2:
        return RegimeCheck(math.inf, f"trained on {min(sizes):,} images",
                           f"{regime.train_images:,} (its text)")
    ours = data.ours(report.name, item, all_metrics=True)
    protocol = sorted(set(ours["group"]) & set(regime.by_protocol)) if not ours.empty else []
    if protocol:  # judged by their protocol; the rest of the item's settings still meet the paper
        ours = ours[~ours["group"].isin(protocol)]
        if ours.empty:
            return RegimeCheck(None, note="; ".join(regime.by_protocol[g] for g in protocol))
    if regime.gaps:
        return band_check(data, report, item, ours)
    ours = ours[ours["label"].isin(regime.labels) & ours["metric"].isin(regime.metrics)]
    theirs = reported(report.name, data.book_dir)
    theirs = theirs[theirs["item"].isin([regime.item] if regime.item else item.printed_ids)]
    theirs = theirs[theirs["label"].isin(regime.labels) & theirs["metric"].isin(regime.metrics)]
    for column, allowed in regime.select.items():
        theirs = theirs[theirs[column].isin(allowed)]
    declared = {(label, metric): value for label, metric, value in regime.declared}
    if ours.empty:
        return RegimeCheck(None, note="our runs of this item did not score the reference "
                                      f"models ({', '.join(regime.labels)}) on "
                                      f"{', '.join(regime.metrics)}")
    keys = [c for c in item.rows if c in ours and c in theirs]
    compared: list[tuple[float, str, str]] = []
    unreferenced: list[str] = []
    for setting, part in _settings(ours, keys):
        same = theirs
        for column, value in zip(keys, setting):
            same = same[same[column] == value]
        found = False
        for (label, metric), rows in part.groupby(["label", "metric"], sort=False):
            printed = same[(same["label"] == label) & (same["metric"] == metric)]
            if printed.empty and (label, metric) not in declared:
                continue
            found = True
            paper_value = (float(printed["mean"].iloc[0]) if not printed.empty
                           else declared[(label, metric)])
            ours_value = float(rows["mean"].mean())
            compared.append((abs(ours_value - paper_value),
                             f"{_where(setting)}{label} {metric} {ours_value:.1f}",
                             f"{paper_value:.1f}" + ("" if not printed.empty else
                                                     " (declared)")))
        if not found:
            unreferenced.append(_where(setting).strip() or item.id)
    if not compared:
        return RegimeCheck(None, note="the paper prints no reference model for "
                                      f"{', '.join(unreferenced)}", unreferenced=tuple(unreferenced))
    shown = sorted(compared, reverse=True)[:3]  # the largest gaps decide
    return RegimeCheck(shown[0][0], ", ".join(c[1] for c in shown),
                       ", ".join(c[2] for c in shown), unreferenced=tuple(unreferenced),
                       tolerance=regime.tolerance)


def _settings(frame: pd.DataFrame, keys: list[str]):
    """``(setting tuple, rows)`` per setting of ``frame`` along ``keys`` (one, keyed (), when
    there are none)."""
    if not keys:
        yield (), frame
        return
    for setting, part in frame.groupby(keys, sort=False, dropna=False):
        yield (setting if isinstance(setting, tuple) else (setting,)), part


def _where(setting: tuple) -> str:
    where = " · ".join(map(str, setting))
    return f"{where} " if where else ""


def paper_bands(report: PaperReport, book_dir: str | Path) -> pd.DataFrame:
    """Each regime gap of the paper (:attr:`Regime.gaps`) over its printed settings: one row per
    band (the ``band_by`` columns, e.g. forgetting kind and architecture) and gap, with the
    lowest and highest value over its settings and the largest propagated seed spread."""
    regime = report.regime
    theirs = reported(report.name, book_dir)
    for column, allowed in regime.select.items():
        theirs = theirs[theirs[column].isin(allowed)]
    theirs = theirs.assign(group=theirs["group"].replace(regime.kinds))
    keys = [c for c in theirs.columns if c not in ("item", "label", "metric", "mean", "std")]
    theirs = theirs.drop(columns="item").drop_duplicates(keys + ["label", "metric"])
    rows = []
    for setting, part in _settings(theirs, keys):
        where = dict(zip(keys, setting))
        means = {(r.label, r.metric): float(r.mean) for r in part.itertuples()}
        stds = {(r.label, r.metric): float(r.std) for r in part.itertuples()}
        for gap in regime.gaps:
            value = gap.value(means) if gap.applies(where.get("group")) else None
            if value is not None:
                rows.append({**{c: where.get(c) for c in regime.band_by}, "gap": gap.name,
                             "value": value, "spread": gap.spread(stds)})
    frame = pd.DataFrame(rows, columns=[*regime.band_by, "gap", "value", "spread"])
    return (frame.groupby([*regime.band_by, "gap"], sort=False, dropna=False)
            .agg(low=("value", "min"), high=("value", "max"), spread=("spread", "max"))
            .reset_index())


def band_check(data: "BookData", report: PaperReport, item: Item,
               ours: pd.DataFrame) -> RegimeCheck:
    """Each of our settings on the regime's gaps, against the band of the paper's own settings of
    the same kind (:func:`paper_bands`), widened by z·√(s² + e²): s the paper's largest
    propagated seed spread in the band, e our sampling error (the gap's binomial errors at their
    sample counts and our seed spread over √k). ``gap`` is the largest distance outside.
    ``ours``: the item's rows on every metric."""
    regime = report.regime
    ours = ours.assign(group=ours["group"].replace(regime.kinds))
    bands = paper_bands(report, data.book_dir)
    keys = [c for c in dict.fromkeys([*item.rows, *regime.band_by]) if c in ours]
    compared: list[tuple[float, str, str]] = []
    unreferenced: list[str] = []
    for setting, part in _settings(ours, keys):
        where = dict(zip(keys, setting))
        numbers = {(r["label"], r["metric"]): r for _, r in part.iterrows()}
        means = {key: float(row["mean"]) for key, row in numbers.items()}
        applicable = [gap for gap in regime.gaps if gap.applies(where.get("group"))]
        found, measured = False, not applicable  # no gap for this kind: nothing printed for it
        for gap in applicable:
            value = gap.value(means)
            band = bands[bands["gap"] == gap.name]
            for column in regime.band_by:
                band = band[band[column] == where.get(column)]
            if value is None:
                continue  # our runs did not score the models this gap reads
            measured = True
            if band.empty:
                continue
            found = True
            error = math.sqrt(sum(
                (weight * binomial_se(means[(label, metric)],
                                      regime.sample_count(numbers[(label, metric)], metric))) ** 2
                + (weight * _seed_error(numbers[(label, metric)])) ** 2
                for weight, label, metric in gap.terms))
            low, high = float(band["low"].iloc[0]), float(band["high"].iloc[0])
            width = quantile(1) * math.hypot(float(band["spread"].iloc[0]), error)
            outside = max(low - width - value, value - high - width, 0.0)
            name = _where(tuple(where[c] for c in item.rows if c in where))
            compared.append((outside, f"{name}{gap.name} {value:.1f}",
                             f"{low:.1f} to {high:.1f} ± {width:.1f}"))
        if measured and not found:
            unreferenced.append(_where(setting).strip() or item.id)
    if not compared:
        return RegimeCheck(None, note=(
            "the paper prints no reference model for " + ", ".join(unreferenced) if unreferenced
            else f"our runs of this item did not score the models its regime reads "
                 f"({'; '.join(g.name for g in regime.gaps)})"), unreferenced=tuple(unreferenced))
    shown = sorted(compared, key=lambda c: c[0], reverse=True)[:3]
    return RegimeCheck(shown[0][0], ", ".join(c[1] for c in shown),
                       ", ".join(c[2] for c in shown), unreferenced=tuple(unreferenced),
                       tolerance=0.005)  # half a unit of the papers' two printed decimals


def _seed_error(row: pd.Series) -> float:
    """The standard error of a mean over runs: std/√n (0 for one run or no std)."""
    std, runs = row.get("std"), row.get("n", 1)
    return 0.0 if pd.isna(std) or not runs or pd.isna(runs) else float(std) / math.sqrt(runs)


def null_effect(data: "BookData", report: PaperReport, item: Item, method: str) -> str:
    """A sentence when ``method`` left every forget-side metric of the regime where the original
    model had it (within the larger of its seed spread, the binomial error and half a point)
    although the paper's oracle (:attr:`PaperReport.oracle`) moved it beyond that noise and the
    method sits beyond it from the oracle's, else "". Where the oracle did not move either
    (nothing to forget beyond noise), or the method is within noise of both, an unchanged
    method is no failure: the claim's own check decides."""
    regime, oracle = report.regime, report.oracle
    if regime is None or not regime.forget_metrics:
        return ""
    ours = data.ours(report.name, item, all_metrics=True)
    keys = [c for c in item.rows if c in ours]
    sentences = []
    for setting, part in _settings(ours, keys):
        values = part.set_index(["label", "metric"])
        moved, compared = False, []
        for metric in regime.forget_metrics:
            if any((label, metric) not in values.index for label in (method, "original", oracle)):
                continue
            mine, base, target = (_first(values.loc[(label, metric)])
                                  for label in (method, "original", oracle))

            def noise(row):
                return max(0.5, float(pd.Series([row["std"], base["std"]]).fillna(0).max()),
                           binomial_se(float(base["mean"]), regime.sample_count(base, metric)))
            if abs(float(target["mean"]) - float(base["mean"])) <= noise(target):
                continue  # the oracle did not move this metric: no evidence either way
            compared.append(f"{metric} {mine['mean']:.1f} vs original {base['mean']:.1f} "
                            f"(oracle {target['mean']:.1f})")
            moved |= (abs(float(mine["mean"]) - float(base["mean"])) > noise(mine)
                      or abs(float(mine["mean"]) - float(target["mean"])) <= noise(mine))
        if compared and not moved:
            sentences.append(f"{_where(setting).strip()}: {', '.join(compared)}")
    if not sentences:
        return ""
    return (f"The method changed nothing here: its forget-side metrics equal the original "
            f"model's within noise where the oracle's differ ({'; '.join(sentences)}).")


def _first(value):
    """A row of a (label, metric)-indexed frame (the first, where the index repeats)."""
    return value.iloc[0] if isinstance(value, pd.DataFrame) else value


def noise_floor(data: "BookData", report: PaperReport, item: Item, method: str) -> float:
    """The binomial standard error, in points, of one run's accuracy on the forgotten data (the
    first of the regime's forget-side metrics the method was scored on, at the number of images
    that metric was measured on, :meth:`Regime.sample_count`; the worst case p = ½ on |D_f|
    when it has none): the least a margin must exceed to mean anything with one seed."""
    regime = report.regime
    ours = data.ours(report.name, item)
    if ours.empty or regime is None:
        return 0.0
    for metric in regime.forget_metrics:
        rows = ours[(ours["label"] == method) & (ours["metric"] == metric)]
        if not rows.empty:
            n = regime.sample_count(rows, metric)
            return max(binomial_se(float(m), n) for m in rows["mean"])
    return binomial_se(50.0, regime.sample_count(ours, ""))


@dataclass
class Verdict:
    """A claim's verdict on one item: its status on our numbers and on the paper's, the regime
    pair, and what decided it (``why``: one line for the intro's table)."""

    item: str
    claim: str
    status: str
    detail: str
    paper_check: str
    paper_status: str = ""
    regime: str = ""
    why: str = ""

    def markdown(self) -> str:
        regime = f" Regime ({self.regime})." if self.regime else ""
        return (f"**Verdict: {self.status}.** Claim: {self.claim} {self.detail}{regime} "
                f"{self.paper_check}").strip()


def paper_side(data: BookData, report: PaperReport, item: Item) -> list[SettingCheck]:
    """The claim's checks on the paper's printed numbers, calibrated with its run count (read
    once per version of the transcription: a simulation asks thousands of times)."""
    path = data.book_dir / "reported" / f"{report.name}.csv"
    version = path.stat().st_mtime_ns if path.exists() else 0
    return list(_paper_checks(report.name, item.id, str(data.book_dir), version))


@lru_cache(maxsize=256)
def _paper_checks(paper: str, item_id: str, book_dir: str, version: int
                  ) -> tuple[SettingCheck, ...]:
    report, item = find_item(item_id)
    theirs = BookData(pd.DataFrame(), {}, Path(book_dir)).paper(paper, item)
    if theirs.empty:
        return ()
    theirs = rederive(report, as_aggregate(theirs, paper))
    return tuple(calibrate(item.claim.check(theirs), report.runs))


def as_aggregate(frame: pd.DataFrame, paper: str) -> pd.DataFrame:
    """Printed (or simulated) rows with every column of our aggregate (absent ones empty)."""
    frame = frame.assign(paper=paper)
    for key in KEYS + ["seconds", "n", "n_forget"]:
        if key not in frame:
            frame[key] = "" if key == "suite" else float("nan")
    return frame


def rederive(report: PaperReport, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the paper's derived metrics (e.g. DAU's average disparity) recomputed
    from the metrics they derive from, spread included, as our side computes them: one rule
    for both sides."""
    if report.derive is None:
        return frame
    added = set(report.derive(frame).iloc[len(frame):]["metric"])
    return report.derive(frame[~frame["metric"].isin(added)].reset_index(drop=True))


def verdict(data: BookData, item_id: str) -> Verdict:
    """The item's claim checked on our numbers and on the paper's printed ones, through five
    gates: settings where the paper's own numbers fail the rule are left out (pass or fail); a
    run outside the paper's regime is not testable; a method that changed nothing does not
    replicate a forgetting claim; a margin inside the noise is uncertain; composite claims are
    atomic checks, so a claim can be partly replicated."""
    report, item = find_item(item_id)
    claim = item.claim
    if claim is None:
        raise UnlearnbookError(f"item {item_id!r} states no claim; allowed: an item with one")
    method = claim.method or report.method
    paper_checks = paper_side(data, report, item)
    paper_status = status_of(paper_checks) if paper_checks else ""
    unsupported = {c.setting for c in paper_checks if not c.holds}
    paper_check = (f"On the paper's own printed numbers the rule holds in "
                   f"{sum(c.holds for c in paper_checks)} of {len(paper_checks)} settings"
                   + (f" (not at {', '.join(sorted(unsupported))})" if unsupported else "")
                   + f"; judged by the same statistics over its {report.runs} run(s), they read "
                   f"**{paper_status}**"
                   + (": some of its own margins lie inside its own spread, so even the paper's "
                      "numbers cannot settle the claim at this confidence"
                      if paper_status == UNCERTAIN else "")
                   + "." if paper_checks else "")
    ours = data.ours(report.name, item)
    checks = claim.check(ours) if not ours.empty else []
    runs = int(ours["n"].min()) if checks else 1  # the fewest runs behind any of its numbers
    if claim.units == "points" and checks:
        checks = calibrate(checks, runs, noise_floor(data, report, item, method))
    elif checks and runs < 2:  # one run, and no sampling model for these units
        checks = [replace(c, noise=math.inf, detail=f"{c.detail}; one run, and no noise model "
                                                    f"for {claim.units}: uncertain")
                  for c in checks]
    elif checks:
        checks = calibrate(checks, runs)
    # where the paper's own numbers fail the rule, our outcome there (pass or fail) is left out
    excluded = [c for c in checks if c.setting in unsupported]
    counted = [c for c in checks if c not in excluded]
    status, detail = _summary(counted)
    if excluded:
        detail += (" Left out of the verdict, either way: "
                   + "; ".join(f"{c.setting} ({'holds' if c.holds else 'fails'} here)"
                               for c in excluded)
                   + " (the paper's own numbers do not hold the rule there).")
    regime = regime_check(data, report, item) if checks else RegimeCheck(None)
    changed_nothing = null_effect(data, report, item, method) if claim.forgetting else ""
    planned, unfinished = data.unfinished(report.name, item)
    pending = (f"The `{data.profile}` profile plans {planned} run(s) for this item; "
               f"{len(unfinished)} {'has' if len(unfinished) == 1 else 'have'} not finished in "
               f"this build yet ({', '.join(unfinished)}).")
    if checks and regime.gap is None and regime.unreferenced:
        status = NOT_TESTABLE
        detail = (f"The paper prints no reference model (of {', '.join(report.regime.labels)}) "
                  f"for {', '.join(regime.unreferenced)}, so whether our models were in its "
                  f"regime cannot be checked (our outcome would have been: "
                  f"{status_of(counted)}).")
        why = f"not testable: {regime.note}"
    elif checks and regime.outside:
        status = NOT_TESTABLE
        distance = ("were trained on far fewer images than the paper's"
                    if math.isinf(regime.gap) else
                    f"lie {regime.gap:.1f} points outside the band the paper's own settings "
                    f"and seeds span" if report.regime.gaps else
                    f"are {regime.gap:.1f} points from the paper's, beyond the "
                    f"{regime.tolerance:g}-point tolerance")
        detail = (f"Our reference models {distance}, so this scale cannot test the claim "
                  f"(our outcome would have been: {status_of(counted)}).")
        why = f"outside the regime: {regime.pair}"
    elif checks and changed_nothing:
        status, detail = NOT_REPLICATED, changed_nothing
        why = changed_nothing
    else:
        why = _why(counted, excluded)
    if unfinished:  # a verdict on the finished runs only (or on none) names the missing ones
        detail = pending if not checks else f"{detail} {pending}"
        why = why or f"{len(unfinished)} planned run(s) not finished"
    elif not checks:
        detail = item.unavailable or (f"The `{data.profile}` profile does not run the settings "
                                      "of this item.")
        why = "no run of ours in this build"
    return Verdict(item.id, claim.text, status, detail, paper_check, paper_status,
                   regime.pair if checks else "", why)


def _why(counted: list[SettingCheck], excluded: list[SettingCheck]) -> str:
    """One line naming the deciding check: the failing one with the largest shortfall, else the
    one with the smallest margin."""
    if not counted:
        return "every setting is one the paper's own numbers do not support" if excluded else ""
    failed = [c for c in counted if not c.holds]
    deciding = min(failed or counted, key=lambda c: c.effect)
    noise = (f", noise {deciding.noise_level:.2f}" if math.isfinite(deciding.noise_level)
             else ", one run") if deciding.noise_level else ""
    return (f"{deciding.setting}: {deciding.detail or 'margin'} (margin {deciding.effect:+.2f}"
            f"{noise})")


def verdict_counts(data: BookData) -> str:
    """The intro's first line: how many claims were tested and how each ended, e.g. "3 of 29
    claims tested: 1 replicated, 1 partly, 1 not, 0 uncertain; 4 outside the regime; 22 not
    run"."""
    found = [verdict(data, item.id).status for report in _PAPERS.values()
             for item in report.items if item.claim is not None]
    count = {status: found.count(status) for status in STATUSES}
    tested = sum(count[s] for s in (REPLICATED, PARTLY, NOT_REPLICATED, UNCERTAIN))
    return (f"{tested} of {len(found)} claims tested: {count[REPLICATED]} replicated, "
            f"{count[PARTLY]} partly, {count[NOT_REPLICATED]} not, {count[UNCERTAIN]} uncertain; "
            f"{count[NOT_TESTABLE]} outside the regime; {count[NOT_RUN]} not run.")


def verdict_summary(data: BookData) -> pd.DataFrame:
    """Every claim of every paper: item (as a link), claim, our verdict, the verdict on the
    paper's own numbers, and why (the deciding numbers and the regime pair)."""
    rows = []
    texts = [item.claim.text for report in _PAPERS.values() for item in report.items
             if item.claim is not None]
    for report in _PAPERS.values():
        for item in report.items:
            if item.claim is None:
                continue
            found = verdict(data, item.id)
            link = f'<a href="{item.page or report.name}.html#{item.id.lower()}">{item.id}</a>'
            shared = texts.count(item.claim.text) > 1  # say which setting the row is
            claim = f"{item.title}: {item.claim.text}" if shared else item.claim.text
            rows.append({"item": link, "claim": claim, "verdict": found.status,
                         "on the paper's numbers": found.paper_status or MISSING,
                         "why": found.why + (f" [regime: {found.regime}]" if found.regime
                                             and "outside the regime" not in found.why else "")})
    return pd.DataFrame(rows)



def regime_answer(check: RegimeCheck) -> str:
    """"In the regime?" as the verdicts' gate answers it for one :func:`regime_check`."""
    if check.gap is None:
        return (f"unknown: {check.note}" if check.unreferenced
                else f"judged by its protocol: {check.note}" if check.note else "not measured")
    if math.isinf(check.gap):
        return f"no: {check.ours}, the paper {check.theirs}"
    if check.outside:
        return f"no: {check.gap:.1f} outside (allowed {check.tolerance:g})"
    return "yes"


def regime_table(data: BookData) -> pd.DataFrame:
    """The regime gate as the verdicts apply it: per paper, each distinct comparison of our
    reference models with the paper's (:func:`regime_check`, item by item) with the claims it
    gates, our numbers, the paper's and the answer (:func:`regime_answer`); claims with no
    finished run of ours read "not run"."""
    rows: dict[tuple, dict] = {}
    for report in _PAPERS.values():
        if report.regime is None:
            continue
        for item in report.items:
            if item.claim is None:
                continue
            if data.ours(report.name, item).empty:
                check, answer = RegimeCheck(None), NOT_RUN
            else:
                check = regime_check(data, report, item)
                answer = regime_answer(check)
            key = (report.name, answer, check.ours, check.theirs)
            row = rows.setdefault(key, {
                "paper": short_name(report.name), "claims": [],
                "our reference models": check.ours or MISSING,
                "the paper's": check.theirs or MISSING, "in the regime?": answer})
            row["claims"].append(item.id)
    frame = pd.DataFrame(list(rows.values()),
                         columns=["paper", "claims", "our reference models", "the paper's",
                                  "in the regime?"])
    return frame.assign(claims=frame["claims"].map(", ".join))


# --- calibration by simulation ------------------------------------------------------------------

#: What :func:`simulate` gives "our" runs: the paper's own numbers, every method the original's,
#: the claim's method the oracle's, or the claim's method its rival's (two methods equal in
#: expectation).
KINDS = ("paper", "original", "oracle", "noise")


def simulated_frame(report: PaperReport, item: Item, kind: str) -> pd.DataFrame | None:
    """The paper's printed rows of ``item`` turned into the expected numbers of a ``kind``
    simulation, as an aggregate of ours would hold them (None: the paper prints nothing the
    kind needs, e.g. no original model)."""
    check_choice("simulation kind", kind, KINDS)
    frame = reported(report.name)
    frame = frame[frame["item"].isin(item.printed_ids)]
    if frame.empty:
        return None
    frame = frame.assign(std=frame["std"].astype(float))
    keys = [c for c in frame.columns if c not in ("item", "label", "metric", "mean", "std",
                                                    "note")]
    method = item.claim.method or report.method
    source = {"original": "original", "oracle": report.oracle,
              "noise": item.claim.rival or report.competitor}.get(kind)
    if source is not None:
        if source not in set(frame["label"]):
            return None
        replaced = frame["label"] != source if kind == "original" else frame["label"] == method
        if kind == "original":
            replaced &= ~frame["label"].isin([report.oracle, "retrain", "retrain_head"])
        on = keys + ["metric"]  # the source's number for the same setting and metric
        found = frame.loc[replaced, on].merge(frame[frame["label"] == source][on + ["mean", "std"]],
                                              how="left", on=on)
        frame.loc[replaced, ["mean", "std"]] = found[["mean", "std"]].to_numpy()
        frame = frame.dropna(subset=["mean"])
    for column, allowed in item.select.items():  # the columns our aggregate carries
        if column not in frame:
            frame[column] = allowed[0]
    return as_aggregate(frame, report.name)


def draw(expected: pd.DataFrame, runs: int, rng: np.random.Generator) -> pd.DataFrame:
    """One simulated aggregate: per row, ``runs`` values drawn from a normal law with the row's
    mean and standard deviation (none printed: exact), kept within [0, 100] for percentages
    (rows whose mean lies there), at least 0 for other non-negative quantities and unbounded
    for negative ones; their mean, standard deviation (ddof 1) and count."""
    spread = expected["std"].fillna(0.0).to_numpy()
    mean = expected["mean"].to_numpy(dtype=float)
    values = rng.normal(mean[:, None], spread[:, None], size=(len(expected), runs))
    lower = np.where(mean >= 0, 0.0, -np.inf)  # a quantity printed negative may go below 0
    upper = np.where((mean >= 0) & (mean <= 100), 100.0, np.inf)
    values = np.clip(values, lower[:, None], upper[:, None])
    return expected.assign(mean=values.mean(axis=1),
                           std=values.std(axis=1, ddof=1) if runs > 1 else float("nan"),
                           n=runs, seconds=float("nan"), n_forget=float("nan"))


def simulate(item_id: str, kind: str, draws: int = 200, runs: int | None = None,
             seed: int = 0, book_dir: str = "book") -> dict[str, float]:
    """The share of ``draws`` simulated builds whose verdict on ``item_id`` ends in each status,
    for one :data:`KINDS` of "our" numbers drawn with the paper's spread over ``runs`` runs
    (default: the paper's own run count); empty when the paper prints nothing the kind needs."""
    report, item = find_item(item_id)
    if item.claim is None:
        raise UnlearnbookError(f"item {item_id!r} states no claim; allowed: an item with one")
    if int(draws) < 1:
        raise UnlearnbookError(f"draws {draws!r} is out of range; allowed: >= 1")
    expected = simulated_frame(report, item, kind)
    if expected is None:
        return {}
    rng = np.random.default_rng(seed)
    runs = int(runs or report.runs)
    meta = {"profile": f"simulated-{kind}", "description": "", "built": "", "papers": {},
            "planned": {}}
    counts: dict[str, int] = {}
    for _ in range(int(draws)):
        frame = rederive(report, draw(expected, runs, rng))
        status = verdict(BookData(frame, meta, Path(book_dir)), item_id).status
        counts[status] = counts.get(status, 0) + 1
    return {status: counts[status] / int(draws) for status in STATUSES if status in counts}


def simulation_table(kinds: tuple[str, ...] = KINDS, draws: int = 200, book_dir: str = "book",
                     items: list[str] | None = None) -> pd.DataFrame:
    """Every claim with printed numbers (or those in ``items``) x ``kinds``: the share of draws
    in each status, beside the status of the paper's own numbers."""
    for kind in kinds:
        check_choice("simulation kind", kind, KINDS)
    known = [item.id for report in _PAPERS.values() for item in report.items
             if item.claim is not None]
    for item_id in items or ():
        check_choice("claim", item_id, known)
    rows = []
    for item_id in items or known:
        report, item = find_item(item_id)
        own = status_of(paper_side(BookData(pd.DataFrame(), {}, Path(book_dir)), report, item))
        for kind in kinds:
            shares = simulate(item_id, kind, draws, book_dir=book_dir)
            if shares and set(shares) != {NOT_RUN}:
                rows.append({"item": item_id, "kind": kind, "claim": item.claim.kind or "-",
                             "paper's own": own, **shares})
    columns = ["item", "kind", "claim", "paper's own"] + list(STATUSES)
    return pd.DataFrame(rows, columns=columns).fillna(0.0)


def format_simulations(table: pd.DataFrame, style: str = "table") -> str:
    """The simulation table as text: aligned columns, or ``tsv`` lines
    ``ITEM<TAB>KIND<TAB>status=share,...`` (statuses with a share above 0)."""
    if style == "tsv":
        return "\n".join(
            f"{row['item']}\t{row['kind']}\t" + ",".join(
                f"{status}={row[status]:.3f}" for status in STATUSES if row[status] > 0)
            for _, row in table.iterrows())
    return table.round(3).to_string(index=False)
