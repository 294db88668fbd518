# SPDX-License-Identifier: GPL-3.0-or-later
"""The stand-in's healthcheck, as the real image's healthcheck.py: GET /ping must answer "pong"."""

import sys
import urllib.request

url = "http://127.0.0.1:3003/ping"
try:
    with urllib.request.urlopen(url, timeout=3) as response:
        answer = response.read().decode()
except (OSError, ValueError) as error:
    sys.exit("healthcheck (immich-machine-learning stand-in): %s: %s" % (url, error))
sys.exit(0 if answer == "pong" else "healthcheck (immich-machine-learning stand-in): %s answered %r" % (url, answer))
