"""Class-based experiments: variants by inheritance, hooks, and where to find them.

    class TestBase:
        LEARNING_RATE = 1e-3
        def test_train(self, exp): ...

    class TestHighLR(TestBase):          # a variant: its own experiment, "HighLR.train"
        LEARNING_RATE = 1e-2

A variant records its parent experiment in config.yaml. Its parameters are the
module constants of every class in its lineage (base modules first), then the
class attributes (base classes first), so a variant in another module inherits
everything its base declares.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable
from typing import Any, TypeVar

HOOK_ATTR = "__expharness_hook__"
F = TypeVar("F", bound=Callable[..., Any])


def hook(name: str) -> Callable[[F], F]:
    """Register a module function or a method as the hook called by `exp.apply_hook(name)`."""
    if not isinstance(name, str) or not name:
        raise TypeError("@hook needs the hook's name, e.g. @hook('process_data')")

    def mark(func: F) -> F:
        setattr(func, HOOK_ATTR, name)
        return func

    return mark


def lineage(cls: type | None) -> list[type]:
    """Return a test class and its bases, base first (without object)."""
    if cls is None:
        return []
    return [klass for klass in reversed(cls.__mro__) if klass is not object]


def lineage_modules(cls: type | None, module: types.ModuleType | None) -> list[types.ModuleType]:
    """Return the modules of a class's lineage, base modules first, the test's own last."""
    found: list[types.ModuleType] = []
    for klass in lineage(cls):
        owner = sys.modules.get(klass.__module__)
        if owner is not None and owner is not module and owner not in found:
            found.append(owner)
    if module is not None:
        found.append(module)
    return found


def parent_experiment(cls: type | None, function: str) -> str | None:
    """Return the experiment a variant extends: its nearest base class with the same test."""
    if cls is None:
        return None
    short = function.removeprefix("test_") or function
    for base in cls.__mro__[1:]:
        if base is object:
            break
        if base.__name__.startswith("Test") and callable(getattr(base, function, None)):
            return f"{base.__name__.removeprefix('Test') or base.__name__}.{short}"
    return None


def is_imported_class(item: Any) -> bool:
    """Whether an item's class was imported into its module rather than defined there.

    pytest collects `from base import TestBase` again in the importing module;
    as an experiment that would run the base twice under one name.
    """
    cls = getattr(item, "cls", None)
    module = getattr(item, "module", None)
    return cls is not None and module is not None and cls.__module__ != module.__name__


class VariedImport(ValueError):
    """A module imports a test class and sets constants of its own, which the class never reads."""


def _varied_constants(item: Any) -> list[str]:
    """The constants of the class's own module that the importing module sets anew.

    Only when the importing module defines no subclass of it: a subclass is the
    way to vary a class, and reads the importing module's constants.
    """
    from .params import PARAM_NAME

    home = sys.modules.get(item.cls.__module__)
    mine = vars(item.module).values()
    subclassed = any(
        isinstance(c, type) and c is not item.cls and issubclass(c, item.cls) for c in mine
    )
    if home is None or subclassed:
        return []
    base = vars(home)
    return sorted(
        name
        for name, value in vars(item.module).items()
        if PARAM_NAME.match(name)
        and not callable(value)
        and not isinstance(value, types.ModuleType)
        and name in base
        and base[name] is not value
    )


def refuse_varied_imports(items: list[Any]) -> None:
    """Raise VariedImport for a module that imports a test class and sets its own constants.

    The class reads its own module's constants, so the new values would be
    silently unused; a class is varied by subclassing it.
    """
    for item in items:
        if "exp" not in getattr(item, "fixturenames", ()) or not is_imported_class(item):
            continue
        varied = _varied_constants(item)
        if varied:
            cls, module = item.cls, item.module
            shown = ", ".join(varied[:5]) + (" ..." if len(varied) > 5 else "")
            first = varied[0]
            raise VariedImport(
                f"{module.__name__} imports {cls.__name__} from {cls.__module__} and sets {shown}, "
                f"which {cls.__name__} never reads (it reads {cls.__module__}'s constants). "
                f"Vary a class by subclassing it: `class {cls.__name__}Variant({cls.__name__}): "
                f"{first} = {getattr(module, first)!r}` (or use module variants with test "
                "functions, see the guide's Variants and hooks)"
            )


def deselect_imported_classes(config: Any, items: list[Any]) -> None:
    """Drop experiments whose class a module only imported, when the session also collects
    it where it is defined (a base in a module that is never collected still runs)."""
    refuse_varied_imports(items)
    defined = {id(i.cls) for i in items if getattr(i, "cls", None) and not is_imported_class(i)}
    dropped = [
        i
        for i in items
        if "exp" in getattr(i, "fixturenames", ())
        and is_imported_class(i)
        and id(i.cls) in defined  # it runs where it is defined; else this is its only run
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = {id(i) for i in dropped}
        items[:] = [i for i in items if id(i) not in gone]


def find_marked(
    attribute: str, value: Any, cls: type | None, module: types.ModuleType | None
) -> tuple[Any, str, bool] | None:
    """Find the function carrying `attribute == value` (or any truthy value with None).

    Classes are searched most derived first, so a subclass overrides (also by
    redefining the method under the same name, undecorated); then the
    test's module, then the modules of its base classes. Returns the function
    (unbound for methods), where it was found, and whether it is a method.
    """

    def wanted(obj: Any) -> bool:
        obj = getattr(obj, "__func__", obj)  # staticmethod, classmethod
        found = getattr(obj, attribute, None)
        return bool(found) if value is None else bool(found == value)

    for klass in cls.__mro__ if cls is not None else ():
        for name, obj in vars(klass).items():
            if wanted(obj):
                # a subclass that overrides the method without repeating the decorator wins
                assert cls is not None
                resolved = inspect.getattr_static(cls, name)
                definer = next(k for k in cls.__mro__ if name in vars(k))
                return resolved, f"{definer.__qualname__}.{name}", True
    modules = lineage_modules(cls, module)
    for owner in [*modules[-1:], *modules[:-1][::-1]]:
        for name, obj in vars(owner).items():
            if callable(obj) and not isinstance(obj, type) and wanted(obj):
                shown = getattr(owner, "__expharness_name__", owner.__name__)
                return obj, f"{shown}.{name}", False
    return None


def declared_hooks(cls: type | None, module: types.ModuleType | None) -> dict[str, str]:
    """Return every hook name of a lineage and where the one `apply_hook` would call is found.

    The same search as `find_marked`, over all hook names: a name maps to its
    most derived class's hook, else the test module's, else a base module's.
    """
    found: dict[str, str] = {}
    for name in _hook_names(cls, module):
        hit = find_marked(HOOK_ATTR, name, cls, module)
        if hit is not None:
            found[name] = hit[1]
    return dict(sorted(found.items()))


def _hook_names(cls: type | None, module: types.ModuleType | None) -> list[str]:
    candidates = [obj for k in (cls.__mro__ if cls is not None else ()) for obj in vars(k).values()]
    for owner in lineage_modules(cls, module):  # module functions, as find_marked takes them
        candidates += [o for o in vars(owner).values() if callable(o) and not isinstance(o, type)]
    names: list[str] = []
    for obj in candidates:
        name = getattr(getattr(obj, "__func__", obj), HOOK_ATTR, None)
        if isinstance(name, str) and name not in names:
            names.append(name)
    return names


class HookNotFound(LookupError):
    """`exp.apply_hook(name)` without a default, and no class or module of the lineage has name."""


def bind(found: tuple[Any, str, bool], cls: type | None, instance: Any) -> Callable[..., Any]:
    """Return a found function ready to call: a method bound to the test's instance
    (a new one when pytest gave none, as outside a session)."""
    func, _, is_method = found
    if not is_method:
        return func  # type: ignore[no-any-return]
    if instance is None and cls is not None:
        instance = cls()
    return func.__get__(instance, type(instance))  # type: ignore[no-any-return]
