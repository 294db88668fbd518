# SPDX-License-Identifier: GPL-3.0-or-later
"""What Immich's ingest downloads from Azure through the rclone_mount role's mount, per variant.

Against a private Azurite (benchmarks/private_azurite.py), in one run:

* assets made on the fly with Debian's tools: JPEGs (libvips), HEICs (heif-enc) and short H.264
  videos (ffmpeg), each with its own EXIF/QuickTime date and GPS position (exiftool);
* per mount variant (the role's ExecStart= rendered as benchmarks/rclone_mount_throughput.py does,
  plus the variant's changes) and a fresh Blob container per variant:
  (a) uploads: every asset written through a fresh mount where Immich's upload puts it, then
      ingested as Immich's job chain does after an upload;
  (b) a legacy library copied into the container with rclone directly (the mount never saw it),
      walked and stat'ed through a fresh mount, then ingested as after an external library scan;
  with the bytes Azurite served for each asset (a counting HTTP proxy on 127.0.0.1 between the
  mount and Azurite), the time per asset, the VFS cache on disk and rclone's peak RSS;
* a tree walk at scale: --tree-files small files in --tree-dirs folders written to Azurite with
  rclone, walked with os.walk + os.stat through a fresh mount, against ``rclone lsl`` (recursive)
  of the same tree, in the same run.

Targets: bytes served <= 1.1 x the asset's size for every asset; walk <= 2 x the listing; rclone's
peak RSS <= 256 MiB; the VFS cache never above its configured size plus one file. See
benchmarks/README.md.

Run with the project's venv, as root (FUSE mounts with --allow-other):
  .venv/bin/python benchmarks/ingest_read_pattern.py --help
"""

# Immich's ingest, read in immich-app/immich (facts only, nothing copied):
# * server/src/services/asset-media.service.ts @ 983984fc7c79ae7ace519c69b9dbda4209427f90: an
#   upload is stored as a file in the upload folder, its times set (utimes), and
#   METADATA_EXTRACTION is queued with source 'upload' (the checksum comes from the upload stream,
#   no read of the stored file).
# * server/src/services/library.service.ts @ 7cec90add9059c0be5c33590384a451e57d471ff: a library
#   scan walks the import paths (storageRepository.walk), makes each new asset with a checksum of its
#   *path* (the file is not read), and queues SIDECAR_DISCOVERY with source 'upload' for it; the
#   check of known assets stats every file.
# * server/src/services/job.service.ts @ 6626cef69b3b5bc1ea5050673ce76807d6a581de (onDone): the
#   chain SIDECAR_DISCOVERY -> METADATA_EXTRACTION -> LINK_LIVE_PHOTOS ->
#   STORAGE_TEMPLATE_MIGRATION_SINGLE -> (source upload) GENERATE_THUMBNAILS -> SMART_SEARCH and
#   FACE_DETECTION (these read the preview on the SSD, not the original) and, for a video,
#   VIDEO_CONVERSION. Each step is its own queue: under a backlog (a library import) the metadata
#   queue runs far ahead of the thumbnail queue.
# * server/src/services/metadata.service.ts @ f5e44f12e173c3526c6a5fbe5b76583325cf90a6: sidecar
#   discovery checks <file>.xmp and <file without extension>.xmp; metadata extraction reads the
#   tags of an image with exiftool, of a video with exiftool and ffprobe.
# * server/src/repositories/metadata.repository.ts @ 6cfef44a0696e4917c493c3e91d45e9e07e6f5d8:
#   exiftool through exiftool-vendored with its default read arguments (-fast); later releases pass
#   their own (-api largefilesupport=1), without -fast. This benchmark runs without -fast, the
#   later and heavier case (--exiftool-fast for the other).
# * server/src/services/media.service.ts @ 92fbef062a74b35ee644025052e07857cb61906a: an image's
#   original is decoded once to the preview size, preview and thumbnail are made from that buffer;
#   a video is probed, then ffmpeg makes the preview and ffmpeg the thumbnail, both from the
#   original; VIDEO_CONVERSION probes again and transcodes only when the policy asks for it (the
#   default policy accepts H.264/AAC: no transcode; --transcode runs one).
# * server/src/repositories/media.repository.ts @ 32d0a3518577d1141e1b7241982fc58d336801ce: sharp
#   (libvips) decodes images, fluent-ffmpeg runs ffprobe (-show_streams -show_format) and ffmpeg.
# Stand-ins here: exiftool -stay_open (as exiftool-vendored runs it), vipsthumbnail (libvips, as
# sharp), ffprobe and ffmpeg. One job at a time (Immich runs several per queue).

from __future__ import annotations

import argparse
import collections
import http.client
import http.server
import importlib.util
import json
import os
import random
import re
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
RCLONE_BENCH = os.path.join(REPO_ROOT, "benchmarks", "rclone_mount_throughput.py")
ENSURE_AZURITE = os.path.join(REPO_ROOT, "tests", "testbed", "ensure-azurite.sh")
PRIVATE_AZURITE = os.path.join(REPO_ROOT, "benchmarks", "private_azurite.py")

MiB = 1 << 20
TARGETS = {
    "bytes_per_asset_ratio": 1.1,  # bytes served / asset size, at most, for every asset
    "walk_ratio": 2.0,  # walk through the mount / rclone lsl, at most
    "peak_rss_mib": 256.0,  # rclone mount's VmHWM, at most
}
PROXY_CHUNK = 64 * 1024  # bytes read from Azurite per read() in the proxy
CACHE_SAMPLE_SECONDS = 0.5
STEP_TIMEOUT = 600  # seconds for one tool run on one asset
# Debian packages of the tools (benchmarks/README.md): libimage-exiftool-perl, libvips-tools,
# ffmpeg, libheif-examples.
TOOLS = {"exiftool": "libimage-exiftool-perl", "vips": "libvips-tools", "vipsthumbnail": "libvips-tools",
         "ffmpeg": "ffmpeg", "ffprobe": "ffmpeg", "heif-enc": "libheif-examples"}


