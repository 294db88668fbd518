# SPDX-License-Identifier: GPL-3.0-or-later
"""A STAND-IN for ghcr.io/immich-app/immich-machine-learning, which cannot be pulled on the
test machines. It is not Immich's machine learning: no models, no inference. It creates
/cache when missing (the real service keeps its models there), answers GET /ping with
"pong" on 0.0.0.0:3003 (everything else 404) and ends with code 0 on SIGTERM or SIGINT.
"""

from __future__ import annotations

import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = "immich-machine-learning-standin"
DESCRIPTION = ("immich-pi-testbed stand-in for ghcr.io/immich-app/immich-machine-learning: NOT Immich; "
               "no models, no inference, it only answers GET /ping")
PORT = 3003
CACHE = "/cache"


class Stop(BaseException):
    """Raised by the SIGTERM/SIGINT handler; not an Exception, so nothing swallows it."""


def log(message: str) -> None:
    print("%s: %s" % (NAME, message), flush=True)


class Handler(BaseHTTPRequestHandler):
    server_version = NAME

    def _send(self, status: int, body: str) -> None:
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.split("?", 1)[0] == "/ping":
            self._send(200, "pong")
        else:
            self._send(404, "Not found (immich-machine-learning stand-in)")

    def _not_found(self) -> None:
        self._send(404, "Not found (immich-machine-learning stand-in)")

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _not_found  # noqa: N815

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        log("%s %s" % (self.address_string(), format % args))


def stop(signum, _frame) -> None:
    raise Stop(signal.Signals(signum).name)


def main() -> int:
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(DESCRIPTION)
    server = None
    try:
        if not os.path.isdir(CACHE):
            os.makedirs(CACHE)
            log("created %s" % CACHE)
        server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
        server.daemon_threads = True
        log("listening on 0.0.0.0:%d (GET /ping)" % PORT)
        server.serve_forever(poll_interval=0.2)
    except Stop as signal_name:
        log("%s: stopping" % signal_name)
    finally:
        if server is not None:
            server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
