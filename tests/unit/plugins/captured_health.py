# SPDX-License-Identifier: GPL-3.0-or-later
"""What playbooks/health.yml registered on the demo's simulated Pi (tests/testbed/demo.sh), as
Ansible registered it: commands, slurp, uri and the collection's info modules. Trimmed of
timings, invocation and docker labels; nothing else changed.

HEALTHY is a converged Pi one minute after `playbooks/backup.yml`. Each entry of BROKEN holds the
results that differed after breaking the Pi (the rest was as in HEALTHY): mount_stopped
(systemctl stop rclone-azurephotos), shadowed_down (a file written under the stopped mount
point), rclone_crashloop (rclone killed every second: a dead FUSE mount), container_paused,
container_stopped (the stack unit restarts the whole stack), backup_failed_mount_down (the
backup job run while the stack was down), blob_unreachable and blob_badkey (the controller
pointed at a closed port, and given a wrong account key), no_backup (every backup deleted from
Azure). Captured 2026-11-22 between 03:20 and 03:31 UTC. Added since, by hand: the units'
StatusText (asked for from 2026-12-05): rclone's line in HEALTHY, in the format rclone 1.75.2
sends to systemd after each cache poll; the BROKEN captures have none, as when rclone is down.
"""

from __future__ import annotations

import base64
import json

# The time of the healthy capture.
CAPTURED_AT = "2026-11-22T03:20:55Z"


def b64(text: str) -> str:
    """slurp's content."""
    return base64.b64encode(text.encode()).decode()


def ndjson(rows: list) -> str:
    """docker compose ps --format json: one object a line."""
    return "\n".join(json.dumps(row, separators=(",", ":")) for row in rows)


STATUS_HEALTHY = {
    "started": "2026-11-22T03:19:24.712226+00:00",
    "object": "backup/immich-db-20261122T031924Z-v3.2.2.sql.zst",
    "bytes": 1587,
    "pruned": [],
    "sha256": "4edc093c9ee4509889ec76ba41a749fac0eece8493d8bdd92a0db1463db8d719",
    "result": "ok",
    "message": "stored backup/immich-db-20261122T031924Z-v3.2.2.sql.zst (1587 bytes), pruned 0",
    "duration_s": 1.4,
    "finished": "2026-11-22T03:19:26.098509+00:00",
}

PS_HEALTHY = [
    {
        "ExitCode": 0,
        "Health": "healthy",
        "Image": "immich-pi-testbed/immich-machine-learning-standin:testbed",
        "Name": "immich_machine_learning",
        "Project": "immich",
        "Service": "immich-machine-learning",
        "State": "running",
        "Status": "Up 7 minutes (healthy)",
    },
    {
        "ExitCode": 0,
        "Health": "healthy",
        "Image": "immich-pi-testbed/postgres-pgvector:17",
        "Name": "immich_postgres",
        "Project": "immich",
        "Service": "database",
        "State": "running",
        "Status": "Up 7 minutes (healthy)",
    },
    {
        "ExitCode": 0,
        "Health": "healthy",
        "Image": "immich-pi-testbed/valkey:testbed",
        "Name": "immich_redis",
        "Project": "immich",
        "Service": "redis",
        "State": "running",
        "Status": "Up 7 minutes (healthy)",
    },
    {
        "ExitCode": 0,
        "Health": "healthy",
        "Image": "immich-pi-testbed/immich-server-standin:testbed",
        "Name": "immich_server",
        "Project": "immich",
        "Service": "immich-server",
        "State": "running",
        "Status": "Up 7 minutes (healthy)",
    },
]

MEMINFO_HEALTHY = """\
MemTotal:       24731272 kB
MemFree:        12704328 kB
MemAvailable:   22707976 kB
Buffers:          303328 kB
Cached:          9111204 kB
SwapTotal:             0 kB
SwapFree:              0 kB
"""

PS_MOUNT_STOPPED = [
    {
        "ExitCode": 0,
        "Health": "",
        "Image": "immich-pi-testbed/immich-machine-learning-standin:testbed",
        "Name": "immich_machine_learning",
        "Project": "immich",
        "Service": "immich-machine-learning",
        "State": "exited",
        "Status": "Exited (0) 33 seconds ago",
    },
    {
        "ExitCode": 0,
        "Health": "",
        "Image": "immich-pi-testbed/postgres-pgvector:17",
        "Name": "immich_postgres",
        "Project": "immich",
        "Service": "database",
        "State": "exited",
        "Status": "Exited (0) 32 seconds ago",
    },
    {
        "ExitCode": 0,
        "Health": "",
        "Image": "immich-pi-testbed/valkey:testbed",
        "Name": "immich_redis",
        "Project": "immich",
        "Service": "redis",
        "State": "exited",
        "Status": "Exited (0) 32 seconds ago",
    },
    {
        "ExitCode": 0,
        "Health": "",
        "Image": "immich-pi-testbed/immich-server-standin:testbed",
        "Name": "immich_server",
        "Project": "immich",
        "Service": "immich-server",
        "State": "exited",
        "Status": "Exited (0) 33 seconds ago",
    },
]

