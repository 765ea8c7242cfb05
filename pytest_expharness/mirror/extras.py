"""The optional extras a mirror needs, imported on first use; a missing one names its extra."""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS = {"mlflow": "mlflow", "tensorboard": "tensorboard"}  # module: extra


class MirrorError(Exception):
    """A mirror that cannot be made as asked (a missing extra, an unusable target)."""


def need(module: str) -> ModuleType:
    """Import an extra's module, or raise MirrorError saying which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        extra = EXTRAS[module.split(".")[0]]
        raise MirrorError(
            f"mirroring to {extra} needs the {extra!r} extra: "
            f"pip install 'pytest-expharness[{extra}]' ({error})"
        ) from None
