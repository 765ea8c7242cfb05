"""Results worth keeping between runs: `exp.cache`, under `<root>/.cache/`.

    @exp.cache.cached("features", scope="dataset")
    def features(n_samples, noise): ...

An entry is keyed by its name, its scope, a hash of the call's arguments and a
hash of the function's source: calling with other arguments, or after editing
the function, computes anew (PyComex's cache ignores both and serves stale
results). Entries are written to a temporary file and renamed, so workers
filling the same key at once never leave a torn file; the last one wins with
an identical value. Hits and misses go to run.log and summary.json.

Argument keys must agree between processes: workers, later sessions, other hash
seeds. Pickling the arguments does not (a set pickles in its iteration order,
which follows PYTHONHASHSEED for strings), so arguments are fed to sha256 in a
canonical form: every value tagged with its type; sets, frozensets and dicts
as their members' digests, sorted; ints, floats and strings as their bytes;
numpy arrays as dtype, shape and the raw buffer, read in place (no copy of a
C-contiguous array; object and string arrays go element by element); dataclass
and namedtuple instances as their class and fields; a container met again
inside itself as a back reference. Anything else (instances of other classes,
dict subclasses, DataFrames) is pickled: stable when its pickle is, so such an
argument holding a set may still miss across seeds.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import pickle
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..archive import layout

CACHE_DIR = ".cache"
BACKENDS = ("pickle", "json", "npz")
_SUFFIX = {"pickle": ".pkl", "json": ".json", "npz": ".npz"}
_MISSING = object()


class CacheError(ValueError):
    """A cache call that cannot work as written."""


def _scope_parts(scope: str | tuple[str, ...] | list[str]) -> list[str]:
    parts = [scope] if isinstance(scope, str) else list(scope)
    if not parts or not all(isinstance(p, str) and p for p in parts):
        raise CacheError(f"cache scope {scope!r}: give a name or a tuple of names")
    return [layout.safe_name(p) for p in parts]


def argument_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The sha256 (hex) of a call's arguments in canonical form, the same in every process."""
    digest = hashlib.sha256()
    try:
        _feed(digest, args, {})
        _feed(digest, kwargs, {})
    except RecursionError:
        raise CacheError(
            "cached function arguments nest too deeply to be hashed; pass flatter data"
        ) from None
    return digest.hexdigest()


def _chunk(digest: Any, tag: bytes, data: bytes) -> None:
    digest.update(tag + len(data).to_bytes(8, "little"))
    digest.update(data)


def _digest_of(value: Any, seen: dict[int, int]) -> bytes:
    digest = hashlib.sha256()
    _feed(digest, value, seen)
    return digest.digest()


def _feed(digest: Any, value: Any, seen: dict[int, int]) -> None:
    """Feed value's canonical form to digest; seen maps the containers being fed to depth."""
    kind = type(value)
    if value is None or kind is bool:
        digest.update(b"N" if value is None else b"T" if value else b"F")
    elif kind is int:
        _chunk(digest, b"i", value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True))
    elif kind is float:
        digest.update(b"f" + struct.pack("<d", value))
    elif kind is complex:
        digest.update(b"c" + struct.pack("<dd", value.real, value.imag))
    elif kind is str:
        _chunk(digest, b"s", value.encode("utf-8", "surrogatepass"))
    elif kind is bytes or kind is bytearray:
        _chunk(digest, b"b" if kind is bytes else b"B", bytes(value))
    elif id(value) in seen:
        digest.update(b"r" + seen[id(value)].to_bytes(8, "little"))
    elif kind is set or kind is frozenset:
        members = sorted(_digest_of(m, seen) for m in value)
        _chunk(digest, b"S" if kind is set else b"Z", b"".join(members))
    elif _is_array(value):
        _feed_array(digest, value, seen)
    else:
        seen[id(value)] = len(seen)
        try:
            _feed_container(digest, value, seen)
        finally:
            del seen[id(value)]


def _feed_container(digest: Any, value: Any, seen: dict[int, int]) -> None:
    kind = type(value)
    if kind is list or kind is tuple:
        digest.update((b"l" if kind is list else b"t") + len(value).to_bytes(8, "little"))
        for member in value:
            _feed(digest, member, seen)
    elif kind is dict:
        items = sorted(_digest_of(k, seen) + _digest_of(v, seen) for k, v in value.items())
        _chunk(digest, b"D", b"".join(items))
    elif (names := _field_names(value)) is not None:
        _chunk(digest, b"o", f"{kind.__module__}.{kind.__qualname__}".encode())
        for name in names:
            _feed(digest, name, seen)
            _feed(digest, getattr(value, name), seen)
    else:
        try:
            data = pickle.dumps(value, protocol=4)
        except Exception as error:
            raise CacheError(
                f"cached function argument of type {kind.__name__} cannot be hashed "
                f"({error}); pass plain data or arrays"
            ) from None
        _chunk(digest, b"p", data)


def _field_names(value: Any) -> list[str] | None:
    """The fields of a namedtuple or dataclass instance, None for anything else."""
    fields = getattr(type(value), "_fields", None)
    if isinstance(value, tuple) and isinstance(fields, tuple):
        return list(fields)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [field.name for field in dataclasses.fields(value)]
    return None


def _is_array(value: Any) -> bool:
    np = sys.modules.get("numpy")  # an array argument means numpy is loaded already
    return np is not None and (
        type(value) in (np.ndarray, np.memmap) or isinstance(value, np.generic)
    )


