# SPDX-License-Identifier: GPL-3.0-or-later
"""Throughput of the rclone_mount role's FUSE mount against rclone used directly.

Runs against the test bed's Azurite (tests/testbed/ensure-azurite.sh), in one run:

* sequential write of one large file (--size-mb) through the mount, timed until the blob is
  in the container with its full size, against ``rclone copy`` of the same local file;
* sequential read of that file through a fresh mount (empty VFS cache), against
  ``rclone cat ... > /dev/null`` (and, for information, ``rclone copy`` to a local directory);
* creating --small-files files of 4 KiB through the mount, timed until all of them are
  blobs, against ``rclone copy`` of a local directory holding the same files.

The mount command line is the ExecStart= of roles/rclone_mount/templates/rclone-mount.service.j2
rendered with the values of roles/rclone_mount/defaults/main.yml, so the benchmark follows the
role when either changes. Only the paths differ: the config, the VFS cache directory and the
mount point are fresh temporary directories on this machine. See benchmarks/README.md.

Run with the project's venv:  .venv/bin/python benchmarks/rclone_mount_throughput.py --help
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import signal
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ROLE_DIR = os.path.join(REPO_ROOT, "roles", "rclone_mount")
DEFAULTS_PATH = os.path.join(ROLE_DIR, "defaults", "main.yml")
TEMPLATE_PATH = os.path.join(ROLE_DIR, "templates", "rclone-mount.service.j2")
CONFTEST_PATH = os.path.join(REPO_ROOT, "tests", "integration", "conftest.py")
ENSURE_AZURITE = os.path.join(REPO_ROOT, "tests", "testbed", "ensure-azurite.sh")

MiB = 1 << 20
IO_BUFFER = 8 * MiB  # read()/write() size for the large file, through the mount and locally
SMALL_FILE_BYTES = 4096
REMOTE = "azurite"
FUSERMOUNT = shutil.which("fusermount3") or "/usr/bin/fusermount3"
POLL_BLOB = 0.2  # seconds between Blob API polls for the large file
POLL_LISTING = 0.5  # seconds between listings while waiting for the small files
WAIT_TIMEOUT = 1800.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Azurite account and rclone config: the integration tests' helper is the single source.


def load_azurite():
    spec = importlib.util.spec_from_file_location("_bench_integration_conftest", CONFTEST_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Azurite()


# --------------------------------------------------------------------------------------------
# The role's mount command line


def role_defaults() -> dict:
    import yaml

    with open(DEFAULTS_PATH, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def execstart_argv(unit_text: str) -> list[str]:
    """argv of the ExecStart= line of a rendered unit (continuation lines joined)."""
    lines = unit_text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("ExecStart="):
            break
    else:
        raise RuntimeError(f"no ExecStart= in the rendered {TEMPLATE_PATH}")
    parts = []
    line = lines[index][len("ExecStart="):]
    while True:
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            parts.append(stripped[:-1])
            index += 1
            line = lines[index]
        else:
            parts.append(stripped)
            break
    if not parts[-1].strip():
        raise RuntimeError(f"ExecStart= in {TEMPLATE_PATH} continues into a blank line")
    argv = shlex.split(" ".join(parts))
    argv[0] = argv[0].lstrip("-@:+!")  # systemd's ExecStart= prefixes
    # systemd expands % specifiers; the template doubles literal percent signs.
    return [arg.replace("%%", "%") for arg in argv]


def role_mount_argv(overrides: dict, *, rclone: str, config: str, container: str,
                    mount_point: str, cache_dir: str) -> list[str]:
    """The role's ExecStart= for this machine: role defaults, then overrides, then our paths."""
    import jinja2

    variables = dict(role_defaults())
    variables.update(overrides)
    variables.update(
        {
            "ansible_managed": "rclone_mount_throughput benchmark",
            "__rclone_mount_binary": rclone,
            "__rclone_mount_config_path": config,
            "__rclone_mount_fusermount": FUSERMOUNT,
            # The unit's check that the SSD holding the cache is mounted: no SSD here.
            "__rclone_mount_cache_mount_point": "",
            "rclone_mount_remote_name": REMOTE,
            "rclone_mount_container": container,
            "rclone_mount_point": mount_point,
            "rclone_mount_cache_dir": cache_dir,
        }
    )
    with open(TEMPLATE_PATH, encoding="utf-8") as handle:
        # trim_blocks as Ansible's template module does by default: the {% for %} lines vanish.
        environment = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True)
        template = environment.from_string(handle.read())
    argv = execstart_argv(template.render(**variables))
    unrendered = [arg for arg in argv if "{{" in arg or "{%" in arg]
    if unrendered:
        raise RuntimeError(f"role defaults left Jinja in the mount command line: {unrendered}")
    return argv


