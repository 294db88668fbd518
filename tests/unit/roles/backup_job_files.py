# SPDX-License-Identifier: GPL-3.0-or-later
"""Import the backup role's job scripts (roles/backup/files), which are plain scripts on the Pi,
not modules of the collection: each finds the others beside it, as on the Pi."""

from __future__ import annotations

import importlib.util
import os
import sys

FILES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "backup", "files")


def load(name: str):
    sys.path.insert(0, os.path.abspath(FILES))
    try:
        spec = importlib.util.spec_from_file_location(name, os.path.join(FILES, name + ".py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.pop(0)