def _feed_array(digest: Any, value: Any, seen: dict[int, int]) -> None:
    """Feed dtype, shape and contents; the buffer is read in place when it is contiguous."""
    import numpy as np

    array = np.asarray(value)
    _chunk(digest, b"a", repr((array.dtype.descr, array.shape)).encode())
    if array.dtype.hasobject or array.dtype.kind == "T":  # elements are pointers
        _feed(digest, array.ravel().tolist(), seen)
    else:
        digest.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8))


def _source_hash(func: Callable[..., Any]) -> str:
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        source = getattr(getattr(func, "__code__", None), "co_code", b"").hex()
    return hashlib.sha256(source.encode()).hexdigest()


def _encode(value: Any, backend: str) -> bytes:
    if backend == "pickle":
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    if backend == "json":
        from ..archive.values import encode

        return json.dumps(encode(value)).encode()
    import io

    import numpy as np

    buffer = io.BytesIO()
    if isinstance(value, dict):
        np.savez(buffer, **value)
    else:
        np.savez(buffer, value=np.asarray(value))
    return buffer.getvalue()


def _decode(path: Path, backend: str) -> Any:
    return _decode_bytes(path.read_bytes(), backend)


def _decode_bytes(data: bytes, backend: str) -> Any:
    if backend == "pickle":
        return pickle.loads(data)
    if backend == "json":
        return json.loads(data.decode("utf-8"))
    import io

    import numpy as np

    with np.load(io.BytesIO(data), allow_pickle=False) as found:
        arrays = {name: found[name] for name in found.files}
    return arrays["value"] if list(arrays) == ["value"] else arrays


class Cache:
    """The cache of one run: entries under <root>/.cache/<scope>/, shared by all runs."""

    def __init__(
        self, root: Path, default_scope: str, enabled: bool, log: Callable[[str, str], None]
    ) -> None:
        self.folder = root / CACHE_DIR
        self.default_scope = default_scope
        self.enabled = enabled
        self._log = log
        self.hits: list[str] = []
        self.misses: list[str] = []

    def _path(self, name: str, scope: Any, backend: str, key: str) -> Path:
        if backend not in BACKENDS:
            raise CacheError(f"cache backend {backend!r}: use one of {', '.join(BACKENDS)}")
        if not isinstance(name, str) or not name:
            raise CacheError(f"cache name {name!r}: give a non-empty string")
        parts = _scope_parts(self.default_scope if scope is None else scope)
        return (
            self.folder.joinpath(*parts) / f"{layout.safe_name(name)}-{key[:24]}{_SUFFIX[backend]}"
        )

    def _read(self, path: Path, backend: str, label: str) -> Any:
        if not self.enabled or not path.is_file():
            return _MISSING
        try:
            value = _decode(path, backend)
        except Exception as error:  # a damaged entry is recomputed, not trusted
            self._log(
                "WARNING", f"cache {label}: unreadable entry {path.name} ({error}); recomputing"
            )
            return _MISSING
        self.hits.append(label)
        self._log("INFO", f"cache hit: {label} ({path.relative_to(self.folder)})")
        return value

    def _write(self, path: Path, value: Any, backend: str, label: str) -> bytes | None:
        self.misses.append(label)
        if not self.enabled:
            self._log("INFO", f"cache off (--exp-no-cache): computed {label}")
            return None
        data = _encode(value, backend)
        path.parent.mkdir(parents=True, exist_ok=True)
        layout.atomic_write_bytes(path, data)
        self._log("INFO", f"cache miss: {label}, stored as {path.relative_to(self.folder)}")
        return data

    def cached(
        self, name: str, scope: Any = None, backend: str = "pickle"
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorate a function so its result is kept per arguments and source."""
        self._path(name, scope, backend, "0" * 24)  # refuse a bad name, scope or backend now

        def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
            source = _source_hash(func)

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                key = hashlib.sha256(
                    f"{name}\0{scope!r}\0{argument_key(args, kwargs)}\0{source}".encode()
                ).hexdigest()
                path = self._path(name, scope, backend, key)
                value = self._read(path, backend, name)
                if value is _MISSING:
                    value = func(*args, **kwargs)
                    data = self._write(path, value, backend, name)
                    if backend != "pickle" and data is not None:
                        value = _decode_bytes(data, backend)  # a miss returns what a hit will
                return value

            return wrapper

        return decorate

    def save(self, name: str, value: Any, scope: Any = None, backend: str = "pickle") -> Path:
        """Store a value under a name (replacing what was there)."""
        path = self._path(name, scope, backend, hashlib.sha256(name.encode()).hexdigest())
        if not self.enabled:
            self._log("INFO", f"cache off (--exp-no-cache): {name} not saved")
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        layout.atomic_write_bytes(path, _encode(value, backend))
        self._log("INFO", f"cache save: {name}")
        return path

    def load(
        self, name: str, scope: Any = None, backend: str = "pickle", default: Any = _MISSING
    ) -> Any:
        """Return a value stored with save; the default (or KeyError) when there is none."""
        path = self._path(name, scope, backend, hashlib.sha256(name.encode()).hexdigest())
        value = self._read(path, backend, name)
        if value is _MISSING:
            if default is _MISSING:
                raise KeyError(f"cache has no {name!r} in scope {scope or self.default_scope!r}")
            return default
        return value

    def summary(self) -> dict[str, Any] | None:
        """Hits and misses for summary.json (None when the cache was not used)."""
        if not (self.hits or self.misses):
            return None
        return {"enabled": self.enabled, "hits": self.hits, "misses": self.misses}
