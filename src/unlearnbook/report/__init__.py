"""The book's report layer: one module per paper declares its items and claims; the generic core
renders them and ``verdicts`` judges them. Every other module of this package is a paper and is
imported here, so a new paper is a new file, nothing else."""
import importlib
import pkgutil

from .core import (BookData, Claim, Gap, Item, PaperReport, Regime, SettingCheck, aggregate,
                   collect, cost_frame, coverage_note, figure, find_item, html_table,
                   originals_table, paper_report, papers, prepare_book, profile_note,
                   register_paper, reported, scale_note, show, stacked, table, table_frame)
from .verdicts import (Verdict, regime_table, simulate, verdict, verdict_counts,
                       verdict_summary)

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _module.name not in ("core", "verdicts"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["BookData", "Claim", "Gap", "Item", "PaperReport", "Regime", "SettingCheck", "Verdict",
           "aggregate", "collect", "cost_frame", "coverage_note", "figure", "find_item",
           "html_table", "originals_table", "paper_report", "papers", "prepare_book",
           "profile_note", "regime_table", "register_paper", "reported", "scale_note", "show",
           "simulate", "stacked", "table", "table_frame", "verdict", "verdict_counts",
           "verdict_summary"]
