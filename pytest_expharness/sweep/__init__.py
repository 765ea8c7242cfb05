"""The end of a session: outcomes, records from workers, comparison tables, analyses, reports.

Owns what the controller does with the records it gathered: the comparison table
and its files, report.html (html/), @analysis and @sweep_analysis, crashed workers,
the index write. Imports run and below; never the cluster, the CLI or the plugin.
"""
