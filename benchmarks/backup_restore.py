# SPDX-License-Identifier: GPL-3.0-or-later
"""The daily database backup job and its restore against simple baselines, in one run.

Against a PostgreSQL 17 + pgvector container holding a database with Immich v3.2.2's schema
(tests/testbed/files/immich_v3_schema.sql) filled by tests/testbed/files/immich_v3_data.sql
(--assets of them: 85,000 make about 1 GB of pg_dumpall output) and the test bed's Azurite
(tests/testbed/ensure-azurite.sh):

(a) the floor: ``docker exec <db> pg_dumpall --clean --if-exists > /dev/null``;
(b) the backup job (roles/backup/files/immich_db_backup.py) end to end into a Blob container,
    with the peak RSS of its processes (Python, zstd), also against a
    small database (--small-assets) to show that the RSS does not grow with the database;
(c) the naive way: ``pg_dumpall | gzip > file`` on the rclone_mount role's FUSE mount of the
    same Azurite, timed until the blob is in Azure with its full size;
(d) the restore (roles/backup/files/immich_db_restore.py verify + restore) of the backup from
    (b) into a fresh, empty database container, against
(e) ``docker exec -i <fresh db> psql < dump.sql`` of the same dump from local disk.

Targets: (b) <= 1.3 x (a); (c) >= 2.0 x (b) and size(b) <= size(c); peak RSS of (b) <= 64 MiB;
(d) <= 1.5 x (e). See benchmarks/README.md.

Run with the project's venv:  .venv/bin/python benchmarks/backup_restore.py --help
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import resource
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
JOB = os.path.join(REPO_ROOT, "roles", "backup", "files", "immich_db_backup.py")
RESTORE = os.path.join(REPO_ROOT, "roles", "backup", "files", "immich_db_restore.py")
IMMICH_SCHEMA = os.path.join(REPO_ROOT, "tests", "testbed", "files", "immich_v3_schema.sql")
IMMICH_DATA = os.path.join(REPO_ROOT, "tests", "testbed", "files", "immich_v3_data.sql")
ENSURE_AZURITE = os.path.join(REPO_ROOT, "tests", "testbed", "ensure-azurite.sh")
RCLONE_BENCH = os.path.join(REPO_ROOT, "benchmarks", "rclone_mount_throughput.py")
IMAGE = "immich-pi-testbed/postgres-pgvector:17"
IMMICH_VERSION = "v3.2.2"
# pg_dumpall --clean drops and creates every role; the connecting role cannot be dropped.
OWN_ROLE_LINES = ("DROP ROLE IF EXISTS postgres;", "CREATE ROLE postgres;")
DUMP_COMMAND = ["pg_dumpall", "--clean", "--if-exists", "-U", "postgres"]

MB = 1_000_000  # dump sizes and throughput in MB (10^6), memory in MiB
MiB = 1 << 20
RSS_INTERVAL = 0.05  # seconds between /proc samples of the job's processes

TARGETS = {
    "job_vs_floor": 1.3,  # (b) / (a) at most
    "naive_vs_job": 2.0,  # (c) / (b) at least
    "size_job_vs_naive": 1.0,  # size(b) / size(c) at most
    "job_peak_rss_mib": 64.0,  # at most, at every database size
    "restore_vs_psql": 1.5,  # (d) / (e) at most
}


def load_module(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The rclone benchmark's role mount (its ExecStart= rendered from the role), Blob polling and
# the Azurite account of tests/integration/conftest.py: one source for all of them.
rclone_bench = load_module("_bench_rclone_mount_throughput", RCLONE_BENCH)
# The same table printing as the rclone benchmark.
fmt = rclone_bench.fmt
print_table = rclone_bench.print_table
log = rclone_bench.log
median = rclone_bench.median


# --------------------------------------------------------------------------------------------
# Memory of a process tree, from /proc


def process_tree(root: int) -> list[int]:
    """root and all its descendants (children of every thread), found through /proc."""
    pids, index = [root], 0
    while index < len(pids):
        pid = pids[index]
        index += 1
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as children:
                    pids.extend(int(child) for child in children.read().split())
            except OSError:
                pass
    return pids


def memory(pid: int) -> tuple[str, int, int, int] | None:
    """(name, VmRSS KiB, VmHWM KiB, RssAnon KiB) of a process; None when it is gone."""
    name, rss, hwm, anon = "?", 0, 0, 0
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith("Name:"):
                    name = line.split(None, 1)[1].strip()
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
    except (OSError, ValueError):
        return None
    return name, rss, hwm, anon


class RssSampler:
    """Samples VmRSS of a process tree every RSS_INTERVAL s in a thread.

    peak_total: the largest sum of VmRSS over the tree in one sample (shared pages such as
    libc count once per process, so this errs high). per_process: for every process name the
    largest VmRSS or VmHWM seen (VmHWM is the kernel's own peak, so short spikes between two
    samples are not lost). peak_anon_total: the same sum of RssAnon only, the processes'
    private memory without the mapped files (libraries) that VmRSS also counts.
    """

    def __init__(self, root: int):
        self.root = root
        self.peak_total_kib = 0
        self.peak_anon_kib = 0
        self.per_process_kib: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(RSS_INTERVAL):
                return

    def sample(self) -> None:
        total = anon_total = 0
        for pid in process_tree(self.root):
            found = memory(pid)
            if found is None:
                continue
            name, rss, hwm, anon = found
            total += rss
            anon_total += anon
            self.per_process_kib[name] = max(self.per_process_kib.get(name, 0), rss, hwm)
        self.peak_total_kib = max(self.peak_total_kib, total)
        self.peak_anon_kib = max(self.peak_anon_kib, anon_total)
        self.samples += 1

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return {
            "peak_total_mib": self.peak_total_kib / 1024,
            "peak_anon_total_mib": self.peak_anon_kib / 1024,
            "per_process_mib": {name: kib / 1024 for name, kib in sorted(self.per_process_kib.items())},
            "sum_of_process_peaks_mib": sum(self.per_process_kib.values()) / 1024,
            "samples": self.samples,
        }


# --------------------------------------------------------------------------------------------
# Where the CPU goes: the machine has few CPUs and Azurite shares them


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU-seconds all CPUs spent not idle (user, nice, system, irq, softirq, steal) since boot."""
    with open("/proc/stat", encoding="ascii") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def process_cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def azurite_pid() -> int | None:
    found = subprocess.run(["pgrep", "-f", "azurite-blob"], capture_output=True, text=True, check=False).stdout.split()
    return int(found[0]) if found else None


