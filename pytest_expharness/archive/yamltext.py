"""Writing config.yaml quickly, and only what reads back; reading it within bounds.

PyYAML represents data in pure Python (about a millisecond for a run's header),
and most entries of a config are a name and a number or a plain word. Those are
written directly: a string is written plain only when it starts with a letter,
holds nothing YAML reads specially and is no YAML 1.1 boolean or null word;
otherwise it is written as a JSON string, which YAML reads back unchanged once
the characters YAML may not hold raw (DEL, C1 controls, line and paragraph
separators, BOM, U+FFFE/FFFF) are escaped as \\uXXXX. Lists, mappings and
anything else go through PyYAML, which never writes an alias here. The
session's provenance block is the same for every run, so it is rendered once.

What YAML cannot hold at all is written as a documented substitute (see
`writable`), never as a file no reader accepts: a string with a lone surrogate
(which UTF-8 cannot encode, nor libyaml read as an escape) as its repr, an int
beyond the readers' digit limit and a collection nested deeper than they read
as a note in angle brackets. `config_text` lists each substitute in `notes`
(report.write_config puts them in run.log) and, should the text pass
CONFIG_CHARS, writes the largest entries as a note of their size instead.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .safeyaml import ARCHIVE, MAX_DEPTH, MAX_INT_DIGITS, YamlError, load_bounded

__all__ = ["CONFIG_CHARS", "YamlError", "config_text", "dump", "entries", "load", "writable"]

CONFIG_CHARS = ARCHIVE.chars // 2  # room for a rewrite in PyYAML's roomier block style
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./+=,\-]*")
_SPECIAL = {"yes", "no", "true", "false", "on", "off", "null", "y", "n"}
_ESCAPE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")
_SAFE_BITS = int((MAX_INT_DIGITS - 1) * math.log2(10))  # every int this long has few digits


def dump(data: Any) -> str:
    """Return data as block-style YAML through PyYAML, keys in their given order, no aliases.

    Raises YamlError rather than return a text longer than the readers accept.
    """
    import yaml

    text = yaml.dump(
        writable(data), Dumper=_dumper(), sort_keys=False, allow_unicode=True, width=100
    )
    if len(text) > ARCHIVE.chars:
        raise YamlError(
            f"YAML of {len(text):,} characters: more than the {ARCHIVE.chars:,} readers accept"
        )
    return text


_DUMPER: Any = None


def _dumper() -> Any:
    global _DUMPER
    if _DUMPER is None:
        import yaml

        class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
            def ignore_aliases(self, data: Any) -> bool:
                return True  # a value met twice is written twice: readers refuse aliases

        def represent_str(dumper: Any, data: str) -> Any:
            # libyaml writes a line separator raw in single quotes, where a key reads it back
            # as a space: a string with a control or break character goes in double quotes
            style = '"' if _CONTROL.search(data) else None
            return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

        Dumper.add_representer(str, represent_str)
        _DUMPER = Dumper
    return _DUMPER


def load(text: str, what: str = "YAML text") -> Any:
    """Read YAML text from an archive (safe, C-accelerated, bounded: see safeyaml).

    Raises YamlError (a ValueError) naming `what` for text that is not YAML or
    is refused: an alias, nesting over 100 levels, a duplicate key, a huge number.
    """
    return load_bounded(text, what, ARCHIVE)


def writable(
    value: Any, levels: int = MAX_DEPTH, where: str = "value", notes: list[str] | None = None
) -> Any:
    """Return value with its substitutes for what YAML cannot hold (see the module docstring).

    `levels` is how many collections may still nest; each substitute is listed
    in `notes`, naming `where`. Tuples become lists. Returns value itself when
    nothing needs changing.
    """
    kind = type(value)
    if kind is str:
        if _SURROGATE.search(value) is None:
            return value
        return _substitute(repr(value), where, "holds a lone surrogate", "its repr", notes)
    if kind is int:
        if value.bit_length() <= _SAFE_BITS or _int_text(value) is not None:
            return value
        digits = f"about {int(value.bit_length() * math.log10(2)):,} digits"
        return _substitute(f"<int of {digits}>", where, f"is an int of {digits}", "", notes)
    if kind in (list, tuple, dict):
        if levels <= 0:
            try:
                text = repr(value)
            except RecursionError:
                text = f"<{kind.__name__} nested too deep to write>"
            why = f"nests collections more than {MAX_DEPTH} levels deep"
            return _substitute(text, where, why, "its repr", notes)
        if kind is dict:
            out = {
                writable(k, 0, f"{where} key {k!r}", notes): writable(
                    v, levels - 1, f"{where}[{k!r}]", notes
                )
                for k, v in value.items()
            }
            same = len(out) == len(value) and all(
                a is b and out[a] is value[b] for a, b in zip(out, value, strict=True)
            )
            return value if same else out
        items = [writable(v, levels - 1, f"{where}[{i}]", notes) for i, v in enumerate(value)]
        if kind is list and all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items
    return value


def _int_text(value: int) -> str | None:
    try:
        text = str(value)
    except ValueError:  # beyond Python's limit for str(int)
        return None
    return text if len(text.lstrip("-")) <= MAX_INT_DIGITS else None


def _substitute(text: str, where: str, why: str, what: str, notes: list[str] | None) -> str:
    if notes is not None:
        notes.append(f"config.yaml: {where} {why}; written as {what or repr(text)}")
    return text


def scalar(value: Any, in_flow: bool = False) -> str | None:
    """Return the YAML text of a simple value, or None when PyYAML must write it.

    Inside a flow collection ([...], {...}) a comma ends a plain scalar, so a
    string holding one is quoted there. A string with a lone surrogate is
    written as its repr (see `writable`).
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value) if value.bit_length() <= _SAFE_BITS else _int_text(value)
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
        if _SURROGATE.search(value):
            value = repr(value)
        text = json.dumps(value, ensure_ascii=False)
        return _ESCAPE.sub(_escape, text) if _ESCAPE.search(text) else text
    return None


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def flow(value: Any) -> str | None:
    """Return a scalar, or a list or mapping of scalars in flow style; None otherwise."""
    text = scalar(value)
    if text is not None:
        return text
    if isinstance(value, (list, tuple)):
        items = [scalar(item, in_flow=True) for item in value]
        return "[" + ", ".join(items) + "]" if None not in items else None  # type: ignore[arg-type]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        pairs = [(_key(k, in_flow=True), scalar(v, in_flow=True)) for k, v in value.items()]
        if all(k is not None and v is not None for k, v in pairs):
            return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    return None


