"""Experiment parameters: discovery from UPPERCASE constants, overrides and type checks.

Parameters are a module's UPPERCASE constants (their annotations, or else the type
of their value, are the declared types). Overrides come from `--exp-config FILE`
and `--exp-set KEY=VALUE`; values are parsed as YAML (never eval'd), within the
bounds of safeyaml (no alias bomb, no 5,000-deep list, no duplicate key), and
checked against the declared type before any run starts. A command-line value
(--exp-set, --exp-sweep) is kept as the text typed until its declared type is
known: a str parameter takes that text as given (`no` stays "no").
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
    """The bounded YAML loader (safeyaml) that also reads 1e-3 as a float (YAML 1.1 needs a dot)."""
    global _LOADER
    if _LOADER is None:
        from ..archive.safeyaml import loader_class

        class Loader(loader_class()):  # type: ignore[misc]
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


def read_value(raw: str, what: str = "the value") -> Any:
    """Read a command-line value as YAML: `1e-3` is a number, `"1e-3"` a string.

    Bounded (safeyaml.VALUE): raises safeyaml.YamlError naming `what`.
    """
    from ..archive.safeyaml import VALUE, load_bounded

    text = raw.strip()
    return load_bounded(text, what, VALUE, _loader()) if text else ""


def _split_item(option: str, item: str, example: str) -> tuple[str, str]:
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise OverrideError(
            f"{option} {_shown(item)}: expected KEY=VALUE, for example {option} {example}"
        )
    if not PARAM_NAME.match(key):
        hint = f"did you mean {key.upper()}?" if PARAM_NAME.match(key.upper()) else ""
        raise OverrideError(
            f"{option} {_shown(item)}: {_shown(key)} is not a parameter name "
            f"(parameters are UPPERCASE module constants{'; ' + hint if hint else ''})"
        )
    return key, raw


def _shown(value: Any, most: int = 80) -> str:
    """Return repr(value), cut to `most` characters: a refused value can be 10,000 long."""
    shown = repr(value)
    return shown if len(shown) <= most else shown[: most - 3] + "..."


def parse_set_items(items: typing.Iterable[str]) -> dict[str, str]:
    """Parse `KEY=VALUE` items into each key's text, read once its declared type is known."""
    parsed: dict[str, str] = {}
    for item in items:
        key, raw = _split_item("--exp-set", item, "EPOCHS=50")
        parsed[key] = _bounded_text("--exp-set", key, raw)
    return parsed


def parse_sweep_items(items: typing.Iterable[str]) -> dict[str, list[str]]:
    """Parse `NAME=v1,v2,...` items into the texts of each new sweep axis's values."""
    parsed: dict[str, list[str]] = {}
    for item in items:
        key, raw = _split_item("--exp-sweep", item, "LEARNING_RATE=1e-3,1e-4")
        values = split_values(_bounded_text("--exp-sweep", key, raw))
        if not values:
            raise OverrideError(f"--exp-sweep {_shown(item)}: no values; give them as {key}=v1,v2")
        if key in parsed:
            raise OverrideError(
                f"--exp-sweep {key}: given twice; list all values in one --exp-sweep"
            )
        repeated = [v for i, v in enumerate(values) if v in values[:i]]
        if repeated:
            raise OverrideError(
                f"--exp-sweep {_shown(item)}: {_shown(repeated[0])} is given more than once"
            )
        parsed[key] = values
    return parsed


def _bounded_text(option: str, key: str, raw: str) -> str:
    from ..archive.safeyaml import VALUE

    if len(raw) > VALUE.chars:
        raise OverrideError(
            f"{option} {key}: {len(raw):,} characters; at most {VALUE.chars:,} are read"
        )
    return raw