PS_RCLONE_CRASHLOOP = [
    {
        "ExitCode": 0,
        "Health": "starting",
        "Image": "immich-pi-testbed/immich-machine-learning-standin:testbed",
        "Name": "immich_machine_learning",
        "Project": "immich",
        "Service": "immich-machine-learning",
        "State": "running",
        "Status": "Up Less than a second (health: starting)",
    },
    {
        "ExitCode": 0,
        "Health": "starting",
        "Image": "immich-pi-testbed/postgres-pgvector:17",
        "Name": "immich_postgres",
        "Project": "immich",
        "Service": "database",
        "State": "running",
        "Status": "Up Less than a second (health: starting)",
    },
    {
        "ExitCode": 0,
        "Health": "",
        "Image": "immich-pi-testbed/valkey:testbed",
        "Name": "immich_redis",
        "Project": "immich",
        "Service": "redis",
        "State": "running",
        "Status": "Up Less than a second (health: starting)",
    },
    {
        "ExitCode": 0,
        "Health": "",
        "Image": "immich-pi-testbed/immich-server-standin:testbed",
        "Name": "immich_server",
        "Project": "immich",
        "Service": "immich-server",
        "State": "exited",
        "Status": "Exited (0) 20 seconds ago",
    },
]

PS_CONTAINER_PAUSED = [
    {
        "ExitCode": 0,
        "Health": "",
        "Image": "immich-pi-testbed/immich-machine-learning-standin:testbed",
        "Name": "immich_machine_learning",
        "Project": "immich",
        "Service": "immich-machine-learning",
        "State": "paused",
        "Status": "Up 57 seconds (Paused)",
    },
    {
        "ExitCode": 0,
        "Health": "healthy",
        "Image": "immich-pi-testbed/postgres-pgvector:17",
        "Name": "immich_postgres",
        "Project": "immich",
        "Service": "database",
        "State": "running",
        "Status": "Up 58 seconds (healthy)",
    },
    {
        "ExitCode": 0,
        "Health": "healthy",
        "Image": "immich-pi-testbed/valkey:testbed",
        "Name": "immich_redis",
        "Project": "immich",
        "Service": "redis",
        "State": "running",
        "Status": "Up 57 seconds (healthy)",
    },
    {
        "ExitCode": 0,
        "Health": "healthy",
        "Image": "immich-pi-testbed/immich-server-standin:testbed",
        "Name": "immich_server",
        "Project": "immich",
        "Service": "immich-server",
        "State": "running",
        "Status": "Up 57 seconds (healthy)",
    },
]

STATUS_BACKUP_FAILED_MOUNT_DOWN = {
    "started": "2026-11-22T03:29:11.369302+00:00",
    "object": "backup/immich-db-20261122T032911Z-v3.2.2.sql.zst",
    "bytes": 0,
    "pruned": [],
    "result": "failed",
    "message": "nothing stored: pg_dumpall exited 1",
    "duration_s": 0.8,
    "finished": "2026-11-22T03:29:12.200498+00:00",
}

STATUS_BLOB_BADKEY = {
    "started": "2026-11-22T03:30:02.054760+00:00",
    "object": "backup/immich-db-20261122T033002Z-v3.2.2.sql.zst",
    "bytes": 1587,
    "pruned": [],
    "sha256": "c91bc7b164171f481da0f05ca170359ab6ddc19d7907de9c9cafda9daafabb0b",
    "result": "ok",
    "message": "stored backup/immich-db-20261122T033002Z-v3.2.2.sql.zst (1587 bytes), pruned 0",
    "duration_s": 2.9,
    "finished": "2026-11-22T03:30:04.943519+00:00",
}

