"""One registry for every unlearning method: ``unlearn(name, model, task, **hp)``."""
from __future__ import annotations

import copy
import inspect
import time
from typing import Callable

from torch import nn

from .._checks import UnlearnbookError, check_choice
from ..data.tasks import Task

Method = Callable[..., nn.Module]
_METHODS: dict[str, Method] = {}


def register(name: str) -> Callable[[Method], Method]:
    """Register ``fn(model, task, **hp) -> model`` under ``name`` (``model`` is a private copy)."""
    def wrap(fn: Method) -> Method:
        if name in _METHODS:
            raise ValueError(f"method {name!r} registered twice")
        _METHODS[name] = fn
        return fn
    return wrap


def available() -> list[str]:
    """Names of all registered methods, sorted."""
    return sorted(_METHODS)


def hyperparameters(name: str) -> dict[str, object]:
    """Default hyper-parameters of a method (its keyword arguments)."""
    check_choice("method", name, available())
    params = inspect.signature(_METHODS[name]).parameters
    return {k: p.default for k, p in params.items() if p.kind is p.KEYWORD_ONLY}


def unlearn(name: str, model: nn.Module, task: Task, **hp) -> nn.Module:
    """Run method ``name`` on a copy of ``model``; the input model is never modified.

    The result carries ``unlearn_seconds`` (wall time; a method whose work came from the checkpoint
    cache, such as ``retrain``, reports how long that work took when it was done) and
    ``unlearn_info`` (method diagnostics).
    """
    check_choice("method", name, available())
    allowed = hyperparameters(name)
    unknown = sorted(set(hp) - set(allowed))
    if unknown:
        raise UnlearnbookError(f"unknown hyper-parameter(s) {unknown} for method {name!r}; "
                               f"allowed: {sorted(allowed)}")
    work = copy.deepcopy(model)
    work.eval()
    start = time.perf_counter()
    result = _METHODS[name](work, task, **hp)
    elapsed = time.perf_counter() - start
    result.unlearn_info = getattr(result, "unlearn_info", {})
    result.unlearn_seconds = result.unlearn_info.get("seconds", elapsed)
    result.eval()
    return result
