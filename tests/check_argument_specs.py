"""Every role documents every input: the keys of defaults/main.yml and of the main entry
point in meta/argument_specs.yml must match, and every option needs a type and a description.
"""

from __future__ import annotations

import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def role_problems(role: pathlib.Path) -> list[str]:
    specs_file = role / "meta" / "argument_specs.yml"
    if not specs_file.exists():
        return [f"{role.name}: meta/argument_specs.yml is missing"]
    defaults_file = role / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) or {} if defaults_file.exists() else {}
    options = yaml.safe_load(specs_file.read_text())["argument_specs"]["main"].get("options", {})
    problems = [f"{role.name}: {key} is in defaults but not in argument_specs" for key in defaults.keys() - options.keys()]
    problems += [
        f"{role.name}: {key} is in argument_specs but has no default"
        for key, spec in options.items()
        if key not in defaults and not spec.get("required", False)
    ]
    for key, spec in options.items():
        problems += [f"{role.name}: option {key} has no {field}" for field in ("type", "description") if field not in spec]
    return problems


def main() -> int:
    roles = sorted(path for path in (ROOT / "roles").iterdir() if path.is_dir())
    problems = [problem for role in roles for problem in role_problems(role)]
    for problem in problems:
        print(f"check_argument_specs: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_argument_specs: {len(roles)} roles, defaults and argument_specs agree")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
