"""One registry for every unlearning method: ``unlearn(name, model, task, **hp)``.

A method declares, when it registers, what it needs from a task (``needs``: ``"val"`` for a
validation set, ``"labels"`` when it reads the forget set's labels) and whether it is
``deterministic`` (then the unlearning seed cannot change its result). :func:`check_needs` tests a
task's shape against those needs before anything runs.

Your own method joins the same pipeline and metric suites as the package's (this is how the course
assignments put a student's method in the book's tables)::

    @ub.methods.register("my_lfssd", needs=(), replace=True)  # replace: re-running the cell
    def my_lfssd(model, task, *, alpha: float = 10.0) -> nn.Module:
        return ub.methods.lfssd.lfssd(model, task, alpha=alpha, importance_fn=my_importance)

``parts``: keyword arguments of a method that take code (a loss, an importance estimator), so that
a variant can swap one piece of the method's math and keep the rest; they are not
hyper-parameters (a profile cannot set them, the tables do not list them), so a variant calls the
package's function directly, as above.
"""
from __future__ import annotations

import ast
import copy
import functools
import hashlib
import importlib
import inspect
import sys
import time
from dataclasses import dataclass
from typing import Callable

from torch import nn

from ..codehash import without_docstrings
from .._checks import (UnlearnbookError, check_choice, check_int, check_number, check_safe_name,
                       is_integer)
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
    seed_axis: str = "unlearn"
    parts: tuple[str, ...] = ()

    @property
    def hyperparameters(self) -> dict[str, object]:
        params = inspect.signature(self.fn).parameters
        return {k: p.default for k, p in params.items()
                if p.kind is p.KEYWORD_ONLY and k not in self.parts}

    @property
    def builtin(self) -> bool:
        """Whether the method is one of the package's own (those cannot be replaced)."""
        return self.fn.__module__.startswith(f"{__package__}.")


_METHODS: dict[str, MethodInfo] = {}


SEED_AXES = ("unlearn", "train")


def register(name: str, *, needs: tuple[str, ...] = ("labels",), deterministic: bool = False,
             seed_axis: str = "unlearn", parts: tuple[str, ...] = (),
             replace: bool = False) -> Callable[[Method], Method]:
    """Register ``fn(model, task, **hp) -> model`` under ``name`` (``model`` is a private copy;
    hyper-parameters are ``fn``'s keyword-only arguments, except those named in ``parts``).
    ``seed_axis``: which seed a run hands the method when its hyper-parameters set none:
    ``unlearn`` (the unlearning seed) or ``train`` (the original's training seed: the
    retrained oracles, which differ from the original only in their data). ``replace``: a
    method of your own registered before under ``name`` is replaced (a notebook cell run
    twice); the package's own methods are never replaced."""
    check_safe_name("method name", name)
    for need in needs:
        check_choice("method need", need, NEEDS)
    check_choice("seed axis", seed_axis, SEED_AXES)

    def wrap(fn: Method) -> Method:
        keywords = {k for k, p in inspect.signature(fn).parameters.items()
                    if p.kind is p.KEYWORD_ONLY}
        missing = sorted(set(parts) - keywords)
        if missing:
            raise UnlearnbookError(f"parts {missing} of method {name!r} are not keyword-only "
                                   f"arguments of {fn.__name__}; allowed: {sorted(keywords)}")
        if name in _METHODS and (not replace or _METHODS[name].builtin):
            how = ("it is one of the package's own methods; allowed: another name"
                   if _METHODS[name].builtin else "allowed: replace=True to redefine it")
            raise UnlearnbookError(f"method {name!r} is already registered; {how}")
        _METHODS[name] = MethodInfo(name, fn, tuple(needs), deterministic, seed_axis,
                                    tuple(parts))
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


#: Integer hyper-parameters that count something that must exist at least once.
POSITIVE_COUNTS = ("batch_size", "forget_batch_size", "retain_batch_size", "samples",
                   "noise_samples", "max_iter", "max_columns")


def check_hyperparameters(name: str, hp: dict) -> None:
    """Raise on a hyper-parameter that method ``name`` does not take, or whose value has the
    wrong type (judged by its default: int, float, bool, str) or range (numbers >= 0; counts
    such as batch sizes >= 1; ``decay_epochs`` / ``milestones`` within ``epochs``)."""
    allowed = hyperparameters(name)
    unknown = sorted(set(hp) - set(allowed))
    if unknown:
        raise UnlearnbookError(f"unknown hyper-parameter(s) {unknown} for method {name!r}; "
                               f"allowed: {sorted(allowed)}")
    for key, value in hp.items():
        default, where = allowed[key], f"{key} of method {name!r}"
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise UnlearnbookError(f"{where} {value!r} is not a bool; allowed: true or false")
        elif is_integer(default) and key != "seed":
            check_int(where, value, 1 if key in POSITIVE_COUNTS else 0)
        elif isinstance(default, float):
            check_number(where, value, 0.0)
        elif isinstance(default, str) and not isinstance(value, str):
            raise UnlearnbookError(f"{where} {value!r} is not a string; allowed: a name such "
                                   f"as {default!r}")
        elif key == "seed" and value is not None:
            check_int(where, value, 0)
        elif key in ("decay_epochs", "milestones") and value is not None:
            if not isinstance(value, (list, tuple)):
                raise UnlearnbookError(f"{where} {value!r} is not a list; allowed: epochs")
            for epoch in value:
                check_int(f"an epoch in {where}", epoch, 0)


def code_fingerprint(name: str) -> str:
    """A hash of the code that makes method ``name``'s numbers: its module and every module of
    this methods package it imports (directly or through another), as syntax trees without
    docstrings (a comment or a docstring edit changes nothing), plus the training code's
    version. A run records it; a change to the method's math makes the run stale."""
    fn = info(name).fn
    return hashlib.sha256("".join(_module_trees(fn.__module__)).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def _module_trees(module_name: str, seen: frozenset = frozenset()) -> tuple[str, ...]:
    """The docstring-free syntax trees of ``module_name`` and of the methods-package modules it
    imports, transitively (the registry itself excluded), in a fixed order."""
    from ..train import TRAIN_CODE_VERSION

    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):  # a method defined where no source is kept (an interpreter)
        return (module_name,)
    imported = set()
    for node in ast.walk(without_docstrings(tree)):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = module_name.rsplit(".", node.level)[0]
            target = f"{base}.{node.module}" if node.module else base
            imported.add(target)
    own = f"{__package__}"
    trees = [f"{module_name}:{ast.dump(tree)}:train{TRAIN_CODE_VERSION}"]
    for target in sorted(imported - seen - {module_name}):
        if target.startswith(own + ".") and target != f"{own}.registry":
            trees += _module_trees(target, seen | {module_name})
    return tuple(dict.fromkeys(trees))


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
    if len(task.forget) == 0:
        raise UnlearnbookError(f"the task's forget set is empty; allowed: a task with at least "
                               f"one sample to forget (method {name!r})")
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
