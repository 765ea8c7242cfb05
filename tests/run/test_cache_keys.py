"""Cache keys: the same arguments give the same key in every process, whatever its hash seed."""

from __future__ import annotations

import dataclasses
import math
import pickle
import subprocess
import sys
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_expharness.run.cache import CacheError, argument_key

from conftest import Archive

# a session per hash seed

SEEDED = """
    import json
    import pathlib

    import numpy as np

    CALLS = pathlib.Path(__file__).parent / "calls.txt"
    WORDS = {f"word{i}" for i in range(12)}

    def test_cached(exp):
        @exp.cache.cached("vocab", scope="dataset")
        def vocabulary(words, options, weights):
            with open(CALLS, "a") as f:
                f.write("computed\\n")
            return sorted(words)

        options = {"stop": frozenset({"a", "the", "of", "in"}), "min": 2}
        got = vocabulary(WORDS, options, weights=np.arange(6.0).reshape(2, 3))
        assert got == sorted(WORDS)
        exp["results/order"] = json.dumps(list(WORDS))  # what pickling a set would see
"""


@pytest.mark.slow
def test_cache_hits_across_hash_seeds(
    pytester: pytest.Pytester, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three sessions, three hash seeds: the second and third hit what the first stored."""
    pytester.makepyfile(test_exp=SEEDED)
    folders = []
    for seed in ("1", "2", "3"):
        monkeypatch.setenv("PYTHONHASHSEED", seed)
        before = set(archive.runs())
        pytester.runpytest_subprocess("-p", "no:xdist").assert_outcomes(passed=1)
        (folder,) = set(archive.runs()) - before
        folders.append(folder)
    orders = {archive.data(f)["results"]["order"] for f in folders}
    assert len(orders) == 3, "each seed iterates the set in its own order"
    assert (pytester.path / "calls.txt").read_text().split() == ["computed"]
    caches = [archive.summary(f)["cache"] for f in folders]
    assert caches[0] == {"enabled": True, "hits": [], "misses": ["vocab"]}
    assert caches[1:] == [{"enabled": True, "hits": ["vocab"], "misses": []}] * 2
    assert len(list((archive.root / ".cache" / "dataset").glob("vocab-*.pkl"))) == 1


def key_under_seed(seed: str, expression: str) -> str:
    """The key of `argument_key(<expression>)` in a fresh interpreter with this hash seed."""
    code = (
        f"from pytest_expharness.run.cache import argument_key\nprint(argument_key(*{expression}))"
    )
    env = {"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


def test_keys_of_sets_and_dicts_agree_across_hash_seeds() -> None:
    expression = "(({'x', 'y', 'zz', 'w', 'v'}, {frozenset({'a', 'b'}): 'c'}), {'k': {'p', 'q'}})"
    keys = {key_under_seed(seed, expression) for seed in ("0", "1", "2")}
    assert len(keys) == 1


# properties

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text()
    | st.binary()
    | st.complex_numbers()
)
hashable = st.recursive(
    scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=4), max_leaves=8
)
values = st.recursive(
    hashable,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner)
        | st.dictionaries(hashable, inner, max_size=4)
        | st.sets(hashable, max_size=4)
    ),
    max_leaves=16,
)


def shuffled(value: Any, turn: int) -> Any:
    """An equal copy of value built anew, every set and dict filled in another order."""
    if isinstance(value, list):
        return [shuffled(v, turn) for v in value]
    if isinstance(value, tuple):
        return tuple(shuffled(v, turn) for v in value)
    if isinstance(value, dict):
        items = list(value.items())
        items = items[turn % len(items) :] + items[: turn % len(items)] if items else items
        return {shuffled(k, turn): shuffled(v, turn) for k, v in reversed(items)}
    if isinstance(value, (set, frozenset)):
        members = [shuffled(v, turn) for v in value]
        members = list(reversed(members)) if turn % 2 else members
        return type(value)(members)
    return pickle.loads(pickle.dumps(value))


@given(values, st.integers(0, 7))
def test_equal_values_give_equal_keys(value: Any, turn: int) -> None:
    copy = shuffled(value, turn)
    assert argument_key((copy,), {}) == argument_key((value,), {})


@given(st.lists(st.text(), max_size=12), st.randoms(use_true_random=False))
def test_sets_and_dicts_in_any_insertion_order_give_one_key(words: list[str], rng: Any) -> None:
    other = list(words)
    rng.shuffle(other)
    assert argument_key((set(words),), {}) == argument_key((set(other),), {})
    assert argument_key((frozenset(words),), {}) == argument_key((frozenset(other),), {})
    forward = {w: len(w) for w in words}
    backward = {w: len(w) for w in other}
    assert argument_key((), {"d": forward}) == argument_key((), {"d": backward})


def same(a: Any, b: Any) -> bool:
    """Equal and of one type, with NaN equal to itself and 0.0 apart from -0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.copysign(1, a) == math.copysign(1, b) and (a == b or (a != a and b != b))
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    return bool(a == b)


@given(scalars, scalars)
def test_different_simple_values_give_different_keys(a: Any, b: Any) -> None:
    if not same(a, b):
        assert argument_key((a,), {}) != argument_key((b,), {})


@given(st.lists(scalars, max_size=4), st.lists(scalars, max_size=4))
def test_different_lists_give_different_keys(a: list[Any], b: list[Any]) -> None:
    if len(a) != len(b) or not all(same(x, y) for x, y in zip(a, b, strict=True)):
        assert argument_key((a,), {}) != argument_key((b,), {})


def test_positions_types_and_names_tell_arguments_apart() -> None:
    keys = [
        argument_key((1, 2), {}),
        argument_key((2, 1), {}),
        argument_key(((1, 2),), {}),
        argument_key(([1, 2],), {}),
        argument_key((1,), {"b": 2}),
        argument_key((1,), {"c": 2}),
        argument_key((1.0, 2), {}),
        argument_key((True, 2), {}),
        argument_key(("1", 2), {}),
        argument_key((b"1", 2), {}),
        argument_key(({1, 2},), {}),
        argument_key((frozenset({1, 2}),), {}),
        argument_key(({1: 2},), {}),
    ]
    assert len(set(keys)) == len(keys)
    assert argument_key((), {"a": 1, "b": 2}) == argument_key((), {"b": 2, "a": 1})


# arrays and other objects


def test_arrays_keyed_by_dtype_shape_and_contents() -> None:
    a = np.arange(12, dtype=np.float64)
    keys = {
        argument_key((a,), {}),
        argument_key((a.reshape(3, 4),), {}),
        argument_key((a.astype(np.float32),), {}),
        argument_key((a + 1,), {}),
        argument_key((a.astype(np.int64),), {}),
    }
    assert len(keys) == 5
    assert argument_key((a.reshape(3, 4).T,), {}) == argument_key(
        (np.ascontiguousarray(a.reshape(3, 4).T),), {}
    ), "a transposed view keys by its values, not its memory layout"
    assert argument_key((np.float64(2.5),), {}) == argument_key((np.array(2.5),), {})
    stamps = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]")
    assert argument_key((stamps,), {}) != argument_key((stamps.astype("datetime64[s]"),), {})
    records = np.zeros(2, dtype=[("x", "f8"), ("y", "i4")])
    renamed = np.zeros(2, dtype=[("u", "f8"), ("y", "i4")])
    assert argument_key((records,), {}) != argument_key((renamed,), {})
    objects = np.array([{"b", "a"}, 3], dtype=object)
    assert argument_key((objects,), {}) == argument_key(
        (np.array([{"a", "b"}, 3], dtype=object),), {}
    )


