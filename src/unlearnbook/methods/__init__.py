"""Unlearning methods behind one registry: ``available()``, ``unlearn(name, model, task, **hp)``.

One method per module. Every module of this package is imported (so registered) here; a new
method is a new file, nothing else.
"""
import importlib
import pkgutil

from .registry import (MethodInfo, available, check_hyperparameters, check_needs,
                       code_fingerprint, hyperparameters, info, register, unlearn)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "registry":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["MethodInfo", "available", "check_hyperparameters", "check_needs", "code_fingerprint",
           "hyperparameters", "info", "register", "unlearn"]
