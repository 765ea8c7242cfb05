"""What Exp offers for writing experiments: hooks, the cache and labels (a mixin of Exp)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import archive
from .locks import update_config
from .variants import HOOK_ATTR


class Authoring:
    """Hooks, cache and label of a run; Exp provides the state these use."""

    _test: tuple[Any, Any, Any]
    _cache: Any
    _label: tuple[str, str | None]
    _session: Any
    experiment: str
    testing: bool
    path: Path

    def _write_log(self, level: str, text: str) -> None:
        raise NotImplementedError

    def bind_test(self, cls: Any, module: Any, instance: Any) -> None:
        """Tell the run which test class, module and instance it belongs to (for hooks)."""
        self._test = (cls, module, instance)

    def apply_hook(self, name: str, default: Any = None, **kwargs: Any) -> Any:
        """Call the hook registered as name (see `hook`) with exp and kwargs; else the default."""
        from .variants import bind, find_marked

        cls, module, instance = self._test
        found = find_marked(HOOK_ATTR, name, cls, module)
        if found is None:
            return default
        self._write_log("INFO", f"hook {name}: {found[1]}")
        return bind(found, cls, instance)(self, **kwargs)

    @property
    def cache(self) -> Any:
        """The cache shared by runs and workers under <root>/.cache/ (see cache.py).

        Testing runs have their own, under <root>/_testing/.cache/.
        """
        if self._cache is None:
            from .cache import Cache

            enabled = not self._session.settings.no_cache
            root = self._session.settings.root
            if self.testing:  # smoke-sized results never reach real runs
                root = root / archive.TESTING_DIR
            self._cache = Cache(root, self.experiment, enabled, self._write_log)
        return self._cache

    def label(self, label: str, note: str | None = None) -> None:
        """Label this run (keep, baseline, exploratory, failed), with an optional note."""
        if label not in archive.LABELS:
            raise ValueError(f"label {label!r}: use one of {', '.join(archive.LABELS)}")
        self._label = (label, note)

        def change(config: dict[str, Any]) -> None:  # on the file: `expharness tag` may write too
            header = config["experiment"]
            header["label"] = label
            if note is None:
                header.pop("label_note", None)
            else:
                header["label_note"] = note

        update_config(self.path, change)
