"""The papers this package reproduces: one report module each (``report/<name>.py``, beside its
notebook and its profile section). The names are read from the report package's files without
importing it, so the profiles, the runner and the report all stand on this module and none of
them imports another for the list."""
from __future__ import annotations

import importlib.util
import pkgutil

#: the report package's modules that are not papers
NOT_PAPERS = ("core", "verdicts")
_ADDED: list[str] = []


def names() -> list[str]:
    """Every paper: the report package's paper modules (by name), then those added at run time
    (:func:`add`)."""
    spec = importlib.util.find_spec("unlearnbook.report")
    found = sorted(module.name for module in pkgutil.iter_modules(spec.submodule_search_locations)
                   if module.name not in NOT_PAPERS and not module.name.startswith("_"))
    return found + [name for name in _ADDED if name not in found]


def add(name: str) -> None:
    """Make a paper registered at run time (a report module outside the package) known."""
    if name not in _ADDED and name not in names():
        _ADDED.append(name)