def last_flag_value(argv: list[str], flag: str) -> str | None:
    value = None
    for index, arg in enumerate(argv):
        if arg == flag and index + 1 < len(argv):
            value = argv[index + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def duration_seconds(text: str | None) -> float:
    """rclone durations as used for --vfs-write-back: 5s, 1m30s, 500ms, 0s, 2 (seconds)."""
    if not text:
        return 0.0
    if re.fullmatch(r"[0-9.]+", text):
        return float(text)
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    total, matched = 0.0, ""
    for number, unit in re.findall(r"([0-9.]+)(ms|s|m|h|d)", text):
        total += float(number) * units[unit]
        matched += number + unit
    if matched != text:
        raise ValueError(f"cannot read the duration {text!r}")
    return total


# --------------------------------------------------------------------------------------------
# Processes and mounts


def run_timed(argv: list[str], *, stdout=subprocess.DEVNULL) -> dict:
    """Run a command; wall time until it exits and its peak RSS (from wait4)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE)
    stderr_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    status, usage = os.wait4(proc.pid, 0)[1:]
    seconds = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    if proc.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(argv)} exited with {proc.returncode}: {b''.join(stderr_chunks).decode(errors='replace')}"
        )
    return {"seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024}


def mountinfo_points() -> dict[str, str]:
    """Mount point -> filesystem type, from /proc/self/mountinfo."""
    points = {}
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            separator = fields.index("-")
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            points[point] = fields[separator + 1]
    return points


class Mount:
    """`rclone mount` in the foreground with the role's flags; always unmounted by stop()."""

    def __init__(self, argv: list[str], mount_point: str, log_path: str):
        self.argv = argv
        self.mount_point = mount_point
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.lines: list[tuple[float, str]] = []  # (monotonic time, stderr line)
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> None:
        os.makedirs(self.mount_point, exist_ok=True)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if mountinfo_points().get(self.mount_point, "").startswith("fuse.rclone"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        tail = "".join(entry[1] for entry in self.lines[-20:])
        raise RuntimeError(f"rclone mount did not appear at {self.mount_point}:\n{tail}")

    def _read_log(self) -> None:
        with open(self.log_path, "w", encoding="utf-8") as out:
            for raw in self.proc.stderr:
                line = raw.decode(errors="replace")
                self.lines.append((time.monotonic(), line))
                out.write(line)

    def peak_rss_mib(self) -> float | None:
        try:
            with open(f"/proc/{self.proc.pid}/status", encoding="utf-8") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def first_log_after(self, pattern: str, since: float, wait: float = 2.0) -> float | None:
        """When the first log line matching pattern arrived after since (waits for it a little)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + wait
        while True:
            for stamp, line in list(self.lines):
                if stamp >= since and regex.search(line):
                    return stamp
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def stop(self) -> None:
        if self.mount_point in mountinfo_points():
            subprocess.run([FUSERMOUNT, "-uz", self.mount_point], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)


# --------------------------------------------------------------------------------------------
# Blob API polling (the ground truth for "in Azure")


def wait_for_blob(container_client, name: str, size: int, timeout: float = WAIT_TIMEOUT) -> float:
    from azure.core.exceptions import ResourceNotFoundError

    blob = container_client.get_blob_client(name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if blob.get_blob_properties().size == size:
                return time.monotonic()
        except ResourceNotFoundError:
            pass
        time.sleep(POLL_BLOB)
    raise RuntimeError(f"blob {name} did not reach {size} bytes within {timeout:.0f} s")


def count_files(container_client, prefix: str) -> int:
    # Directory markers (directory_markers = true) are blobs whose names end with "/".
    return sum(1 for blob in container_client.list_blobs(name_starts_with=prefix)
               if not blob.name.endswith("/"))


def wait_for_count(container_client, prefix: str, count: int, timeout: float = WAIT_TIMEOUT) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count_files(container_client, prefix) >= count:
            return time.monotonic()
        time.sleep(POLL_LISTING)
    raise RuntimeError(f"{count} blobs under {prefix} did not appear within {timeout:.0f} s")


# --------------------------------------------------------------------------------------------
# Local I/O


def make_source(path: str, size: int) -> None:
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = min(left, 16 * MiB)
            out.write(os.urandom(chunk))
            left -= chunk


def copy_file(src: str, dst: str) -> None:
    buffer = bytearray(IO_BUFFER)
    view = memoryview(buffer)
    with open(src, "rb", buffering=0) as reader, open(dst, "wb", buffering=0) as writer:
        while True:
            count = reader.readinto(buffer)
            if not count:
                break
            written = 0
            while written < count:
                written += writer.write(view[written:count])


def read_all(path: str) -> int:
    buffer = bytearray(IO_BUFFER)
    total = 0
    with open(path, "rb", buffering=0) as reader:
        while True:
            count = reader.readinto(buffer)
            if not count:
                return total
            total += count


def make_small_files(directory: str, count: int, payloads: list[bytes]) -> None:
    os.makedirs(directory, exist_ok=True)
    for index in range(count):
        with open(os.path.join(directory, f"f{index:05d}.bin"), "wb") as out:
            out.write(payloads[index % len(payloads)])


def other_rclone_processes() -> int:
    mine = os.getpid()
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", encoding="utf-8") as comm:
                if comm.read().strip() != "rclone":
                    continue
            with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if parent != mine:
            count += 1
    return count


# --------------------------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.azurite = load_azurite()
        self.rclone = args.rclone
        self.rclone_version = subprocess.run([args.rclone, "version"], capture_output=True, text=True,
                                             check=True).stdout.splitlines()[0]
        self.size = args.size_mb * MiB
        self.work = tempfile.mkdtemp(prefix="bench-rclone-mount-", dir=args.tmpdir)
        self.config = self.azurite.rclone_config(os.path.join(self.work, "rclone.conf"), REMOTE)
        self.container = f"bench-{uuid.uuid4().hex[:12]}"
        self.service = self.azurite.service_client()
        self.container_client = None
        self.mounts: list[Mount] = []
        self.mount_serial = 0
        # A simulated uplink: the same --bwlimit for the direct commands and every mount.
        self.link = ["--bwlimit", args.bwlimit] if args.bwlimit else []
        self.variants = []
        if not args.skip_role:
            self.variants.append({"name": "role", "overrides": {}, "extra": []})
        extra = [token for flag in args.flag for token in shlex.split(flag)]
        overrides = {}
        for item in args.set:
            import yaml

            key, value = item.split("=", 1) if "=" in item else (item, "")
            overrides[key] = yaml.safe_load(value)
        if extra or overrides:
            self.variants.append({"name": args.label, "overrides": overrides, "extra": extra})
        if not self.variants:
            raise SystemExit("--skip-role needs --flag or --set")

    # -- mounts ---------------------------------------------------------------------------

    def mount(self, variant: dict) -> Mount:
        self.mount_serial += 1
        base = os.path.join(self.work, f"mount{self.mount_serial}-{variant['name']}")
        mount_point, cache_dir = os.path.join(base, "mnt"), os.path.join(base, "cache")
        os.makedirs(cache_dir)
        argv = role_mount_argv(variant["overrides"], rclone=self.rclone, config=self.config,
                               container=self.container, mount_point=mount_point,
                               cache_dir=cache_dir) + variant["extra"] + self.link
        variant.setdefault("argv", argv)
        mount = Mount(argv, mount_point, os.path.join(base, "rclone.log"))
        self.mounts.append(mount)
        mount.start()
        return mount

    def unmount(self, mount: Mount) -> None:
        mount.stop()
        self.mounts.remove(mount)

    # -- one repetition -------------------------------------------------------------------

    def repetition(self, rep: int, source: str, small_dir: str, payloads: list[bytes]) -> dict:
        args, size = self.args, self.size
        prefix = f"r{rep}"
        remote = f"{REMOTE}:{self.container}"
        result: dict = {"direct": {}, "variants": {}}
        base_cmd = [self.rclone, "--config", self.config] + self.link

        log(f"rep {rep}: direct write (rclone copy {args.size_mb} MiB)")
        run = run_timed(base_cmd + ["copy", source, f"{remote}/{prefix}/direct/"])
        wait_for_blob(self.container_client, f"{prefix}/direct/{os.path.basename(source)}", size, 5)
        result["direct"]["write"] = run

        for variant in self.variants:
            name = variant["name"]
            out: dict = {}
            mount = self.mount(variant)
            try:
                write_back = duration_seconds(last_flag_value(mount.argv, "--vfs-write-back"))
                target_dir = os.path.join(mount.mount_point, prefix, name)
                os.makedirs(target_dir)
                blob_name = f"{prefix}/{name}/{os.path.basename(source)}"
                log(f"rep {rep}: {name}: write {args.size_mb} MiB through the mount")
                start = time.monotonic()
                copy_file(source, os.path.join(target_dir, os.path.basename(source)))
                closed = time.monotonic()
                in_azure = wait_for_blob(self.container_client, blob_name, size)
                queued = mount.first_log_after(r"vfs cache: queuing for upload", closed - 1)
                uploaded = mount.first_log_after(r"vfs cache: upload succeeded", closed)
                out["write"] = {
                    "local_seconds": closed - start,
                    "seconds": in_azure - start,
                    "after_close_seconds": in_azure - closed,
                    "write_back_seconds": write_back,
                    # From rclone's INFO log, read as it is written (for cross-checking the SDK polls).
                    "log_queued_after_close_seconds": None if queued is None else queued - closed,
                    "log_upload_succeeded_after_close_seconds": None if uploaded is None else uploaded - closed,
                }
                if args.small_files:
                    log(f"rep {rep}: {name}: {args.small_files} small files through the mount")
                    small_target = os.path.join(target_dir, "small")
                    start = time.monotonic()
                    make_small_files(small_target, args.small_files, payloads)
                    created = time.monotonic()
                    done = wait_for_count(self.container_client, f"{prefix}/{name}/small/", args.small_files)
                    out["small"] = {"local_seconds": created - start, "seconds": done - start,
                                    "write_back_seconds": write_back}
                out["write"]["peak_rss_mib"] = mount.peak_rss_mib()
            finally:
                self.unmount(mount)
            result["variants"][name] = out

        if args.small_files:
            log(f"rep {rep}: direct small files (rclone copy of {args.small_files} files)")
            run = run_timed(base_cmd + ["copy", small_dir, f"{remote}/{prefix}/small-direct/"])
            if count_files(self.container_client, f"{prefix}/small-direct/") < args.small_files:
                raise RuntimeError("rclone copy of the small files did not upload all of them")
            result["direct"]["small"] = run

        direct_blob = f"{prefix}/direct/{os.path.basename(source)}"
        log(f"rep {rep}: read warm-up (untimed rclone cat, so Azurite serves all reads alike)")
        run_timed(base_cmd + ["cat", f"{remote}/{direct_blob}"])
        log(f"rep {rep}: direct read (rclone cat > /dev/null)")
        with open(os.devnull, "wb") as devnull:
            result["direct"]["read"] = run_timed(base_cmd + ["cat", f"{remote}/{direct_blob}"], stdout=devnull)
        if args.read_copy_baseline:
            log(f"rep {rep}: direct read (rclone copy to local disk, for information)")
            local_dir = os.path.join(self.work, "download")
            result["direct"]["read_copy"] = run_timed(base_cmd + ["copy", f"{remote}/{direct_blob}", local_dir])
            shutil.rmtree(local_dir)

        for variant in self.variants:
            name = variant["name"]
            log(f"rep {rep}: {name}: read {args.size_mb} MiB through a fresh mount (empty VFS cache)")
            mount = self.mount(variant)
            try:
                start = time.monotonic()
                got = read_all(os.path.join(mount.mount_point, direct_blob))
                seconds = time.monotonic() - start
                if got != size:
                    raise RuntimeError(f"read {got} bytes through the mount, expected {size}")
                result["variants"][name]["read"] = {"seconds": seconds, "peak_rss_mib": mount.peak_rss_mib()}
            finally:
                self.unmount(mount)
        return result

    # -- whole run ------------------------------------------------------------------------

    def run(self) -> dict:
        args = self.args
        subprocess.run(["bash", ENSURE_AZURITE], check=True, stdout=sys.stderr)
        self.service.create_container(self.container)
        self.container_client = self.service.get_container_client(self.container)
        log(f"container {self.container}, work dir {self.work}")

        source = os.path.join(self.work, "bench.bin")
        log(f"generating {args.size_mb} MiB of random data in {source}")
        make_source(source, self.size)
        payloads = [os.urandom(SMALL_FILE_BYTES) for dummy in range(16)]
        small_dir = os.path.join(self.work, "small")
        if args.small_files:
            make_small_files(small_dir, args.small_files, payloads)

        context = {
            "loadavg_start": os.getloadavg(),
            "other_rclone_processes_start": other_rclone_processes(),
            "cpus": os.cpu_count(),
        }
        reps = []
        for rep in range(1, args.repeat + 1):
            reps.append(self.repetition(rep, source, small_dir, payloads))
        context["loadavg_end"] = os.getloadavg()
        context["other_rclone_processes_end"] = other_rclone_processes()
        return {"reps": reps, "context": context}

    def cleanup(self) -> None:
        for mount in list(self.mounts):
            try:
                mount.stop()
            except Exception as error:  # keep cleaning up
                log(f"unmounting {mount.mount_point} failed: {error}")
        self.mounts.clear()
        if self.container_client is not None:
            if self.args.keep:
                log(f"kept the container {self.container} (--keep)")
            else:
                try:
                    self.service.delete_container(self.container)
                except Exception as error:
                    log(f"deleting the container {self.container} failed: {error}")
        # Never rmtree through a live mount: that would delete blobs.
        live = [point for point in mountinfo_points() if point.startswith(self.work + os.sep)]
        if live:
            log(f"NOT removing {self.work}: still mounted: {live}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Reporting


def median(values):
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


def summarize(bench: Bench, raw: dict) -> dict:
    args = bench.args
    reps = raw["reps"]
    mib = args.size_mb
    summary: dict = {
        "size_mib": mib,
        "small_files": args.small_files,
        "small_file_bytes": SMALL_FILE_BYTES,
        "repeat": args.repeat,
        "statistic": "median" if args.repeat > 1 else "single run",
        "rclone": bench.rclone_version,
        "bwlimit": bench.args.bwlimit or None,
        "context": raw["context"],
        "direct": {},
        "variants": {},
    }

    def direct(key):
        return median([rep["direct"][key]["seconds"] for rep in reps if key in rep["direct"]])

    write_s, read_s = direct("write"), direct("read")
    summary["direct"]["write"] = {"seconds": write_s, "mib_s": mib / write_s,
                                  "peak_rss_mib": median([r["direct"]["write"]["peak_rss_mib"] for r in reps])}
    summary["direct"]["read"] = {"seconds": read_s, "mib_s": mib / read_s,
                                 "peak_rss_mib": median([r["direct"]["read"]["peak_rss_mib"] for r in reps])}
    if args.read_copy_baseline:
        seconds = direct("read_copy")
        summary["direct"]["read_copy"] = {"seconds": seconds, "mib_s": mib / seconds}
    if args.small_files:
        seconds = direct("small")
        summary["direct"]["small"] = {"seconds": seconds, "files_s": args.small_files / seconds}

    for variant in bench.variants:
        name = variant["name"]
        runs = [rep["variants"][name] for rep in reps]
        write = {key: median([run["write"][key] for run in runs])
                 for key in ("local_seconds", "seconds", "after_close_seconds", "write_back_seconds", "peak_rss_mib",
                             "log_queued_after_close_seconds", "log_upload_succeeded_after_close_seconds")}
        write["mib_s"] = mib / write["seconds"]
        write["ratio"] = write["mib_s"] / summary["direct"]["write"]["mib_s"]
        write["local_mib_s"] = mib / write["local_seconds"]
        # Derived, labelled as such: the configured write-back delay taken out of the end-to-end time.
        upload = write["seconds"] - write["write_back_seconds"]
        write["excl_write_back_seconds"] = upload
        write["excl_write_back_mib_s"] = mib / upload
        write["excl_write_back_ratio"] = write["excl_write_back_mib_s"] / summary["direct"]["write"]["mib_s"]
        write["write_back_share"] = write["write_back_seconds"] / write["seconds"]
        read = {"seconds": median([run["read"]["seconds"] for run in runs]),
                "peak_rss_mib": median([run["read"]["peak_rss_mib"] for run in runs])}
        read["mib_s"] = mib / read["seconds"]
        read["ratio"] = read["mib_s"] / summary["direct"]["read"]["mib_s"]
        entry = {"argv_flags": variant["argv"][4:], "overrides": variant["overrides"],
                 "extra_flags": variant["extra"], "write": write, "read": read}
        if args.small_files:
            small = {key: median([run["small"][key] for run in runs])
                     for key in ("local_seconds", "seconds", "write_back_seconds")}
            small["files_s"] = args.small_files / small["seconds"]
            small["local_files_s"] = args.small_files / small["local_seconds"]
            small["ratio"] = small["files_s"] / summary["direct"]["small"]["files_s"]
            entry["small"] = small
        entry["meets_target"] = {
            "read": read["ratio"] >= args.target,
            "write_end_to_end": write["ratio"] >= args.target,
            "write_excl_write_back": write["excl_write_back_ratio"] >= args.target,
        }
        summary["variants"][name] = entry
    summary["target_ratio"] = args.target
    summary["raw"] = reps
    return summary


def print_json(summary: dict, path: str | None) -> None:
    """The result as the last line, `JSON {...}`, and also into `path` when given."""
    line = json.dumps(summary, sort_keys=True)
    if path:
        with open(path, "w", encoding="utf-8") as out:
            out.write(line + "\n")
    print("\nJSON " + line)


def fmt(value, spec=".2f"):
    return "-" if value is None else format(value, spec)


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    print(f"\n{title}")
    line = "  ".join(str(h).ljust(widths[0]) if i == 0 else str(h).rjust(widths[i]) for i, h in enumerate(header))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(str(c).ljust(widths[0]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(row)))


def report(summary: dict) -> None:
    mib, stat = summary["size_mib"], summary["statistic"]
    context = summary["context"]
    print(f"\nrclone mount throughput against Azurite - {summary['rclone']}, {stat} of {summary['repeat']} run(s)"
          + (f", uplink simulated with --bwlimit {summary['bwlimit']} on both sides" if summary["bwlimit"] else ""))
    print(f"load average start {context['loadavg_start'][0]:.2f}, end {context['loadavg_end'][0]:.2f} "
          f"on {context['cpus']} CPUs; rclone processes not ours: {context['other_rclone_processes_start']} "
          f"at start, {context['other_rclone_processes_end']} at end")
    for name, variant in summary["variants"].items():
        print(f"mount flags [{name}]: {shlex.join(variant['argv_flags'])}")

    direct = summary["direct"]
    header = ["", "seconds", "MiB/s", "x direct", "peak RSS MiB"]
    rows = [["direct: rclone copy", fmt(direct["write"]["seconds"]), fmt(direct["write"]["mib_s"], ".1f"),
             "1.00", fmt(direct["write"]["peak_rss_mib"], ".0f")]]
    for name, variant in summary["variants"].items():
        write = variant["write"]
        rows.append([f"{name}: local write returned (close)", fmt(write["local_seconds"]),
                     fmt(write["local_mib_s"], ".1f"), "", ""])
        rows.append([f"{name}: until the blob is in Azure", fmt(write["seconds"]), fmt(write["mib_s"], ".1f"),
                     fmt(write["ratio"]), fmt(write["peak_rss_mib"], ".0f")])
        rows.append([f"{name}:   of which after close", fmt(write["after_close_seconds"]), "", "", ""])
        rows.append([f"{name}:   of which write-back delay (configured)", fmt(write["write_back_seconds"]),
                     f"{write['write_back_share'] * 100:.0f}%", "", ""])
        rows.append([f"{name}: in Azure minus the delay (derived)", fmt(write["excl_write_back_seconds"]),
                     fmt(write["excl_write_back_mib_s"], ".1f"), fmt(write["excl_write_back_ratio"]), ""])
    print_table(f"Sequential write, {mib} MiB file", header, rows)

    rows = [["direct: rclone cat > /dev/null", fmt(direct["read"]["seconds"]), fmt(direct["read"]["mib_s"], ".1f"),
             "1.00", fmt(direct["read"]["peak_rss_mib"], ".0f")]]
    if "read_copy" in direct:
        rows.append(["direct: rclone copy to local disk (info)", fmt(direct["read_copy"]["seconds"]),
                     fmt(direct["read_copy"]["mib_s"], ".1f"),
                     fmt(direct["read_copy"]["mib_s"] / direct["read"]["mib_s"]), ""])
    for name, variant in summary["variants"].items():
        read = variant["read"]
        rows.append([f"{name}: read through a fresh mount", fmt(read["seconds"]), fmt(read["mib_s"], ".1f"),
                     fmt(read["ratio"]), fmt(read["peak_rss_mib"], ".0f")])
    print_table(f"Sequential read, {mib} MiB file (empty VFS cache)", header, rows)

    if summary["small_files"]:
        count = summary["small_files"]
        header = ["", "seconds", "files/s", "x direct"]
        rows = [["direct: rclone copy of the directory", fmt(direct["small"]["seconds"]),
                 fmt(direct["small"]["files_s"], ".1f"), "1.00"]]
        for name, variant in summary["variants"].items():
            small = variant["small"]
            rows.append([f"{name}: created through the mount", fmt(small["local_seconds"]),
                         fmt(small["local_files_s"], ".1f"), ""])
            rows.append([f"{name}: until all are blobs (incl. {small['write_back_seconds']:g}s delay)",
                         fmt(small["seconds"]), fmt(small["files_s"], ".1f"), fmt(small["ratio"])])
        print_table(f"Small files, {count} x {summary['small_file_bytes'] // 1024} KiB", header, rows)

    target = summary["target_ratio"]
    print(f"\nTarget: mount >= {target:.1f}x direct")
    for name, variant in summary["variants"].items():
        met = variant["meets_target"]
        words = {True: "meets", False: "MISSES"}
        print(f"  {name}: read {words[met['read']]} ({variant['read']['ratio']:.2f}x); "
              f"write until in Azure {words[met['write_end_to_end']]} ({variant['write']['ratio']:.2f}x); "
              f"write without the configured write-back delay {words[met['write_excl_write_back']]} "
              f"({variant['write']['excl_write_back_ratio']:.2f}x)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", maxsplit=1)[0],
        epilog="Extra flags: --flag=--buffer-size=32M or --flag '--vfs-read-chunk-streams 4' (repeatable). "
               "They are appended to the role's flags (the last value of a flag wins) and run as a second "
               "variant next to the role's flags in the same run.",
    )
    parser.add_argument("--size-mb", type=int, default=500, help="large file size in MiB (default 500)")
    parser.add_argument("--small-files", type=int, default=1000, help="number of 4 KiB files (default 1000; 0 skips)")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions; the tables show the median (default 1)")
    parser.add_argument("--flag", action="append", default=[], metavar="FLAGS",
                        help="extra rclone mount flag(s) for the tuned variant (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="VAR=VALUE",
                        help="override a role default for the tuned variant, e.g. rclone_mount_vfs_write_back=0s")
    parser.add_argument("--label", default="tuned", help="name of the tuned variant (default tuned)")
    parser.add_argument("--skip-role", action="store_true", help="run only the tuned variant")
    parser.add_argument("--keep", action="store_true", help="keep the Blob container afterwards")
    parser.add_argument("--json", metavar="PATH", help="also write the JSON result to PATH")
    parser.add_argument("--no-read-copy-baseline", dest="read_copy_baseline", action="store_false",
                        help="skip the informational 'rclone copy to local disk' read baseline")
    parser.add_argument("--bwlimit", default="", metavar="RATE",
                        help="rclone --bwlimit for the direct commands and the mounts alike, e.g. 20M: a "
                             "simulated uplink, so the network and not the loopback speed is the limit")
    parser.add_argument("--target", type=float, default=0.8, help="target ratio mount/direct (default 0.8)")
    parser.add_argument("--rclone", default=None, help="rclone binary (default .venv/bin/rclone, then PATH)")
    parser.add_argument("--tmpdir", default=None, help="where the temp work dir (source file, VFS caches, "
                        "mount points) goes (default: $TMPDIR or /tmp)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.size_mb < 1 or args.small_files < 0:
        parser.error("--repeat and --size-mb must be >= 1, --small-files >= 0")
    if args.rclone is None:
        candidate = os.path.join(REPO_ROOT, ".venv", "bin", "rclone")
        args.rclone = candidate if os.access(candidate, os.X_OK) else shutil.which("rclone")
        if not args.rclone:
            parser.error("no rclone found: run tests/testbed/setup.sh or pass --rclone")

    bench = Bench(args)

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    try:
        raw = bench.run()
    finally:
        bench.cleanup()
    summary = summarize(bench, raw)
    report(summary)
    print_json(summary, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
