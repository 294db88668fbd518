# SPDX-License-Identifier: GPL-3.0-or-later
"""The stand-in's healthcheck, as the real image's immich-healthcheck: GET /api/server/ping
on this container's own port must answer {"res":"pong"}."""

import json
import os
import sys
import urllib.request

url = "http://127.0.0.1:%s/api/server/ping" % os.environ.get("IMMICH_PORT", "2283")
try:
    with urllib.request.urlopen(url, timeout=3) as response:
        answer = json.load(response)
except (OSError, ValueError) as error:
    sys.exit("immich-healthcheck (stand-in): %s: %s" % (url, error))
sys.exit(0 if answer == {"res": "pong"} else "immich-healthcheck (stand-in): %s answered %r" % (url, answer))