HEALTHY = {
    "azure_mount": {
        "changed": False,
        "failed": False,
        "fstype": "fuse.rclone",
        "mount": {"fstype": "fuse.rclone", "mount_point": "/mnt/azurephotos", "source": "azurephotos:immich-pi-demo"},
        "mounted": True,
        "problems": [],
        "remote": "azurephotos:immich-pi-demo",
        "resolved_path": "/mnt/azurephotos",
        "responsive": True,
        "shadowed_entries": 0,
        "shadowed_paths": [],
        "status": "live",
        "writable": None,
    },
    "backup_status": {
        "changed": False,
        "content": b64(json.dumps(STATUS_HEALTHY, indent=2)),
        "encoding": "base64",
        "failed": False,
        "source": "/var/lib/immich-backup/status.json",
    },
    "blobs": {
        "account": "devstoreaccount1",
        "blobs": [
            {
                "content_md5": None,
                "directory_marker": False,
                "etag": "0x247B98081CF4700",
                "last_modified": "2026-11-22T03:19:26Z",
                "metadata": {
                    "immich_version": "v3.2.2",
                    "sha256": "4edc093c9ee4509889ec76ba41a749fac0eece8493d8bdd92a0db1463db8d719",
                },
                "name": "backup/immich-db-20261122T031924Z-v3.2.2.sql.zst",
                "size": 1587,
            }
        ],
        "changed": False,
        "container": "immich-pi-demo",
        "count": 1,
        "endpoint": "http://172.17.0.1:10000/devstoreaccount1",
        "error_kind": None,
        "failed": False,
        "newest": {
            "content_md5": None,
            "directory_marker": False,
            "etag": "0x247B98081CF4700",
            "last_modified": "2026-11-22T03:19:26Z",
            "metadata": {
                "immich_version": "v3.2.2",
                "sha256": "4edc093c9ee4509889ec76ba41a749fac0eece8493d8bdd92a0db1463db8d719",
            },
            "name": "backup/immich-db-20261122T031924Z-v3.2.2.sql.zst",
            "size": 1587,
        },
        "prefix": "backup/immich-db-",
        "problems": [],
        "total_size": 1587,
        "truncated": False,
    },
    "compose_ps": {
        "changed": False,
        "cmd": [
            "/usr/bin/docker",
            "compose",
            "--project-directory",
            "/opt/immich",
            "--project-name",
            "immich",
            "ps",
            "--all",
            "--format",
            "json",
        ],
        "failed": False,
        "msg": "",
        "rc": 0,
        "stderr": "",
        "stdout": ndjson(PS_HEALTHY),
    },
    "compose_services": {
        "changed": False,
        "cmd": [
            "/usr/bin/docker",
            "compose",
            "--project-directory",
            "/opt/immich",
            "--project-name",
            "immich",
            "config",
            "--services",
        ],
        "failed": False,
        "msg": "",
        "rc": 0,
        "stderr": "",
        "stdout": "redis\ndatabase\nimmich-server\nimmich-machine-learning",
    },
    "database": {
        "available_extensions": {
            "cube": {"default_version": "1.5", "versions": ["1.2", "1.3", "1.4", "1.5"]},
            "earthdistance": {"default_version": "1.2", "versions": ["1.1", "1.2"]},
            "vector": {"default_version": "0.8.0", "versions": ["0.8.0"]},
        },
        "changed": False,
        "extensions": {"cube": "1.5", "earthdistance": "1.2", "vector": "0.8.0"},
        "failed": False,
        "problems": [],
        "reachable": True,
        "server_version": "17.11",
        "server_version_num": 170011,
        "shared_preload_libraries": [],
        "supported": {
            "before": "v3.3.0",
            "postgres": [14, 18],
            "since": "v3.0.0",
            "vchord": ["0.3.0", "2.0.0"],
            "vector": ["0.7.0", "1.0.0"],
            "vectors": None,
        },
        "vector_mode": "pgvector",
    },
    "df": {
        "changed": False,
        "cmd": ["df", "--block-size=1", "--output=size,avail,fstype,source,target,file", "/", "/mnt/ssd"],
        "failed": False,
        "msg": "",
        "rc": 0,
        "stderr": "",
        "stdout": "   1B-blocks       Avail Type    Filesystem     Mounted on File\n"
        "270553174016 64479789056 overlay overlay        /          /\n"
        "  4143677440  3065401344 ext4    /dev/sda       /mnt/ssd   /mnt/ssd",
    },
    "meminfo": {
        "changed": False,
        "content": b64(MEMINFO_HEALTHY),
        "encoding": "base64",
        "failed": False,
        "source": "/proc/meminfo",
    },
    "ping": {
        "changed": False,
        "content": '{"res":"pong"}',
        "content_type": "application/json; charset=utf-8",
        "failed": False,
        "json": {"res": "pong"},
        "msg": "OK (14 bytes)",
        "status": 200,
        "url": "http://127.0.0.1:2283/api/server/ping",
    },
    "thermal": {"changed": False, "failed": False, "msg": "File not found: /sys/class/thermal/thermal_zone0/temp"},
    "throttled": {
        "changed": False,
        "cmd": "vcgencmd get_throttled",
        "failed": False,
        "msg": "Error executing command.",
        "rc": 2,
        "stderr": "",
        "stdout": "",
    },
    "units": {
        "changed": False,
        "cmd": [
            "systemctl",
            "show",
            "--property=Id,LoadState,ActiveState,SubState,Result,StatusText",
            "rclone-azurephotos.service",
            "immich-stack.service",
            "cloudflared.service",
        ],
        "failed": False,
        "msg": "",
        "rc": 0,
        "stderr": "",
        "stdout": "Result=success\n"
        "Id=rclone-azurephotos.service\n"
        "LoadState=loaded\n"
        "ActiveState=active\n"
        "SubState=running\n"
        "StatusText=[13:05] vfs cache: objects 4 (was 4) in use 0, to upload 0, uploading 0, total size 68Ki (was 68Ki)\n"
        "\n"
        "Result=success\n"
        "Id=immich-stack.service\n"
        "LoadState=loaded\n"
        "ActiveState=active\n"
        "SubState=running\n"
        "\n"
        "Result=success\n"
        "Id=cloudflared.service\n"
        "LoadState=loaded\n"
        "ActiveState=active\n"
        "SubState=running",
    },
    "vfs_cache": {
        "changed": False,
        "cmd": ["du", "--summarize", "--block-size=1", "/mnt/ssd/rclone-cache"],
        "failed": False,
        "msg": "",
        "rc": 0,
        "stderr": "",
        "stdout": "69632\t/mnt/ssd/rclone-cache",
    },
}

