# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the checkout importable as ansible_collections.homelab.immich_pi.

ansible.cfg points collections_path at ./collections, where
collections/ansible_collections/homelab/immich_pi links back to the checkout; pytest needs
the same path on sys.path to import the plugins under their collection names.
"""

from __future__ import annotations

import os
import sys

_COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "collections"))
if os.path.isdir(os.path.join(_COLLECTIONS, "ansible_collections")) and _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
