"""One run while it runs: the `exp` object, tracking, the journal's flusher, data, artifacts.

Owns what happens between a run's start and its summary: the store, tracked
series, artifacts, components, the cache, run.log and the ordered end of a run.
Imports session and below; never the sweep, the cluster, the CLI or the plugin.
"""
