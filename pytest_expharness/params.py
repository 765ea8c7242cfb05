"""Experiment parameters: discovery from UPPERCASE constants, overrides and type checks.

Parameters are a module's UPPERCASE constants (their annotations, or else the type
of their value, are the declared types). Overrides come from `--exp-config FILE`
and `--exp-set KEY=VALUE`; values are parsed as YAML (never eval'd), within the
bounds of safeyaml (no alias bomb, no 5,000-deep list, no duplicate key), and
checked against the declared type before any run starts.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
import stat
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
        from .safeyaml import loader_class

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
    from .safeyaml import VALUE, load_bounded

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


def _read_item(option: str, item: str, key: str, raw: str) -> Any:
    """Read one value of an option; an error names the option and the key."""
    from .safeyaml import YamlError

    try:
        return read_value(raw, f"{option} {key}")
    except YamlError as error:
        if error.invalid:
            raise OverrideError(
                f"{option} {_shown(item)}: the value is not valid YAML ({error.problem})"
            ) from None
        raise OverrideError(str(error)) from None


def parse_set_items(items: typing.Iterable[str]) -> dict[str, Any]:
    """Parse `KEY=VALUE` items; each value is read as bounded YAML."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, raw = _split_item("--exp-set", item, "EPOCHS=50")
        parsed[key] = _read_item("--exp-set", item, key, raw)
    return parsed


def parse_sweep_items(items: typing.Iterable[str]) -> dict[str, list[Any]]:
    """Parse `NAME=v1,v2,...` items into the values of each new sweep axis."""
    parsed: dict[str, list[Any]] = {}
    for item in items:
        key, raw = _split_item("--exp-sweep", item, "LEARNING_RATE=1e-3,1e-4")
        values = _read_item("--exp-sweep", item, key, f"[{raw}]") if raw.strip() else []
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


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML file of parameter overrides (a mapping of KEY: value), within bounds."""
    from .safeyaml import CONFIG_FILE, YamlError, load_bounded

    what = f"--exp-config {path}"
    try:
        loaded = load_bounded(_config_text(path, what), what, CONFIG_FILE, _loader())
    except YamlError as error:
        raise OverrideError(str(error)) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
        raise OverrideError(f"{what}: expected a mapping of PARAMETER: value")
    bad = [k for k in loaded if not PARAM_NAME.match(k)]
    if bad:
        raise OverrideError(f"{what}: {_shown(bad[0])} is not an UPPERCASE parameter name")
    return dict(loaded)


def _config_text(path: str | Path, what: str) -> str:
    """Return the text of a config file: a regular file of UTF-8 text, within the size limit.

    The file is checked with stat before it is opened, and opened without
    blocking: opening a FIFO for reading would wait for a writer forever.
    """
    from .safeyaml import CONFIG_FILE

    limit = CONFIG_FILE.chars
    data = b""
    try:
        info = os.stat(path)
        if stat.S_ISREG(info.st_mode) and info.st_size <= limit:
            flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
            with os.fdopen(os.open(path, flags), "rb") as file:
                info = os.fstat(file.fileno())  # the file opened, should it have been replaced
                data = file.read(limit + 1) if stat.S_ISREG(info.st_mode) else b""
    except OSError as error:
        raise OverrideError(f"{what}: cannot read it ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise OverrideError(
            f"{what}: is {_kind(info.st_mode)}, not a regular file; "
            "give a YAML file of PARAMETER: value lines"
        )
    if info.st_size > limit or len(data) > limit:
        size = max(info.st_size, len(data))
        raise OverrideError(f"{what}: {size:,} bytes; a config file holds at most {limit:,}")
    if b"\x00" in data:
        utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
        hint = "; it looks like UTF-16: save it as UTF-8" if utf16 else ""
        raise OverrideError(f"{what}: holds NUL bytes, so it is binary, not YAML text{hint}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise OverrideError(
            f"{what}: not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}); "
            "save it as UTF-8"
        ) from None


def _kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a regular file")


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
    if isinstance(declared, type) and typing.get_origin(declared) is None:  # list[int] is a
        return declared.__name__  # type on Python 3.10
    return str(declared).replace("typing.", "")
