"""Importing other tools' results: PyComex archive folders and Hydra multirun folders.

Owns `expharness import-pycomex` and `expharness import-hydra`: reading the
source folders (never following a link out of them, never running their code),
and writing what they hold as ordinary run folders and sessions of our archive,
with their tables, report.html and index rows, as a native session would.
Imports sweep, catalog, report and archive; nothing imports it but the CLI.
"""
