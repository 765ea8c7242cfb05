"""Module variants: a test module that imports another's experiments and sets its own constants.

    # test_base.py                      # test_high_lr.py
    LEARNING_RATE = 0.1                 from test_base import *
    def test_train(exp): ...            LEARNING_RATE = 0.5

pytest collects `test_train` in test_high_lr.py too (the function of
test_base). There it is an experiment of its own, `high_lr.train`: the module's
file name without `test_` (or `_test`), then the base's experiment name, as a
class variant is `HighLR.train`. Its parent is `train`, and the base module is
its parent module. Its parameters are the base module's constants, then the
variant module's (a constant set without an annotation keeps the base's
declared type). The function reads the base module's globals, so while the
variant runs its values are set in both modules, and put back after. Its
`code/` holds both modules, and its source hash covers both. The base's own
experiment is not touched.

A variant of a variant (`from test_high_lr import *`) chains: its parent
module is the module it imported the test from (found in its `from ... import`
statements), and every module of the chain is a parameter source, a copy in
`code/` and part of the hash. Class-based experiments are variants.py's
(subclass the base class instead); this module only looks at test functions.
"""

from __future__ import annotations

import ast
import inspect
import sys
import types
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

MAX_CHAIN = 16  # modules in one chain of variants, as a guard against import cycles
_CACHE = "__expharness_chains__"  # on the variant module: dies with it, never star-imported


def module_files(items: Iterable[Any]) -> Iterator[str]:
    """Yield the files of every module the experiments among items come from, once each.

    Lazily, item by item: sources.capture stores each file before the next item's
    chain is worked out (a module variant's chain reads its sources).
    """
    seen: set[str] = set()
    for item in items:
        if "exp" not in getattr(item, "fixturenames", ()):
            continue
        for module in experiment_modules(item):
            path = getattr(module, "__file__", None)
            if path and path not in seen:
                seen.add(path)
                yield path


def experiment_modules(item: Any) -> list[types.ModuleType]:
    """Return the modules an experiment's code and parameters come from: bases first, its own last.

    `item` is a collected item or a Metafunc (anything with module, cls and function).
    """
    from .variants import lineage_modules

    cls = getattr(item, "cls", None)
    module = getattr(item, "module", None)
    if cls is not None or module is None:
        return lineage_modules(cls, module)
    return [*base_modules(item), module]


def base_modules(item: Any) -> list[types.ModuleType]:
    """Return the chain of modules a module variant's test comes from, the defining one first.

    Empty for a test defined in its own module (or a method: see variants.py).
    """
    module = getattr(item, "module", None)
    function = getattr(item, "function", None)
    if getattr(item, "cls", None) is not None or module is None or function is None:
        return []
    function = getattr(function, "__func__", function)
    try:
        real = inspect.unwrap(function)  # a decorator made with functools.wraps
    except ValueError:
        real = function
    namespace = getattr(real, "__globals__", None)
    defined_in = getattr(real, "__module__", None)
    if namespace is None or namespace is vars(module) or defined_in == module.__name__:
        return []  # the common case, decided without a look at any source
    cache = vars(module).setdefault(_CACHE, {})
    found = cache.get(id(function))
    if found is None or found[0] is not function:
        found = cache[id(function)] = (function, _chain(module, function, namespace, defined_in))
    return list(found[1])


def _chain(
    module: types.ModuleType, function: Any, namespace: dict[str, Any], name: str | None
) -> list[types.ModuleType]:
    defining = _module_of(namespace, name)
    if defining is None or not _holds(defining, function):
        return []  # made by a factory elsewhere: no experiment of another module
    chain: list[types.ModuleType] = []  # nearest parent first
    current = module
    while current is not defining:
        parent = _imported_from(current, function)
        if parent is None or parent in chain or parent is module or len(chain) >= MAX_CHAIN:
            parent = defining
        chain.append(parent)
        current = parent
    return chain[::-1]


def _holds(module: types.ModuleType, function: Any) -> bool:
    return any(value is function for value in vars(module).values())


def _module_of(namespace: dict[str, Any], name: str | None) -> types.ModuleType | None:
    """The module whose globals are namespace (under its name, else any loaded module)."""
    named = sys.modules.get(name) if name else None
    if named is not None and vars(named) is namespace:
        return named
    for candidate in list(sys.modules.values()):
        if isinstance(candidate, types.ModuleType) and vars(candidate) is namespace:
            return candidate
    return None


def _imported_from(module: types.ModuleType, function: Any) -> types.ModuleType | None:
    """The module a `from ... import` of module's source brought function from (the last one)."""
    from .sources import source

    path = getattr(module, "__file__", None)
    data = source(Path(path)) if path else None
    if data is None:
        return None
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return None
    package = getattr(module, "__package__", None) or None
    found = None
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        name = "." * node.level + (node.module or "")
        try:
            from importlib.util import resolve_name

            resolved = resolve_name(name, package) if node.level else name
        except (ImportError, ValueError):
            continue
        candidate = sys.modules.get(resolved)
        if (
            candidate is not None
            and candidate is not module
            and _holds(candidate, function)
            and (found is None or node.lineno > found[0])
        ):
            found = (node.lineno, candidate)
    return found[1] if found is not None else None


def label(module: types.ModuleType) -> str:
    """A module's part of a variant's name: its file name without `test_` or `_test`."""
    path = getattr(module, "__file__", None)
    stem = Path(path).stem if path else module.__name__.rpartition(".")[2]
    return stem.removeprefix("test_").removesuffix("_test") or stem


def variant_name(item: Any, base_name: str) -> str | None:
    """Return a module variant's experiment name, or None for a test in its own module."""
    chain = base_modules(item)
    if not chain:
        return None
    return f"{label(item.module)}.{base_name}"


def parent_of(item: Any, base_name: str) -> tuple[str, str | None] | None:
    """Return a module variant's parent experiment and parent module's file (None: no variant)."""
    chain = base_modules(item)
    if not chain:
        return None
    parent = chain[-1]
    name = base_name if len(chain) == 1 else f"{label(parent)}.{base_name}"
    return name, getattr(parent, "__file__", None)


def merged_params(modules: list[types.ModuleType]) -> dict[str, Any]:
    """Return the parameters of a chain of modules, later modules winning.

    A constant a later module sets without an annotation keeps the declared type
    an earlier one gave it (a star import copies values, never annotations).
    """
    from . import params as P

    found: dict[str, P.Param] = {}
    for module in modules:
        own = getattr(module, "__annotations__", {})
        for name, param in P.module_params(module).items():
            earlier = found.get(name)
            if earlier is not None and name not in own and earlier.declared is not None:
                param = P.Param(param.value, earlier.declared)
            found[name] = param
    return found
