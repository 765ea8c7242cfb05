"""`expharness serve`: a local, read-only web page over an archive.

paths.py keeps every request inside the archive root, readonly.py reads the
runs without writing (an index in memory), live.py tails running runs'
journals, pages.py and livepage.py render HTML, server.py answers requests.
"""
