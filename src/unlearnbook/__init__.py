"""unlearnbook: reproduce DAU, SURE, AdaProb and LFSSD, one parameterised notebook per paper."""
from . import data, methods, metrics, models, pipeline, plots, profiles, report, train
from ._checks import UnlearnbookError

__version__ = "0.1.0"
__all__ = ["data", "methods", "metrics", "models", "pipeline", "plots", "profiles", "report", "train", "UnlearnbookError", "__version__"]
