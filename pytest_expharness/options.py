"""Command-line options and ini keys, with their help texts in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

HELP_ROOT = "folder that archives every run (default: 'results' under the rootdir; ini: exp_root)"
HELP_TESTING = (
    "testing mode: apply each experiment's testing overrides and archive under <root>/_testing/"
)
HELP_TAG = "tag every run of this session (repeatable; ini: exp_tags)"
HELP_CONFIG = "YAML file of parameter overrides (KEY: value), applied before --set"
HELP_SET = "override a parameter: KEY=VALUE, the value parsed as YAML (repeatable)"
HELP_DEBUG = "debug mode: runs go to <root>/<experiment>/debug/, replaced each session"


def add_options(parser: pytest.Parser) -> None:
    """Register the exp command-line options and ini keys."""
    group = parser.getgroup("expharness", "experiment harness")
    group.addoption("--exp-root", dest="exp_root", metavar="DIR", default=None, help=HELP_ROOT)
    group.addoption("--exp-testing", dest="exp_testing", action="store_true", help=HELP_TESTING)
    group.addoption("--tag", dest="exp_tags", action="append", default=[], help=HELP_TAG)
    group.addoption(
        "--exp-config", dest="exp_config", metavar="FILE", default=None, help=HELP_CONFIG
    )
    group.addoption(
        "--set", dest="exp_set", action="append", default=[], metavar="KEY=VALUE", help=HELP_SET
    )
    group.addoption("--exp-debug", dest="exp_debug", action="store_true", help=HELP_DEBUG)
    parser.addini("exp_root", HELP_ROOT, default=None)
    parser.addini("exp_tags", HELP_TAG, type="linelist", default=[])


@dataclass(frozen=True)
class Settings:
    """What the options ask for, resolved against the rootdir."""

    root: Path
    testing: bool = False
    debug: bool = False
    tags: tuple[str, ...] = ()
    config_file: str | None = None
    set_items: tuple[str, ...] = ()


def read_settings(config: pytest.Config) -> Settings:
    """Resolve the options of this session into Settings."""
    root_opt = config.getoption("exp_root") or config.getini("exp_root")
    rootdir = Path(config.rootpath)
    root = Path(root_opt) if root_opt else rootdir / "results"
    if not root.is_absolute():
        base = Path(config.invocation_params.dir) if config.getoption("exp_root") else rootdir
        root = base / root
    tags = tuple(dict.fromkeys([*config.getini("exp_tags"), *config.getoption("exp_tags")]))
    return Settings(
        root=root,
        testing=bool(config.getoption("exp_testing")),
        debug=bool(config.getoption("exp_debug")),
        tags=tags,
        config_file=config.getoption("exp_config"),
        set_items=tuple(config.getoption("exp_set")),
    )
