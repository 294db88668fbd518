# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
name: immich_health_checks
short_description: Turn what playbooks/health.yml gathered on an Immich Pi into OK/WARN/FAIL checks
version_added: 0.1.0
description:
  - Classifies the raw results that C(playbooks/health.yml) registers (the results of commands,
    C(slurp), C(uri) and the collection's info modules, as Ansible registers them) into a list of
    checks, each with a status (C(OK), C(WARN) or C(FAIL)), what was found, and for anything
    that is not OK the command or setting that fixes it.
  - Only the keys present in the input produce checks, in a fixed order; a task that failed
    or was skipped counts as not checked.
  - Hardware readings a Pi does not report (no C(/sys/class/thermal), no C(vcgencmd)) are
    C(OK) with "not reported", never C(FAIL).
  - Pure function of its input and O(now); it changes nothing.
author:
  - Immich Pi maintainers (@homelab)
positional: _input
options:
  _input:
    description:
      - The registered results, by name. Each key is optional.
      - C(df) - C(df --block-size=1 --output=size,avail,fstype,source,target,file / <ssd mount point>).
      - C(azure_mount) - M(homelab.immich_pi.rclone_mount_info).
      - C(units) - C(systemctl show --property=Id,LoadState,ActiveState,SubState,Result,StatusText <units>); rclone's
        C(StatusText) says how many files wait to be uploaded.
      - C(vfs_cache) - C(du --summarize --block-size=1 <rclone cache dir>).
      - C(blobs) - M(homelab.immich_pi.azure_blob_info) on the backup prefix.
      - C(backup_status) - C(slurp) of the backup job's C(status.json).
      - C(database) - M(homelab.immich_pi.immich_db_info).
      - C(compose_services) - C(docker compose config --services).
      - C(compose_ps) - C(docker compose ps --all --format json).
      - C(ping) - C(uri) of Immich's C(/api/server/ping) with C(return_content=true).
      - C(meminfo) - C(slurp) of C(/proc/meminfo).
      - C(thermal) - C(slurp) of C(/sys/class/thermal/thermal_zone0/temp).
      - C(throttled) - C(vcgencmd get_throttled).
    type: dict
    required: true
  ssd_mount_point:
    description: Where the SSD is mounted.
    type: str
    default: /mnt/ssd
  ssd_fstype:
    description: The filesystem the SSD must have.
    type: str
    default: ext4
  rclone_service:
    description: The systemd unit of the Azure mount.
    type: str
    default: rclone-azurephotos.service
  stack_service:
    description: The systemd unit of the Immich stack.
    type: str
    default: immich-stack.service
  tunnel_service:
    description: The systemd unit of the Cloudflare Tunnel.
    type: str
    default: cloudflared.service
  tunnel_enabled:
    description: Whether the tunnel should run (C(cloudflared_enabled)); V(false) makes a stopped tunnel OK.
    type: bool
    default: true
  project_dir:
    description: The compose project's folder, for the fixes.
    type: str
    default: /opt/immich
  backup_prefix:
    description: The folder of the backups in the Blob container.
    type: str
    default: backup/
  inventory:
    description: The inventory named in the fixes that run a playbook.
    type: str
    default: inventory.ini
  backup_playbook:
    description: The backup playbook named in the fixes.
    type: str
    default: playbooks/backup.yml
  space_warn_percent:
    description: Free space on the SD card or the SSD below this share is C(WARN).
    type: float
    default: 15
  space_fail_percent:
    description: Free space below this share is C(FAIL).
    type: float
    default: 5
  vfs_cache_max_size:
    description:
      - The VFS cache's limit as given to rclone (C(rclone_mount_vfs_cache_max_size)), for example
        V(20G); a bare number is KiB, as in rclone. V(off) is no limit.
    type: str
    default: 20G
  vfs_cache_warn_percent:
    description:
      - A VFS cache at or above this share of its limit is C(WARN) while files wait to be uploaded
        (or rclone did not say). A cache near its limit with nothing waiting is normal, rclone
        evicts the photos it read longest ago as it needs room.
    type: float
    default: 90
  vfs_cache_fail_percent:
    description:
      - A VFS cache at or above this share of its limit is C(FAIL); rclone cannot evict files that
        are not uploaded yet, so a cache far over its limit means uploads are stuck.
    type: float
    default: 120
  backup_warn_hours:
    description: A newest backup older than this is C(WARN).
    type: float
    default: 26
  backup_fail_hours:
    description: A newest backup older than this, or none, is C(FAIL).
    type: float
    default: 50
  memory_warn_percent:
    description: C(MemAvailable) below this share of C(MemTotal) is C(WARN).
    type: float
    default: 10
  memory_fail_percent:
    description: C(MemAvailable) below this share of C(MemTotal) is C(FAIL).
    type: float
    default: 5
  temperature_warn:
    description: A CPU temperature at or above this many degrees Celsius is C(WARN).
    type: float
    default: 70
  temperature_fail:
    description: A CPU temperature at or above this many degrees Celsius is C(FAIL) (the Pi throttles hard from 85).
    type: float
    default: 80
  now:
    description: The time the ages are measured at, ISO 8601; the controller's current time when not given.
    type: str
seealso:
  - plugin: homelab.immich_pi.immich_health_summary
    plugin_type: filter
  - module: homelab.immich_pi.rclone_mount_info
  - module: homelab.immich_pi.azure_blob_info
  - module: homelab.immich_pi.immich_db_info
"""

EXAMPLES = r"""
- name: Classify what was gathered
  ansible.builtin.set_fact:
    health_checks: >-
      {{ {'df': df_result, 'azure_mount': mount_result, 'ping': ping_result}
         | homelab.immich_pi.immich_health_checks(ssd_mount_point='/mnt/ssd', space_warn_percent=20) }}

- name: Fail when a check failed
  ansible.builtin.fail:
    msg: "{{ health_checks | selectattr('status', 'eq', 'FAIL') | map(attribute='check') | join(', ') }}"
  when: health_checks | selectattr('status', 'eq', 'FAIL') | list | length > 0
"""

RETURN = r"""
_value:
  description: One entry per check, in a fixed order.
  type: list
  elements: dict
  contains:
    check:
      description: The check's name, for example C(ssd_mount), C(azure_mount), C(backup_newest).
      type: str
    status:
      description: C(OK), C(WARN) or C(FAIL).
      type: str
    detail:
      description: What was found.
      type: str
    fix:
      description: The command or setting that fixes it; V(null) when the status is C(OK).
      type: str
  sample: [{"check": "ssd_mount", "status": "OK", "detail": "ext4 on /dev/sda (/mnt/ssd)", "fix": null},
           {"check": "azure_mount", "status": "FAIL",
            "detail": "/mnt/azurephotos is not mounted; rclone-azurephotos.service is inactive (dead)",
            "fix": "sudo systemctl restart rclone-azurephotos.service (then: journalctl -u rclone-azurephotos.service -n 50)"}]
"""

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.homelab.immich_pi.plugins.plugin_utils.immich_health import health_checks


def immich_health_checks(raw: t.Any, **options: t.Any) -> list[dict[str, t.Any]]:
    try:
        return health_checks(raw, **options)
    except ValueError as error:
        raise AnsibleFilterError("immich_health_checks: %s" % error) from error


class FilterModule:
    """homelab.immich_pi.immich_health_checks"""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"immich_health_checks": immich_health_checks}
