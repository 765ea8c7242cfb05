"""Reading YAML from users and archives within bounds.

A YAML text can describe far more than it holds: an alias repeats a whole
collection without repeating its text (seven levels of nine aliases make 4.8
million strings from 350 bytes), nesting is limited only by the stack, and an
integer only by memory. Every YAML we read from a user (`--exp-set`,
`--exp-config`) or an archive (config.yaml, imports) goes through
`load_bounded`, which refuses such a text with a `YamlError` naming where it
came from and the key inside it, before anything is built from it:

1. the text is no longer than `Limits.chars`;
2. libyaml composes it into a node graph (an alias is the anchored node met
   again, so nothing is expanded yet; libyaml itself stops at 1,000 levels);
3. one walk over that graph, each node visited once, finds its depth and its
   weight (nodes plus scalar characters) as if every alias were written out,
   and refuses an alias where `Limits.aliases` is off, an alias inside its own
   anchor, too deep a graph or too heavy a one;
4. the constructor refuses a key given twice in a mapping (keys merged with
   `<<` may still be overridden), a number of more than MAX_NUMBER_CHARS
   characters and an integer of more than MAX_INT_DIGITS digits.

Fast paths: a config.yaml in the subset archive/yamltext.py writes (block
mappings two deep of plain words, JSON strings, numbers, flow collections of
those) is read without PyYAML (`read_ours`); anything else, or a key given
twice or too long, or a long number, goes to the loader, which reads and
refuses alike. An alias-free text whose indents and brackets bound its depth
(`_shallow`) is not walked: its length bounds its weight.
"""

from __future__ import annotations

import math
import re
from json.decoder import scanstring as _scan  # type: ignore[attr-defined]  # C, strict
from typing import Any, NamedTuple

MAX_DEPTH = 100
MAX_INT_DIGITS = 4300  # Python's own limit for int(str) (sys.int_info.default_max_str_digits)
MAX_NUMBER_CHARS = MAX_INT_DIGITS + 100  # the text of a number, signs and underscores included
_INT_BITS = math.ceil(MAX_INT_DIGITS * math.log2(10))
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_INDENT = 20
_DEEP_START = re.compile(rf"[ \t?-]{{{_INDENT}}}")  # an indent, "- " and "? " included
_DEEP_LINE = re.compile(rf"\n[ \t?-]{{{_INDENT}}}")  # (other line breaks: no fast path)


class Limits(NamedTuple):
    """How much YAML one reading accepts."""

    chars: int  # length of the text
    weight: int  # nodes plus scalar characters, every alias expanded
    depth: int = MAX_DEPTH  # collections nested in one another
    aliases: bool = True  # whether aliases (*name) are allowed at all


VALUE = Limits(chars=10_000, weight=20_000)  # one --exp-set / --exp-sweep / filter value
CONFIG_FILE = Limits(chars=1_000_000, weight=2_000_000)  # --exp-config FILE
ARCHIVE = Limits(chars=8_000_000, weight=16_000_000, aliases=False)  # config.yaml (we write none)


class YamlError(ValueError):
    """YAML text that cannot be read or is refused (too large, deep or aliased); says where."""

    def __init__(self, message: str, problem: str = "", invalid: bool = False) -> None:
        super().__init__(message)
        self.problem = problem or message
        self.invalid = invalid  # not YAML at all, rather than refused


