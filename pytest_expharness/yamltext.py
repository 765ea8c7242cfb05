"""Writing config.yaml quickly: simple entries directly, the rest through PyYAML.

PyYAML represents data in pure Python (about a millisecond for a run's header),
and most entries of a config are a name and a number or a plain word. Those are
written directly: a string is written plain only when it starts with a letter,
holds nothing YAML reads specially and is no YAML 1.1 boolean or null word;
otherwise it is written as a JSON string, which YAML reads back unchanged.
Lists, mappings and anything else go through PyYAML. The session's provenance
block is the same for every run, so it is rendered once.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./+=,\-]*")
_SPECIAL = {"yes", "no", "true", "false", "on", "off", "null", "y", "n"}


def dump(data: Any) -> str:
    """Return data as block-style YAML through PyYAML, keys in their given order."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100)


def load(text: str) -> Any:
    """Read YAML text (safe loader, C-accelerated when available)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


def scalar(value: Any, in_flow: bool = False) -> str | None:
    """Return the YAML text of a simple value, or None when PyYAML must write it.

    Inside a flow collection ([...], {...}) a comma ends a plain scalar, so a
    string holding one is quoted there.
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "." not in text and "e" in text:  # YAML 1.1 reads 1e+300 as a string
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    if type(value) is str:
        plain = _PLAIN.fullmatch(value) and value.lower() not in _SPECIAL
        if plain and not (in_flow and "," in value):
            return value
        return json.dumps(value, ensure_ascii=False)
    return None


def flow(value: Any) -> str | None:
    """Return a scalar, or a list or mapping of scalars in flow style; None otherwise."""
    text = scalar(value)
    if text is not None:
        return text
    if isinstance(value, (list, tuple)):
        items = [scalar(item, in_flow=True) for item in value]
        return "[" + ", ".join(items) + "]" if None not in items else None  # type: ignore[arg-type]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        pairs = [(scalar(k, in_flow=True), scalar(v, in_flow=True)) for k, v in value.items()]
        if all(k is not None and v is not None for k, v in pairs):
            return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    return None


def entries(mapping: dict[str, Any], indent: str = "") -> str:
    """Return the entries of a mapping as block YAML lines with the given indent."""
    out: list[str] = []
    for key, value in mapping.items():
        text = flow(value)
        name = scalar(key) if isinstance(key, str) else None
        if text is None or name is None:
            out.extend(indent + line + "\n" for line in dump({key: value}).splitlines())
        else:
            out.append(f"{indent}{name}: {text}\n")
    return "".join(out)


_CONSTANT: dict[int, tuple[dict[str, Any], str]] = {}


def config_text(config: dict[str, Any], constant: dict[str, Any]) -> str:
    """Return config.yaml: the experiment header (with `constant` rendered once) and parameters."""
    cached = _CONSTANT.get(id(constant))
    if cached is None or cached[0] is not constant:
        cached = _CONSTANT[id(constant)] = (constant, entries(constant, "  "))
    header = config["experiment"]
    keys = list(header)
    first = keys.index(next(iter(constant))) if constant else len(keys)
    before = {k: header[k] for k in keys[:first] if k not in constant}
    after = {k: header[k] for k in keys[first:] if k not in constant}
    parameters = config["parameters"]
    return (
        "experiment:\n"
        + entries(before, "  ")
        + cached[1]
        + entries(after, "  ")
        + ("parameters:\n" + entries(parameters, "  ") if parameters else "parameters: {}\n")
    )
