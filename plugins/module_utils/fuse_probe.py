# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Look at a path that may sit on a hung FUSE mount without hanging the caller.

A stat on a FUSE mount whose daemon is stopped or deadlocked blocks until the daemon
answers, possibly forever. Every probe that touches the path therefore runs in a forked
child: the parent polls ``waitpid(WNOHANG)`` and the report pipe until a deadline, then
sends SIGKILL and never blocks on the child again. A child stuck in the kernel
(uninterruptible sleep) may outlive the parent; it holds nothing the caller waits for,
because its stdin, stdout and stderr point at /dev/null and its other descriptors are
closed before it touches the path (Ansible reads the module's stdout until EOF).

Probes:

``answer_probe``  stat + list the path (and resolve symlinks);
``write_probe``   create, read back and delete one uniquely named hidden file;
``shadow_probe``  count what lies on the disk *under* a mount point, never touching the
                  mount itself: in a private mount namespace, a non-recursive bind mount of
                  the filesystem that holds the mount point directory carries no submounts.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import json
import os
import select
import signal
import stat
import tempfile
import time
import typing as t

# <linux/sched.h>, <linux/mount.h>
CLONE_NEWNS = 0x00020000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

# How often the parent looks at a child it waits for, and how long it tries to reap a
# child it killed (a child blocked in the kernel dies only when the kernel lets it).
POLL_INTERVAL = 0.02
REAP_GRACE = 0.5
# The child reports through a pipe; a report never needs more than this.
MAX_REPORT_BYTES = 1 << 20

SAMPLE_SIZE = 10
WRITE_PROBE_PREFIX = ".rclone_mount_info."
WRITE_PROBE_PAYLOAD = b"homelab.immich_pi rclone_mount_info write probe\n"


# --- running a probe in a child ------------------------------------------------------------


def _detach(keep_fd: int) -> None:
    """Point stdin/stdout/stderr at /dev/null and close every other descriptor but keep_fd."""
    null = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        if null != target:
            os.dup2(null, target)
    try:
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        open_fds = list(range(3, 1024))
    for fd in open_fds:
        if fd > 2 and fd != keep_fd:
            try:
                os.close(fd)
            except OSError:
                pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _child(body: t.Callable[[], dict[str, t.Any]], report_fd: int) -> None:
    """Run body in the forked child, report JSON, never return."""
    code = 0
    try:
        _detach(report_fd)
        try:
            report: dict[str, t.Any] = {"value": body()}
        except OSError as exc:
            report = {"errno": exc.errno, "error": os_error_text(exc)}
        except Exception as exc:  # report anything else too: the parent only sees the pipe
            report = {"error": "%s: %s" % (type(exc).__name__, exc)}
        _write_all(report_fd, json.dumps(report).encode("utf-8"))
    except BaseException:  # pylint: disable=broad-except
        code = 1
    finally:
        os._exit(code)


def run_in_child(body: t.Callable[[], dict[str, t.Any]], timeout: float) -> dict[str, t.Any]:
    """Run body() in a forked child and wait at most timeout seconds for its report.

    Returns ``finished`` (the child reported and exited in time), ``value`` (what body
    returned, or None), ``errno`` and ``error`` (an OSError or another failure in the
    child, else None) and ``elapsed`` seconds. A child still running at the deadline is
    killed with SIGKILL and reaped if it dies within REAP_GRACE; otherwise it is left to
    init, never waited for.
    """
    started = time.monotonic()
    deadline = started + timeout
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:
        os.close(read_fd)
        _child(body, write_fd)
    os.close(write_fd)

    chunks: list[bytes] = []
    eof = exited = False
    status = 0
    try:
        while True:
            remaining = deadline - time.monotonic()
            wait = max(0.0, min(remaining, POLL_INTERVAL))
            # Reading as it comes keeps a long report from blocking the child on a full pipe.
            if not eof:
                eof = _read_some(read_fd, chunks, wait)
            else:
                time.sleep(wait)
            if not exited:
                done, status = os.waitpid(pid, os.WNOHANG)
                exited = done == pid
            if exited:
                # Whatever the child wrote is in the pipe now; a descendant holding the
                # write end must not keep us waiting for EOF.
                while not eof and select.select([read_fd], [], [], 0)[0]:
                    eof = _read_some(read_fd, chunks, 0.0)
                break
            if remaining <= 0:
                break
    finally:
        os.close(read_fd)
    elapsed = time.monotonic() - started

    if not exited:
        _kill(pid)
        if not eof:
            return {"finished": False, "value": None, "errno": None, "error": None, "elapsed": elapsed}
        # The report came complete just as the deadline passed: use it.
    result: dict[str, t.Any] = {"finished": True, "value": None, "errno": None, "error": None, "elapsed": elapsed}
    try:
        report = json.loads(b"".join(chunks).decode("utf-8")) if chunks else None
    except ValueError:
        report = None
    if not isinstance(report, dict):
        result["error"] = "the probe process ended without a report (%s)" % describe_status(status)
        return result
    result["value"] = report.get("value")
    result["errno"] = report.get("errno")
    result["error"] = report.get("error")
    return result


def _read_some(fd: int, chunks: list[bytes], wait: float) -> bool:
    """Read what the pipe offers within wait seconds into chunks; True at end of file."""
    if not select.select([fd], [], [], wait)[0]:
        return False
    data = os.read(fd, 65536)
    if not data:
        return True
    if sum(len(chunk) for chunk in chunks) + len(data) <= MAX_REPORT_BYTES:
        chunks.append(data)
    return False


def _kill(pid: int) -> None:
    """SIGKILL the child and reap it if it dies soon; never block on it."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    give_up = time.monotonic() + REAP_GRACE
    while True:
        try:
            done = os.waitpid(pid, os.WNOHANG)[0]
        except ChildProcessError:
            return
        if done == pid or time.monotonic() >= give_up:
            return
        time.sleep(POLL_INTERVAL)


def describe_status(status: int) -> str:
    """A waitpid status in words."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "signal %d" % number
        return "killed by %s" % name
    if os.WIFEXITED(status):
        return "exit code %d" % os.WEXITSTATUS(status)
    return "wait status %d" % status


def os_error_text(exc: OSError) -> str:
    """``[Errno 107] Transport endpoint is not connected`` -> ``ENOTCONN: Transport endpoint is not connected``."""
    name = errno.errorcode.get(exc.errno or 0, "errno %s" % exc.errno)
    return "%s: %s" % (name, exc.strerror or exc)


# --- probe bodies (run in the child) -------------------------------------------------------


def answer_body(path: str) -> dict[str, t.Any]:
    """stat and list path; a missing path is an answer, other errors raise OSError."""
    real = os.path.realpath(path)
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return {"exists": False, "is_dir": False, "realpath": real, "entries": None}
    is_dir = stat.S_ISDIR(info.st_mode)
    entries = len(os.listdir(path)) if is_dir else None
    return {"exists": True, "is_dir": is_dir, "realpath": real, "entries": entries}


def write_body(path: str, name: str) -> dict[str, t.Any]:
    """Create path/name (O_EXCL), read it back, delete it; report the step that failed."""
    probe = os.path.join(path, name)
    step = "create"
    created = False
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        created = True
        try:
            _write_all(fd, WRITE_PROBE_PAYLOAD)
        finally:
            os.close(fd)
        step = "read back"
        with open(probe, "rb") as handle:
            content = handle.read()
        step = "delete"
        os.unlink(probe)
        created = False
    except OSError as exc:
        if created:
            try:
                os.unlink(probe)
                created = False
            except OSError:
                pass
        return {"ok": False, "step": step, "errno": exc.errno, "error": os_error_text(exc), "left_behind": created}
    if content != WRITE_PROBE_PAYLOAD:
        return {"ok": False, "step": "read back", "errno": None, "error": "read back %d bytes that differ from the %d written"
                % (len(content), len(WRITE_PROBE_PAYLOAD)), "left_behind": False}
    return {"ok": True, "step": None, "errno": None, "error": None, "left_behind": False}


def count_entries(top: str, limit: int, sample_size: int = SAMPLE_SIZE) -> dict[str, t.Any]:
    """Count files and directories below top, breadth first, up to limit; never follow symlinks.

    Returns ``exists`` (top is a directory), ``count``, ``truncated`` (the limit was
    reached), ``sample`` (up to sample_size paths relative to top, shallowest first, sorted
    within a directory) and ``unreadable`` (directories that could not be listed).
    """
    result: dict[str, t.Any] = {"exists": False, "count": 0, "truncated": False, "sample": [], "unreadable": 0}
    try:
        if not stat.S_ISDIR(os.lstat(top).st_mode):
            return result
    except (FileNotFoundError, NotADirectoryError):
        return result
    result["exists"] = True
    queue: collections.deque[str] = collections.deque([""])
    while queue:
        relative = queue.popleft()
        try:
            with os.scandir(os.path.join(top, relative) if relative else top) as listing:
                found = sorted((entry.name, entry.is_dir(follow_symlinks=False)) for entry in listing)
        except OSError:
            result["unreadable"] += 1
            continue
        for name, is_dir in found:
            if result["count"] >= limit:
                result["truncated"] = True
                return result
            child = os.path.join(relative, name) if relative else name
            result["count"] += 1
            if len(result["sample"]) < sample_size:
                result["sample"].append(child)
            if is_dir:
                queue.append(child)
    return result


class _Libc:
    """unshare(2) and mount(2) through ctypes (os.unshare exists only from Python 3.12)."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
        self.libc.mount.restype = ctypes.c_int
        self.libc.unshare.argtypes = [ctypes.c_int]
        self.libc.unshare.restype = ctypes.c_int

    @staticmethod
    def _check(result: int, what: str) -> None:
        if result != 0:
            number = ctypes.get_errno()
            raise OSError(number, "%s: %s" % (what, os.strerror(number)))

    def unshare(self, flags: int) -> None:
        self._check(self.libc.unshare(flags), "unshare")

    def mount(self, source: str | None, target: str, flags: int) -> None:
        self._check(
            self.libc.mount(os.fsencode(source) if source else None, os.fsencode(target), None, flags, None),
            "mount %s" % target,
        )


def shadow_body(holder: str, relative: str, scratch: str, limit: int) -> dict[str, t.Any]:
    """Count what the filesystem mounted at holder has at holder/relative, submounts left out.

    Runs in the child: a private mount namespace (nothing propagates back to the host), then
    a non-recursive, read-only bind mount of holder on scratch. The bind carries no mount
    stacked on holder/relative (such as the FUSE mount), so a hung mount is never touched.
    """
    libc = _Libc()
    libc.unshare(CLONE_NEWNS)
    libc.mount(None, "/", MS_REC | MS_PRIVATE)
    libc.mount(holder, scratch, MS_BIND)
    try:
        # Read-only: the scan cannot change the disk, not even atimes.
        libc.mount(None, scratch, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        pass
    top = os.path.join(scratch, relative) if relative not in ("", ".") else scratch
    return count_entries(top, limit)


# --- the probes ----------------------------------------------------------------------------


def answer_probe(path: str, timeout: float) -> dict[str, t.Any]:
    """Whether path answers stat + listdir within timeout (see run_in_child for the result)."""
    return run_in_child(lambda: answer_body(path), timeout)


def write_probe(path: str, name: str, timeout: float) -> dict[str, t.Any]:
    """Create, read back and delete path/name within timeout."""
    return run_in_child(lambda: write_body(path, name), timeout)


def shadow_probe(holder: str, relative: str, limit: int, timeout: float) -> dict[str, t.Any]:
    """count_entries() of holder/relative without submounts, in a private mount namespace.

    The scratch directory is made here, in the parent, and removed with os.rmdir only: the
    bind mount on it lives in the child's namespace and dies with the child, and a plain
    rmdir can never delete what is under a mount point, whatever happens.
    """
    scratch = tempfile.mkdtemp(prefix="rclone_mount_info-")
    try:
        return run_in_child(lambda: shadow_body(holder, relative, scratch, limit), timeout)
    finally:
        try:
            os.rmdir(scratch)
        except OSError:
            pass
