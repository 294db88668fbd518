# SPDX-License-Identifier: GPL-3.0-or-later
"""Thumbnails back onto a new SSD from their copy in Azure, against downloading every original again.

In one run, against its own Azurite (benchmarks/private_azurite.py):

1. a database with Immich v3.2.2's schema and --assets assets (tests/testbed/files/immich_v3_schema.sql,
   then immich_v3_data.sql) in a throwaway container of the test bed's PostgreSQL image;
2. "Pi 1's SSD": an ext4 filesystem on a loop device with a file of a realistic size at the host
   path of every thumbnail and preview in asset_file (and every person's face thumbnail), copied
   to a fresh Blob container by the backup role's job (roles/backup/files/immich_media_backup.py,
   `backup`);
3. "Pi 2's blank SSD": another fresh ext4 loop mount; the job's `restore` is timed until every
   file is back, then the .immich markers the database expects are written and an HTTP server on
   the restored folder serves one preview (the time to the first preview served);
4. the baseline: regenerating the thumbnails reads every original of the assets not deleted
   (the sum of asset_exif."fileSizeInByte"); its download time is estimated at the restore's
   throughput, and at the throughput of a sample of original-sized files downloaded the same way.

Run with the project's venv, as root (loop devices, mounts):
  .venv/bin/python benchmarks/recovery.py --help
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import importlib.util
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
JOB = os.path.join(REPO_ROOT, "roles", "backup", "files", "immich_media_backup.py")
MARKERS = os.path.join(REPO_ROOT, "plugins", "modules", "immich_media_markers.py")
SCHEMA = os.path.join(REPO_ROOT, "tests", "testbed", "files", "immich_v3_schema.sql")
DATA = os.path.join(REPO_ROOT, "tests", "testbed", "files", "immich_v3_data.sql")
PRIVATE_AZURITE = os.path.join(REPO_ROOT, "benchmarks", "private_azurite.py")
BACKUP_BENCH = os.path.join(REPO_ROOT, "benchmarks", "backup_restore.py")
IMAGE = "immich-pi-testbed/postgres-pgvector:17"

PREFIX = "backup/"  # backup_prefix, the role's default
MEDIA_LOCATION = "/data/"  # IMMICH_MEDIA_LOCATION inside Immich's server container
# Where Immich's folders live on the SSD (ssd_paths / immich_thumbs_location), below its mount point.
SSD_FOLDERS = {"thumbs": "immich/thumbs", "encoded-video": "immich/encoded-video"}
BACKUP_FOLDERS = ["thumbs"]  # backup_media_encoded_video: false, the role's default
# Sizes in bytes, uniformly drawn. Immich's defaults (server/src/config.ts, `image` and
# `personThumbnailSize`, immich-app/immich 01809e3046e042f5fc8991919e988677311b7ea6): a 250 px WebP
# thumbnail and a 1440 px JPEG preview, both quality 80; a person's face thumbnail is 250 px. The
# byte ranges are our estimate of what those settings give for phone photos, not Immich's numbers.
SIZES = {
    "thumbnail": (8_000, 20_000),
    "preview": (150_000, 400_000),
    "person": (8_000, 20_000),
}
MB = 1_000_000
MiB = 1 << 20
TARGET_RATIO = 0.1  # thumbnail bytes / original bytes, at most


def _load(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The database benchmark's Docker and psql helpers, which load the rclone benchmark's log, median,
# tables, JSON line and the Azurite account of tests/integration/conftest.py: one source for all.
backup_bench = _load("_bench_backup_restore", BACKUP_BENCH)
rclone_bench = backup_bench.rclone_bench
log = rclone_bench.log
median = rclone_bench.median
fmt = rclone_bench.fmt
print_table = rclone_bench.print_table
docker = backup_bench.docker
psql_rows = backup_bench.psql_rows

Q_THUMB_FILES = f"""
SELECT f.type, f.path FROM asset_file AS f WHERE f.path LIKE '{MEDIA_LOCATION}thumbs/%'
UNION ALL
SELECT 'person', p."thumbnailPath" FROM person AS p WHERE p."thumbnailPath" <> ''
ORDER BY 2
"""
Q_OTHER_FILES = f"""
SELECT f.type, count(*) FROM asset_file AS f WHERE f.path NOT LIKE '{MEDIA_LOCATION}thumbs/%' GROUP BY 1 ORDER BY 1
"""
Q_ASSETS = """
SELECT a.type, count(*), count(*) FILTER (WHERE a."deletedAt" IS NOT NULL),
       count(e."assetId") FILTER (WHERE a."deletedAt" IS NULL),
       coalesce(sum(e."fileSizeInByte") FILTER (WHERE a."deletedAt" IS NULL), 0)
