"""Experiment parameters: discovery from UPPERCASE constants, overrides and type checks.

Parameters are a module's UPPERCASE constants (their annotations, or else the type
of their value, are the declared types). Overrides come from `--exp-config FILE`
and `--set KEY=VALUE`; values are parsed as YAML (never eval'd) and checked
against the declared type before any run starts.
"""

from __future__ import annotations

import difflib
import inspect
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

PARAM_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class OverrideError(ValueError):
    """An override that cannot be applied; the message says what would be right."""


@dataclass(frozen=True)
class Param:
    """One declared parameter: its default value and its declared type (None: any)."""

    value: Any
    declared: Any = None


def discover(
    namespace: dict[str, Any], annotations: dict[str, Any] | None = None
) -> dict[str, Param]:
    """Return the UPPERCASE constants of a module or class namespace as parameters."""
    hints = annotations or {}
    found: dict[str, Param] = {}
    for name, value in namespace.items():
        if not PARAM_NAME.match(name) or _is_code(value):
            continue
        declared = hints.get(name)
        if declared is None and value is not None:
            declared = (
                Path
                if isinstance(value, PurePath)
                else type(value)
                if type(value) in _INFERABLE
                else None
            )
        found[name] = Param(value, declared)
    return found


def module_params(module: types.ModuleType) -> dict[str, Param]:
    """Return (and cache on the module) the parameters a test module declares."""
    cached = module.__dict__.get("__expharness_params__")
    if cached is not None:
        return dict(cached)
    try:
        hints = typing.get_type_hints(module)
    except Exception:  # unresolvable annotations: fall back to the raw ones
        hints = dict(getattr(module, "__annotations__", {}))
    found = discover(vars(module), hints)
    module.__expharness_params__ = found  # type: ignore[attr-defined]
    return dict(found)


def _is_code(value: Any) -> bool:
    return inspect.ismodule(value) or inspect.isclass(value) or callable(value)


_INFERABLE = (bool, int, float, str, list, dict, tuple, Path)


_EXPONENT_FLOAT = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+|[-+]?(?:inf|nan))$"
)
_LOADER: Any = None


def _loader() -> Any:
    """A safe YAML loader that also reads 1e-3 as a float (YAML 1.1 needs a dot)."""
    global _LOADER
    if _LOADER is None:
        import yaml

        class Loader(yaml.SafeLoader):
            pass

        Loader.add_implicit_resolver(
            "tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789.in")
        )
        Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
        _LOADER = Loader
    return _LOADER


def _construct_float(loader: Any, node: Any) -> float:
    text = loader.construct_scalar(node).replace("_", "").lower().lstrip("+")
    if text in ("inf", "-inf", "nan"):
        return float(text)
    return float(loader.construct_yaml_float(node))


def read_value(raw: str) -> Any:
    """Read a command-line value as YAML: `1e-3` is a number, `"1e-3"` a string."""
    import yaml

    text = raw.strip()
    return yaml.load(text, Loader=_loader()) if text else ""


def _split_item(option: str, item: str, example: str) -> tuple[str, str]:
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise OverrideError(
            f"{option} {item!r}: expected KEY=VALUE, for example {option} {example}"
        )
    if not PARAM_NAME.match(key):
        hint = f"did you mean {key.upper()}?" if PARAM_NAME.match(key.upper()) else ""
        raise OverrideError(
            f"{option} {item!r}: {key!r} is not a parameter name "
            f"(parameters are UPPERCASE module constants{'; ' + hint if hint else ''})"
        )
    return key, raw


def _yaml_error(option: str, item: str, error: Exception) -> OverrideError:
    first = str(error).splitlines()[0]
    return OverrideError(f"{option} {item!r}: the value is not valid YAML ({first})")


def parse_set_items(items: typing.Iterable[str]) -> dict[str, Any]:
    """Parse `KEY=VALUE` items; each value is read as YAML."""
    import yaml

    parsed: dict[str, Any] = {}
    for item in items:
        key, raw = _split_item("--set", item, "EPOCHS=50")
        try:
            parsed[key] = read_value(raw)
        except yaml.YAMLError as error:
            raise _yaml_error("--set", item, error) from None
    return parsed


