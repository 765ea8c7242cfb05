"""Live progress: each running run's live.json and summary.json read back into a view.

runs.py reads a session's runs from its folders (never raising), text.py makes
the view's lines, screen.py draws them in pytest's terminal, and terminal.py is
the controller's thread that refreshes them; `expharness watch` shows the same.
"""
