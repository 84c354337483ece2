"""Unlearning methods behind one registry: ``available()``, ``unlearn(name, model, task, **hp)``.

One method per module; importing a module registers it.
"""
from . import amnesiac, badteacher, finetune, lfssd, original, retrain, ssd  # noqa: F401
from .registry import available, hyperparameters, register, unlearn

__all__ = ["available", "hyperparameters", "register", "unlearn"]