def _key(key: Any, in_flow: bool = False) -> str | None:
    """Return the text of a key YAML reads as a simple key (under 1,024 characters), or None."""
    text = scalar(key, in_flow) if isinstance(key, str) else None
    return text if text is not None and len(text) < 1000 else None


def entries(mapping: dict[str, Any], indent: str = "") -> str:
    """Return the entries of a mapping as block YAML lines with the given indent."""
    out: list[str] = []
    for key, value in mapping.items():
        text = flow(value)
        name = _key(key)
        if text is None or name is None:
            out.extend(indent + line + "\n" for line in dump({key: value}).splitlines())
        else:
            out.append(f"{indent}{name}: {text}\n")
    return "".join(out)


_CONSTANT: dict[int, tuple[dict[str, Any], str, list[str]]] = {}


def config_text(
    config: dict[str, Any], constant: dict[str, Any], notes: list[str] | None = None
) -> str:
    """Return config.yaml: the experiment header (with `constant` rendered once) and parameters.

    Values YAML cannot hold are written as their substitutes, each listed in
    `notes` (see `writable`); so are the largest entries if the text would pass
    CONFIG_CHARS.
    """
    cached = _CONSTANT.get(id(constant))
    if cached is None or cached[0] is not constant:
        found: list[str] = []
        held = _writable_entries(constant, "experiment", found)
        cached = _CONSTANT[id(constant)] = (constant, entries(held, "  "), found)
    found = list(cached[2])
    header = config["experiment"]
    keys = list(header)
    first = keys.index(next(iter(constant))) if constant else len(keys)
    before = {k: header[k] for k in keys[:first] if k not in constant}
    after = {k: header[k] for k in keys[first:] if k not in constant}
    sections = (
        _writable_entries(before, "experiment", found),
        _writable_entries(after, "experiment", found),
        _writable_entries(config["parameters"], "parameters", found),
    )
    text = _render(sections, cached[1])
    if len(text) > CONFIG_CHARS:
        text = _fit(sections, cached[1], len(text), found)
    if notes is not None:
        notes.extend(found)
    return text


def _writable_entries(mapping: dict[str, Any], section: str, notes: list[str]) -> dict[str, Any]:
    levels = MAX_DEPTH - 2  # config.yaml, then its section, hold each entry
    return {
        writable(k, 0, f"{section} key {k!r}", notes): writable(
            v, levels, _where(section, k), notes
        )
        for k, v in mapping.items()
    }


def _where(section: str, key: Any) -> str:
    return (
        f"{section}.{key}" if isinstance(key, str) and key.isidentifier() else f"{section}[{key!r}]"
    )


def _render(sections: tuple[dict[str, Any], ...], constant_text: str) -> str:
    before, after, parameters = sections
    header = entries(before, "  ") + constant_text + entries(after, "  ")
    params = entries(parameters, "  ")
    head = "experiment:\n" + header if header else "experiment: {}\n"
    return head + ("parameters:\n" + params if params else "parameters: {}\n")


def _fit(
    sections: tuple[dict[str, Any], ...], constant_text: str, length: int, notes: list[str]
) -> str:
    """Write the largest entries as a note of their size until the text fits CONFIG_CHARS."""
    names = ("experiment", "experiment", "parameters")
    sized = sorted(
        (
            (len(entries({k: v})), i, k)
            for i, section in enumerate(sections)
            for k, v in section.items()
        ),
        reverse=True,
    )
    for size, index, key in sized:
        if length <= CONFIG_CHARS:
            break
        note = f"<{size:,} characters of YAML: too large for config.yaml>"
        sections[index][key] = note
        length -= size - len(entries({key: note}))
        notes.append(
            f"config.yaml: {names[index]}.{key} takes {size:,} characters; "
            f"written as {note!r} (config.yaml holds at most {CONFIG_CHARS:,})"
        )
    return _render(sections, constant_text)
