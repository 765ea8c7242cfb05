"""The subcommands that change an archive: export, import, label, tag, untag, gc, reindex."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..archive.layout import LABELS
from ..catalog.runnames import HELP as RUN_HELP
from .common import UsageError, runs_text, shown_path, text_table


def _index_folders(root: Path, folders: list[Path]) -> None:
    """Add or refresh the index rows of some run folders (testing runs in their own index)."""
    from ..archive.layout import TESTING_DIR
    from ..catalog.index import FILE, open_index, rebuild
    from ..catalog.indexrows import rows_of, upsert

    groups: dict[Path, list[Path]] = {}
    for folder in folders:
        inside = folder.relative_to(root).parts
        base = root / TESTING_DIR if inside[:1] == (TESTING_DIR,) else root
        groups.setdefault(base, []).append(folder)
    for base, members in groups.items():
        new = not (base / FILE).exists()
        conn = open_index(base, repair=not new)
        try:
            if new:  # a new index: read every folder, these among them
                rebuild(conn, base)
            else:
                upsert(conn, rows_of(members, base))
        finally:
            conn.close()


def _rewrite_header(args: argparse.Namespace, change: Callable[[dict[str, Any]], None]) -> Path:
    """Change a run's config.yaml header and its index row, under the run's lock.

    The lock makes concurrent labels and tags of one run apply one after the
    other (none lost), and the index row is read and written under it too, so
    the row of the last change is the one left. The index is caught up before
    the lock is taken: catching up reads (and may lock) other runs.
    """
    from ..archive.layout import TESTING_DIR
    from ..archive.locks import LockTimeout, run_lock, update_config
    from ..catalog.index import open_index
    from ..catalog.indexrows import rows_of, upsert
    from ..catalog.loading import resolve
    from ..catalog.runnames import RunNotFound

    found = resolve(args.run, args.root)
    root = Path(args.root).resolve()
    folder = found.resolve()
    if root not in folder.parents:
        raise UsageError(f"{found} is not under --root {args.root}; give the root that holds it")
    base = root / TESTING_DIR if folder.relative_to(root).parts[:1] == (TESTING_DIR,) else root
    _index_folders(root, [folder])
    try:
        with run_lock(folder):
            update_config(folder, lambda config: change(config["experiment"]))
            _refresh_report(folder)
            conn = open_index(base, repair=False)
            try:
                upsert(conn, rows_of([folder], base))
            finally:
                conn.close()
    except LockTimeout as error:
        raise UsageError(f"{error}; nothing changed, try again") from None
    except FileNotFoundError:
        raise RunNotFound(f"{found} is gone (deleted while it was being changed)") from None
    return found


def _refresh_report(folder: Path) -> None:
    """Write a finished run's REPORT.md again, so it shows the new label, notes and tags."""
    import json
    import sys

    from ..archive import layout, yamltext
    from ..report import runreport

    try:
        summary = json.loads((folder / layout.SUMMARY).read_text("utf-8"))
        if summary.get("status") == "running" or not (folder / layout.REPORT).exists():
            return  # a running run writes its own at its end
        config = yamltext.load((folder / layout.CONFIG).read_text("utf-8"))
        runreport.write_report(folder, config, summary)
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(
            f"expharness: warning: {folder / layout.REPORT} not refreshed: {error}",
            file=sys.stderr,
        )


def cmd_label(args: argparse.Namespace) -> int:
    from ..archive.labels import change_label

    if args.label is None and args.note is None:
        raise UsageError(f"label needs a label ({', '.join(LABELS)}) or --note TEXT, or both")
    if args.note is not None and not args.note.strip():
        raise UsageError("--note needs a text (why the run is labelled so)")
    after: dict[str, Any] = {}

    def change(header: dict[str, Any]) -> None:
        change_label(header, args.label, args.note)
        after["label"] = header.get("label")

    folder = shown_path(_rewrite_header(args, change))
    if args.label is None:
        print(f"{folder}: noted ({args.note}); label stays {after['label'] or 'unset'}")
    else:
        print(f"{folder}: label {args.label}" + (f" ({args.note})" if args.note else ""))
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    def change(header: dict[str, Any]) -> None:
        tags = list(header.get("tags") or [])
        header["tags"] = [*tags, args.tag] if args.tag not in tags else tags

    folder = _rewrite_header(args, change)
    print(f"{shown_path(folder)}: tagged {args.tag}")
    return 0


