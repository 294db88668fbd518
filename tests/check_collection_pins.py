"""Fail when the installed collections differ from the pins in requirements.yml.

The test machines get their collections from the pinned `ansible` bundle on PyPI, not from
Galaxy; this keeps the two in step.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def pinned_collections() -> dict[str, str]:
    requirements = yaml.safe_load((ROOT / "requirements.yml").read_text())
    return {entry["name"]: str(entry["version"]) for entry in requirements["collections"]}


def installed_collections() -> dict[str, str]:
    listing = subprocess.run(
        ["ansible-galaxy", "collection", "list", "--format", "json"],
        check=True, capture_output=True, text=True, cwd=ROOT,
    ).stdout
    versions: dict[str, str] = {}
    # The first path that holds a collection is the one Ansible loads.
    for collections in reversed(json.loads(listing).values()):
        for name, details in collections.items():
            versions[name] = details["version"]
    return versions


def main() -> int:
    installed = installed_collections()
    problems = [
        f"{name}: requirements.yml pins {version}, installed is {installed.get(name, 'nothing')}"
        for name, version in pinned_collections().items()
        if installed.get(name) != version
    ]
    for problem in problems:
        print(f"check_collection_pins: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_collection_pins: {len(pinned_collections())} collections match requirements.yml")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