def _load(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The mount benchmark's role mount (its ExecStart= rendered from the role), Mount, Blob polling,
# tables and JSON line, and the Azurite account of tests/integration/conftest.py: one source.
rclone_bench = _load("_bench_rclone_mount_throughput", RCLONE_BENCH)
log = rclone_bench.log
fmt = rclone_bench.fmt
print_table = rclone_bench.print_table
REMOTE = rclone_bench.REMOTE
private_azurite = _load("_bench_private_azurite", PRIVATE_AZURITE)

# Mount variants: role variables to override (rendered into the unit) and flags appended after the
# unit's flags (rclone takes the last value of a flag). "role" is the role's defaults as they are.
FULL = {"rclone_mount_vfs_cache_mode": "full"}
WRITES = {"rclone_mount_vfs_cache_mode": "writes"}
VARIANTS = {
    "role": ({}, []),
    "writes": (WRITES, []),
    "writes-chunk2M": (WRITES, ["--vfs-read-chunk-size", "2M", "--buffer-size", "2M"]),
    "writes-nobuf": (WRITES, ["--vfs-read-chunk-size", "1M", "--buffer-size", "0"]),
    "full": (FULL, []),
    "full-chunk2M": (FULL, ["--vfs-read-chunk-size", "2M", "--buffer-size", "2M"]),
    "full-ra64M": (FULL, ["--vfs-read-ahead", "64M"]),
    # The cache bounded like a big library on the Pi (110 GB through a 20 GB cache): max size set to
    # --small-cache-fraction of the asset bytes at run time, with the role's poll interval, rclone's
    # default one and a shorter one.
    "full-smallcache": (FULL, []),
    "full-smallcache-poll1m": (FULL, ["--vfs-cache-poll-interval", "1m"]),
    "full-smallcache-poll5s": (FULL, ["--vfs-cache-poll-interval", "5s"]),
    "writes-sync": (WRITES, ["--async-read=false"]),
    "writes-sync-chunk2M": (WRITES, ["--async-read=false", "--vfs-read-chunk-size", "2M", "--buffer-size", "2M"]),
    # For the tree walk: the whole tree listed at mount time with ListR (a flat listing).
    "role-refresh": ({}, ["--fast-list", "--vfs-refresh"]),
    # rclone's memory after a large walk: the Go runtime settings of VARIANT_ENV, below.
    "full-gomemlimit160": (FULL, []),
    "full-gogc50": (FULL, []),
}
# Variants that change the Go runtime's memory use rather than rclone's flags: environment variables
# for the rclone process (Go's soft memory limit and garbage collector target).
VARIANT_ENV = {
    "full-gomemlimit160": {"GOMEMLIMIT": "160MiB"},
    "full-gogc50": {"GOGC": "50"},
}
DEFAULT_VARIANTS = "role,writes,full-chunk2M,full-ra64M,full-smallcache,full-smallcache-poll1m"
SMALL_CACHE = ("full-smallcache", "full-smallcache-poll1m", "full-smallcache-poll5s")


# --------------------------------------------------------------------------------------------
# Small helpers


def parse_size(text: str | None) -> int | None:
    """rclone SizeSuffix (binary units, B/K/M/G/T/P, optional i/B): bytes; None for off."""
    if text is None or str(text).strip().lower() in ("off", "-1", ""):
        return None
    match = re.fullmatch(r"([0-9.]+)\s*([bkmgtp]?)(i?b?)", str(text).strip().lower())
    if not match:
        raise ValueError(f"cannot read the size {text!r}")
    power = " kmgtp".index(match.group(2) or " ") if match.group(2) != "b" else 0
    return int(float(match.group(1)) * (1024 ** power))


def tree_usage(path: str) -> tuple[int, int]:
    """(allocated bytes on disk, apparent bytes) of every file under path."""
    allocated = apparent = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            allocated += info.st_blocks * 512
            apparent += info.st_size
    return allocated, apparent


def run(argv: list[str], timeout: float = STEP_TIMEOUT, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False,
                            **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited with {result.returncode}: "
                           f"{result.stderr.decode(errors='replace')[-2000:]}")
    return result


def pct(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def median(values):
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


class Deadline:
    def __init__(self, minutes: float):
        self.end = time.monotonic() + minutes * 60

    def check(self, where: str) -> None:
        if time.monotonic() > self.end:
            raise TimeoutError(f"--timeout-minutes reached ({where})")


# --------------------------------------------------------------------------------------------
# The counting proxy: rclone -> 127.0.0.1:PORT -> Azurite. Every response body byte it reads from
# Azurite is counted, per blob for GETs of a blob; when rclone drops a download half-way, the proxy
# stops reading from Azurite and closes that connection (what was read until then is counted).

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "proxy-connection"}


def classify(method: str, target: str) -> tuple[str, str | None]:
    """(kind of request, container/blob for requests on one blob)."""
    parsed = urllib.parse.urlsplit(target)
    query = urllib.parse.parse_qs(parsed.query)
    parts = urllib.parse.unquote(parsed.path).lstrip("/").split("/", 2)
    blob = f"{parts[1]}/{parts[2]}" if len(parts) == 3 and parts[2] else None
    if "comp" in query and query["comp"][0] == "list":
        return "list", None
    if blob is None:
        return f"{method.lower()}-container", None
    if method == "GET" and "comp" not in query:
        return "get-blob", blob
    return f"{method.lower()}-blob" + (f"-{query['comp'][0]}" if "comp" in query else ""), blob


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ProxyServer

    def log_message(self, format, *args) -> None:  # pylint: disable=redefined-builtin
        pass

    def do_GET(self) -> None:  # pylint: disable=invalid-name
        self.forward()

    do_HEAD = do_PUT = do_DELETE = do_POST = do_GET

    def _request_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        return self.rfile.read(int(length)) if length else None

    def _upstream(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self, "_conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port, timeout=300)
            self._conn = conn  # pylint: disable=attribute-defined-outside-init
        return conn

    def forward(self) -> None:
        body = self._request_body()
        headers = {key: value for key, value in self.headers.items() if key.lower() not in HOP_BY_HOP}
        headers["Host"] = f"{self.server.upstream_host}:{self.server.upstream_port}"
        if body is not None:
            headers["Content-Length"] = str(len(body))
        kind, blob = classify(self.command, self.path)
        for attempt in (1, 2):
            conn = self._upstream(fresh=attempt == 2)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                break
            except (OSError, http.client.HTTPException):
                if attempt == 2:
                    self.send_error(502)
                    self.close_connection = True
                    return
        chunked = response.getheader("Transfer-Encoding", "").lower() == "chunked"
        self.send_response_only(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() in HOP_BY_HOP or (chunked and key.lower() == "content-length"):
                continue
            self.send_header(key, value)
        has_body = self.command != "HEAD" and response.status not in (204, 304) and response.status >= 200
        if chunked:
            data = response.read()
            self.server.account(kind, blob, len(data), self.command, body)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.end_headers()
        if not has_body:
            response.read()
            self.server.account(kind, blob, 0, self.command, body)
            return
        remaining = int(response.getheader("Content-Length", "0"))
        got = 0
        aborted = False
        while remaining > 0:
            data = response.read(min(PROXY_CHUNK, remaining))
            if not data:
                break
            got += len(data)
            remaining -= len(data)
            try:
                self.wfile.write(data)
            except OSError:
                aborted = True
                break
        if aborted or remaining:
            self._upstream(fresh=True)  # never reuse a half-read connection
            self.close_connection = True
        self.server.account(kind, blob, got, self.command, body, aborted=aborted)


class ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: str):
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host, self.upstream_port = parsed.hostname, parsed.port or 80
        self.account_path = parsed.path.rstrip("/")  # /devstoreaccount1
        self.lock = threading.Lock()
        self.blob_bytes: collections.Counter = collections.Counter()  # container/blob -> GET body bytes
        self.blob_gets: collections.Counter = collections.Counter()  # container/blob -> GETs
        self.kind_requests: collections.Counter = collections.Counter()
        self.kind_bytes: collections.Counter = collections.Counter()  # response body bytes per kind
        self.request_body_bytes = 0
        self.aborted = 0
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{self.account_path}"

    def account(self, kind, blob, nbytes, method, body, aborted=False) -> None:
        del method
        with self.lock:
            self.kind_requests[kind] += 1
            self.kind_bytes[kind] += nbytes
            self.request_body_bytes += len(body) if body else 0
            self.aborted += 1 if aborted else 0
            if kind == "get-blob":
                self.blob_bytes[blob] += nbytes
                self.blob_gets[blob] += 1

    def snapshot(self) -> dict:
        with self.lock:
            return {"blob_bytes": collections.Counter(self.blob_bytes), "blob_gets": collections.Counter(self.blob_gets),
                    "kind_requests": collections.Counter(self.kind_requests),
                    "kind_bytes": collections.Counter(self.kind_bytes),
                    "request_body_bytes": self.request_body_bytes, "aborted": self.aborted}

    @staticmethod
    def diff(after: dict, before: dict) -> dict:
        return {key: (after[key] - before[key]) if isinstance(after[key], collections.Counter)
                else after[key] - before[key] for key in after}

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # rclone dropped a connection (a download it did not finish, or an idle one)
        super().handle_error(request, client_address)

    def start(self) -> ProxyServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


# --------------------------------------------------------------------------------------------
# The assets, made with Debian's tools


class Asset:
    def __init__(self, index: int, kind: str, path: str):
        self.index = index
        self.kind = kind  # jpeg, heic, video
        self.path = path  # the local file
        self.size = 0
        self.ext = os.path.splitext(path)[1]
        self.library_rel = ""  # under originals/ in the legacy library
        self.upload_rel = ""  # under originals/ where an upload lands

    def to_json(self) -> dict:
        return {"index": self.index, "kind": self.kind, "size": self.size, "library": self.library_rel,
                "upload": self.upload_rel}


def make_bases(work: str, args, rng: random.Random, deadline: Deadline) -> dict[str, list[str]]:
    """A few distinct originals per kind; every asset is a copy of one with its own metadata."""
    bases: dict[str, list[str]] = {"jpeg": [], "heic": [], "video": []}
    folder = os.path.join(work, "bases")
    os.makedirs(folder)
    if args.jpegs or args.heics:
        for number in range(max(1, min(args.base_images, max(args.jpegs, 1)))):
            deadline.check("making JPEGs")
            sigma = 5 + (number * 11) % 12  # 5..16: about 2 to 5 MB at 4032x3024, Q 88
            bands = []
            for band, mean in enumerate((110, 128, 140)):
                band_path = os.path.join(folder, f"b{number}-{band}.v")
                run(["vips", "gaussnoise", band_path, str(args.width), str(args.height), "--sigma", str(sigma),
                     "--mean", str(mean + rng.randint(-20, 20))])
                bands.append(band_path)
            joined = os.path.join(folder, f"b{number}.v")
            run(["vips", "bandjoin", " ".join(bands), joined])
            cast = os.path.join(folder, f"b{number}-u8.v")
            run(["vips", "cast", joined, cast, "uchar"])
            out = os.path.join(folder, f"base{number}.jpg")
            run(["vips", "jpegsave", cast, out, "--Q", "88"])
            for path in bands + [joined]:
                os.unlink(path)
            bases["jpeg"].append(out)
            if number < args.base_heics and args.heics:
                heic = os.path.join(folder, f"base{number}.heic")
                log(f"heif-enc {os.path.basename(heic)} (x265, slow)")
                run(["heif-enc", "-q", "50", out, "-o", heic], timeout=1200)
                bases["heic"].append(heic)
            os.unlink(cast)
    if args.videos:
        for number in range(args.base_videos):
            deadline.check("making videos")
            out = os.path.join(folder, f"base{number}.mp4")
            seconds = args.video_seconds
            argv = ["ffmpeg", "-nostdin", "-v", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency={220 * (number + 1)}:duration={seconds}",
                    "-vf", f"noise=alls={8 + 4 * number}:allf=t", "-c:v", "libx264", "-preset", "ultrafast",
                    "-g", "30", "-b:v", "8M", "-maxrate", "8M", "-bufsize", "4M", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "128k", "-shortest"]
            # Half with the index (moov) first, as a streaming-friendly encoder writes it, half with
            # it at the end, as phones' recorders do.
            if number % 2 == 0:
                argv += ["-movflags", "+faststart"]
            run(argv + [out])
            bases["video"].append(out)
    return bases


def make_assets(work: str, args, deadline: Deadline) -> list[Asset]:
    rng = random.Random(args.seed)
    bases = make_bases(work, args, rng, deadline)
    if args.heics and not bases["heic"]:
        log("no HEIC base image: heif-enc made none, HEICs skipped")
    folder = os.path.join(work, "assets")
    os.makedirs(folder)
    assets: list[Asset] = []
    plan = [("jpeg", args.jpegs, ".jpg"), ("heic", args.heics if bases["heic"] else 0, ".heic"),
            ("video", args.videos, ".mp4")]
    exif_args: list[str] = []
    for kind, count, ext in plan:
        for number in range(count):
            index = len(assets)
            source = bases[kind][number % len(bases[kind])]
            path = os.path.join(folder, f"asset{index:05d}{ext}")
            shutil.copyfile(source, path)
            asset = Asset(index, kind, path)
            when = time.gmtime(rng.randint(1104537600, 1735689600))  # 2005..2024
            stamp = time.strftime("%Y:%m:%d %H:%M:%S", when)
            lat, lon = rng.uniform(-60, 70), rng.uniform(-180, 180)
            exif_args += ["-overwrite_original", "-q"]
            if kind == "video":
                exif_args += [f"-QuickTime:CreateDate={stamp}", f"-QuickTime:ModifyDate={stamp}",
                              f"-Keys:GPSCoordinates={lat:.5f}, {lon:.5f}, 12", "-Keys:Make=BenchCam",
                              "-Keys:Model=Video 1"]
            else:
                exif_args += [f"-DateTimeOriginal={stamp}", f"-CreateDate={stamp}", "-OffsetTimeOriginal=+01:00",
                              f"-GPSLatitude={abs(lat):.6f}", f"-GPSLatitudeRef={'N' if lat >= 0 else 'S'}",
                              f"-GPSLongitude={abs(lon):.6f}", f"-GPSLongitudeRef={'E' if lon >= 0 else 'W'}",
                              "-Make=BenchCam", f"-Model=Ingest {kind.upper()}"]
            exif_args += [path, "-execute"]
            year, month = when.tm_year, when.tm_mon
            asset.library_rel = f"library/{year}/{year}-{month:02d}/IMG_{index:05d}{ext}"
            user = "5b1c0d9e-1f2a-4b3c-8d4e-000000000001"
            asset_id = str(uuid.UUID(int=rng.getrandbits(128)))
            asset.upload_rel = f"upload/{user}/{asset_id[:2]}/{asset_id[2:4]}/{asset_id}{ext}"
            assets.append(asset)
    args_file = os.path.join(work, "exiftool-write.args")
    with open(args_file, "w", encoding="utf-8") as out:
        out.write("\n".join(exif_args) + "\n")
    deadline.check("writing metadata")
    log(f"exiftool: dates and GPS into {len(assets)} assets")
    run(["exiftool", "-@", args_file], timeout=1800)
    for asset in assets:
        asset.size = os.path.getsize(asset.path)
    return assets


def library_tree(work: str, assets: list[Asset]) -> str:
    """The legacy library as a local tree (hard links), for rclone copy."""
    root = os.path.join(work, "library-tree")
    for asset in assets:
        target = os.path.join(root, asset.library_rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.link(asset.path, target)
    return root


# --------------------------------------------------------------------------------------------
# Immich's steps, with Debian's tools


class ExifTool:
    """exiftool -stay_open, as exiftool-vendored runs it: one process, one request per file."""

    def __init__(self, fast: bool, log_path: str):
        self.fast = fast
        self.log_path = log_path
        self.stderr = open(log_path, "ab")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(["exiftool", "-stay_open", "True", "-@", "-"],  # pylint: disable=consider-using-with
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr)

    def read(self, path: str) -> dict:
        argv = ["-json", "-struct", "-use", "MWG", "-api", "largefilesupport=1"] + (["-fast"] if self.fast else [])
        self.proc.stdin.write(("\n".join(argv + [path, "-execute"]) + "\n").encode())
        self.proc.stdin.flush()
        out = bytearray()
        deadline = time.monotonic() + STEP_TIMEOUT
        fd = self.proc.stdout.fileno()
        while not out.rstrip().endswith(b"{ready}"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError(f"exiftool did not answer for {path}")
            if select.select([fd], [], [], left)[0]:
                out += os.read(fd, 65536)
        text = out.decode(errors="replace").rstrip()[: -len("{ready}")]
        tags = json.loads(text)[0] if text.strip() else {}
        if not tags or "Error" in tags:
            raise RuntimeError(f"exiftool: {tags.get('Error')} ({path}); see {self.log_path}")
        return tags

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"-stay_open\nFalse\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


# The video preview/thumbnail filter of Immich's ThumbnailConfig in that era: key frames only, the
# most representative of up to 12 frames after a scene change or the 20th, one frame out.
VIDEO_THUMB_FILTER = ("fps=12:eof_action=pass:round=down,thumbnail=12,"
                      "select=gt(scene\\,0.1)-eq(prev_selected_n\\,n)+isnan(prev_selected_n)+gt(n\\,20),"
                      "trim=end_frame=2,reverse,scale=-2:'min({size}\\,ih)'")


class Ingest:
    """Immich's reads of one asset through the mount, step by step, with local outputs."""

    STAGES = ("sidecar", "metadata", "thumbnails", "video")

    def __init__(self, out_dir: str, exiftool: ExifTool, transcode: bool):
        self.out_dir = out_dir
        self.exiftool = exiftool
        self.transcode = transcode
        os.makedirs(out_dir, exist_ok=True)

    @staticmethod
    def ffprobe(path: str) -> dict:
        return json.loads(run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
                               path]).stdout)

    def step(self, stage: str, asset: Asset, path: str, library: bool) -> None:
        base = os.path.join(self.out_dir, f"{asset.index:05d}")
        if stage == "sidecar":
            if library:  # SIDECAR_DISCOVERY: only in the library's chain, not after an upload
                os.access(path + ".xmp", os.R_OK)
                os.access(os.path.splitext(path)[0] + ".xmp", os.R_OK)
        elif stage == "metadata":
            tags = self.exiftool.read(path)
            if asset.kind == "video":
                self.ffprobe(path)
            if not tags.get("GPSLatitude") and not tags.get("GPSPosition"):
                raise RuntimeError(f"exiftool found no GPS position in {path}: {sorted(tags)[:40]}")
        elif stage == "thumbnails":
            if asset.kind == "video":
                self.ffprobe(path)
                for size, out in ((1440, base + "-preview.jpg"), (250, base + "-thumb.webp")):
                    run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-skip_frame", "nointra", "-i", path,
                         "-vf", VIDEO_THUMB_FILTER.format(size=size), "-fps_mode", "vfr", "-frames:v", "1",
                         "-update", "1", out])
            else:
                # One decode of the original to the preview size; the thumbnail from that (local) result.
                run(["vipsthumbnail", path, "--size", "1440x1440", "-o", base + "-preview.jpg[Q=80]"])
                run(["vipsthumbnail", base + "-preview.jpg", "--size", "250x250", "-o", base + "-thumb.webp[Q=80]"])
        elif stage == "video":
            if asset.kind == "video":
                probe = self.ffprobe(path)
                codecs = {stream.get("codec_name") for stream in probe.get("streams", [])}
                if self.transcode or not codecs <= {"h264", "aac"}:
                    run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", path, "-vf", "scale=-2:720",
                         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-c:a", "aac", base + "-encoded.mp4"],
                        timeout=STEP_TIMEOUT * 2)
        else:
            raise ValueError(stage)