def cmd_untag(args: argparse.Namespace) -> int:
    had: list[bool] = []

    def change(header: dict[str, Any]) -> None:
        tags = list(header.get("tags") or [])
        had.append(args.tag in tags)
        header["tags"] = [t for t in tags if t != args.tag]

    folder = shown_path(_rewrite_header(args, change))
    if had and had[-1]:
        print(f"{folder}: untagged {args.tag}")
    else:  # the end asked for holds already, as a second `tag` of the same tag
        print(f"{folder}: was not tagged {args.tag}; nothing changed")
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    from ..catalog.index import open_index
    from ..catalog.indexsync import reindex

    conn = open_index(Path(args.root), repair=False)
    try:  # rows another session commits meanwhile survive (see indexsync.py)
        done = reindex(conn, Path(args.root), full=args.full)
    finally:
        conn.close()
    skipped = len(done.damaged)
    note = f"; skipped {skipped} damaged (expharness check says why)" if skipped else ""
    if args.full:
        print(f"indexed {done.indexed} runs under {args.root}{note}")
    else:
        print(
            f"indexed {done.indexed} new or changed of {done.folders} run folders "
            f"under {args.root}{note}"
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..catalog.loading import resolve
    from ..catalog.transfer import TransferError, export_runs
    from .common import runs_of_session

    if sum(target is not None for target in (args.to, args.mlflow, args.tensorboard)) != 1:
        raise UsageError("export needs one of --to FILE.tar.gz, --mlflow URI, --tensorboard DIR")
    tables: list[Path] = []
    if args.session:
        folders = [Path(args.root) / row["path"] for row in runs_of_session(args)]
        for session in dict.fromkeys(folder.parent for folder in folders):
            tables += sorted([*session.glob("comparison.*"), *session.glob("report.html")])
    elif args.runs:
        folders = [resolve(run, args.root) for run in args.runs]
    else:
        raise UsageError(
            "export needs runs (names or paths: see expharness show -h) or --session S"
        )
    if args.to is None:  # a mirror in MLflow or TensorBoard (mirror/)
        from ..mirror.commands import mirror
        from ..mirror.extras import MirrorError

        try:
            print(
                mirror(list(dict.fromkeys(folders)), Path(args.root), args.mlflow, args.tensorboard)
            )
        except MirrorError as error:
            raise UsageError(str(error)) from None
        return 0
    try:
        count = export_runs(list(dict.fromkeys(folders)), Path(args.root), Path(args.to), tables)
    except TransferError as error:
        raise UsageError(str(error)) from None
    print(f"exported {runs_text(count)} to {args.to}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from ..catalog.transfer import MAX_SIZE, TransferError, import_runs, parse_size

    root = Path(args.root)
    try:
        limit = parse_size(args.max_size) if args.max_size is not None else MAX_SIZE
    except ValueError as error:
        raise UsageError(f"--max-size {error}") from None
    try:
        done = import_runs(Path(args.file), root, limit)
    except TransferError as error:
        raise UsageError(str(error)) from None
    if done.added:
        _index_folders(root.resolve(), [f.resolve() for f in done.added])
    print(f"imported {runs_text(len(done.added))} into {root}")
    for run in done.skipped:
        print(f"  skipped {run}: already in {root} (left as it is)")
    return 0


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


def cmd_gc(args: argparse.Namespace) -> int:
    from ..catalog import cleanup
    from ..catalog.index import open_index
    from ..catalog.loading import Archive
    from .filters import check_selection

    root = Path(args.root)
    try:
        older = cleanup.parse_age(args.older_than) if args.older_than else None
        statuses = [s for given in args.status for s in given.split(",") if s]
        found = Archive(root).runs(experiment=args.experiment)
        if not found.rows and args.experiment:
            check_selection(root, experiment=args.experiment)
        for status in statuses:  # an unknown status or experiment is a usage error, as in list
            check_selection(root, status=status)
        chosen = cleanup.plan(found.rows, root, statuses, older, args.keep_last)
    except cleanup.CleanupError as error:
        raise UsageError(str(error)) from None
    now = time.time()
    body, sizes = [], {}
    for row in chosen.delete:
        size = sizes[row["path"]] = cleanup.folder_size(root / row["path"])
        age_days = (now - float(row.get("started_unix") or now)) / 86400
        body.append(
            [row["experiment"], row["session"], row["run_id"], row["status"], row["label"],
             f"{age_days:.1f}", _megabytes(size)]
        )  # fmt: skip
    if body:
        print(
            text_table(body, ["experiment", "session", "run", "status", "label", "age_d", "size"])
        )
    for row, reason in chosen.spared:
        print(f"kept {row['path']}: {reason}")
    if args.dry_run:
        total = sum(sizes.values())
        print(
            f"dry run: would delete {runs_text(len(body))} ({_megabytes(total)}); nothing deleted"
        )
        return 0 if body else 1
    gone = []
    for row in chosen.delete:
        why = cleanup.delete_run(root / row["path"])  # checked again under the run's lock
        if why is None:
            gone.append(row["path"])
        else:
            print(f"kept {row['path']}: {why}")
    total = sum(sizes[path] for path in gone)
    cleanup.clear_leftovers(root)
    stale = gone + chosen.stale
    if stale:
        conn = open_index(root)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("DELETE FROM runs WHERE path = ?", [(p,) for p in stale])
            conn.execute("COMMIT")
        finally:
            conn.close()
    print(f"deleted {runs_text(len(gone))} ({_megabytes(total)})")
    return 0 if gone else 1


def add_commands(commands: Any) -> None:
    """Register the subcommands of this module on the `expharness` parser."""
    export = commands.add_parser(
        "export", help="pack runs into a .tar.gz (ids kept), or mirror them to MLflow/TensorBoard"
    )
    export.add_argument("runs", nargs="*", metavar="RUN", help=RUN_HELP)
    export.add_argument("--session", help="every run of one session")
    export.add_argument("--to", metavar="FILE.tar.gz", help="pack the runs into this file")
    export.add_argument(
        "--mlflow", metavar="URI", help="mirror to an MLflow tracking URI (needs [mlflow])"
    )
    export.add_argument(
        "--tensorboard", metavar="DIR", help="write TensorBoard event files (needs [tensorboard])"
    )
    export.set_defaults(handler=cmd_export)
    importing = commands.add_parser(
        "import", help="unpack an export into --root (existing runs are never overwritten)"
    )
    importing.add_argument("file", metavar="FILE.tar.gz")
    importing.add_argument(
        "--max-size",
        metavar="SIZE",
        help="refuse archives that unpack to more (default 4GB); e.g. 500MB, 20GB, 2GiB",
    )
    importing.set_defaults(handler=cmd_import)
    label = commands.add_parser(
        "label",
        help="label a run (keep, baseline, exploratory, failed) and/or add a note",
        description="Set a run's label, add a timed note to its notes, or both: "
        "`label RUN keep --note why`, or `label RUN --note why` to keep the label.",
    )
    label.add_argument("run", metavar="RUN", help=RUN_HELP)
    label.add_argument(
        "label",
        nargs="?",
        choices=LABELS,
        metavar="LABEL",
        help=f"{', '.join(LABELS)}; omit it to keep the current label",
    )
    label.add_argument("--note", help="why (added, with the time, to the run's notes)")
    label.set_defaults(handler=cmd_label)
    tag = commands.add_parser("tag", help="add a tag to a run")
    tag.add_argument("run", metavar="RUN", help=RUN_HELP)
    tag.add_argument("tag")
    tag.set_defaults(handler=cmd_tag)
    untag = commands.add_parser("untag", help="remove a tag from a run")
    untag.add_argument("run", metavar="RUN", help=RUN_HELP)
    untag.add_argument("tag")
    untag.set_defaults(handler=cmd_untag)
    gc = commands.add_parser(
        "gc", help="delete old or failed runs; never those labelled keep or baseline"
    )
    gc.add_argument(
        "--status", action="append", default=[], help="e.g. failed,crashed (repeatable)"
    )
    gc.add_argument("--older-than", metavar="AGE", help="e.g. 30d, 12h, 2w")
    gc.add_argument("--experiment")
    gc.add_argument(
        "--keep-last", type=int, default=0, metavar="N", help="spare each experiment's N newest"
    )
    gc.add_argument("--dry-run", action="store_true", help="say what would go; delete nothing")
    gc.set_defaults(handler=cmd_gc)
    reindex = commands.add_parser(
        "reindex",
        help="bring the index up to date with the run folders",
        description="Read again every run folder whose config.yaml or summary.json changed since "
        "the index read it (and every new one); rows of deleted folders are dropped. --full "
        "reads every folder.",
    )
    reindex.add_argument("--full", action="store_true", help="read every run folder again")
    reindex.set_defaults(handler=cmd_reindex)