class CpuMeter:
    """CPU-seconds spent during one step: the whole machine, Azurite, and this script's
    children (the job with its zstd, or the docker CLI of the floor) once they are reaped."""

    def __init__(self):
        self.azurite = azurite_pid()
        self.start = (time.monotonic(), machine_busy_seconds(), process_cpu_seconds(self.azurite), self.children())

    @staticmethod
    def children() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def stop(self) -> dict:
        wall, busy, azurite, children = self.start
        wall = time.monotonic() - wall
        return {"capacity_core_s": wall * os.cpu_count(), "busy_core_s": machine_busy_seconds() - busy,
                "azurite_core_s": process_cpu_seconds(self.azurite) - azurite, "ours_core_s": self.children() - children}


def run_sampled(argv: list[str], log_path: str, stdout=None) -> dict:
    """Run a command with its process tree's RSS sampled; seconds, exit code, memory."""
    with open(log_path, "wb") as errors:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout or errors, stderr=errors)
        sampler = RssSampler(proc.pid)
        try:
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            rss = sampler.stop()
        seconds = time.monotonic() - start
    return {"seconds": seconds, "exit_code": code, "rss": rss}


def tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------------------------
# Docker and PostgreSQL


def docker(*args: str, stdin=None, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], stdin=stdin, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {shlex.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return done


def wait_ready(container: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while docker("exec", container, "pg_isready", "-q", "-h", "/run/postgresql", check=False).returncode:
        if time.monotonic() > deadline:
            logs = docker("logs", "--tail", "20", container, check=False)
            raise RuntimeError(f"{container} did not become ready in {timeout:.0f} s:\n{logs.stdout}{logs.stderr}")
        time.sleep(0.3)


def psql_rows(container: str, sql: str, database: str = "immich") -> list[list[str]]:
    done = docker("exec", container, "psql", "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                  "-U", "postgres", "-d", database, "-c", sql)
    return [line.split("\t") for line in done.stdout.splitlines() if line]


FINGERPRINT_TABLES = """
SELECT n.nspname || '.' || c.relname,
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname),
                                           false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY 1
"""
FINGERPRINT_INDEXES = "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
FINGERPRINT_EXTENSIONS = "SELECT extname FROM pg_extension ORDER BY 1"


def fingerprint(container: str) -> dict:
    """Rows per table, the indexes and extensions of the immich database (a correctness check)."""
    return {
        "tables": {name: int(count) for name, count in psql_rows(container, FINGERPRINT_TABLES)},
        "indexes": [row[0] for row in psql_rows(container, FINGERPRINT_INDEXES)],
        "extensions": [row[0] for row in psql_rows(container, FINGERPRINT_EXTENSIONS)],
    }


def pipe_into(argv: list[str], source: str, log_path: str) -> float:
    """Run argv with a local file as stdin; seconds until it exits 0."""
    with open(source, "rb") as stdin, open(log_path, "wb") as errors:
        start = time.monotonic()
        code = subprocess.run(argv, stdin=stdin, stdout=errors, stderr=errors, check=False).returncode
        seconds = time.monotonic() - start
    if code != 0:
        raise RuntimeError(f"{shlex.join(argv)} < {source} exited {code}:\n{tail(log_path)}")
    return seconds


# --------------------------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.azurite = rclone_bench.load_azurite()
        self.service = self.azurite.service_client()
        self.work = tempfile.mkdtemp(prefix="bench-backup-restore-", dir=args.tmpdir)
        self.tag = secrets.token_hex(4)
        self.blob_container = f"bench-{secrets.token_hex(6)}"
        self.container_client = None
        self.password = secrets.token_hex(16)
        self.databases: list[str] = []  # every container we started
        self.kept: set[str] = set()  # source databases kept with --keep
        self.mounts: list = []
        self.rclone_config = self.azurite.rclone_config(os.path.join(self.work, "rclone.conf"), rclone_bench.REMOTE)
        self.restore_available = os.path.exists(RESTORE)
        self.job_defaults = load_module("_bench_immich_db_backup", JOB).DEFAULTS

    # -- databases ------------------------------------------------------------------------

    def start_database(self, suffix: str) -> str:
        name = f"bench-backup-{self.tag}-{suffix}"
        self.databases.append(name)
        # As Immich's compose file runs its database: POSTGRES_DB=immich, shm_size 128mb.
        command = []
        if self.args.postgres_arg:
            # The image has a CMD and no ENTRYPOINT: its CMD runs postgres with the extra arguments.
            command = json.loads(docker("image", "inspect", "--format", "{{json .Config.Cmd}}",
                                        self.args.image).stdout) + self.args.postgres_arg
        docker("run", "--detach", "--name", name, "--network", "none", "--shm-size", "128m",
               "-e", f"POSTGRES_PASSWORD={self.password}", "-e", "POSTGRES_DB=immich",
               self.args.image, *command)
        wait_ready(name)
        return name

    def remove_database(self, name: str) -> None:
        docker("rm", "--force", "--volumes", name, check=False)
        if name in self.databases:
            self.databases.remove(name)

    def generate(self, assets: int, suffix: str) -> tuple[str, dict]:
        name = self.start_database(suffix)
        log(f"{name}: generating a database with Immich v3.2.2's schema and {assets} assets")
        psql = ["docker", "exec", "-i", name, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                "-v", f"assets={assets}", "-v", f"seed={self.args.seed}", "-U", "postgres", "-d", "immich", "-f", "-"]
        # The schema as Immich's migrations create it, then the generated content.
        seconds = sum(pipe_into(psql, script, os.path.join(self.work, f"generate-{suffix}-{part}.log"))
                      for part, script in (("schema", IMMICH_SCHEMA), ("data", IMMICH_DATA)))
        log(f"{name}: generated in {seconds:.1f} s")
        return name, {"assets": assets, "seconds": seconds, "fingerprint": fingerprint(name)}

    # -- configs --------------------------------------------------------------------------

    def write_config(self, label: str, database: str, **changes) -> str:
        directory = os.path.join(self.work, label)
        os.makedirs(directory, exist_ok=True)
        data = {
            "container": database,
            "blob_container": self.blob_container,
            "connection_string": self.azurite.connection_string,
            "immich_version": IMMICH_VERSION,
            "status_file": os.path.join(directory, "status.json"),
            "lock_file": os.path.join(directory, "backup.lock"),
        }
        data.update(changes)
        path = os.path.join(directory, "config.json")
        with open(path, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.chmod(path, 0o600)
        return path

    # -- (a) (b) (c) ----------------------------------------------------------------------

    def floor(self, database: str) -> dict:
        argv = ["docker", "exec", database, *DUMP_COMMAND]
        cpu = CpuMeter()
        start = time.monotonic()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        seconds = time.monotonic() - start
        if done.returncode != 0:
            raise RuntimeError(f"{shlex.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
        return {"seconds": seconds, "cpu": cpu.stop()}

    def job(self, database: str, label: str, prefix: str) -> dict:
        config = self.write_config(label, database, prefix=prefix)
        cpu = CpuMeter()
        run = run_sampled([self.args.python, JOB, "--config", config], os.path.join(self.work, label, "job.log"))
        run["cpu"] = cpu.stop()
        with open(os.path.join(self.work, label, "status.json"), encoding="utf-8") as handle:
            status = json.load(handle)
        if run["exit_code"] != 0 or status.get("result") != "ok":
            raise RuntimeError(f"the backup job exited {run['exit_code']}: {status.get('message')}\n"
                               f"{tail(os.path.join(self.work, label, 'job.log'))}")
        run.update(object=status["object"], bytes=status["bytes"], sha256=status["sha256"],
                   job_duration_s=status["duration_s"])
        return run

    def mount(self, label: str):
        base = os.path.join(self.work, label)
        mount_point, cache_dir = os.path.join(base, "mnt"), os.path.join(base, "cache")
        os.makedirs(cache_dir)
        # The role's internal variable from vars/main.yml: '' when the VFS cache is not on the SSD.
        argv = rclone_bench.role_mount_argv({}, rclone=self.args.rclone, config=self.rclone_config,
                                            container=self.blob_container, mount_point=mount_point,
                                            cache_dir=cache_dir)
        mount = rclone_bench.Mount(argv, mount_point, os.path.join(base, "rclone.log"))
        self.mounts.append(mount)
        mount.start()
        return mount

    def unmount(self, mount) -> None:
        mount.stop()
        self.mounts.remove(mount)

    def naive(self, database: str, label: str) -> dict:
        mount = self.mount(label)
        try:
            write_back = rclone_bench.duration_seconds(rclone_bench.last_flag_value(mount.argv, "--vfs-write-back"))
            blob_name = f"naive/{label}/immich-db.sql.gz"
            path = os.path.join(mount.mount_point, blob_name)
            os.makedirs(os.path.dirname(path))
            argv = ["docker", "exec", database, *DUMP_COMMAND]
            with open(os.path.join(self.work, label, "pipeline.log"), "wb") as errors:
                start = time.monotonic()
                with open(path, "wb") as out:
                    dump = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors)
                    gzip = subprocess.Popen(["gzip", "--stdout"], stdin=dump.stdout, stdout=out, stderr=errors)
                    dump.stdout.close()
                    try:
                        codes = [gzip.wait(), dump.wait()]
                    finally:
                        for proc in (dump, gzip):
                            if proc.poll() is None:
                                proc.kill()
                                proc.wait()
                    size = os.fstat(out.fileno()).st_size
                closed = time.monotonic()
            if any(codes):
                raise RuntimeError(f"pg_dumpall | gzip exited {codes}:\n{tail(os.path.join(self.work, label, 'pipeline.log'))}")
            in_azure = rclone_bench.wait_for_blob(self.container_client, blob_name, size)
            return {"seconds": in_azure - start, "local_seconds": closed - start,
                    "after_close_seconds": in_azure - closed, "write_back_seconds": write_back,
                    "bytes": size, "object": blob_name, "mount_peak_rss_mib": mount.peak_rss_mib(),
                    "mount_argv": mount.argv}
        finally:
            self.unmount(mount)

    # -- (d) (e) --------------------------------------------------------------------------

    def fetch_dump(self, name: str, sha256: str) -> dict:
        """The backup from Azure to local disk, decompressed, without the two role lines."""
        compressed = os.path.join(self.work, "dump.sql.zst")
        digest = hashlib.sha256()
        with open(compressed, "wb") as out:
            for chunk in self.container_client.get_blob_client(name).download_blob().chunks():
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise RuntimeError(f"{name}: SHA-256 {digest.hexdigest()} downloaded, the job reported {sha256}")
        full = os.path.join(self.work, "dump.sql")
        subprocess.run(["zstd", "--decompress", "--quiet", "--force", "-o", full, compressed], check=True)
        os.unlink(compressed)
        filtered = os.path.join(self.work, "dump-filtered.sql")
        with open(filtered, "wb") as out:
            code = subprocess.run(["grep", "-vxF", "-e", OWN_ROLE_LINES[0], "-e", OWN_ROLE_LINES[1], full],
                                  stdout=out, check=False).returncode
        if code != 0:
            raise RuntimeError(f"grep -vxF on {full} exited {code}")
        dump_bytes, filtered_bytes = os.path.getsize(full), os.path.getsize(filtered)
        removed = sum(len(line) + 1 for line in OWN_ROLE_LINES)
        os.unlink(full)
        return {"path": filtered, "dump_bytes": dump_bytes, "filtered_bytes": filtered_bytes,
                "own_role_lines_removed": dump_bytes - filtered_bytes == removed}

    def our_restore(self, database: str, label: str, backup: str) -> dict:
        config = self.write_config(label, database)
        base = os.path.join(self.work, label)
        verify_out = os.path.join(base, "verify.json")
        with open(verify_out, "wb") as out:
            verify = run_sampled([self.args.python, RESTORE, "--config", config, "verify", backup],
                                 os.path.join(base, "verify.log"), stdout=out)
        if verify["exit_code"] != 0:
            raise RuntimeError(f"verify {backup} exited {verify['exit_code']}:\n{tail(os.path.join(base, 'verify.log'))}")
        with open(verify_out, encoding="utf-8") as handle:
            report = json.load(handle)
        if report.get("backup") != backup or not report.get("etag"):
            raise RuntimeError(f"verify {backup} reported {report}")
        restore = run_sampled([self.args.python, RESTORE, "--config", config, "restore", backup,
                               "--etag", report["etag"]], os.path.join(base, "restore.log"))
        if restore["exit_code"] != 0:
            raise RuntimeError(f"restore {backup} exited {restore['exit_code']}:\n{tail(os.path.join(base, 'restore.log'))}")
        return {"seconds": verify["seconds"] + restore["seconds"], "verify_seconds": verify["seconds"],
                "restore_seconds": restore["seconds"], "verify_rss": verify["rss"], "restore_rss": restore["rss"],
                "verify_report": report}

    def psql_restore(self, database: str, label: str, dump: str) -> dict:
        os.makedirs(os.path.join(self.work, label), exist_ok=True)
        seconds = pipe_into(["docker", "exec", "-i", database, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                             "-U", "postgres", "-d", "postgres", "-o", "/dev/null"],
                            dump, os.path.join(self.work, label, "psql.log"))
        return {"seconds": seconds}

    def restore_step(self, kind: str, rep: int, source: dict, backup: str, dump: str) -> dict:
        label = f"r{rep}-restore-{kind}"
        database = self.start_database(label)
        try:
            log(f"rep {rep}: ({kind}) restore into the fresh database {database}")
            if kind == "d":
                result = self.our_restore(database, label, backup)
            else:
                result = self.psql_restore(database, label, dump)
            log(f"rep {rep}: ({kind}) {result['seconds']:.1f} s; checking the rows")
            restored = fingerprint(database)
            result["matches_source"] = restored == source
            if not result["matches_source"]:
                result["fingerprint"] = restored
                log(f"rep {rep}: ({kind}) the restored database differs from the source: {restored}")
        finally:
            self.remove_database(database)
        return result

    # -- whole run ------------------------------------------------------------------------

    def context(self) -> dict:
        ours = set(self.databases)
        running = docker("ps", "--format", "{{.Names}}", check=False).stdout.split()
        return {"loadavg": os.getloadavg(), "other_containers": len([name for name in running if name not in ours])}

    def run(self) -> dict:
        args = self.args
        subprocess.run(["bash", ENSURE_AZURITE], check=True, stdout=sys.stderr)
        self.service.create_container(self.blob_container)
        self.container_client = self.service.get_container_client(self.blob_container)
        log(f"Blob container {self.blob_container}, work dir {self.work}")
        if not self.restore_available:
            log(f"{RESTORE} is missing: (d) is not measured")

        raw: dict = {"versions": self.versions(), "context": {"cpus": os.cpu_count(), "start": self.context()}}
        big, raw["generation"] = self.generate(args.assets, "src")
        small, raw["generation_small"] = self.generate(args.small_assets, "small")
        if args.keep:
            self.kept.update((big, small))
        raw["versions"]["postgres"] = psql_rows(big, "SHOW server_version")[0][0]

        reps = []
        for rep in range(1, args.repeat + 1):
            result: dict = {}
            # The floor and the naive pipeline swap places every other repetition.
            order = ["a", "b", "c"] if rep % 2 else ["c", "b", "a"]
            for step in order:
                if step == "a":
                    log(f"rep {rep}: (a) floor: pg_dumpall > /dev/null")
                    result["floor"] = self.floor(big)
                    log(f"rep {rep}: (a) {result['floor']['seconds']:.1f} s")
                elif step == "b":
                    log(f"rep {rep}: (b) the backup job")
                    result["job"] = self.job(big, f"r{rep}-job", "backup/")
                    log(f"rep {rep}: (b) {result['job']['seconds']:.1f} s, {result['job']['bytes'] / MB:.1f} MB, "
                        f"peak RSS {result['job']['rss']['peak_total_mib']:.1f} MiB")
                else:
                    log(f"rep {rep}: (c) naive: pg_dumpall | gzip > the rclone mount, until in Azure")
                    result["naive"] = self.naive(big, f"r{rep}-naive")
                    log(f"rep {rep}: (c) {result['naive']['seconds']:.1f} s, {result['naive']['bytes'] / MB:.1f} MB")
            log(f"rep {rep}: (b) the backup job against the small database ({args.small_assets} assets)")
            result["job_small"] = self.job(small, f"r{rep}-job-small", "small/")
            reps.append(result)
        raw["reps"] = reps

        backup = reps[-1]["job"]
        log(f"downloading {backup['object']} once to local disk for (e)")
        raw["dump"] = self.fetch_dump(backup["object"], backup["sha256"])
        restores = []
        for rep in range(1, args.restore_repeat + 1):
            result = {}
            order = ["d", "e"] if rep % 2 else ["e", "d"]
            for kind in order:
                if kind == "d" and not self.restore_available:
                    continue
                result["ours" if kind == "d" else "psql"] = self.restore_step(
                    kind, rep, raw["generation"]["fingerprint"], backup["object"], raw["dump"]["path"])
            restores.append(result)
        raw["restores"] = restores
        raw["restored_backup"] = backup["object"]
        raw["context"]["end"] = self.context()
        return raw

    def versions(self) -> dict:
        def first_line(argv: list[str]) -> str:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else "?"

        return {
            "docker": docker("version", "--format", "{{.Server.Version}}", check=False).stdout.strip(),
            "zstd": re.sub(r".* (v[0-9.]+),.*", r"\1", first_line(["zstd", "--version"])),
            "gzip": first_line(["gzip", "--version"]),
            "rclone": first_line([self.args.rclone, "version"]),
            "azure_storage_blob": first_line([self.args.python, "-c",
                                              "import azure.storage.blob as b; print(b.__version__)"]),
        }

    def cleanup(self) -> None:
        for mount in list(self.mounts):
            try:
                mount.stop()
            except Exception as error:  # keep cleaning up
                log(f"unmounting {mount.mount_point} failed: {error}")
        self.mounts.clear()
        for name in list(self.databases):
            if name in self.kept:
                log(f"kept the database container {name} (--keep)")
            else:
                self.remove_database(name)
        if self.container_client is not None:
            if self.args.keep:
                log(f"kept the Blob container {self.blob_container} (--keep)")
            else:
                try:
                    self.service.delete_container(self.blob_container)
                except Exception as error:
                    log(f"deleting the Blob container {self.blob_container} failed: {error}")
        # Never rmtree through a live mount: that would delete blobs.
        live = [point for point in rclone_bench.mountinfo_points() if point.startswith(self.work + os.sep)]
        if live:
            log(f"NOT removing {self.work}: still mounted: {live}")
        elif self.args.keep:
            log(f"kept the work dir {self.work} (--keep)")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Reporting


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def summarize(bench: Bench, raw: dict) -> dict:
    args = bench.args
    reps, restores = raw["reps"], raw["restores"]
    dump_bytes = raw["dump"]["dump_bytes"]

    def med(step: str, key: str = "seconds"):
        return median([rep[step][key] for rep in reps])

    floor_s, job_s, naive_s = med("floor"), med("job"), med("naive")
    job_bytes, naive_bytes = med("job", "bytes"), med("naive", "bytes")
    rss = {
        label: {
            "peak_total_mib": median([rep[step]["rss"]["peak_total_mib"] for rep in reps]),
            "peak_anon_total_mib": median([rep[step]["rss"]["peak_anon_total_mib"] for rep in reps]),
            "sum_of_process_peaks_mib": median([rep[step]["rss"]["sum_of_process_peaks_mib"] for rep in reps]),
            "per_process_mib": {name: median([rep[step]["rss"]["per_process_mib"].get(name) for rep in reps])
                                for name in sorted({name for rep in reps for name in rep[step]["rss"]["per_process_mib"]})},
        }
        for label, step in (("large", "job"), ("small", "job_small"))
    }
    ours = [item["ours"] for item in restores if "ours" in item]
    psql = [item["psql"] for item in restores]
    ours_s = median([item["seconds"] for item in ours])
    psql_s = median([item["seconds"] for item in psql])
    restore = None if not psql else {
        "ours": None if not ours else {
            "seconds": ours_s,
            "verify_seconds": median([item["verify_seconds"] for item in ours]),
            "restore_seconds": median([item["restore_seconds"] for item in ours]),
            "verify_peak_rss_mib": median([item["verify_rss"]["peak_total_mib"] for item in ours]),
            "restore_peak_rss_mib": median([item["restore_rss"]["peak_total_mib"] for item in ours]),
            "matches_source": all(item["matches_source"] for item in ours),
        },
        "psql": {"seconds": psql_s, "matches_source": all(item["matches_source"] for item in psql)},
    }
    naive_write_back = med("naive", "write_back_seconds")
    summary: dict = {
        "assets": args.assets,
        "small_assets": args.small_assets,
        "seed": args.seed,
        "repeat": args.repeat,
        "restore_repeat": args.restore_repeat,
        "postgres_args": args.postgres_arg,
        "job_compression_level": bench.job_defaults["compression_level"],
        "versions": raw["versions"],
        "context": raw["context"],
        "generation": {key: {"assets": raw[key]["assets"], "seconds": raw[key]["seconds"]}
                       for key in ("generation", "generation_small")},
        "source_rows": raw["generation"]["fingerprint"]["tables"],
        "source_indexes": len(raw["generation"]["fingerprint"]["indexes"]),
        "dump": {key: value for key, value in raw["dump"].items() if key != "path"},
        "backup": {
            "floor": {"seconds": floor_s, "mb_s": dump_bytes / MB / floor_s},
            "job": {"seconds": job_s, "mb_s": dump_bytes / MB / job_s, "bytes": job_bytes,
                    "job_duration_s": med("job", "job_duration_s"), "ratio_to_floor": job_s / floor_s},
            "naive": {"seconds": naive_s, "mb_s": dump_bytes / MB / naive_s, "bytes": naive_bytes,
                      "local_seconds": med("naive", "local_seconds"),
                      "after_close_seconds": med("naive", "after_close_seconds"),
                      "write_back_seconds": naive_write_back,
                      "mount_peak_rss_mib": med("naive", "mount_peak_rss_mib"),
                      "ratio_to_job": naive_s / job_s,
                      "excl_write_back_ratio_to_job": (naive_s - naive_write_back) / job_s},
            "job_small": {"seconds": med("job_small"), "bytes": med("job_small", "bytes")},
            "size_ratio_job_to_naive": job_bytes / naive_bytes,
            "cpu": {step: {key: median([rep[step]["cpu"][key] for rep in reps]) for key in reps[0][step]["cpu"]}
                    for step in ("floor", "job")},
            "peak_rss": rss,
        },
        "restore": restore,
        "restored_backup": raw["restored_backup"],
    }
    checks = [
        ("(b) backup job / (a) pg_dumpall > /dev/null", job_s / floor_s, "<=", TARGETS["job_vs_floor"]),
        ("(c) naive gzip to the mount / (b) backup job", naive_s / job_s, ">=", TARGETS["naive_vs_job"]),
        ("size (b) / size (c)", job_bytes / naive_bytes, "<=", TARGETS["size_job_vs_naive"]),
        (f"peak RSS (b), {args.assets} assets, MiB", rss["large"]["peak_total_mib"], "<=", TARGETS["job_peak_rss_mib"]),
        (f"peak RSS (b), {args.small_assets} assets, MiB", rss["small"]["peak_total_mib"], "<=",
         TARGETS["job_peak_rss_mib"]),
        ("(d) verify + restore / (e) psql < local dump", None if ours_s is None or psql_s is None else ours_s / psql_s, "<=",
         TARGETS["restore_vs_psql"]),
    ]
    summary["targets"] = []
    for name, value, sense, limit in checks:
        ok = None if value is None else (value <= limit if sense == "<=" else value >= limit)
        summary["targets"].append({"name": name, "value": value, "target": f"{sense} {limit:g}", "pass": ok})
    correct = None if restore is None else (
        restore["psql"]["matches_source"] and (restore["ours"] is None or restore["ours"]["matches_source"]))
    summary["restored_rows_match_source"] = correct
    summary["all_pass"] = all(item["pass"] for item in summary["targets"]) and bool(correct)
    summary["raw"] = raw
    return summary


def report(summary: dict) -> None:
    context, versions, dump = summary["context"], summary["versions"], summary["dump"]
    backup, restore = summary["backup"], summary["restore"]
    targets = {item["name"]: item for item in summary["targets"]}
    names = [item["name"] for item in summary["targets"]]
    dump_mb = dump["dump_bytes"] / MB

    def statistic(count: int) -> str:
        return f"median of {count} runs" if count > 1 else "single run"

    print(f"\nBackup and restore of a database with Immich v3.2.2's schema - backups: {statistic(summary['repeat'])}, "
          f"restores: {statistic(summary['restore_repeat'])}")
    print(f"PostgreSQL {versions['postgres']}, zstd {versions['zstd']}, {versions['gzip']}, {versions['rclone']}, "
          f"azure-storage-blob {versions['azure_storage_blob']}, Docker {versions['docker']}")
    print(f"load average start {context['start']['loadavg'][0]:.2f}, end {context['end']['loadavg'][0]:.2f} on "
          f"{context['cpus']} CPUs; containers not ours: {context['start']['other_containers']} at start, "
          f"{context['end']['other_containers']} at end")
    if summary["postgres_args"]:
        print(f"extra postgres arguments for every database: {shlex.join(summary['postgres_args'])}")
    rows = ", ".join(f"{name.split('.')[-1]} {count}" for name, count in summary["source_rows"].items())
    print(f"database: {summary['assets']} assets ({rows}; {summary['source_indexes']} indexes), "
          f"pg_dumpall output {dump_mb:.1f} MB")
    generation = summary["generation"]
    print(f"generated in {generation['generation']['seconds']:.1f} s; the small one "
          f"({generation['generation_small']['assets']} assets) in {generation['generation_small']['seconds']:.1f} s "
          f"(not compared)")

    def target_cells(name: str) -> list[str]:
        item = targets[name]
        return [fmt(item["value"]), item["target"], verdict(item["pass"])]

    header = ["", "seconds", "MB/s", "stored MB", "ratio", "target", "result"]
    floor, job, naive = backup["floor"], backup["job"], backup["naive"]
    rows = [
        ["(a) floor: pg_dumpall > /dev/null", fmt(floor["seconds"]), fmt(floor["mb_s"], ".1f"), "", "1.00", "", ""],
        [f"(b) backup job: zstd -{summary['job_compression_level']} into Blob blocks, committed", fmt(job["seconds"]), fmt(job["mb_s"], ".1f"),
         fmt(job["bytes"] / MB, ".1f"), *target_cells(names[0])],
        ["(b)   of which the job's own duration_s", fmt(job["job_duration_s"], ".1f"), "", "", "", "", ""],
        ["(c) naive: gzip > rclone mount, until in Azure", fmt(naive["seconds"]), fmt(naive["mb_s"], ".1f"),
         fmt(naive["bytes"] / MB, ".1f"), *target_cells(names[1])],
        ["(c)   of which gzip done, file closed", fmt(naive["local_seconds"]), "", "", "", "", ""],
        ["(c)   of which after close (incl. write-back delay)", fmt(naive["after_close_seconds"]), "", "", "", "", ""],
        [f"(c)   minus the {naive['write_back_seconds']:g} s write-back delay (derived)",
         fmt(naive["seconds"] - naive["write_back_seconds"]), "", "", fmt(naive["excl_write_back_ratio_to_job"]),
         "", ""],
        ["size (b) / size (c)", "", "", "", *target_cells(names[2])],
    ]
    print_table(f"Backup, {dump_mb:.1f} MB of pg_dumpall output (MB/s of the dump; ratios: (b)/(a), (c)/(b))",
                header, rows)

    cpu = backup["cpu"]
    header = ["", "seconds", "CPU-s available", "CPU-s busy (all)", "idle", "Azurite", "ours"]
    rows = [[label, fmt(backup[step]["seconds"]), fmt(cpu[step]["capacity_core_s"], ".1f"), fmt(cpu[step]["busy_core_s"], ".1f"),
             fmt(cpu[step]["capacity_core_s"] - cpu[step]["busy_core_s"], ".1f"), fmt(cpu[step]["azurite_core_s"], ".1f"),
             fmt(cpu[step]["ours_core_s"], ".1f")]
            for label, step in (("(a) floor (ours: the docker CLI)", "floor"), ("(b) job (ours: Python, zstd)", "job"))]
    print_table(f"Where the CPU went ({context['cpus']} CPUs; busy counts everything on the machine, "
                "the database and Docker too)", header, rows)

    rss = backup["peak_rss"]
    process_names = sorted({name for entry in rss.values() for name in entry["per_process_mib"]})
    header = ["", "peak of sum", *process_names, "sum of peaks", "anon only", "target", "result"]
    rows = []
    for label, assets, name in (("large", summary["assets"], names[3]), ("small", summary["small_assets"], names[4])):
        entry = rss[label]
        rows.append([f"(b) {assets} assets", fmt(entry["peak_total_mib"], ".1f"),
                     *[fmt(entry["per_process_mib"].get(process), ".1f") for process in process_names],
                     fmt(entry["sum_of_process_peaks_mib"], ".1f"), fmt(entry["peak_anon_total_mib"], ".1f"),
                     targets[name]["target"],
                     verdict(targets[name]["pass"])])
    print_table("Peak RSS of the backup job's processes, MiB (sampled every 50 ms from /proc; per process: VmHWM)",
                header, rows)

    header = ["", "seconds", "MB/s", "ratio", "target", "result", "rows = source"]
    if restore is None:
        print("\nRestores: not measured (--restore-repeat 0)")
    ours, psql = (None, None) if restore is None else (restore["ours"], restore["psql"])
    rows = [] if psql is None else [["(e) psql < local dump (decompressed, 2 lines out)", fmt(psql["seconds"]),
                                     fmt(dump_mb / psql["seconds"], ".1f"), "1.00", "", "", "yes" if psql["matches_source"] else "NO"]]
    if psql is None:
        pass
    elif ours is None:
        rows.append(["(d) verify + restore", "-", "-", "-", targets[names[5]]["target"], "n/a", "-"])
    else:
        rows += [
            ["(d) verify + restore (immich_db_restore.py)", fmt(ours["seconds"]), fmt(dump_mb / ours["seconds"], ".1f"),
             *target_cells(names[5]), "yes" if ours["matches_source"] else "NO"],
            ["(d)   of which verify (download, SHA-256, zstd -d)", fmt(ours["verify_seconds"]), "", "", "", "", ""],
            ["(d)   of which restore (download | zstd -d | psql)", fmt(ours["restore_seconds"]), "", "", "", "", ""],
        ]
    if restore is not None:
        print_table(f"Restore of {summary['restored_backup']} into a fresh, empty database", header, rows)
    if ours is not None:
        print(f"peak RSS of the restore script's processes: verify {ours['verify_peak_rss_mib']:.1f} MiB, "
              f"restore {ours['restore_peak_rss_mib']:.1f} MiB (for information; includes the docker exec client)")

    print("\nTargets")
    for item in summary["targets"]:
        print(f"  {verdict(item['pass']):4}  {item['name']}: {fmt(item['value'])} (target {item['target']})")
    print(f"  {verdict(summary['restored_rows_match_source']):4}  restored databases have the source's "
          f"rows, indexes and extensions")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--assets", type=int, default=85000,
                        help="assets in the generated database, about 12 kB of dump each (default 85000: ~1 GB)")
    parser.add_argument("--small-assets", type=int, default=2000,
                        help="assets in the small database, for the RSS comparison (default 2000)")
    parser.add_argument("--seed", default="0.42", help="psql seed of the generator (default 0.42)")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions; the tables show the median (default 1)")
    parser.add_argument("--restore-repeat", type=int, default=None,
                        help="repetitions of the restores (default: --repeat; 0: none); they take longest")
    parser.add_argument("--json", metavar="PATH", help="also write the JSON result to PATH")
    parser.add_argument("--keep", action="store_true",
                        help="keep the Blob container, the two generated database containers and the work dir")
    parser.add_argument("--tmpdir", default=None,
                        help="where the work dir (configs, logs, VFS cache, the local dump) goes (default $TMPDIR or /tmp)")
    parser.add_argument("--image", default=IMAGE, help=f"PostgreSQL image (default {IMAGE})")
    parser.add_argument("--postgres-arg", action="append", default=[], metavar="ARG",
                        help="extra postgres argument for every database container, e.g. "
                             "--postgres-arg=-cmaintenance_work_mem=256MB (repeatable)")
    parser.add_argument("--python", default=None, help="Python for the job and the restore (default .venv/bin/python)")
    parser.add_argument("--rclone", default=None, help="rclone binary (default .venv/bin/rclone, then PATH)")
    args = parser.parse_args(argv)
    if args.restore_repeat is None:
        args.restore_repeat = args.repeat
    if min(args.repeat, args.assets, args.small_assets) < 1 or args.restore_repeat < 0:
        parser.error("--repeat, --assets and --small-assets must be >= 1, --restore-repeat >= 0")
    if args.python is None:
        candidate = os.path.join(REPO_ROOT, ".venv", "bin", "python")
        args.python = candidate if os.access(candidate, os.X_OK) else sys.executable
    if args.rclone is None:
        candidate = os.path.join(REPO_ROOT, ".venv", "bin", "rclone")
        args.rclone = candidate if os.access(candidate, os.X_OK) else shutil.which("rclone")
        if not args.rclone:
            parser.error("no rclone found: run tests/testbed/setup.sh or pass --rclone")
    if docker("image", "inspect", args.image, check=False).returncode != 0:
        parser.error(f"{args.image} is missing: run tests/testbed/build-images.sh")

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()
    bench = Bench(args)
    try:
        raw = bench.run()
    finally:
        bench.cleanup()
    summary = summarize(bench, raw)
    summary["wall_seconds"] = time.monotonic() - started
    report(summary)
    print(f"\nwhole run: {summary['wall_seconds'] / 60:.1f} min")
    rclone_bench.print_json(summary, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
