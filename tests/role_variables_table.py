"""Keep the README's role variable tables in step with the roles.

Each table is rendered from a role's meta/argument_specs.yml (descriptions, types, choices)
and defaults/main.yml (defaults) between the markers
    <!-- BEGIN role variables: NAME -->  ...  <!-- END role variables: NAME -->
`python tests/role_variables_table.py --write` rewrites them; without --write it fails when
the README is out of date (the static test stage runs it that way).
"""

from __future__ import annotations

import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKUP = re.compile(r"\b[OVCMI]\(([^)]*)\)")
BLOCK = re.compile(
    r"(<!-- BEGIN role variables: (?P<role>[a-z_]+) -->\n).*?(<!-- END role variables: (?P=role) -->)",
    re.DOTALL,
)


def plain(text: str) -> str:
    """Ansible doc markup (O(x), V(x), C(x), M(x)) to Markdown code, one line, pipes escaped."""
    return MARKUP.sub(r"`\1`", " ".join(text.split())).replace("|", "\\|")


def default_text(value: object) -> str:
    if value is None:
        return ""
    shown = value if isinstance(value, str) else json.dumps(value)
    return "`" + str(shown).replace("|", "\\|") + "`" if shown != "" else '`""`'


def render(role: str) -> str:
    role_dir = ROOT / "roles" / role
    options = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((role_dir / "defaults" / "main.yml").read_text()) or {}
    rows = ["| variable | type | default | description |", "| --- | --- | --- | --- |"]
    for name, spec in options.items():
        description = spec.get("description", "")
        description = " ".join(description) if isinstance(description, list) else description
        kind = spec["type"] + (f" of {spec['elements']}" if "elements" in spec else "")
        if "choices" in spec:
            description += " One of: " + ", ".join(f"V({choice})" for choice in spec["choices"]) + "."
        default = "(required)" if spec.get("required") else default_text(defaults.get(name))
        rows.append(f"| `{name}` | {kind} | {default} | {plain(description)} |")
    return "\n".join(rows) + "\n"


def main() -> int:
    text = README.read_text()
    updated = BLOCK.sub(lambda match: match.group(1) + render(match.group("role")) + match.group(3), text)
    roles = sorted(path.name for path in (ROOT / "roles").iterdir() if path.is_dir())
    missing = [role for role in roles if f"<!-- BEGIN role variables: {role} -->" not in text]
    if missing:
        print(f"role_variables_table: README.md has no variables table for: {', '.join(missing)}", file=sys.stderr)
        return 1
    if "--write" in sys.argv:
        README.write_text(updated)
        print("role_variables_table: README.md updated")
        return 0
    if updated != text:
        print("role_variables_table: README.md's variable tables are out of date; run "
              "python tests/role_variables_table.py --write", file=sys.stderr)
        return 1
    print(f"role_variables_table: README.md documents the variables of {len(roles)} roles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