def split_values(raw: str) -> list[str]:
    """Split `v1,v2,...` at the commas outside quotes and brackets; each text stripped.

    YAML's flow rules: `'it''s'` and `"a\\"b"` are one quoted text each, and
    `[1, 2]` or `{a: 1}` one value.
    """
    values: list[str] = []
    start = depth = 0
    quote = ""
    i = 0
    while i < len(raw):
        char = raw[i]
        if quote:
            if quote == '"' and char == "\\":
                i += 1
            elif char == quote:
                if quote == "'" and raw[i + 1 : i + 2] == "'":
                    i += 1
                else:
                    quote = ""
        elif char in "'\"" and not raw[start:i].strip():
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            values.append(raw[start:i].strip())
            start = i + 1
        i += 1
    if raw.strip():
        values.append(raw[start:].strip())
    return values


_NULLS = ("null", "Null", "NULL", "~")


def takes_text(declared: Any) -> bool:
    """Whether a parameter of this type takes a command-line text as given (str, Path, ...)."""
    if isinstance(declared, type):
        return declared is str or issubclass(declared, PurePath)
    origin = typing.get_origin(declared)
    args = typing.get_args(declared)
    if origin is typing.Literal:
        return bool(args) and all(isinstance(a, str) for a in args)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return bool(options) and all(takes_text(a) for a in options)
    return False


def read_given(key: str, text: str, declared: Any) -> Any:
    """Read a command-line text as its declared type takes it.

    A str parameter (or Path, or Literal of strings) takes the text as given, so
    `no` stays "no" (YAML 1.1 would read a boolean); a quoted text is unquoted, and
    with Optional `null` or `~` is None. Any other type reads the text as bounded
    YAML: `1e-3` is a number, `"1e-3"` a string.
    """
    from ..archive.safeyaml import YamlError

    stripped = text.strip()
    if takes_text(declared):
        if stripped[:1] in ("'", '"'):
            try:
                unquoted = read_value(stripped, key)
            except YamlError:
                return text
            return unquoted if isinstance(unquoted, str) else text
        if stripped in _NULLS and _conforms(None, declared)[0]:
            return None
        return text
    try:
        return read_value(text, key)
    except YamlError as error:
        if error.invalid:
            raise OverrideError(
                f"{_shown(f'{key}={text}')}: the value is not valid YAML ({error.problem})"
            ) from None
        raise OverrideError(str(error)) from None


def check_given(key: str, text: str, declared: Any) -> tuple[Any, Any]:
    """Return a command-line text as read and as converted to the declared type.

    Raises OverrideError echoing what the user typed (`DECODER=no`, not `DECODER=False`).
    """
    value = read_given(key, text, declared)
    return value, check_value(key, value, declared, given=text)


def suggest(name: str, known: typing.Iterable[str]) -> str:
    """Return ' (did you mean X?)' for the closest known names, or ''."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(close) + "?)"


def check_sweep(key: str, texts: list[str], declared: Any) -> None:
    """Refuse a sweep whose texts give one value twice as the declared type (`0.1,1e-1`)."""
    seen: list[Any] = []
    for text in texts:
        value = check_given(key, text, declared)[1]
        if value in seen:
            given = _shown(f"{key}={','.join(texts)}")
            raise OverrideError(f"{given}: {_shown(value)} is given more than once")
        seen.append(value)


def check_value(name: str, value: Any, declared: Any, given: str | None = None) -> Any:
    """Return value converted to the declared type, or raise OverrideError saying why not.

    `given` is the text the user typed, echoed in the error instead of the value.
    """
    ok, converted = _conforms(value, declared)
    if not ok:
        got = type(value).__name__
        container = typing.get_origin(declared) or declared
        if isinstance(value, (list, tuple, dict)) and container in (list, tuple, set, dict):
            got = f"a {got} with an item of another type"
        elif typing.get_origin(declared) is typing.Literal:
            got = repr(value)
        shown = f"{name}={given.strip()}" if given is not None else f"{name}={value!r}"
        raise OverrideError(f"{shown}: expected {type_name(declared)}, got {got}")
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


def type_name(declared: Any) -> str:
    """A declared type as an error message names it."""
    if typing.get_origin(declared) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(declared))
    if isinstance(declared, type) and typing.get_origin(declared) is None:  # list[int] is a
        return declared.__name__  # type on Python 3.10
    return str(declared).replace("typing.", "")