class _Refused(Exception):
    """Raised inside the constructor: a limit, with the mark of the node that broke it."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem, self.mark = problem, mark


_LOADER: Any = None


def loader_class() -> Any:
    """Return the bounded loader class (libyaml's parser when available), made on first use."""
    global _LOADER
    if _LOADER is None:
        import yaml

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class BoundedLoader(_Bounds, base):  # type: ignore[misc, valid-type]
            pass

        BoundedLoader.add_constructor(_INT_TAG, BoundedLoader.construct_yaml_int)
        BoundedLoader.add_constructor(_FLOAT_TAG, BoundedLoader.construct_yaml_float)
        _LOADER = BoundedLoader
    return _LOADER


class _Bounds:
    """What the bounded loader constructs differently from PyYAML's safe loader."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)  # type: ignore[call-arg]
        self._own_pairs: dict[int, list[Any]] = {}

    def flatten_mapping(self, node: Any) -> None:
        """Merge `<<` keys in, keeping the mapping's own pairs (the first list of its pairs)."""
        # PyYAML deletes the merge keys from that list in place, then makes node.value a
        # new list: merged pairs, then these. A merge elsewhere may flatten a mapping first.
        self._own_pairs.setdefault(id(node), node.value)
        super().flatten_mapping(node)  # type: ignore[misc]

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        """Build a mapping, refusing a key given twice (keys merged with `<<` may be overridden)."""
        if node.id != "mapping":
            return super().construct_mapping(node, deep)  # type: ignore[misc]
        mapping = super().construct_mapping(node, deep)  # type: ignore[misc]
        own = len(self._own_pairs.get(id(node), node.value))
        if len(mapping) < len(node.value) and own:  # merged over, or a key given twice
            seen: set[Any] = set()
            for key_node, _ in node.value[-own:]:
                key = self.construct_object(key_node, deep=deep)  # type: ignore[attr-defined]
                if key in seen:
                    raise _Refused(f"key {key!r} is given twice", key_node.start_mark)
                seen.add(key)
        return mapping

    def construct_yaml_int(self, node: Any) -> int:
        """Build an int of at most MAX_INT_DIGITS digits."""
        _check_length(node)
        try:
            value: int = super().construct_yaml_int(node)  # type: ignore[misc]
        except ValueError:  # beyond Python's limit for int(str)
            value = 1 << _INT_BITS
        if value.bit_length() > _INT_BITS:
            raise _Refused(f"an integer of more than {MAX_INT_DIGITS:,} digits", node.start_mark)
        return value

    def construct_yaml_float(self, node: Any) -> float:
        """Build a float from a text of at most MAX_NUMBER_CHARS characters."""
        _check_length(node)
        value: float = super().construct_yaml_float(node)  # type: ignore[misc]
        return value


def _check_length(node: Any) -> None:
    if len(node.value) > MAX_NUMBER_CHARS:
        problem = f"a number of {len(node.value):,} characters; at most {MAX_NUMBER_CHARS:,}"
        raise _Refused(problem, node.start_mark)


def load_bounded(text: str, what: str, limits: Limits = ARCHIVE, loader: Any = None) -> Any:
    """Return the data of one YAML document, or raise YamlError naming `what` and the key."""
    import yaml

    if len(text) > limits.chars:
        raise YamlError(f"{what}: {len(text):,} characters; at most {limits.chars:,} are read")
    if loader is None and limits.depth >= 3 and (ours := read_ours(text)) is not NOT_OURS:
        return ours  # the subset config.yaml is written in, read as the default loader reads it
    multiline = "\n" in text.rstrip("\n")
    reader: Any = None
    try:
        reader = (loader or loader_class())(text)
        node = reader.get_single_node()
        if node is None:
            return None
        if "&" in text or "*" in text or not _shallow(text, limits.depth):
            _check(node, what, limits, multiline)  # without aliases, the text bounds the weight
        return reader.construct_document(node)
    except YamlError:
        raise
    except _Refused as refused:
        line = f" (line {refused.mark.line + 1})" if multiline else ""
        raise YamlError(f"{what}: {refused.problem}{line}", refused.problem) from None
    except yaml.YAMLError as error:
        problem = _describe(error, multiline)
        if "maximum nesting depth" in problem:
            raise _too_deep(what, limits) from None
        message = f"{what}: not valid YAML ({problem})"
        raise YamlError(message, problem, invalid=True) from None
    except RecursionError:  # the pure-Python composer, without libyaml
        raise _too_deep(what, limits) from None
    except (ValueError, OverflowError) as error:  # e.g. a lone surrogate, a float of 9,000 parts
        raise YamlError(f"{what}: cannot be read ({error})", str(error)) from None
    finally:
        if reader is not None:
            reader.dispose()


def _shallow(text: str, depth: int) -> bool:
    """Whether an alias-free text surely nests at most `depth` levels (from indents and brackets).

    A block collection inside another starts further right (but for a sequence
    at its mapping's indent), so lines indented less than _INDENT (counting
    "- " and "? ") hold fewer than 2 * (_INDENT + 1) block levels; a flow
    collection needs a bracket.
    """
    return (
        text.count("[") + text.count("{") + 2 * (_INDENT + 1) <= depth
        and not ("\r" in text or "\x85" in text or "\u2028" in text or "\u2029" in text)
        and _DEEP_START.match(text) is None
        and _DEEP_LINE.search(text) is None
    )


def _too_deep(what: str, limits: Limits) -> YamlError:
    problem = f"collections nested more than {limits.depth} levels deep"
    return YamlError(f"{what}: {problem}", problem)


def _describe(error: Exception, multiline: bool) -> str:
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    return f"{problem}, line {mark.line + 1}" if mark is not None and multiline else problem


def _children(node: Any) -> list[Any]:
    if isinstance(node.value, str):
        return []
    if node.id == "mapping":
        return [item for pair in node.value for item in pair]
    return list(node.value)


def _check(root: Any, what: str, limits: Limits, multiline: bool) -> None:
    """Raise YamlError if the node graph, aliases expanded, is too deep or too heavy.

    Each node is visited once (post-order, with its weight and height kept), so
    an alias bomb costs the size of its text, not of its expansion.
    """
    done: dict[int, tuple[int, int]] = {}  # id(node): (weight, height)
    inside: set[int] = set()  # the collections on the path from the root
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        key = id(node)
        if closing:
            inside.discard(key)
            weight, height = 1, 0
            for child in _children(node):
                child_weight, child_height = done[id(child)]
                weight += child_weight
                height = max(height, child_height)
            height += 1
            if height > limits.depth:
                raise _refuse(root, node, what, _too_deep(what, limits).problem, multiline)
            if weight > limits.weight:
                problem = (
                    f"more than {limits.weight:,} nodes and characters once its aliases "
                    "are written out; write the values out in full, or fewer of them"
                )
                raise _refuse(root, node, what, problem, multiline)
            done[key] = (weight, height)
        elif key in done:
            if not limits.aliases:
                problem = "uses a YAML alias (*name), which files of the archive never hold"
                raise _refuse(root, node, what, problem, multiline)
        elif key in inside:
            raise _refuse(root, node, what, "an alias inside the collection it names", multiline)
        elif isinstance(node.value, str):
            done[key] = (1 + len(node.value), 0)
        else:
            inside.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))