BROKEN = {
    "mount_stopped": {
        "azure_mount": {
            "changed": False,
            "failed": False,
            "fstype": None,
            "mount": None,
            "mounted": False,
            "problems": ["/mnt/azurephotos is not mounted: start rclone-azurephotos.service"],
            "remote": None,
            "resolved_path": "/mnt/azurephotos",
            "responsive": True,
            "shadowed_entries": 0,
            "shadowed_paths": [],
            "status": "not_mounted",
            "writable": None,
        },
        "compose_ps": {
            "changed": False,
            "cmd": [
                "/usr/bin/docker",
                "compose",
                "--project-directory",
                "/opt/immich",
                "--project-name",
                "immich",
                "ps",
                "--all",
                "--format",
                "json",
            ],
            "failed": False,
            "msg": "",
            "rc": 0,
            "stderr": "",
            "stdout": ndjson(PS_MOUNT_STOPPED),
        },
        "database": {
            "available_extensions": {},
            "changed": False,
            "extensions": {},
            "failed": False,
            "problems": [
                "cannot query database immich as postgres in container "
                "immich_postgres: Error response from daemon: container "
                "c3f5a5cd1be9036b792b1d3c8a64d3ba209407002ba2e452fd8208039ccf18e1 is "
                "not running"
            ],
            "reachable": False,
            "server_version": None,
            "server_version_num": None,
            "shared_preload_libraries": [],
            "supported": {
                "before": "v3.3.0",
                "postgres": [14, 18],
                "since": "v3.0.0",
                "vchord": ["0.3.0", "2.0.0"],
                "vector": ["0.7.0", "1.0.0"],
                "vectors": None,
            },
            "vector_mode": None,
        },
        "ping": {
            "changed": False,
            "content": "",
            "failed": False,
            "msg": "Status code was -1 and not [200]: Request failed: <urlopen error [Errno 111] "
            "Connection refused>",
            "status": -1,
            "url": "http://127.0.0.1:2283/api/server/ping",
        },
        "units": {
            "changed": False,
            "cmd": [
                "systemctl",
                "show",
                "--property=Id,LoadState,ActiveState,SubState,Result,StatusText",
                "rclone-azurephotos.service",
                "immich-stack.service",
                "cloudflared.service",
            ],
            "failed": False,
            "msg": "",
            "rc": 0,
            "stderr": "",
            "stdout": "Result=success\n"
            "Id=rclone-azurephotos.service\n"
            "LoadState=loaded\n"
            "ActiveState=inactive\n"
            "SubState=dead\n"
            "\n"
            "Result=success\n"
            "Id=immich-stack.service\n"
            "LoadState=loaded\n"
            "ActiveState=inactive\n"
            "SubState=dead\n"
            "\n"
            "Result=success\n"
            "Id=cloudflared.service\n"
            "LoadState=loaded\n"
            "ActiveState=active\n"
            "SubState=running",
        },
    },
    "shadowed_down": {
        "azure_mount": {
            "changed": False,
            "failed": False,
            "fstype": None,
            "mount": None,
            "mounted": False,
            "problems": [
                "/mnt/azurephotos is not mounted: start rclone-azurephotos.service",
                "/mnt/azurephotos holds 2 entries on the local disk although "
                "nothing is mounted there (e.g. originals, "
                "originals/stranded.jpg): files were written while the mount was "
                "down; move them out of the way, start the mount, then move them "
                "into the mounted folder",
            ],
            "remote": None,
            "resolved_path": "/mnt/azurephotos",
            "responsive": True,
            "shadowed_entries": 2,
            "shadowed_paths": ["originals", "originals/stranded.jpg"],
            "status": "not_mounted",
            "writable": None,
        },
        "compose_ps": {
            "changed": False,
            "cmd": [
                "/usr/bin/docker",
                "compose",
                "--project-directory",
                "/opt/immich",
                "--project-name",
                "immich",
                "ps",
                "--all",
                "--format",
                "json",
            ],
            "failed": False,
            "msg": "",
            "rc": 0,
            "stderr": "",
            "stdout": ndjson(PS_MOUNT_STOPPED),
        },
        "database": {
            "available_extensions": {},
            "changed": False,
            "extensions": {},
            "failed": False,
            "problems": [
                "cannot query database immich as postgres in container "
                "immich_postgres: Error response from daemon: container "
                "c3f5a5cd1be9036b792b1d3c8a64d3ba209407002ba2e452fd8208039ccf18e1 is "
                "not running"
            ],
            "reachable": False,
            "server_version": None,
            "server_version_num": None,
            "shared_preload_libraries": [],
            "supported": {
                "before": "v3.3.0",
                "postgres": [14, 18],
                "since": "v3.0.0",
                "vchord": ["0.3.0", "2.0.0"],
                "vector": ["0.7.0", "1.0.0"],
                "vectors": None,
            },
            "vector_mode": None,
        },
        "ping": {
            "changed": False,
            "content": "",
            "failed": False,
            "msg": "Status code was -1 and not [200]: Request failed: <urlopen error [Errno 111] "
            "Connection refused>",
            "status": -1,
            "url": "http://127.0.0.1:2283/api/server/ping",
        },
        "units": {
            "changed": False,
            "cmd": [
                "systemctl",
                "show",
                "--property=Id,LoadState,ActiveState,SubState,Result,StatusText",
                "rclone-azurephotos.service",
                "immich-stack.service",
                "cloudflared.service",
            ],
            "failed": False,
            "msg": "",
            "rc": 0,
            "stderr": "",
            "stdout": "Result=success\n"
            "Id=rclone-azurephotos.service\n"
            "LoadState=loaded\n"
            "ActiveState=inactive\n"
            "SubState=dead\n"
            "\n"
            "Result=success\n"
            "Id=immich-stack.service\n"
            "LoadState=loaded\n"
            "ActiveState=inactive\n"
            "SubState=dead\n"
            "\n"
            "Result=success\n"
            "Id=cloudflared.service\n"
            "LoadState=loaded\n"
            "ActiveState=active\n"
            "SubState=running",
        },
    },
    "rclone_crashloop": {
        "azure_mount": {
            "changed": False,
            "failed": False,
            "fstype": "fuse.rclone",
            "mount": {
                "fstype": "fuse.rclone",
                "mount_point": "/mnt/azurephotos",
                "source": "azurephotos:immich-pi-demo",
            },
            "mounted": False,
            "problems": [
                "/mnt/azurephotos is a stale FUSE mount (transport endpoint is "
                "not connected: its rclone process is gone): unmount it with "
                "'fusermount3 -uz /mnt/azurephotos' and restart "
                "rclone-azurephotos.service"
            ],
            "remote": "azurephotos:immich-pi-demo",
            "resolved_path": "/mnt/azurephotos",
            "responsive": False,
            "shadowed_entries": 0,
            "shadowed_paths": [],
            "status": "stale",
            "writable": None,
        },
        "compose_ps": {
            "changed": False,
            "cmd": [
                "/usr/bin/docker",
                "compose",
                "--project-directory",
                "/opt/immich",
                "--project-name",
                "immich",
                "ps",
                "--all",
                "--format",
                "json",
            ],
            "failed": False,
            "msg": "",
            "rc": 0,
            "stderr": "",
            "stdout": ndjson(PS_RCLONE_CRASHLOOP),
        },
        "database": {
            "available_extensions": {},
            "changed": False,
            "extensions": {},
            "failed": False,
            "problems": [
                "cannot query database immich as postgres in container "
                "immich_postgres: Error response from daemon: container "
                "c3f5a5cd1be9036b792b1d3c8a64d3ba209407002ba2e452fd8208039ccf18e1 "
                "is not running"
            ],
            "reachable": False,
            "server_version": None,
            "server_version_num": None,
            "shared_preload_libraries": [],
            "supported": {
                "before": "v3.3.0",
                "postgres": [14, 18],
                "since": "v3.0.0",
                "vchord": ["0.3.0", "2.0.0"],
                "vector": ["0.7.0", "1.0.0"],
                "vectors": None,
            },
            "vector_mode": None,
        },
        "ping": {
            "changed": False,
            "content": "",
            "failed": False,
            "msg": "Status code was -1 and not [200]: Request failed: <urlopen error [Errno "
            "111] Connection refused>",
            "status": -1,
            "url": "http://127.0.0.1:2283/api/server/ping",
        },
        "units": {
            "changed": False,
            "cmd": [
                "systemctl",
                "show",
                "--property=Id,LoadState,ActiveState,SubState,Result,StatusText",
                "rclone-azurephotos.service",
                "immich-stack.service",
                "cloudflared.service",
            ],
            "failed": False,
            "msg": "",
            "rc": 0,
            "stderr": "",
            "stdout": "Result=success\n"
            "Id=rclone-azurephotos.service\n"
            "LoadState=loaded\n"
            "ActiveState=activating\n"
            "SubState=start\n"
            "\n"
            "Result=exit-code\n"
            "Id=immich-stack.service\n"
            "LoadState=loaded\n"
            "ActiveState=deactivating\n"
            "SubState=stop\n"
            "\n"
            "Result=success\n"
            "Id=cloudflared.service\n"
            "LoadState=loaded\n"
            "ActiveState=active\n"
            "SubState=running",
        },
    },
    "container_paused": {
        "compose_ps": {
            "changed": False,
            "cmd": [
                "/usr/bin/docker",
                "compose",
                "--project-directory",
                "/opt/immich",
                "--project-name",
                "immich",
                "ps",
                "--all",
                "--format",
                "json",
            ],
            "failed": False,
            "msg": "",
            "rc": 0,
            "stderr": "",
            "stdout": ndjson(PS_CONTAINER_PAUSED),
        }
    },
    "container_stopped": {
        "compose_ps": {
            "changed": False,
            "cmd": [
                "/usr/bin/docker",
                "compose",
                "--project-directory",
                "/opt/immich",
                "--project-name",
                "immich",
                "ps",
                "--all",
                "--format",
                "json",
            ],
            "failed": False,
            "msg": "",
            "rc": 0,
            "stderr": "",
            "stdout": ndjson(PS_MOUNT_STOPPED),
        },
        "database": {
            "available_extensions": {},
            "changed": False,
            "extensions": {},
            "failed": False,
            "problems": [
                "cannot query database immich as postgres in container "
                "immich_postgres: Error response from daemon: container "
                "c3f5a5cd1be9036b792b1d3c8a64d3ba209407002ba2e452fd8208039ccf18e1 "
                "is not running"
            ],
            "reachable": False,
            "server_version": None,
            "server_version_num": None,
            "shared_preload_libraries": [],
            "supported": {
                "before": "v3.3.0",
                "postgres": [14, 18],
                "since": "v3.0.0",
                "vchord": ["0.3.0", "2.0.0"],
                "vector": ["0.7.0", "1.0.0"],
                "vectors": None,
            },
            "vector_mode": None,
        },
        "ping": {
            "changed": False,
            "content": "",
            "failed": False,
            "msg": "Status code was -1 and not [200]: Request failed: <urlopen error [Errno "
            "111] Connection refused>",
            "status": -1,
            "url": "http://127.0.0.1:2283/api/server/ping",
        },
        "units": {
            "changed": False,
            "cmd": [
                "systemctl",
                "show",
                "--property=Id,LoadState,ActiveState,SubState,Result,StatusText",
                "rclone-azurephotos.service",
                "immich-stack.service",
                "cloudflared.service",
            ],
            "failed": False,
            "msg": "",
            "rc": 0,
            "stderr": "",
            "stdout": "Result=success\n"
            "Id=rclone-azurephotos.service\n"
            "LoadState=loaded\n"
            "ActiveState=active\n"
            "SubState=running\n"
            "\n"
            "Result=success\n"
            "Id=immich-stack.service\n"
            "LoadState=loaded\n"
            "ActiveState=activating\n"
            "SubState=auto-restart\n"
            "\n"
            "Result=success\n"
            "Id=cloudflared.service\n"
            "LoadState=loaded\n"
            "ActiveState=active\n"
            "SubState=running",
        },
    },
    "backup_failed_mount_down": {
        "azure_mount": {
            "changed": False,
            "failed": False,
            "fstype": None,
            "mount": None,
            "mounted": False,
            "problems": ["/mnt/azurephotos is not mounted: start rclone-azurephotos.service"],
            "remote": None,
            "resolved_path": "/mnt/azurephotos",
            "responsive": True,
            "shadowed_entries": 0,
            "shadowed_paths": [],
            "status": "not_mounted",
            "writable": None,
        },
        "backup_status": {
            "changed": False,
            "content": b64(json.dumps(STATUS_BACKUP_FAILED_MOUNT_DOWN, indent=2)),
            "encoding": "base64",
            "failed": False,
            "source": "/var/lib/immich-backup/status.json",
        },
        "blobs": {
            "account": "devstoreaccount1",
            "blobs": [
                {
                    "content_md5": "6652e0e0603579e9faed9caeb0826cd4",
                    "directory_marker": False,
                    "etag": "0x1EFF2824C38B540",
                    "last_modified": "2026-11-22T03:28:29Z",
                    "metadata": {},
                    "name": "backup/immich-db-20261119T152829Z-v3.2.2.sql.zst",
                    "size": 2004,
                }
            ],
            "changed": False,
            "container": "immich-pi-demo",
            "count": 1,
            "endpoint": "http://172.17.0.1:10000/devstoreaccount1",
            "error_kind": None,
            "failed": False,
            "newest": {
                "content_md5": "6652e0e0603579e9faed9caeb0826cd4",
                "directory_marker": False,
                "etag": "0x1EFF2824C38B540",
                "last_modified": "2026-11-22T03:28:29Z",
                "metadata": {},
                "name": "backup/immich-db-20261119T152829Z-v3.2.2.sql.zst",
                "size": 2004,
            },
            "prefix": "backup/immich-db-",
            "problems": [],
            "total_size": 2004,
            "truncated": False,
        },
        "compose_ps": {
            "changed": False,
            "cmd": [
                "/usr/bin/docker",
                "compose",
                "--project-directory",
                "/opt/immich",
                "--project-name",
                "immich",
                "ps",
                "--all",
                "--format",
                "json",
            ],
            "failed": False,
            "msg": "",
            "rc": 0,
            "stderr": "",
            "stdout": ndjson(PS_MOUNT_STOPPED),
        },
        "database": {
            "available_extensions": {},
            "changed": False,
            "extensions": {},
            "failed": False,
            "problems": [
                "cannot query database immich as postgres in container "
                "immich_postgres: Error response from daemon: container "
                "c3f5a5cd1be9036b792b1d3c8a64d3ba209407002ba2e452fd8208039ccf18e1 "
                "is not running"
            ],
            "reachable": False,
            "server_version": None,
            "server_version_num": None,
            "shared_preload_libraries": [],
            "supported": {
                "before": "v3.3.0",
                "postgres": [14, 18],
                "since": "v3.0.0",
                "vchord": ["0.3.0", "2.0.0"],
                "vector": ["0.7.0", "1.0.0"],
                "vectors": None,
            },
            "vector_mode": None,
        },
        "ping": {
            "changed": False,
            "content": "",
            "failed": False,
            "msg": "Status code was -1 and not [200]: Request failed: <urlopen error "
            "[Errno 111] Connection refused>",
            "status": -1,
            "url": "http://127.0.0.1:2283/api/server/ping",
        },
        "units": {
            "changed": False,
            "cmd": [
                "systemctl",
                "show",
                "--property=Id,LoadState,ActiveState,SubState,Result,StatusText",
                "rclone-azurephotos.service",
                "immich-stack.service",
                "cloudflared.service",
            ],
            "failed": False,
            "msg": "",
            "rc": 0,
            "stderr": "",
            "stdout": "Result=success\n"
            "Id=rclone-azurephotos.service\n"
            "LoadState=loaded\n"
            "ActiveState=inactive\n"
            "SubState=dead\n"
            "\n"
            "Result=success\n"
            "Id=immich-stack.service\n"
            "LoadState=loaded\n"
            "ActiveState=inactive\n"
            "SubState=dead\n"
            "\n"
            "Result=success\n"
            "Id=cloudflared.service\n"
            "LoadState=loaded\n"
            "ActiveState=active\n"
            "SubState=running",
        },
    },
    "blob_unreachable": {
        "backup_status": {
            "changed": False,
            "content": b64(json.dumps(STATUS_BACKUP_FAILED_MOUNT_DOWN, indent=2)),
            "encoding": "base64",
            "failed": False,
            "source": "/var/lib/immich-backup/status.json",
        },
        "blobs": {
            "account": "devstoreaccount1",
            "changed": False,
            "container": "immich-pi-demo",
            "endpoint": "http://127.0.0.1:9/devstoreaccount1",
            "error_kind": "unreachable",
            "failed": False,
            "msg": "cannot reach http://127.0.0.1:9/devstoreaccount1 (connection refused): "
            "check the network, a firewall or proxy between here and there, and the "
            "endpoint",
            "prefix": "backup/immich-db-",
            "problems": [
                "cannot reach http://127.0.0.1:9/devstoreaccount1 (connection "
                "refused): check the network, a firewall or proxy between here and "
                "there, and the endpoint"
            ],
        },
    },
    "blob_badkey": {
        "backup_status": {
            "changed": False,
            "content": b64(json.dumps(STATUS_BLOB_BADKEY, indent=2)),
            "encoding": "base64",
            "failed": False,
            "source": "/var/lib/immich-backup/status.json",
        },
        "blobs": {
            "account": "devstoreaccount1",
            "changed": False,
            "container": "immich-pi-demo",
            "endpoint": "http://172.17.0.1:10000/devstoreaccount1",
            "error_kind": "authentication_failed",
            "failed": False,
            "msg": "storage account 'devstoreaccount1' rejected the credentials (HTTP 403 "
            "AuthorizationFailure): the account key is wrong: copy key1 or key2 from the "
            "storage account's Access keys page into account_key",
            "prefix": "backup/immich-db-",
            "problems": [
                "storage account 'devstoreaccount1' rejected the credentials (HTTP 403 "
                "AuthorizationFailure): the account key is wrong: copy key1 or key2 from "
                "the storage account's Access keys page into account_key"
            ],
        },
    },
    "no_backup": {
        "blobs": {
            "account": "devstoreaccount1",
            "blobs": [],
            "changed": False,
            "container": "immich-pi-demo",
            "count": 0,
            "endpoint": "http://172.17.0.1:10000/devstoreaccount1",
            "error_kind": None,
            "failed": False,
            "newest": None,
            "prefix": "backup/immich-db-",
            "problems": [],
            "total_size": 0,
            "truncated": False,
        }
    },
}


