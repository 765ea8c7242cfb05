"""Importing other tools' results: PyComex archive folders and Hydra multirun folders.

Owns `expharness import-pycomex` and `import-hydra`: reading the source folders (no link
followed out of them, none of their code run) and writing them as our run folders and
sessions, tables, report.html and index rows included. Imports sweep, catalog, report, archive.
"""
