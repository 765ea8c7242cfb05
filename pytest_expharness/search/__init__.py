"""Searching beyond grids: Optuna studies whose trials are ordinary runs.

Owns the session's study file, asking for a trial's parameters as its run
starts, pruning as it tracks, and telling the study how it ended. Imports run
and below; the sweep layer reads what it leaves for reports.
"""
