"""Collection-time work: parameters, overrides, variants, run specs, resume decisions.

Turns collected pytest items and the command line into RunSpecs before any run
starts, and refuses bad input there. Imports catalog (resume reads old runs)
and archive; never the session state, a run, a sweep or the cluster.
"""