# --- Hand-made, not captured -------------------------------------------------------------------
# Written by hand (2026-12-05) in the shape the jobs write since they record their ping, as the
# integration tests (tests/integration/test_immich_db_backup.py, test_immich_media_backup.py)
# see it: STATUS_HEALTHY's run had its ping answered HTTP 500 (the dump is stored, the run
# failed, exit 4), and a thumbnail copy run an hour earlier whose ping URL is not a URL.

HANDMADE_STATUS_PING_FAILED = {
    "started": "2026-11-22T03:19:24.712226+00:00",
    "object": "backup/immich-db-20261122T031924Z-v3.2.2.sql.zst",
    "bytes": 1587,
    "pruned": [],
    "sha256": "4edc093c9ee4509889ec76ba41a749fac0eece8493d8bdd92a0db1463db8d719",
    "result": "failed",
    "message": "stored backup/immich-db-20261122T031924Z-v3.2.2.sql.zst (1587 bytes), pruned 0; the backup itself "
               "(backup/immich-db-20261122T031924Z-v3.2.2.sql.zst) is stored, but the ping to https://hc-ping.com "
               "failed: HTTPError: HTTP Error 500: Internal Server Error (check backup_ping_url)",
    "backup_result": "ok",
    "ping": {"to": "https://hc-ping.com", "signal": "success", "result": "failed",
             "error": "HTTPError: HTTP Error 500: Internal Server Error"},
    "duration_s": 1.5,
    "finished": "2026-11-22T03:19:26.198509+00:00",
}

