"""Unlearning methods behind one registry: ``available()``, ``unlearn(name, model, task, **hp)``.

One method per module; importing a module registers it.
"""
from . import (amnesiac, badteacher, dau, finetune, fisher, ga, influence, lfssd,  # noqa: F401
               original, retrain, ssd)
from .registry import available, hyperparameters, register, unlearn

__all__ = ["available", "hyperparameters", "register", "unlearn"]
