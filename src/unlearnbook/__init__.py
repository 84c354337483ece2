"""unlearnbook: reproduce DAU, SURE, AdaProb and LFSSD, one parameterised notebook per paper.

Submodules load on first use (``ub.data``, ``ub.methods``, ...), so the command line and the
grid's job processes start without importing torch."""
import importlib

from ._checks import UnlearnbookError

__version__ = "0.1.0"
_SUBMODULES = ("cost", "data", "methods", "metrics", "models", "papers", "pipeline", "plots",
               "profiles", "report", "runner", "teaching", "train")
__all__ = [*_SUBMODULES, "UnlearnbookError", "__version__"]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'unlearnbook' has no attribute {name!r}")