def test_a_large_array_is_hashed_without_a_copy() -> None:
    big = np.zeros(50_000_000 // 8)  # 50 MB
    big[-1] = 1.0
    key = argument_key((big,), {})
    big[-1] = 2.0
    assert argument_key((big,), {}) != key, "the last byte counts"
    import tracemalloc

    tracemalloc.start()
    argument_key((big,), {"also": big[::2]})  # a strided view is copied, once
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 30_000_000, f"peak {peak / 1e6:.1f} MB while hashing a 50 MB array"


@dataclasses.dataclass(frozen=True)
class Settings:
    words: frozenset[str]
    size: int = 3


class Pair(NamedTuple):
    left: set[str]
    right: int


def test_dataclasses_and_namedtuples_keyed_by_class_and_fields() -> None:
    words = [f"w{i}" for i in range(9)]
    forward, backward = frozenset(words), frozenset(reversed(words))
    assert argument_key((Settings(forward),), {}) == argument_key((Settings(backward),), {})
    assert argument_key((Settings(forward),), {}) != argument_key((Settings(forward, 4),), {})
    assert argument_key((Pair(set(words), 1),), {}) == argument_key((Pair(set(backward), 1),), {})
    assert argument_key((Pair(set(words), 1),), {}) != argument_key(((set(words), 1),), {})


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


def test_objects_without_a_canonical_form_are_pickled() -> None:
    assert argument_key((Point(1),), {}) == argument_key((Point(1),), {})
    assert argument_key((Point(1),), {}) != argument_key((Point(2),), {})
    with pytest.raises(CacheError, match=r"cannot be hashed.*pass plain data or arrays"):
        argument_key((lambda: 1,), {})


def test_a_list_that_holds_itself_has_a_key() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    other: list[Any] = [1]
    other.append(other)
    assert argument_key((loop,), {}) == argument_key((other,), {})
    assert argument_key((loop,), {}) != argument_key(([1, [1]],), {})
