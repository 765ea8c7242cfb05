"""`expharness export --mlflow URI | --tensorboard DIR`: the mirrors as the command says them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .mlflow import Mirrored


def mirror(folders: Sequence[Path], root: Path, mlflow: str | None, tensorboard: str | None) -> str:
    """Mirror the runs to MLflow or TensorBoard; return what to print (MirrorError if not)."""
    if mlflow is not None:
        from . import mlflow as to_mlflow

        return said(to_mlflow.export(folders, mlflow, root), f"MLflow at {mlflow}")
    from . import tensorboard as to_tensorboard

    assert tensorboard is not None
    return said(to_tensorboard.export(folders, Path(tensorboard)), f"TensorBoard in {tensorboard}")


def said(done: Mirrored, where: str) -> str:
    """One line for what an export did, then a line per run left out."""
    count = len(done.added) + len(done.updated)
    lines = [
        f"mirrored {count} run{'s' if count != 1 else ''} to {where} "
        f"({len(done.added)} new, {len(done.updated)} brought up to date)"
    ]
    lines += [f"  skipped {name}: {why}" for name, why in done.skipped]
    return "\n".join(lines)