def _refuse(root: Any, node: Any, what: str, problem: str, multiline: bool) -> YamlError:
    path = _path(root, node)
    where = f" at {path[:60]}{'...' if len(path) > 60 else ''}" if path else ""
    line = f" (line {node.start_mark.line + 1})" if multiline else ""
    return YamlError(f"{what}: {problem}{where}{line}", problem)


def _path(root: Any, target: Any) -> str:
    """Return where target sits below root, as `KEY[2]['name']` ('' for the root itself)."""
    stack: list[tuple[Any, str]] = [(root, "")]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        if id(node) in seen or isinstance(node.value, str):
            continue
        seen.add(id(node))
        if node.id == "mapping":
            for key, value in reversed(node.value):
                label = key.value[:40] if isinstance(key.value, str) else "?"
                inner = f"{path}[{label!r}]" if path else label
                stack.extend([(value, inner), (key, inner)])
        else:
            stack.extend(
                (child, f"{path}[{i}]") for i, child in reversed(list(enumerate(node.value)))
            )
    return ""


NOT_OURS: Any = object()
_RAW = "\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff"  # not in a line of ours
_Q = rf'"(?:[^"\\{_RAW}]|\\["\\bfnrt]|\\u(?![dD][89a-fA-F])[0-9a-fA-F]{{4}})*"'  # JSON's, ours
_STR = r"(?!(?i:yes|no|true|false|on|off|null|y|n){})[A-Za-z_][{}]*"  # else YAML 1.1 reads no str
_BLOCK, _FLOW = "A-Za-z0-9_./+=,\\-", "A-Za-z0-9_./+=\\-"
_SCALAR = (  # in groups: int, float, word, plain string, JSON string; {0} what ends it
    r"(-?(?:0|[1-9][0-9]{{0,3999}})){0}|(-?[0-9]{{1,400}}\.[0-9]{{1,400}}(?:e[-+][0-9]{{1,4}})?){0}"
    r"|(null|true|false|\.nan|\.inf|-\.inf){0}|({1}){0}|("
    + _Q.replace("{", "{{").replace("}", "}}")
    + "){0}"
)
_LINE = (  # patterns compiled on first use, by re (6 ms: a session may read no config.yaml)
    rf"(  )?(?:({_Q})|({_STR.format(':', _BLOCK)})):"
    rf"(?:$| (?:{_SCALAR.format('$', _STR.format('$', _BLOCK))}|(\[.*\]|\{{.*\}})$))"
)
_ITEM = _SCALAR.format("(?=, |$)", _STR.format("(?=, |$)", _FLOW))
_PAIR = rf"(?:({_Q})|({_STR.format(':', _FLOW)})): (?:{_ITEM})"
_SEQ = rf"(?:{_ITEM})(?:, (?:{_ITEM}))*", rf"(?:^|(?<=, )){_ITEM}"
_MAP = rf"{_PAIR}(?:, {_PAIR})*", rf"(?:^|(?<=, )){_PAIR}"
_WORDS = {"null": None, "true": True, "false": False, ".nan": math.nan, ".inf": math.inf}
_WORDS["-.inf"] = -math.inf
_OPENS: Any = object()  # a line `key:`, opening a nested mapping
_SEEN: dict[str, tuple[str, str, Any]] = {}  # short lines read before (most repeat run to run)