HANDMADE_MEDIA_STATUS_PING_MALFORMED = {
    "started": "2026-11-22T02:19:26.300000+00:00",
    "accept_loss": False,
    "folders": {
        "thumbs": {"path": "/mnt/ssd/immich/thumbs", "destination": "azurephotos:immich-pi-demo/backup/thumbs/",
                   "local_files": 12, "local_bytes": 180224, "remote_files": 12, "remote_bytes": 180224,
                   "copied_files": 0, "copied_bytes": 0, "deleted_files": 0, "errors": 0, "duration_s": 0.4},
    },
    "result": "failed",
    "message": "thumbs: 0 files (0 bytes) copied, 0 deleted; the copy itself "
               "(azurephotos:immich-pi-demo/backup/thumbs/) is stored, but the ping to the ping URL (not shown) "
               "failed: not an http:// or https:// URL with a host and no spaces (check backup_media_ping_url)",
    "backup_result": "ok",
    "ping": {"to": "the ping URL (not shown)", "signal": "success", "result": "failed",
             "error": "not an http:// or https:// URL with a host and no spaces"},
    "files": 12,
    "bytes": 180224,
    "copied_files": 0,
    "copied_bytes": 0,
    "deleted_files": 0,
    "duration_s": 1.1,
    "finished": "2026-11-22T02:19:27.400000+00:00",
}