FROM asset AS a LEFT JOIN asset_exif AS e ON e."assetId" = a.id
GROUP BY 1 ORDER BY 1
"""
Q_SAMPLE = """
SELECT e."fileSizeInByte" FROM asset AS a JOIN asset_exif AS e ON e."assetId" = a.id
WHERE a."deletedAt" IS NULL AND e."fileSizeInByte" IS NOT NULL ORDER BY md5(a.id::text) LIMIT {count}
"""
Q_FLAGS = "SELECT coalesce((SELECT value::text FROM system_metadata WHERE key = 'system-flags'), '')"


# --------------------------------------------------------------------------------------------
# A stand-in USB SSD


def run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


class LoopSsd:
    """ext4 in a sparse image on a loop device, mounted noatime as the ssd role mounts the SSD."""

    def __init__(self, work: str, label: str, size: int):
        self.label = label
        self.image = os.path.join(work, f"{label}.img")
        self.mount_point = os.path.join(work, label)
        self.size = size
        self.device = ""
        self.mounted = False

    def create(self) -> LoopSsd:
        with open(self.image, "wb") as image:
            image.truncate(self.size)
        self.device = run(["losetup", "--find", "--show", self.image]).strip()
        # Inode tables and journal written now, not by ext4lazyinit in the background of the timed steps.
        run(["mkfs.ext4", "-q", "-F", "-m", "0", "-L", self.label[:16], "-E",
             "lazy_itable_init=0,lazy_journal_init=0", self.device])
        os.makedirs(self.mount_point, exist_ok=True)
        run(["mount", "-t", "ext4", "-o", "noatime", self.device, self.mount_point])
        self.mounted = True
        log(f"{self.label}: ext4 on {self.device} ({self.size / 2**30:.1f} GiB sparse image) at {self.mount_point}")
        return self

    def path(self, folder: str) -> str:
        return os.path.join(self.mount_point, SSD_FOLDERS[folder])

    def sync_seconds(self) -> float:
        """syncfs() of this filesystem only: what the kernel still had to write to the disk."""
        start = time.monotonic()
        run(["sync", "--file-system", self.mount_point])
        return time.monotonic() - start

    def remove(self, keep_image: bool = False) -> None:
        if self.mounted:
            if subprocess.run(["umount", self.mount_point], capture_output=True, check=False).returncode:
                log(f"{self.label}: busy, unmounting lazily")
                subprocess.run(["umount", "--lazy", self.mount_point], capture_output=True, check=False)
            self.mounted = False
        if self.device:
            subprocess.run(["losetup", "--detach", self.device], capture_output=True, check=False)
            self.device = ""
        if not keep_image and os.path.exists(self.image):
            os.unlink(self.image)


# --------------------------------------------------------------------------------------------
# Files


def host_path(ssd: LoopSsd, container_path: str) -> str:
    """/data/thumbs/<owner>/<xx>/<yy>/<file> -> <ssd>/immich/thumbs/<owner>/<xx>/<yy>/<file>."""
    relative = container_path[len(MEDIA_LOCATION + "thumbs/"):]
    if not container_path.startswith(MEDIA_LOCATION + "thumbs/") or ".." in relative.split("/"):
        raise RuntimeError(f"{container_path} is not in Immich's thumbs folder")
    return os.path.join(ssd.path("thumbs"), relative)


def tree(root: str) -> dict[str, int]:
    """Every file under root but Immich's marker at its top: relative path -> size."""
    found = {}
    for top, _folders, files in os.walk(root):
        for name in files:
            path = os.path.join(top, name)
            relative = os.path.relpath(path, root)
            if relative != ".immich":
                found[relative] = os.lstat(path).st_size
    return found


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(functools.partial(handle.read, MiB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_random(path: str, size: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = min(left, 16 * MiB)
            out.write(os.urandom(chunk))
            left -= chunk


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # pylint: disable=redefined-builtin
        pass


# --------------------------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="bench-recovery-", dir=args.tmpdir)
        self.private_azurite = _load("_bench_private_azurite", PRIVATE_AZURITE).PrivateAzurite(self.work, args.azurite_index)
        self.service = None
        self.tag = secrets.token_hex(4)
        self.blob_container = f"bench-{secrets.token_hex(6)}"
        self.container_client = None
        self.database = ""
        self.ssds: list[LoopSsd] = []
        self.rclone_config = os.path.join(self.work, "rclone.conf")
        self.job = _load("_bench_immich_media_backup", JOB)
        self.markers = _load("_bench_immich_media_markers", MARKERS)
        self.expected: dict[str, int] = {}  # relative path under thumbs -> size
        self.kinds: dict[str, dict] = {}  # thumbnail/preview/person -> files, bytes

    # -- the database ---------------------------------------------------------------------

    def make_database(self) -> dict:
        args = self.args
        name = f"bench-recovery-{self.tag}-db"
        self.database = name
        # As Immich's compose file runs its database: POSTGRES_DB=immich, shm_size 128mb.
        docker("run", "--detach", "--name", name, "--network", "none", "--shm-size", "128m",
               "-e", f"POSTGRES_PASSWORD={secrets.token_hex(16)}", "-e", "POSTGRES_DB=immich", args.image)
        backup_bench.wait_ready(name)
        log(f"{name}: Immich v3 schema, then {args.assets} assets")
        start = time.monotonic()
        for path, variables in ((SCHEMA, []), (DATA, ["-v", f"assets={args.assets}", "-v", f"seed={args.seed}"])):
            backup_bench.pipe_into(["docker", "exec", "-i", name, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                    *variables, "-U", "postgres", "-d", "immich", "-f", "-"],
                                   path, os.path.join(self.work, os.path.basename(path) + ".log"))
        seconds = time.monotonic() - start
        log(f"{name}: loaded in {seconds:.1f} s")
        assets = {}
        for kind, count, trashed, with_exif, size in psql_rows(name, Q_ASSETS):
            assets[kind] = {"assets": int(count), "deleted": int(trashed), "originals": int(with_exif),
                            "original_bytes": int(size)}
        return {
            "seconds": seconds,
            "postgres": psql_rows(name, "SHOW server_version")[0][0],
            "assets": assets,
            "other_files": {kind: int(count) for kind, count in psql_rows(name, Q_OTHER_FILES)},
            "system_flags": psql_rows(name, Q_FLAGS)[0][0] if psql_rows(name, Q_FLAGS) else "",
        }

    # -- Pi 1 -----------------------------------------------------------------------------

    def plan_files(self) -> list[tuple[str, str, int]]:
        """(kind, container path, size) of every file in the thumbs folder the database lists."""
        rng = random.Random(self.args.seed)
        planned = []
        for kind, path in psql_rows(self.database, Q_THUMB_FILES):
            if kind not in SIZES:
                raise RuntimeError(f"no size chosen for Immich's {kind} files ({path})")
            planned.append((kind, path, rng.randint(*SIZES[kind])))
        return planned

    def ssd_size(self, extra: int = 0) -> int:
        data = sum(self.expected.values())
        # Data with its last blocks, a directory block per file at most, the journal and inode tables.
        return int(data * 1.1) + 8192 * len(self.expected) + extra + 1024 * MiB

    def fill_pi1(self, planned: list[tuple[str, str, int]]) -> tuple[LoopSsd, dict]:
        for kind, path, size in planned:
            self.expected[os.path.relpath(path, MEDIA_LOCATION + "thumbs")] = size
            entry = self.kinds.setdefault(kind, {"files": 0, "bytes": 0})
            entry["files"] += 1
            entry["bytes"] += size
        if len(self.expected) != len(planned):
            raise RuntimeError("two files of the database share a path")
        ssd = LoopSsd(self.work, "pi1-ssd", self.ssd_size())
        self.ssds.append(ssd)
        ssd.create()
        total = sum(self.expected.values())
        log(f"pi1-ssd: writing {len(planned)} files, {total / MB:.0f} MB of random bytes")
        start = time.monotonic()
        for _kind, path, size in planned:
            write_random(host_path(ssd, path), size)
        # Immich's marker in its folder (the job leaves it out of the copy).
        with open(os.path.join(ssd.path("thumbs"), ".immich"), "w", encoding="ascii") as marker:
            marker.write(str(int(time.time() * 1000)))
        seconds = time.monotonic() - start
        synced = ssd.sync_seconds()
        log(f"pi1-ssd: written in {seconds:.1f} s, synced in {synced:.1f} s")
        return ssd, {"seconds": seconds + synced, "files": len(planned), "bytes": total}

    def write_config(self, label: str, ssd: LoopSsd, folders: list[str]) -> str:
        """The job's config as __backup_media_job_config writes it, with this machine's paths."""
        directory = os.path.join(self.work, label)
        os.makedirs(directory, exist_ok=True)
        data = {
            "rclone": self.args.rclone,
            "rclone_config": self.rclone_config,
            "remote": f"{rclone_bench.REMOTE}:{self.blob_container}",
            "prefix": PREFIX,
            "ssd_mount_point": ssd.mount_point,
            "folders": {name: ssd.path(name) for name in folders},
            "backup_folders": BACKUP_FOLDERS,
            "max_loss_ratio": 0.2,
            "ping_url": "",
            "status_file": os.path.join(directory, "media-status.json"),
            "lock_file": os.path.join(directory, "media.lock"),
        }
        path = os.path.join(directory, "media.json")
        with open(path, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.chmod(path, 0o600)
        return path

    def backup(self, ssd: LoopSsd) -> dict:
        config = self.write_config("backup", ssd, BACKUP_FOLDERS)
        log_path = os.path.join(self.work, "backup", "job.log")
        log("pi1-ssd: the job's backup into the fresh Blob container")
        done = backup_bench.run_sampled([self.args.python, JOB, "--config", config, "backup"], log_path)
        with open(os.path.join(self.work, "backup", "media-status.json"), encoding="utf-8") as handle:
            status = json.load(handle)
        if done["exit_code"] != 0 or status.get("result") != "ok":
            raise RuntimeError(f"the backup exited {done['exit_code']}: {status.get('message')}\n"
                               f"{backup_bench.tail(log_path)}")
        if status["copied_files"] != len(self.expected):
            raise RuntimeError(f"the backup copied {status['copied_files']} files, the SSD holds {len(self.expected)}")
        log(f"backup: {status['copied_files']} files, {status['copied_bytes'] / MB:.0f} MB in {done['seconds']:.1f} s")
        return {"seconds": done["seconds"], "peak_rss_mib": done["rss"]["peak_total_mib"],
                "files": status["copied_files"], "bytes": status["copied_bytes"], "status": status}

    def listing(self) -> dict:
        """What Blob Storage holds under backup/thumbs/: files, bytes, rclone's directory markers."""
        files = size = markers = 0
        for blob in self.container_client.list_blobs(name_starts_with=f"{PREFIX}thumbs/"):
            if blob.name.endswith("/"):
                markers += 1
            else:
                files += 1
                size += blob.size
        return {"files": files, "bytes": size, "directory_markers": markers}

    # -- the originals sample -------------------------------------------------------------

    def upload_sample(self) -> dict:
        """Files of the sizes of --originals-sample originals, uploaded untimed for the download."""
        sizes = [int(row[0]) for row in psql_rows(self.database, Q_SAMPLE.format(count=self.args.originals_sample))]
        local = os.path.join(self.work, "originals-sample")
        for index, size in enumerate(sizes):
            write_random(os.path.join(local, f"original-{index:03d}.bin"), size)
        run([self.args.rclone, "copy", local, f"{rclone_bench.REMOTE}:{self.blob_container}/originals-sample/",
             "--config", self.rclone_config])
        shutil.rmtree(local)
        log(f"originals sample: {len(sizes)} files, {sum(sizes) / MB:.0f} MB uploaded")
        return {"files": len(sizes), "bytes": sum(sizes)}

    def download_sample(self, ssd: LoopSsd, sample: dict, config: str) -> dict:
        """The sample downloaded onto the SSD with the restore's own rclone flags."""
        with open(config, encoding="utf-8") as handle:
            flags = self.job.transfer_flags(dict(self.job.DEFAULTS, **json.load(handle)))
        target = os.path.join(ssd.mount_point, "originals-sample")
        done = rclone_bench.run_timed([self.args.rclone, "copy", f"{rclone_bench.REMOTE}:{self.blob_container}/"
                                       "originals-sample/", target, "--config", self.rclone_config, *flags])
        got = tree(target)
        if len(got) != sample["files"] or sum(got.values()) != sample["bytes"]:
            raise RuntimeError(f"the originals sample came back as {len(got)} files, {sum(got.values())} bytes")
        shutil.rmtree(target)
        return {**sample, "seconds": done["seconds"], "peak_rss_mib": done["peak_rss_mib"],
                "mb_s": sample["bytes"] / MB / done["seconds"]}

    # -- Pi 2 -----------------------------------------------------------------------------

    def restore(self, rep: int, source: LoopSsd, sample: dict | None) -> dict:
        extra = int(sample["bytes"] * 1.1) if sample else 0
        ssd = LoopSsd(self.work, f"pi2-ssd-{rep}", self.ssd_size(extra))
        self.ssds.append(ssd)
        ssd.create()
        # The ssd role makes Immich's folders on the new SSD (site.yml) before the restore runs.
        for folder in SSD_FOLDERS:
            os.makedirs(ssd.path(folder))
        config = self.write_config(f"restore-{rep}", ssd, list(SSD_FOLDERS))
        base = os.path.join(self.work, f"restore-{rep}")
        log(f"{ssd.label}: the job's restore onto the blank SSD")
        start = time.monotonic()
        with open(os.path.join(base, "report.json"), "wb") as out:
            done = backup_bench.run_sampled([self.args.python, JOB, "--config", config, "restore"],
                                            os.path.join(base, "job.log"), stdout=out)
        files_back = time.monotonic()
        if done["exit_code"] != 0:
            raise RuntimeError(f"the restore exited {done['exit_code']}:\n"
                               f"{backup_bench.tail(os.path.join(base, 'job.log'))}")
        with open(os.path.join(base, "report.json"), encoding="utf-8") as handle:
            report = json.load(handle)

        # The role's next steps: the database's mountChecks, the markers, then Immich starts.
        flags = psql_rows(self.database, Q_FLAGS)
        verified = self.markers.verified_folders(flags[0][0] if flags else "")
        written = []
        for name in verified:
            if name in SSD_FOLDERS and not os.path.lexists(self.markers.marker_path(ssd.path(name))):
                self.markers.write_marker(ssd.path(name))
                written.append(name)
        markers_done = time.monotonic()
        preview = sorted(path for path in self.expected if path.endswith("-preview.jpeg"))[0]
        served, serving_done = self.serve_one(ssd.path("thumbs"), preview)
        if served != sha256(os.path.join(source.path("thumbs"), preview)):
            raise RuntimeError(f"the restored {preview} served over HTTP differs from Pi 1's")
        log(f"{ssd.label}: every file back after {files_back - start:.1f} s, markers {written} after "
            f"{markers_done - start:.1f} s, a preview served after {serving_done - start:.1f} s")
        synced = ssd.sync_seconds()
        check = self.verify(source, ssd)
        result = {
            "seconds": done["seconds"], "peak_rss_mib": done["rss"]["peak_total_mib"], "report": report,
            "files": sum(folder["files"] for folder in report["folders"].values()),
            "bytes": sum(folder["bytes"] for folder in report["folders"].values()),
            "markers_seconds": markers_done - files_back, "markers_written": written,
            "served_seconds": serving_done - markers_done, "until_served_seconds": serving_done - start,
            "served": preview, "sync_seconds": synced, "check": check,
        }
        if sample:
            log(f"{ssd.label}: downloading the originals sample with the restore's rclone flags")
            result["originals_sample"] = self.download_sample(ssd, sample, config)
        ssd.remove()
        self.ssds.remove(ssd)
        return result

    @staticmethod
    def serve_one(folder: str, relative: str) -> tuple[str, float]:
        """Start an HTTP server on the folder, GET one file: its SHA-256 and when it had arrived
        (before the server's shutdown, which waits up to its 0.5 s poll interval)."""
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=folder))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/{relative}"
            with urllib.request.urlopen(url, timeout=30) as response:
                body = response.read()
            return hashlib.sha256(body).hexdigest(), time.monotonic()
        finally:
            server.shutdown()
            server.server_close()
            thread.join()

    def verify(self, source: LoopSsd, ssd: LoopSsd) -> dict:
        """Every expected file back with its size; --verify-sample of them byte for byte."""
        got = tree(ssd.path("thumbs"))
        missing = sorted(set(self.expected) - set(got))
        extra = sorted(set(got) - set(self.expected))
        wrong_size = sorted(path for path in set(got) & set(self.expected) if got[path] != self.expected[path])
        sample = random.Random(self.args.seed).sample(sorted(self.expected), min(self.args.verify_sample,
                                                                                 len(self.expected)))
        differ = [path for path in sample
                  if path in got and sha256(os.path.join(ssd.path("thumbs"), path))
                  != sha256(os.path.join(source.path("thumbs"), path))]
        check = {"files": len(got), "bytes": sum(got.values()), "missing": len(missing), "extra": len(extra),
                 "wrong_size": len(wrong_size), "compared": len(sample), "differ": len(differ),
                 "markers": sorted(name for name in SSD_FOLDERS
                                   if os.path.exists(self.markers.marker_path(ssd.path(name))))}
        if missing or extra or wrong_size or differ:
            raise RuntimeError(f"the restored thumbs differ from Pi 1's: {check}; e.g. missing {missing[:3]}, "
                               f"extra {extra[:3]}, size {wrong_size[:3]}, content {differ[:3]}")
        return check

    # -- whole run ------------------------------------------------------------------------

    def context(self) -> dict:
        running = docker("ps", "--format", "{{.Names}}", check=False).stdout.split()
        return {"loadavg": os.getloadavg(),
                "other_containers": len([name for name in running if name != self.database])}

    def run(self) -> dict:
        args = self.args
        azurite = self.private_azurite.start().account()
        azurite.rclone_config(self.rclone_config, rclone_bench.REMOTE)
        self.service = azurite.service_client()
        self.service.create_container(self.blob_container)
        self.container_client = self.service.get_container_client(self.blob_container)
        log(f"Azurite ({args.azurite_index} index) at {self.private_azurite.endpoint}, Blob container "
            f"{self.blob_container}, "
            f"work dir {self.work}")
        raw: dict = {"versions": {
            "rclone": run([args.rclone, "version"]).splitlines()[0],
            "docker": docker("version", "--format", "{{.Server.Version}}", check=False).stdout.strip(),
            "python": run([args.python, "--version"]).strip(),
        }, "context": {"cpus": os.cpu_count(), "start": self.context()}}
        raw["database"] = self.make_database()
        planned = self.plan_files()
        source, raw["pi1"] = self.fill_pi1(planned)
        raw["kinds"] = self.kinds
        raw["backup"] = self.backup(source)
        raw["listing"] = self.listing()
        sample = self.upload_sample() if args.originals_sample else None
        raw["restores"] = []
        for rep in range(1, args.repeat + 1):
            raw["restores"].append(self.restore(rep, source, sample if rep == 1 else None))
        raw["context"]["end"] = self.context()
        return raw

    def cleanup(self) -> None:
        for ssd in list(self.ssds):
            try:
                ssd.remove(keep_image=self.args.keep)
            except Exception as error:  # pylint: disable=broad-exception-caught  # keep cleaning up
                log(f"removing {ssd.label} failed: {error}")
        if self.database:
            if self.args.keep:
                log(f"kept the database container {self.database} (--keep)")
            else:
                docker("rm", "--force", "--volumes", self.database, check=False)
        self.private_azurite.stop()  # its blobs were only in its memory
        live = [point for point in rclone_bench.mountinfo_points() if point.startswith(self.work + os.sep)]
        if live:
            log(f"NOT removing {self.work}: still mounted: {live}")
        elif self.args.keep:
            log(f"kept the work dir {self.work} with the SSD images (--keep)")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Reporting


def summarize(args: argparse.Namespace, raw: dict) -> dict:
    restores = raw["restores"]
    seconds = median([item["seconds"] for item in restores])
    restored_bytes = median([item["bytes"] for item in restores])
    files = median([item["files"] for item in restores])
    generated = sum(kind["bytes"] for kind in raw["kinds"].values())
    assets = raw["database"]["assets"]
    originals = sum(kind["original_bytes"] for kind in assets.values())
    throughput = restored_bytes / seconds  # bytes per second
    sample = restores[0].get("originals_sample")
    ratio = restored_bytes / originals
    summary: dict = {
        "assets": args.assets,
        "seed": args.seed,
        "repeat": args.repeat,
        "statistic": "median" if args.repeat > 1 else "single run",
        "azurite_index": args.azurite_index,
        "sizes": {kind: {"min": low, "max": high} for kind, (low, high) in SIZES.items()},
        "versions": {**raw["versions"], "postgres": raw["database"]["postgres"]},
        "context": raw["context"],
        "database": {key: value for key, value in raw["database"].items() if key != "system_flags"},
        "thumbs": {"kinds": raw["kinds"], "files": sum(kind["files"] for kind in raw["kinds"].values()),
                   "bytes": generated},
        "pi1_fill": raw["pi1"],
        "backup": {key: value for key, value in raw["backup"].items() if key != "status"},
        "blob_listing": raw["listing"],
        "restore": {
            "seconds": seconds, "files": files, "bytes": restored_bytes, "mb_s": throughput / MB,
            "files_s": files / seconds,
            "job_duration_s": median([item["report"]["duration_s"] for item in restores]),
            "peak_rss_mib": median([item["peak_rss_mib"] for item in restores]),
            "markers_seconds": median([item["markers_seconds"] for item in restores]),
            "served_seconds": median([item["served_seconds"] for item in restores]),
            "until_served_seconds": median([item["until_served_seconds"] for item in restores]),
            "sync_seconds": median([item["sync_seconds"] for item in restores]),
            "bytes_match": all(item["bytes"] == generated == raw["listing"]["bytes"] for item in restores),
        },
        "regenerate": {
            "originals": sum(kind["originals"] for kind in assets.values()),
            "original_bytes": originals,
            "ratio": ratio,
            "target_ratio": TARGET_RATIO,
            "pass": ratio <= TARGET_RATIO,
            "download_seconds_at_restore_throughput": originals / throughput,
            "download_seconds_at_sample_throughput": None if sample is None else originals / MB / sample["mb_s"],
            "originals_sample": sample,
        },
        "raw": raw,
    }
    return summary


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.2f} h"


def report(summary: dict) -> None:
    context, database, thumbs = summary["context"], summary["database"], summary["thumbs"]
    restore, regenerate, backup = summary["restore"], summary["regenerate"], summary["backup"]
    versions = summary["versions"]
    print(f"\nRecovery of Immich's thumbnails onto a new SSD - {summary['assets']} assets, "
          f"restore: {summary['statistic']} of {summary['repeat']}")
    print(f"PostgreSQL {versions['postgres']}, {versions['rclone']}, job under {versions['python']}, "
          f"Docker {versions['docker']}, Azurite's blob index: {summary['azurite_index']}")
    print(f"load average start {context['start']['loadavg'][0]:.2f}, end {context['end']['loadavg'][0]:.2f} on "
          f"{context['cpus']} CPUs; containers not ours: {context['start']['other_containers']} at start, "
          f"{context['end']['other_containers']} at end")

    header = ["", "count", "MB", "mean kB"]
    rows = []
    for kind, entry in database["assets"].items():
        rows.append([f"{kind.lower()} assets (in the trash: {entry['deleted']})", entry["assets"], "", ""])
        mean = entry["original_bytes"] / entry["originals"] / 1000 if entry["originals"] else None
        rows.append(["  originals of those not deleted (fileSizeInByte)", entry["originals"],
                     fmt(entry["original_bytes"] / MB, ".0f"), fmt(mean, ".0f")])
    for kind, entry in thumbs["kinds"].items():
        low, high = SIZES[kind]
        rows.append([f"thumbs: {kind} files ({low // 1000}-{high // 1000} kB, random bytes)", entry["files"],
                     fmt(entry["bytes"] / MB, ".0f"), fmt(entry["bytes"] / entry["files"] / 1000, ".1f")])
    for kind, count in database["other_files"].items():
        rows.append([f"not copied: {kind} (asset_file, outside thumbs)", count, "", ""])
    print_table(f"Library (database loaded in {database['seconds']:.1f} s, not compared)", header, rows)

    listing = summary["blob_listing"]
    header = ["", "seconds", "files", "MB", "MB/s", "files/s", "peak RSS MiB"]
    rows = [
        ["Pi 1: files written to its SSD, synced (setup)", fmt(summary["pi1_fill"]["seconds"], ".1f"),
         summary["pi1_fill"]["files"], fmt(summary["pi1_fill"]["bytes"] / MB, ".0f"), "", "", ""],
        ["Pi 1: the job's backup, first copy (setup)", fmt(backup["seconds"], ".1f"), backup["files"],
         fmt(backup["bytes"] / MB, ".0f"), fmt(backup["bytes"] / MB / backup["seconds"], ".1f"),
         fmt(backup["files"] / backup["seconds"], ".0f"), fmt(backup["peak_rss_mib"], ".0f")],
        ["Pi 2: the job's restore, until every file is back", fmt(restore["seconds"], ".1f"), restore["files"],
         fmt(restore["bytes"] / MB, ".0f"), fmt(restore["mb_s"], ".1f"), fmt(restore["files_s"], ".0f"),
         fmt(restore["peak_rss_mib"], ".0f")],
        ["  of which the job's own duration_s", fmt(restore["job_duration_s"], ".1f"), "", "", "", "", ""],
        ["  then the .immich markers written (psql + files)", fmt(restore["markers_seconds"], ".2f"), "", "", "", "",
         ""],
        ["  then an HTTP server serves one restored preview", fmt(restore["served_seconds"], ".2f"), "", "", "", "",
         ""],
        ["Pi 2: blank SSD to the first preview served", fmt(restore["until_served_seconds"], ".1f"), "", "", "", "",
         ""],
        ["  afterwards: syncfs of the new SSD (not counted)", fmt(restore["sync_seconds"], ".1f"), "", "", "", "", ""],
    ]
    sample = regenerate["originals_sample"]
    if sample:
        rows.append([f"originals sample: {sample['files']} files, rclone copy (restore's flags)",
                     fmt(sample["seconds"], ".1f"), sample["files"], fmt(sample["bytes"] / MB, ".0f"),
                     fmt(sample["mb_s"], ".1f"), "", fmt(sample["peak_rss_mib"], ".0f")])
    print_table("Backup and restore of the thumbs folder (MB = 10^6 bytes)", header, rows)
    print(f"bytes: restore read {restore['bytes']}, files written on Pi 1 {thumbs['bytes']}, Blob listing "
          f"{listing['bytes']} in {listing['files']} blobs (+{listing['directory_markers']} directory markers): "
          f"{'equal' if restore['bytes_match'] else 'DIFFERENT'}")

    verdict = "PASS" if regenerate["pass"] else "FAIL"
    header = ["", "restore the thumbnails", "regenerate: read every original"]
    rows = [
        ["bytes read from Azure", f"{restore['bytes'] / MB:,.0f} MB", f"{regenerate['original_bytes'] / MB:,.0f} MB "
                                                                      f"({regenerate['originals']} originals)"],
        ["thumbnail bytes / original bytes", f"{regenerate['ratio']:.3f}",
         f"target <= {regenerate['target_ratio']:g}: {verdict}"],
        ["time at the restore's throughput", duration(restore["seconds"]) + " (measured)",
         duration(regenerate["download_seconds_at_restore_throughput"]) + " (download only, lower bound)"],
    ]
    if sample:
        rows.append([f"time at the large-file throughput ({sample['mb_s']:.0f} MB/s)", "",
                     duration(regenerate["download_seconds_at_sample_throughput"]) + " (download only)"])
    print_table(f"Restore against regenerating ({restore['mb_s']:.1f} MB/s measured by the restore)", header, rows)
    print("Regenerating also decodes every original and encodes a thumbnail and a preview on the Pi's CPU: "
          "not counted, so its times are lower bounds.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--assets", type=int, default=20000, help="assets in the generated library (default 20000)")
    parser.add_argument("--seed", default="0.42", help="seed of the database generator and the file sizes (0.42)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="restores, each onto a new blank SSD; the table shows the median (default 1)")
    parser.add_argument("--originals-sample", type=int, default=24,
                        help="originals of the library's sizes downloaded like the restore, for the large-file "
                             "throughput (default 24; 0 skips)")
    parser.add_argument("--verify-sample", type=int, default=1000,
                        help="restored files compared byte for byte with Pi 1's (default 1000; all are checked by "
                             "name and size)")
    parser.add_argument("--azurite-index", choices=("mariadb", "memory"), default="mariadb",
                        help="the private Azurite's blob index: Azurite's SQL mode in a private MariaDB "
                             "(default; needs Debian's mariadb-server) or LokiJS in memory (slows down with "
                             "every blob: fine for a few thousand)")
    parser.add_argument("--json", metavar="PATH", help="also write the JSON result to PATH")
    parser.add_argument("--keep", action="store_true",
                        help="keep the database container and the work dir with the SSD images")
    parser.add_argument("--tmpdir", default=None, help="where the work dir (SSD images, configs, logs) goes")
    parser.add_argument("--image", default=IMAGE, help=f"PostgreSQL image (default {IMAGE})")
    parser.add_argument("--python", default=None, help="Python for the job (default /usr/bin/python3, as on the Pi)")
    parser.add_argument("--rclone", default=None, help="rclone binary (default .venv/bin/rclone, then PATH)")
    args = parser.parse_args(argv)
    if min(args.assets, args.repeat) < 1 or min(args.originals_sample, args.verify_sample) < 0:
        parser.error("--assets and --repeat must be >= 1, the samples >= 0")
    if os.geteuid() != 0:
        parser.error("run as root: it makes loop devices and mounts them")
    if args.python is None:
        args.python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
    if args.rclone is None:
        candidate = os.path.join(REPO_ROOT, ".venv", "bin", "rclone")
        args.rclone = candidate if os.access(candidate, os.X_OK) else shutil.which("rclone")
        if not args.rclone:
            parser.error("no rclone found: run tests/testbed/setup.sh or pass --rclone")
    for path in (JOB, SCHEMA, DATA):
        if not os.path.exists(path):
            parser.error(f"{path} is missing")
    if docker("image", "inspect", args.image, check=False).returncode != 0:
        parser.error(f"{args.image} is missing: run tests/testbed/build-images.sh")

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()
    bench = Bench(args)
    try:
        raw = bench.run()
    finally:
        bench.cleanup()
    summary = summarize(args, raw)
    summary["wall_seconds"] = time.monotonic() - started
    report(summary)
    print(f"\nwhole run: {summary['wall_seconds'] / 60:.1f} min")
    rclone_bench.print_json(summary, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
