"""The `expharness` command: one module per group of subcommands (main.py wires them).

Reads and changes the archive through catalog; never imports the pytest plugin
(import-linter keeps plugin.py and cli independent).
"""
