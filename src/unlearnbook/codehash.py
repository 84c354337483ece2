"""Fingerprints of code, as a finished run records them: a change to the code that makes a run's
numbers makes the run stale, while a comment or a docstring edit does not."""
from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap
import types
from typing import Callable, Iterable


def without_docstrings(tree: ast.AST) -> ast.AST:
    """``tree`` with the docstring of every module, class and function removed (in place)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(
                    getattr(body[0], "value", None), ast.Constant) and isinstance(
                    body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def source_tree(obj) -> str:
    """The docstring-free syntax tree of a module, class or function, dumped as text (its
    qualified name where no source is kept)."""
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        return getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    return ast.dump(without_docstrings(ast.parse(source)))


def _called(fn: types.FunctionType, package: str) -> list[types.FunctionType]:
    """The functions of ``package`` that ``fn`` names as globals (its nested code included)."""
    names, codes = set(), [fn.__code__]
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    found = []
    for name in sorted(names):
        obj = inspect.unwrap(fn.__globals__.get(name)) if name in fn.__globals__ else None
        if isinstance(obj, types.FunctionType) and obj.__module__.startswith(package):
            found.append(obj)
    return found


def function_fingerprint(functions: Iterable[Callable], package: str) -> str:
    """A hash of ``functions`` and of every function of ``package`` they call by name,
    transitively (calls through a module attribute or a registry are not followed: name those
    functions here too)."""
    todo = [inspect.unwrap(fn) for fn in functions]
    seen: dict[str, str] = {}
    while todo:
        fn = todo.pop()
        name = f"{fn.__module__}.{fn.__qualname__}"
        if name in seen:
            continue
        seen[name] = f"{fn.__qualname__}:{source_tree(fn)}"  # a moved function is the same code
        todo += _called(fn, package)
    text = "".join(tree for _, tree in sorted(seen.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