def parse_sweep_items(items: typing.Iterable[str]) -> dict[str, list[Any]]:
    """Parse `NAME=v1,v2,...` items into the values of each new sweep axis."""
    import yaml

    parsed: dict[str, list[Any]] = {}
    for item in items:
        key, raw = _split_item("--sweep", item, "LEARNING_RATE=1e-3,1e-4")
        try:
            values = read_value(f"[{raw}]") if raw.strip() else []
        except yaml.YAMLError as error:
            raise _yaml_error("--sweep", item, error) from None
        if not values:
            raise OverrideError(f"--sweep {item!r}: no values; give them as {key}=v1,v2")
        if key in parsed:
            raise OverrideError(f"--sweep {key}: given twice; list all values in one --sweep")
        repeated = [v for i, v in enumerate(values) if v in values[:i]]
        if repeated:
            raise OverrideError(f"--sweep {item!r}: {repeated[0]!r} is given more than once")
        parsed[key] = values
    return parsed


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML file of parameter overrides (a mapping of KEY: value)."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise OverrideError(f"--exp-config {path}: cannot read it ({error.strerror})") from None
    try:
        loaded = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as error:
        raise OverrideError(f"--exp-config {path}: not valid YAML ({error})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
        raise OverrideError(f"--exp-config {path}: expected a mapping of PARAMETER: value")
    bad = [k for k in loaded if not PARAM_NAME.match(k)]
    if bad:
        raise OverrideError(f"--exp-config {path}: {bad[0]!r} is not an UPPERCASE parameter name")
    return dict(loaded)


def suggest(name: str, known: typing.Iterable[str]) -> str:
    """Return ' (did you mean X?)' for the closest known names, or ''."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(close) + "?)"


def check_value(name: str, value: Any, declared: Any) -> Any:
    """Return value converted to the declared type, or raise OverrideError saying why not."""
    ok, converted = _conforms(value, declared)
    if not ok:
        got = type(value).__name__
        container = typing.get_origin(declared) or declared
        if isinstance(value, (list, tuple, dict)) and container in (list, tuple, set, dict):
            got = f"a {got} with an item of another type"
        elif typing.get_origin(declared) is typing.Literal:
            got = repr(value)
        raise OverrideError(f"{name}={value!r}: expected {_type_name(declared)}, got {got}")
    return converted


def _conforms(value: Any, declared: Any) -> tuple[bool, Any]:
    if declared is None or declared is Any or declared is object:
        return True, value
    origin = typing.get_origin(declared)
    args = typing.get_args(declared)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            ok, converted = _conforms(value, option)
            if ok:
                return True, converted
        return False, value
    if origin is typing.Literal:
        return value in args, value
    if declared is type(None):
        return value is None, value
    if declared is bool:
        return isinstance(value, bool), value
    if declared is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if declared is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        return False, value
    if isinstance(declared, type) and issubclass(declared, PurePath):
        if isinstance(value, (str, PurePath)):
            return True, declared(value)
        return False, value
    container = origin or declared
    if container in (list, tuple, set, frozenset) and isinstance(value, (list, tuple)):
        items = list(value)
        if args and container is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(items):
                return False, value
            pairs = list(zip(items, args, strict=True))
        else:
            pairs = [(item, args[0] if args else None) for item in items]
        converted = []
        for item, item_type in pairs:
            ok, item_value = _conforms(item, item_type)
            if not ok:
                return False, value
            converted.append(item_value)
        return True, container(converted)
    if container is dict and isinstance(value, dict):
        key_type, value_type = args if len(args) == 2 else (None, None)
        out = {}
        for k, v in value.items():
            ok_k, ck = _conforms(k, key_type)
            ok_v, cv = _conforms(v, value_type)
            if not (ok_k and ok_v):
                return False, value
            out[ck] = cv
        return True, out
    if isinstance(container, type):
        return isinstance(value, container), value
    return True, value


def _type_name(declared: Any) -> str:
    if typing.get_origin(declared) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(declared))
    if isinstance(declared, type):
        return declared.__name__
    return str(declared).replace("typing.", "")
