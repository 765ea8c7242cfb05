"""Helpers of the serve tests: a server on port 0 in a thread, over a pytester archive."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_expharness.cli.follow import finder
from pytest_expharness.serve.server import Server

SWEEP = """
import math
import pytest

EPOCHS = 8

@pytest.mark.experiment(metric="loss", description="Two learning rates.")
@pytest.mark.parametrize("lr", [0.1, 0.3])
def test_fit(exp, lr):
    for step in range(exp.EPOCHS):
        exp.track("loss", math.exp(-lr * step))
        exp.track("acc", 1 - math.exp(-lr * step))
    exp.commit_json("final.json", {"lr": lr})
"""


class Served:
    """A running server and how to ask it."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.url = server.url.rstrip("/")
        self.root = server.root

    def get(self, path: str, method: str = "GET") -> tuple[int, str, bytes, Any]:
        """(status, content type, body, headers) of one request; errors are answers too."""
        request = urllib.request.Request(self.url + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.status, reply.headers["Content-Type"], reply.read(), reply.headers
        except urllib.error.HTTPError as error:
            return error.code, error.headers["Content-Type"], error.read(), error.headers


def serve(root: Path) -> Iterator[Served]:
    """Serve root until the generator is closed."""
    server = Server(("127.0.0.1", 0), root, finder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
