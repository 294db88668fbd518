# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's main() in the test process, as Ansible would, and read back its result.

Shared by the unit and integration tests of every module.
"""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args


def run_module(module, capsys, args, check_mode=False):
    """The JSON result of module.main() with these arguments, plus ``rc`` (its exit code) and
    ``raw`` (the output as printed, to check that no secret or traceback got into it)."""
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            module.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    result["rc"] = exit_info.value.code
    result["raw"] = out
    return result