# --------------------------------------------------------------------------------------------
# The benchmark


def walk_tree(top: str, threads: int) -> tuple[int, int]:
    """Every file under top stat'ed: (files, folders). One thread: os.walk, as the issue asks; more: folders
    read in parallel, as fast-glob (Immich's walk) does with its default concurrency of one per CPU."""
    if threads == 1:
        found = dirs = 0
        for root, _dirs, files in os.walk(top):
            dirs += 1
            for name in files:
                os.stat(os.path.join(root, name))
                found += 1
        return found, dirs
    lock = threading.Lock()
    pending = [top]
    counts = {"files": 0, "dirs": 0, "busy": 0}
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                if errors or (not pending and counts["busy"] == 0):
                    return
                folder = pending.pop() if pending else None
                if folder is not None:
                    counts["busy"] += 1
            if folder is None:
                time.sleep(0.001)
                continue
            try:
                files = subdirs = 0
                found_dirs = []
                with os.scandir(folder) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            found_dirs.append(entry.path)
                            subdirs += 1
                        else:
                            os.stat(entry.path)
                            files += 1
                with lock:
                    pending.extend(found_dirs)
                    counts["files"] += files
                    counts["dirs"] += 1
            except BaseException as error:  # pylint: disable=broad-except  # re-raised below
                with lock:
                    errors.append(error)
            finally:
                with lock:
                    counts["busy"] -= 1

    pool = [threading.Thread(target=worker, daemon=True) for _thread in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return counts["files"], counts["dirs"]


class CacheSampler:
    """The VFS cache's allocated size, every CACHE_SAMPLE_SECONDS, in a thread."""

    def __init__(self, path: str):
        self.path = path
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            allocated = tree_usage(self.path)[0]
            self.peak = max(self.peak, allocated)
            self.samples += 1
            self._stop.wait(CACHE_SAMPLE_SECONDS)

    def start(self) -> CacheSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.deadline = Deadline(args.timeout_minutes)
        self.rclone = args.rclone
        self.rclone_version = run([args.rclone, "version"]).stdout.decode().splitlines()[0]
        self.work = tempfile.mkdtemp(prefix="bench-ingest-", dir=args.tmpdir)
        # The Azurite in use (shared: the test bed's; private: our own, benchmarks/private_azurite.py), its SDK client,
        # the counting proxy in front of it and two rclone configs (through the proxy, direct).
        self.targets: dict[str, dict] = {}
        self.private = None  # private_azurite.PrivateAzurite, started on first use
        self.which = ""
        self.azurite = self.service = self.proxy = None
        self.proxied_config = self.direct_config = ""
        self.containers: list[tuple[str, str]] = []  # (which Azurite, container)
        self.mounts: list = []
        self.exiftools: list[ExifTool] = []
        self.serial = 0
        self.assets: list[Asset] = []
        self.small_cache_bytes = 0

    # -- Azurite, containers and mounts ---------------------------------------------------

    def use(self, which: str) -> None:
        """Point the run at the shared or the private Azurite (started on first use)."""
        if which not in self.targets:
            if which == "private":
                self.private = private_azurite.PrivateAzurite(self.work, self.args.azurite_index).start()
                azurite = self.private.account()
                log(f"private Azurite ({self.args.azurite_index} index) at {azurite.endpoint}")
            else:
                subprocess.run(["bash", ENSURE_AZURITE], check=True, stdout=sys.stderr)
                azurite = rclone_bench.load_azurite()
            proxy = ProxyServer(azurite.endpoint).start()
            proxied = private_azurite.account_at(proxy.endpoint)
            self.targets[which] = {
                "azurite": azurite, "service": azurite.service_client(), "proxy": proxy,
                "proxied_config": proxied.rclone_config(os.path.join(self.work, f"rclone-{which}-proxied.conf"), REMOTE),
                "direct_config": azurite.rclone_config(os.path.join(self.work, f"rclone-{which}-direct.conf"), REMOTE),
            }
        for key, value in self.targets[which].items():
            setattr(self, key, value)
        self.which = which

    def new_container(self, label: str) -> str:
        name = f"bench-ingest-{uuid.uuid4().hex[:8]}-{re.sub(r'[^a-z0-9-]', '', label.lower())}"[:63].rstrip("-")
        self.service.create_container(name)
        self.containers.append((self.which, name))
        return name

    def drop_container(self, name: str, which: str | None = None) -> None:
        which = which or self.which
        if self.args.keep and which == "shared":
            log(f"kept the container {name} (--keep)")
            return
        try:
            self.targets[which]["service"].delete_container(name)
            self.containers.remove((which, name))
        except Exception as error:  # pylint: disable=broad-except  # keep going, cleanup() retries
            log(f"deleting the container {name} failed: {error}")

    def variant_argv(self, variant: str, container: str, mount_point: str, cache_dir: str) -> list[str]:
        overrides, extra = VARIANTS[variant]
        overrides = dict(overrides)
        if variant in SMALL_CACHE:
            overrides["rclone_mount_vfs_cache_max_size"] = f"{max(1, self.small_cache_bytes // MiB)}M"
        env = [f"{name}={value}" for name, value in VARIANT_ENV.get(variant, {}).items()]
        # env(1) execs rclone in its own process, so the mount's pid (and its peak RSS) is rclone's.
        return (["env"] + env if env else []) + rclone_bench.role_mount_argv(
            overrides, rclone=self.rclone, config=self.proxied_config, container=container,
            mount_point=mount_point, cache_dir=cache_dir) + list(extra)

    def mount(self, variant: str, container: str, label: str):
        self.serial += 1
        base = os.path.join(self.work, f"mount{self.serial}-{variant}-{label}")
        mount_point, cache_dir = os.path.join(base, "mnt"), os.path.join(base, "cache")
        os.makedirs(cache_dir)
        argv = self.variant_argv(variant, container, mount_point, cache_dir)
        mount = rclone_bench.Mount(argv, mount_point, os.path.join(base, "rclone.log"))
        mount.cache_dir = cache_dir
        self.mounts.append(mount)
        mount.start()
        return mount

    def unmount(self, mount) -> None:
        mount.stop()
        self.mounts.remove(mount)

    def rclone_cmd(self, config: str) -> list[str]:
        return [self.rclone, "--config", config]

    # -- workloads ------------------------------------------------------------------------

    def ingest(self, mount, ingest: Ingest, assets: list[Asset], order: str, library: bool, stages_out: dict,
               seconds_out: dict) -> float:
        """Immich's chain on every asset, per asset or stage by stage; the seconds it took."""
        root = os.path.join(mount.mount_point, "originals")
        key = "library_rel" if library else "upload_rel"

        def one(stage: str, asset: Asset) -> None:
            before = self.proxy.snapshot()
            start = time.monotonic()
            ingest.step(stage, asset, os.path.join(root, getattr(asset, key)), library)
            entry = stages_out.setdefault(stage, {"seconds": 0.0, "bytes": 0})
            entry["seconds"] += time.monotonic() - start
            seconds_out[asset.index] = seconds_out.get(asset.index, 0.0) + time.monotonic() - start
            entry["bytes"] += sum(ProxyServer.diff(self.proxy.snapshot(), before)["blob_bytes"].values())

        start = time.monotonic()
        if order == "asset":
            for asset in assets:
                self.deadline.check("ingest")
                for stage in Ingest.STAGES:
                    one(stage, asset)
        else:
            for stage in Ingest.STAGES:
                for asset in assets:
                    self.deadline.check("ingest")
                    one(stage, asset)
        return time.monotonic() - start

    def new_ingest(self) -> Ingest:
        exiftool = ExifTool(self.args.exiftool_fast, os.path.join(self.work, "exiftool.log"))
        self.exiftools.append(exiftool)
        return Ingest(os.path.join(self.work, f"out{self.serial}"), exiftool, self.args.transcode)

    def end_ingest(self, ingest: Ingest) -> None:
        ingest.exiftool.close()
        self.exiftools.remove(ingest.exiftool)
        shutil.rmtree(ingest.out_dir, ignore_errors=True)

    def measure(self, mount, container: str, assets: list[Asset], key: str, before: dict, sampler: CacheSampler,
                extra: dict) -> dict:
        after = self.proxy.snapshot()
        sampler.stop()
        delta = ProxyServer.diff(after, before)
        per_asset = []
        for asset in assets:
            blob = f"{container}/originals/{getattr(asset, key)}"
            served = delta["blob_bytes"].get(blob, 0)
            per_asset.append({"index": asset.index, "kind": asset.kind, "size": asset.size, "served": served,
                              "gets": delta["blob_gets"].get(blob, 0), "ratio": served / asset.size})
        allocated, apparent = tree_usage(mount.cache_dir)
        max_size = parse_size(rclone_bench.last_flag_value(mount.argv, "--vfs-cache-max-size"))
        result = {
            "assets": len(assets),
            "asset_bytes": sum(asset.size for asset in assets),
            "served_bytes": sum(item["served"] for item in per_asset),
            "per_asset": per_asset,
            "requests": dict(delta["kind_requests"]),
            "response_bytes": dict(delta["kind_bytes"]),
            "request_body_bytes": delta["request_body_bytes"],
            "aborted_downloads": delta["aborted"],
            "cache_allocated_bytes": allocated,
            "cache_apparent_bytes": apparent,
            "cache_peak_allocated_bytes": max(sampler.peak, allocated),
            "cache_samples": sampler.samples,
            "cache_max_size_bytes": max_size,
            "largest_asset_bytes": max(asset.size for asset in assets),
            "peak_rss_mib": mount.peak_rss_mib(),
            "argv_flags": mount.argv[4:],
        }
        for item in per_asset:
            item["seconds"] = extra["asset_seconds"].get(item["index"])
        del extra["asset_seconds"]
        result.update(extra)
        return result

    def upload_workload(self, variant: str, container: str) -> dict:
        args, assets = self.args, self.assets
        log(f"{variant}: (a) {len(assets)} uploads through a fresh mount, then Immich's chain ({args.upload_order} order)")
        mount = self.mount(variant, container, "upload")
        ingest = self.new_ingest()
        try:
            sampler = CacheSampler(mount.cache_dir).start()
            before = self.proxy.snapshot()
            stages: dict = {}
            asset_seconds: dict = {}
            root = os.path.join(mount.mount_point, "originals")
            write_seconds = 0.0

            def upload(asset: Asset) -> None:
                nonlocal write_seconds
                start = time.monotonic()
                target = os.path.join(root, asset.upload_rel)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                rclone_bench.copy_file(asset.path, target)
                stamp = time.time() - 86400 * (asset.index + 1)
                os.utime(target, (time.time(), stamp))  # Immich sets the file's times after the upload
                write_seconds += time.monotonic() - start

            if args.upload_order == "asset":
                seconds = 0.0
                for asset in assets:
                    self.deadline.check("uploads")
                    upload(asset)
                    seconds += self.ingest(mount, ingest, [asset], "asset", False, stages, asset_seconds)
            else:
                for asset in assets:
                    self.deadline.check("uploads")
                    upload(asset)
                seconds = self.ingest(mount, ingest, assets, "stage", False, stages, asset_seconds)
            log(f"{variant}: waiting until all {len(assets)} uploads are blobs")
            client = self.service.get_container_client(container)
            rclone_bench.wait_for_count(client, "originals/upload/", len(assets),
                                        timeout=max(60.0, self.deadline.end - time.monotonic()))
            return self.measure(mount, container, assets, "upload_rel", before, sampler,
                                {"ingest_seconds": seconds, "write_seconds": write_seconds, "stages": stages,
                                 "asset_seconds": asset_seconds,
                                 "order": args.upload_order})
        finally:
            self.end_ingest(ingest)
            self.unmount(mount)

    def library_workload(self, variant: str, container: str) -> dict:
        args, assets = self.args, self.assets
        log(f"{variant}: (b) legacy library of {len(assets)} assets: walk, then Immich's chain "
            f"({args.library_order} order) through a fresh mount")
        mount = self.mount(variant, container, "library")
        ingest = self.new_ingest()
        try:
            sampler = CacheSampler(mount.cache_dir).start()
            before = self.proxy.snapshot()
            start = time.monotonic()
            found = 0
            for root, _dirs, files in os.walk(os.path.join(mount.mount_point, "originals", "library")):
                for name in files:
                    os.stat(os.path.join(root, name))
                    found += 1
            walk_seconds = time.monotonic() - start
            if found != len(assets):
                raise RuntimeError(f"the walk found {found} files, expected {len(assets)}")
            stages: dict = {}
            asset_seconds: dict = {}
            seconds = self.ingest(mount, ingest, assets, args.library_order, True, stages, asset_seconds)
            return self.measure(mount, container, assets, "library_rel", before, sampler,
                                {"ingest_seconds": seconds, "walk_seconds": walk_seconds, "stages": stages,
                                 "asset_seconds": asset_seconds,
                                 "order": args.library_order})
        finally:
            self.end_ingest(ingest)
            self.unmount(mount)

    def variant(self, variant: str, library_root: str) -> dict:
        container = self.new_container(variant)
        try:
            log(f"{variant}: container {container}: legacy library in with rclone copy (not through the mount)")
            run(self.rclone_cmd(self.direct_config) + ["copy", "--transfers", "8", library_root,
                                                       f"{REMOTE}:{container}/originals"], timeout=3600)
            result = {"container": container}
            if "upload" in self.args.workloads:
                result["upload"] = self.upload_workload(variant, container)
            if "library" in self.args.workloads:
                result["library"] = self.library_workload(variant, container)
            return result
        finally:
            self.drop_container(container)

    # -- tree walk ------------------------------------------------------------------------

    def make_tree(self) -> str:
        args = self.args
        root = os.path.join(self.work, "tree")
        per_dir = -(-args.tree_files // args.tree_dirs)
        payloads = [os.urandom(args.tree_file_bytes) for _payload in range(64)]
        made = 0
        for folder in range(args.tree_dirs):
            directory = os.path.join(root, f"d{folder:04d}")
            os.makedirs(directory)
            for number in range(min(per_dir, args.tree_files - made)):
                with open(os.path.join(directory, f"f{number:04d}.jpg"), "wb") as out:
                    out.write(payloads[(folder + number) % len(payloads)])
                made += 1
        return root

    def tree_walk(self) -> dict:
        args = self.args
        container = self.new_container("tree")
        try:
            local = self.make_tree()
            log(f"tree: rclone copy of {args.tree_files} files in {args.tree_dirs} folders to {container} (direct)")
            start = time.monotonic()
            run(self.rclone_cmd(self.direct_config) + ["copy", "--transfers", "32", "--checkers", "32",
                                                       "--no-check-dest", local, f"{REMOTE}:{container}/tree"],
                timeout=max(600.0, self.deadline.end - time.monotonic()))
            upload_seconds = time.monotonic() - start
            shutil.rmtree(local)
            runs: dict = {"direct": []}
            for variant in args.walk_variants:
                runs[variant] = []
            for rep in range(1, args.walk_repeat + 1):
                self.deadline.check("tree walk")
                log(f"tree: rep {rep}: rclone lsl (recursive) through the proxy")
                before = self.proxy.snapshot()
                start = time.monotonic()
                listing = run(self.rclone_cmd(self.proxied_config) + ["lsl", f"{REMOTE}:{container}/tree"],
                              timeout=3600)
                seconds = time.monotonic() - start
                count = sum(1 for line in listing.stdout.splitlines() if line.strip())
                if count != args.tree_files:
                    raise RuntimeError(f"rclone lsl listed {count} files, expected {args.tree_files}")
                delta = ProxyServer.diff(self.proxy.snapshot(), before)
                runs["direct"].append({"seconds": seconds, "files": count, "requests": dict(delta["kind_requests"])})
                for variant in args.walk_variants:
                    for threads in args.walk_threads:
                        how = "os.walk + os.stat" if threads == 1 else f"{threads} threads of scandir + stat"
                        log(f"tree: rep {rep}: {variant}: {how} through a fresh mount")
                        mount = self.mount(variant, container, "tree")
                        try:
                            before = self.proxy.snapshot()
                            start = time.monotonic()
                            found, dirs = walk_tree(os.path.join(mount.mount_point, "tree"), threads)
                            seconds = time.monotonic() - start
                            delta = ProxyServer.diff(self.proxy.snapshot(), before)
                            if found != args.tree_files:
                                raise RuntimeError(f"the walk found {found} files, expected {args.tree_files}")
                            runs[variant].append({"threads": threads, "seconds": seconds, "files": found, "dirs": dirs,
                                                  "requests": dict(delta["kind_requests"]),
                                                  "peak_rss_mib": mount.peak_rss_mib()})
                        finally:
                            self.unmount(mount)
            return {"files": args.tree_files, "dirs": args.tree_dirs, "file_bytes": args.tree_file_bytes,
                    "upload_seconds": upload_seconds, "runs": runs}
        finally:
            self.drop_container(container)

    # -- whole run ------------------------------------------------------------------------

    def run(self) -> dict:
        args = self.args
        context = {"azurite": args.azurite, "azurite_index": args.azurite_index, "tree_azurite": args.tree_azurite,
                   "loadavg_start": os.getloadavg(), "cpus": os.cpu_count(),
                   "other_rclone_processes_start": rclone_bench.other_rclone_processes()}
        result: dict = {"variants": {}, "context": context}
        if args.jpegs + args.heics + args.videos:
            log(f"making {args.jpegs} JPEGs, {args.heics} HEICs and {args.videos} videos in {self.work}")
            start = time.monotonic()
            self.assets = make_assets(self.work, args, self.deadline)
            result["assets_seconds"] = time.monotonic() - start
            result["assets"] = [asset.to_json() for asset in self.assets]
            total = sum(asset.size for asset in self.assets)
            self.small_cache_bytes = int(total * args.small_cache_fraction)
            library_root = library_tree(self.work, self.assets)
            self.use(args.azurite)
            for variant in args.variants:
                self.deadline.check(f"variant {variant}")
                result["variants"][variant] = self.variant(variant, library_root)
                self.save_partial(result)
        if args.tree_files:
            self.use(args.tree_azurite)
            result["tree"] = self.tree_walk()
        context["loadavg_end"] = os.getloadavg()
        context["other_rclone_processes_end"] = rclone_bench.other_rclone_processes()
        return result

    def save_partial(self, result: dict) -> None:
        """The raw results so far next to --json (PATH.partial), so a late failure loses nothing."""
        if self.args.json:
            with open(self.args.json + ".partial", "w", encoding="utf-8") as out:
                json.dump(result, out, sort_keys=True)

    def cleanup(self) -> None:
        for exiftool in list(self.exiftools):
            exiftool.close()
        for mount in list(self.mounts):
            try:
                mount.stop()
            except Exception as error:  # pylint: disable=broad-except  # keep cleaning up
                log(f"unmounting {mount.mount_point} failed: {error}")
        self.mounts.clear()
        for which, name in list(self.containers):
            self.drop_container(name, which)
        for target in self.targets.values():
            try:
                target["proxy"].stop()
            except Exception as error:  # pylint: disable=broad-except
                log(f"stopping the proxy failed: {error}")
        if self.private is not None:
            self.private.stop()
        # Never rmtree through a live mount: that would delete blobs.
        live = [point for point in rclone_bench.mountinfo_points() if point.startswith(self.work + os.sep)]
        if live:
            log(f"NOT removing {self.work}: still mounted: {live}")
        elif self.args.keep:
            log(f"kept {self.work} (--keep)")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Reporting


def summarize_workload(data: dict) -> dict:
    ratios = [item["ratio"] for item in data["per_asset"]]
    worst = max(data["per_asset"], key=lambda item: item["ratio"])
    by_kind = {}
    for kind in ("jpeg", "heic", "video"):
        values = [item["ratio"] for item in data["per_asset"] if item["kind"] == kind]
        if values:
            by_kind[kind] = {"median": median(values), "max": max(values), "count": len(values)}
    limit = data["cache_max_size_bytes"]
    cache_bound = None if limit is None else limit + data["largest_asset_bytes"]
    summary = {
        "assets": data["assets"],
        "asset_mib": data["asset_bytes"] / MiB,
        "served_mib": data["served_bytes"] / MiB,
        "total_ratio": data["served_bytes"] / data["asset_bytes"],
        "ratio_median": median(ratios),
        "ratio_p90": pct(ratios, 0.9),
        "ratio_worst": worst["ratio"],
        "worst_asset": {key: worst[key] for key in ("index", "kind", "size", "served", "gets")},
        "by_kind": by_kind,
        "gets_median": median([item["gets"] for item in data["per_asset"]]),
        "seconds_per_asset": data["ingest_seconds"] / data["assets"],
        "cache_mib": data["cache_allocated_bytes"] / MiB,
        "cache_peak_mib": data["cache_peak_allocated_bytes"] / MiB,
        "cache_max_size_mib": None if limit is None else limit / MiB,
        "cache_bound_mib": None if cache_bound is None else cache_bound / MiB,
        "peak_rss_mib": data["peak_rss_mib"],
        "stages": {stage: {"seconds_per_asset": value["seconds"] / data["assets"],
                           "served_ratio": value["bytes"] / data["asset_bytes"]}
                   for stage, value in data["stages"].items()},
        "order": data["order"],
    }
    for key in ("walk_seconds", "write_seconds"):
        if key in data:
            summary[key] = data[key]
    summary["meets"] = {
        "bytes": summary["ratio_worst"] <= TARGETS["bytes_per_asset_ratio"],
        "peak_rss": summary["peak_rss_mib"] is not None and summary["peak_rss_mib"] <= TARGETS["peak_rss_mib"],
        "cache_bound": cache_bound is None or data["cache_peak_allocated_bytes"] <= cache_bound,
    }
    return summary


def summarize(args, raw: dict) -> dict:
    summary: dict = {"rclone": raw.get("rclone"), "targets": TARGETS, "context": raw["context"], "variants": {},
                     "options": {key: value for key, value in vars(args).items() if key not in ("rclone",)}}
    for variant, data in raw["variants"].items():
        entry = {}
        for workload in ("upload", "library"):
            if workload in data:
                entry[workload] = summarize_workload(data[workload])
                entry.setdefault("argv_flags", data[workload]["argv_flags"])
        summary["variants"][variant] = entry
    if "tree" in raw:
        tree = raw["tree"]
        direct = median([item["seconds"] for item in tree["runs"]["direct"]])
        walks = {}
        for variant in args.walk_variants:
            for threads in args.walk_threads:
                items = [item for item in tree["runs"][variant] if item["threads"] == threads]
                seconds = median([item["seconds"] for item in items])
                walks[f"{variant}, {threads} thread{'s' if threads > 1 else ''}"] = {
                    "variant": variant, "threads": threads, "seconds": seconds, "ratio": seconds / direct,
                    "peak_rss_mib": max(item["peak_rss_mib"] or 0 for item in items),
                    "meets": seconds / direct <= TARGETS["walk_ratio"],
                    "list_requests": items[0]["requests"].get("list", 0)}
        summary["tree"] = {"files": tree["files"], "dirs": tree["dirs"], "upload_seconds": tree["upload_seconds"],
                           "direct_seconds": direct,
                           "direct_list_requests": tree["runs"]["direct"][0]["requests"].get("list", 0),
                           "walks": walks, "repeat": args.walk_repeat}
    summary["raw"] = raw
    return summary


def report(summary: dict) -> None:
    context = summary["context"]
    print(f"\nImmich's ingest read pattern through the role's mount - {summary['rclone']}")
    print(f"load average start {context['loadavg_start'][0]:.2f}, end {context['loadavg_end'][0]:.2f} on "
          f"{context['cpus']} CPUs; rclone processes not ours: {context['other_rclone_processes_start']} at start, "
          f"{context['other_rclone_processes_end']} at end")
    for name, variant in summary["variants"].items():
        print(f"mount flags [{name}]: {shlex.join(variant['argv_flags'])}")
    header = ["variant / workload", "assets", "MiB", "served x size: all", "median", "p90", "worst",
              "GETs/asset", "s/asset", "cache MiB end/peak (bound)", "peak RSS MiB"]
    rows = []
    for name, variant in summary["variants"].items():
        for workload in ("upload", "library"):
            if workload not in variant:
                continue
            data = variant[workload]
            bound = "-" if data["cache_bound_mib"] is None else f"{data['cache_bound_mib']:.0f}"
            rows.append([f"{name} / {workload} ({data['order']} order)", data["assets"], fmt(data["asset_mib"], ".0f"),
                         fmt(data["total_ratio"]), fmt(data["ratio_median"]), fmt(data["ratio_p90"]),
                         fmt(data["ratio_worst"]), fmt(data["gets_median"], ".0f"), fmt(data["seconds_per_asset"]),
                         f"{data['cache_mib']:.0f}/{data['cache_peak_mib']:.0f} ({bound})",
                         fmt(data["peak_rss_mib"], ".0f")])
    if rows:
        print_table("Bytes Azurite served per asset / the asset's size", header, rows)
        header = ["variant / workload", "kind", "assets", "median", "worst"]
        rows = []
        for name, variant in summary["variants"].items():
            for workload in ("upload", "library"):
                for kind, data in variant.get(workload, {}).get("by_kind", {}).items():
                    rows.append([f"{name} / {workload}", kind, data["count"], fmt(data["median"]), fmt(data["max"])])
        print_table("Per kind", header, rows)
        header = ["variant / workload", "stage", "s/asset", "served x size"]
        rows = []
        for name, variant in summary["variants"].items():
            for workload in ("upload", "library"):
                for stage, data in variant.get(workload, {}).get("stages", {}).items():
                    rows.append([f"{name} / {workload}", stage, fmt(data["seconds_per_asset"], ".3f"),
                                 fmt(data["served_ratio"])])
        print_table("Per stage (bytes while the stage ran; rclone's read-ahead may spill into the next)", header, rows)
    if "tree" in summary:
        tree = summary["tree"]
        header = ["", "seconds", "x rclone lsl", "list requests", "peak RSS MiB"]
        rows = [["rclone lsl (recursive)", fmt(tree["direct_seconds"]), "1.00", tree["direct_list_requests"], ""]]
        for name, data in tree["walks"].items():
            how = "os.walk + os.stat" if data["threads"] == 1 else "scandir + stat in parallel"
            rows.append([f"{name}: {how}, fresh mount", fmt(data["seconds"]), fmt(data["ratio"]),
                         data["list_requests"], fmt(data["peak_rss_mib"], ".0f")])
        print_table(f"Tree walk, {tree['files']} files in {tree['dirs']} folders (median of {tree['repeat']})",
                    header, rows)
    words = {True: "PASS", False: "FAIL"}
    print(f"\nTargets: every asset <= {TARGETS['bytes_per_asset_ratio']}x its size; walk <= "
          f"{TARGETS['walk_ratio']}x lsl; peak RSS <= {TARGETS['peak_rss_mib']:.0f} MiB; cache <= max size + one file")
    for name, variant in summary["variants"].items():
        for workload in ("upload", "library"):
            if workload in variant:
                met = variant[workload]["meets"]
                print(f"  {name} / {workload}: bytes {words[met['bytes']]}, RSS {words[met['peak_rss']]}, "
                      f"cache {words[met['cache_bound']]}")
    if "tree" in summary:
        for name, data in summary["tree"]["walks"].items():
            print(f"  tree walk {name}: {words[data['meets']]} ({data['ratio']:.2f}x)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", maxsplit=1)[0],
        epilog="Variants: " + "; ".join(f"{name}: {overrides or ''} {' '.join(extra)} {VARIANT_ENV.get(name, '')}".strip()
                                        for name, (overrides, extra) in VARIANTS.items()),
    )
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"comma list (default {DEFAULT_VARIANTS})")
    parser.add_argument("--workloads", default="upload,library", help="upload, library or both (default both)")
    parser.add_argument("--jpegs", type=int, default=150, help="JPEG assets (default 150)")
    parser.add_argument("--heics", type=int, default=30, help="HEIC assets (default 30; 0 skips heif-enc)")
    parser.add_argument("--videos", type=int, default=20, help="video assets (default 20)")
    parser.add_argument("--width", type=int, default=4032, help="photo width (default 4032)")
    parser.add_argument("--height", type=int, default=3024, help="photo height (default 3024)")
    parser.add_argument("--base-images", type=int, default=12, help="distinct JPEG originals (default 12)")
    parser.add_argument("--base-heics", type=int, default=3, help="distinct HEIC originals (default 3; heif-enc is slow)")
    parser.add_argument("--base-videos", type=int, default=4, help="distinct video originals (default 4)")
    parser.add_argument("--video-seconds", type=int, default=5, help="video length (default 5 s, about 5 MB)")
    parser.add_argument("--upload-order", choices=("asset", "stage"), default="asset",
                        help="(a): each upload through the whole chain before the next (asset, default), or all "
                             "uploads, then each stage for all")
    parser.add_argument("--library-order", choices=("asset", "stage"), default="stage",
                        help="(b): stage (default: the metadata queue runs ahead of the thumbnail queue, as in a "
                             "library import) or asset")
    parser.add_argument("--transcode", action="store_true", help="transcode every video (a policy that asks for it)")
    parser.add_argument("--exiftool-fast", action="store_true", help="exiftool -fast (older Immich releases)")
    parser.add_argument("--small-cache-fraction", type=float, default=0.18,
                        help="full-smallcache*: cache max size as a fraction of the asset bytes (default 0.18, "
                             "about 20 GB for a 110 GB library)")
    parser.add_argument("--tree-files", type=int, default=100000, help="files in the tree walk (default 100000; 0 skips)")
    parser.add_argument("--tree-dirs", type=int, default=1000, help="folders in the tree walk (default 1000)")
    parser.add_argument("--tree-file-bytes", type=int, default=1024, help="size of each tree file (default 1024)")
    parser.add_argument("--walk-variants", default="role,role-refresh",
                        help="variants for the tree walk (default role,role-refresh)")
    parser.add_argument("--walk-repeat", type=int, default=2, help="tree walk repetitions, median (default 2)")
    parser.add_argument("--walk-threads", default="1,4",
                        help="walks per variant: 1 is os.walk + os.stat (the target's), more is folders in parallel "
                             "like fast-glob on a 4-CPU Pi (default 1,4)")
    parser.add_argument("--seed", type=int, default=20, help="random seed for dates, places and names (default 20)")
    parser.add_argument("--timeout-minutes", type=float, default=180, help="give up after this long (default 180)")
    parser.add_argument("--azurite", choices=("private", "shared"), default="private",
                        help="Azurite for the ingest: private (default; benchmarks/private_azurite.py, ours alone "
                             "on 127.0.0.1) or shared (the test bed's running instance)")
    parser.add_argument("--azurite-index", choices=("mariadb", "memory"), default="mariadb",
                        help="the private Azurite's blob index: Azurite's SQL mode in a private MariaDB (default; "
                             "needs Debian's mariadb-server) or LokiJS in memory (slows down with every blob)")
    parser.add_argument("--tree-azurite", choices=("private", "shared"), default="private",
                        help="Azurite for the tree walk (default private: 100,000 blobs in the shared instance slow "
                             "down everyone using it)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work dir and the Blob containers in the shared Azurite")
    parser.add_argument("--json", metavar="PATH", help="also write the JSON result to PATH")
    parser.add_argument("--tmpdir", default=None, help="where the work dir (assets, VFS caches, mount points) goes")
    parser.add_argument("--rclone", default=None, help="rclone binary (default .venv/bin/rclone, then PATH)")
    args = parser.parse_args(argv)
    args.variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    args.walk_variants = [name.strip() for name in args.walk_variants.split(",") if name.strip()]
    args.workloads = [name.strip() for name in args.workloads.split(",") if name.strip()]
    args.walk_threads = [int(value) for value in args.walk_threads.split(",") if value.strip()]
    unknown = [name for name in args.variants + args.walk_variants if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    if set(args.workloads) - {"upload", "library"}:
        parser.error("--workloads takes upload, library")
    if min(args.jpegs, args.heics, args.videos, args.tree_files) < 0 or args.tree_dirs < 1 or args.walk_repeat < 1:
        parser.error("counts must be >= 0, --tree-dirs and --walk-repeat >= 1")
    if not args.walk_threads or min(args.walk_threads) < 1:
        parser.error("--walk-threads takes numbers >= 1")
    if args.videos and args.base_videos < 1 or (args.jpegs or args.heics) and args.base_images < 1:
        parser.error("--base-images and --base-videos must be >= 1")
    if os.geteuid() != 0:
        parser.error("run as root: the mounts use --allow-other")
    needed = {"exiftool", "vips", "vipsthumbnail", "ffmpeg", "ffprobe"} | ({"heif-enc"} if args.heics else set())
    missing = sorted(tool for tool in needed if not shutil.which(tool))
    if missing and args.jpegs + args.heics + args.videos:
        parser.error(f"missing {missing}: apt-get install {' '.join(sorted({TOOLS[tool] for tool in missing}))}")
    if args.rclone is None:
        candidate = os.path.join(REPO_ROOT, ".venv", "bin", "rclone")
        args.rclone = candidate if os.access(candidate, os.X_OK) else shutil.which("rclone")
        if not args.rclone:
            parser.error("no rclone found: run tests/testbed/setup.sh or pass --rclone")

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()
    bench = Bench(args)
    try:
        raw = bench.run()
        raw["rclone"] = bench.rclone_version
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