class _NotOurs(Exception):
    pass


def read_ours(text: str) -> Any:
    """Return the data of a text in config.yaml's subset (see the docstring), else NOT_OURS."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    top: dict[str, Any] = {}
    inner: dict[str, Any] | None = None  # the mapping `key:` opened, which nested lines fill
    try:
        for line in lines:
            nested, key, value = _SEEN.get(line) or _line(line)
            if type(value) is list or type(value) is dict:
                value = value.copy()  # of scalars only: each reader gets its own
            if nested:  # a key given twice: the bounded loader says so
                if inner is None or value is _OPENS or key in inner:
                    raise _NotOurs
                inner[key] = value
            elif (inner is not None and not inner) or key in top:  # `key:` holding nothing
                raise _NotOurs
            elif value is _OPENS:
                inner = top[key] = {}
            else:
                inner, top[key] = None, value
        if not top or (inner is not None and not inner):
            raise _NotOurs
    except _NotOurs:
        return NOT_OURS
    return top


def _line(line: str) -> tuple[str, str, Any]:
    """Read one line of the subset: (indent, key, value or _OPENS); remember it when short."""
    found = re.fullmatch(_LINE, line)
    if found is None:
        raise _NotOurs
    nested, quoted, plain, *value, flow = found.groups()
    read = (nested or "", _key(quoted, plain), _flow(flow) if flow else _value(*value))
    if len(line) < 300:
        if len(_SEEN) >= 20_000:
            _SEEN.clear()
        _SEEN[line] = read
    return read


def _key(quoted: str, plain: str) -> str:
    if len(quoted or plain) >= 1000:  # libyaml's simple keys end at 1,024 characters
        raise _NotOurs
    return _scan(quoted, 1)[0] if quoted else plain


def _value(whole: str, real: str, word: str, plain: str, quoted: str) -> Any:
    if plain or quoted:
        return plain or _scan(quoted, 1)[0]
    if whole or real:
        return int(whole) if whole else float(real)
    return _WORDS[word] if word else _OPENS


def _flow(text: str) -> Any:
    """Return a flow sequence or mapping of scalars ([a, 1], {k: v})."""
    inner = text[1:-1]
    whole, items = _SEQ if text[0] == "[" else _MAP
    if inner and re.fullmatch(whole, inner) is None:
        raise _NotOurs
    if text[0] == "[":
        return [_value(*item) for item in re.findall(items, inner)] if inner else []
    found: dict[str, Any] = {}
    for quoted, plain, *value in re.findall(items, inner) if inner else ():
        key = _key(quoted, plain)
        if key in found:
            raise _NotOurs
        found[key] = _value(*value)
    return found
