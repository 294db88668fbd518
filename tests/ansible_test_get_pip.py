"""Offline stand-in for the pip bootstrap script ansible-test downloads.

ansible-test fetches get-pip.py from a host the test machines cannot reach before it builds
its sanity virtual environments. This does the same job from what is here: pip from the
standard library's ensurepip, then `pip install` with the arguments ansible-test passes
(packages come from PyPI, which is reachable). tests/sanity.sh puts it in ansible-test's cache.
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys

# get-pip.py's own options, which `pip install` does not know.
GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}

environment = dict(os.environ)
ensurepip.bootstrap(upgrade=True)  # it points PIP_CONFIG_FILE at /dev/null in os.environ
arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY_OPTIONS]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *arguments], env=environment))
