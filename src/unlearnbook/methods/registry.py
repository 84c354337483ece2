"""One registry for every unlearning method: ``unlearn(name, model, task, **hp)``.

A method declares, when it registers, what it needs from a task (``needs``: ``"val"`` for a
validation set, ``"labels"`` when it reads the forget set's labels) and whether it is
``deterministic`` (then the unlearning seed cannot change its result). :func:`check_needs` tests a
task's shape against those needs before anything runs.
"""
from __future__ import annotations

import copy
import inspect
import time
from dataclasses import dataclass
from typing import Callable

from torch import nn

from .._checks import UnlearnbookError, check_choice
from ..data.tasks import Task

Method = Callable[..., nn.Module]
NEEDS = ("val", "labels")


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: its function and what it declares about itself."""

    name: str
    fn: Method
    needs: tuple[str, ...] = ("labels",)
    deterministic: bool = False

    @property
    def hyperparameters(self) -> dict[str, object]:
        params = inspect.signature(self.fn).parameters
        return {k: p.default for k, p in params.items() if p.kind is p.KEYWORD_ONLY}


_METHODS: dict[str, MethodInfo] = {}


def register(name: str, *, needs: tuple[str, ...] = ("labels",), deterministic: bool = False
             ) -> Callable[[Method], Method]:
    """Register ``fn(model, task, **hp) -> model`` under ``name`` (``model`` is a private copy)."""
    for need in needs:
        check_choice("method need", need, NEEDS)

    def wrap(fn: Method) -> Method:
        if name in _METHODS:
            raise ValueError(f"method {name!r} registered twice")
        _METHODS[name] = MethodInfo(name, fn, tuple(needs), deterministic)
        return fn
    return wrap


def available() -> list[str]:
    """Names of all registered methods, sorted."""
    return sorted(_METHODS)


def info(name: str) -> MethodInfo:
    """What method ``name`` declares: its needs, determinism and hyper-parameters."""
    check_choice("method", name, available())
    return _METHODS[name]


def hyperparameters(name: str) -> dict[str, object]:
    """Default hyper-parameters of a method (its keyword arguments)."""
    return info(name).hyperparameters


def check_hyperparameters(name: str, hp: dict) -> None:
    """Raise on a hyper-parameter that method ``name`` does not take."""
    allowed = hyperparameters(name)
    unknown = sorted(set(hp) - set(allowed))
    if unknown:
        raise UnlearnbookError(f"unknown hyper-parameter(s) {unknown} for method {name!r}; "
                               f"allowed: {sorted(allowed)}")


def check_needs(name: str, val_fraction: float) -> None:
    """Raise when a task with ``val_fraction`` (0: no validation set) cannot give method ``name``
    what it needs."""
    if "val" in info(name).needs and not val_fraction:
        raise UnlearnbookError(f"method {name!r} needs a validation set; got val_fraction="
                               f"{val_fraction!r}; allowed: val_fraction > 0")


def unlearn(name: str, model: nn.Module, task: Task, **hp) -> nn.Module:
    """Run method ``name`` on a copy of ``model``; the input model is never modified.

    The result carries ``unlearn_seconds`` (wall time; a method whose work came from the checkpoint
    cache, such as ``retrain``, reports how long that work took when it was done) and
    ``unlearn_info`` (this method's diagnostics; never an earlier method's).
    """
    method = info(name)
    check_hyperparameters(name, hp)
    if "val" in method.needs:
        check_needs(name, 1.0 if len(task.val) else 0.0)
    work = copy.deepcopy(model)
    work.unlearn_info = {}  # a copy must not carry the diagnostics of the model it came from
    work.eval()
    start = time.perf_counter()
    result = method.fn(work, task, **hp)
    elapsed = time.perf_counter() - start
    result.unlearn_info = getattr(result, "unlearn_info", {})
    result.unlearn_seconds = result.unlearn_info.get("seconds", elapsed)
    result.eval()
    return result
