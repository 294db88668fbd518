# SPDX-License-Identifier: GPL-3.0-or-later
"""How long does a re-run of playbooks/site.yml take on a converged Pi, and does it change nothing?

Users re-run site.yml often: a re-run of a converged host must report no change and should be
quick. On a simulated Pi of its own (the demo's settings, tests/testbed/demo/, under another
name), in one run:

* the first converge of playbooks/site.yml on the fresh Pi (blank SSD), timed;
* --reruns re-runs of the same playbook on the converged Pi, each timed, with the number of
  changed tasks (and their names) from the PLAY RECAP and the task output;
* the slowest tasks of the re-run with the median time, from the ansible.posix.profile_tasks
  callback (a pinned collection, requirements.yml).

The target (--target, 60 s): the median re-run takes at most that long and every re-run
changes nothing. The Pi, its loop devices, disk images and its Blob container in Azurite are
removed at the end (tests/testbed/pi_down.yml), also on failure, Ctrl-C and SIGTERM.
See benchmarks/README.md.

Run with the project's venv:  .venv/bin/python benchmarks/site_rerun.py --help
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DEMO_DIR = os.path.join(REPO_ROOT, "tests", "testbed", "demo")
DEMO_NAME = "immich-pi-demo"
PI_UP = os.path.join(REPO_ROOT, "tests", "testbed", "pi_up.yml")
PI_DOWN = os.path.join(REPO_ROOT, "tests", "testbed", "pi_down.yml")
SETUP = os.path.join(REPO_ROOT, "tests", "testbed", "setup.sh")
SITE = os.path.join(REPO_ROOT, "playbooks", "site.yml")
RCLONE_BENCH = os.path.join(REPO_ROOT, "benchmarks", "rclone_mount_throughput.py")
DEFAULT_NAME = "immich-pi-bench"
# Simulated Pis that other people and the test suite use: never created or removed from here.
FOREIGN_NAME = re.compile(r"^(immich-pi-demo|immich-pi-site.*)$")
PROFILE_CALLBACK = "ansible.posix.profile_tasks"


def load_module(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The same table printing as the other benchmarks.
rclone_bench = load_module("_bench_rclone_mount_throughput", RCLONE_BENCH)
fmt = rclone_bench.fmt
print_table = rclone_bench.print_table
log = rclone_bench.log


# --------------------------------------------------------------------------------------------
# The benchmark's own Pi: the demo's pis.yml and inventory.yml with the demo's name replaced


def renamed_demo_file(filename: str, name: str) -> str:
    """A demo file with every `immich-pi-demo` (the host, the Blob container) renamed."""
    with open(os.path.join(DEMO_DIR, filename), encoding="utf-8") as handle:
        text = handle.read()
    if DEMO_NAME not in text:
        raise RuntimeError(f"{filename} in {DEMO_DIR} does not name {DEMO_NAME}; update this benchmark")
    return text.replace(DEMO_NAME, name)


def container_exists(name: str) -> bool:
    result = subprocess.run(["docker", "container", "inspect", name], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, check=False)
    return result.returncode == 0


def simulated_pis() -> list[str]:
    """Names of every simulated Pi running on this machine (ours and others'): noise."""
    result = subprocess.run(["docker", "ps", "--filter", "label=org.homelab.testbed=simulated-pi",
                             "--format", "{{.Names}}"], capture_output=True, text=True, check=False)
    return sorted(result.stdout.split())


def git_state() -> str:
    """The commit that ran, and how many files of the working tree differ from it (others' edits too)."""
    head = subprocess.run(["git", "-C", REPO_ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=False).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", REPO_ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=False).stdout.splitlines()
    return f"{head} ({len(dirty)} tracked files changed)" if dirty else head


def ansible_setting(name: str) -> str:
    """One ansible-config setting as the runs see it (ansible.cfg and the environment)."""
    result = subprocess.run([os.path.join(REPO_ROOT, ".venv", "bin", "ansible-config"), "dump", "--only-changed"],
                            cwd=REPO_ROOT, env=ansible_env(), capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        if line.startswith(name + "("):
            return line.split("=", 1)[1].strip()
    return "default"


# --------------------------------------------------------------------------------------------
# One ansible-playbook run and what its output says


TASK_HEADER = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<name>.*)\] \**\s*$")
CHANGED_LINE = re.compile(r"^changed: \[(?P<host>[^\]]+)\]")
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$")
# profile_tasks' summary: "role : task name ------------ 12.34s" (dashes pad to the width).
PROFILE_LINE = re.compile(r"^(?P<name>.+?) -+ (?P<seconds>\d+\.\d+)s$")


def parse_run(output: str) -> dict:
    """Recap counts per host, the names of the tasks that changed, profile_tasks' task times."""
    recap: dict[str, dict[str, int]] = {}
    changed_tasks: list[str] = []
    profile: list[dict] = []
    task = None
    section = "tasks"
    for line in output.splitlines():
        if line.startswith("PLAY RECAP "):
            section = "recap"
            continue
        if line.startswith("TASKS RECAP "):
            section = "profile"
            continue
        if section == "tasks":
            header = TASK_HEADER.match(line)
            if header:
                task = header.group("name")
            elif CHANGED_LINE.match(line) and task is not None and task not in changed_tasks:
                changed_tasks.append(task)
        elif section == "recap":
            match = RECAP_LINE.match(line.strip())
            if match:
                recap[match.group("host")] = {key: int(value) for key, value in
                                              re.findall(r"(\w+)=(\d+)", match.group("counts"))}
        else:
            match = PROFILE_LINE.match(line.rstrip())
            if match and not line.startswith("="):
                profile.append({"task": match.group("name").strip(), "seconds": float(match.group("seconds"))})
    return {"recap": recap, "changed_tasks": changed_tasks, "profile": profile}


def failure_excerpt(log_path: str, lines: int = 30) -> str:
    """The first failed task's lines from a log (the task header and its message), else the log's end."""
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        text = handle.read().splitlines()
    for index, line in enumerate(text):
        if line.startswith(("fatal: ", "failed: ")) or "ERROR!" in line or line.startswith("[ERROR]"):
            start = max(0, index - 2)
            return "\n".join(text[start:start + lines])
    return "\n".join(text[-lines:])


def ansible_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = os.path.join(REPO_ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", "")
    enabled = [name for name in env.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if name.strip()]
    if PROFILE_CALLBACK not in enabled:
        enabled.append(PROFILE_CALLBACK)
    env.update({
        "ANSIBLE_CALLBACKS_ENABLED": ",".join(enabled),
        "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all",  # every task in the summary; we pick the top
        "PROFILE_TASKS_SORT_ORDER": "descending",
        "ANSIBLE_FORCE_COLOR": "0",
        "NO_COLOR": "1",
        "ANSIBLE_NOCOLOR": "1",
    })
    return env


def run_playbook(argv: list[str], log_path: str) -> dict:
    """ansible-playbook with profile_tasks; wall time, exit code, parsed output. Log kept."""
    env = ansible_env()
    start = time.monotonic()
    load_start = os.getloadavg()
    # Straight into the log, so a long converge can be followed with tail -f.
    with open(log_path, "w", encoding="utf-8") as out:
        proc = subprocess.run([os.path.join(REPO_ROOT, ".venv", "bin", "ansible-playbook"), *argv],
                              cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - start
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        parsed = parse_run(handle.read())
    return {"seconds": seconds, "rc": proc.returncode, "log": log_path, "loadavg_start": load_start,
            "loadavg_end": os.getloadavg(), **parsed}


# --------------------------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.name = args.name
        self.work = tempfile.mkdtemp(prefix="bench-site-rerun-", dir=args.tmpdir)
        self.pis = os.path.join(self.work, "pis.yml")
        self.inventory = os.path.join(self.work, "inventory.yml")
        with open(self.pis, "w", encoding="utf-8") as out:
            out.write(renamed_demo_file("pis.yml", self.name))
        with open(self.inventory, "w", encoding="utf-8") as out:
            out.write(renamed_demo_file("inventory.yml", self.name))
        self.created = False
        self.failed = False

    def site(self, label: str) -> dict:
        log(f"{label}: ansible-playbook playbooks/site.yml on {self.name} (log: {self.work}/{label}.log)")
        result = run_playbook([SITE, "-i", self.inventory], os.path.join(self.work, f"{label}.log"))
        counts = result["recap"].get(self.name, {})
        log(f"{label}: {result['seconds']:.1f} s, rc {result['rc']}, changed={counts.get('changed')}, "
            f"load {result['loadavg_end'][0]:.2f}")
        if result["rc"] != 0 or counts.get("failed", 0) or counts.get("unreachable", 0):
            self.failed = True
            raise RuntimeError(f"{label} failed (rc {result['rc']}); log {result['log']}:\n{failure_excerpt(result['log'])}")
        return result

    def run(self) -> dict:
        args = self.args
        context = {"loadavg_start": os.getloadavg(), "cpus": os.cpu_count(),
                   "simulated_pis_start": simulated_pis()}
        if not args.no_setup:
            log("tests/testbed/setup.sh (host packages, .venv, Docker, Azurite, test images)")
            subprocess.run(["bash", SETUP], check=True, stdout=sys.stderr)
        version = subprocess.run([os.path.join(REPO_ROOT, ".venv", "bin", "ansible-playbook"), "--version"],
                                 capture_output=True, text=True, check=True).stdout.splitlines()[0]
        context["git"] = git_state()
        context["pipelining"] = ansible_setting("ANSIBLE_PIPELINING")
        first = None
        if args.reuse:
            if not container_exists(self.name):
                raise RuntimeError(f"--reuse: there is no simulated Pi named {self.name}")
            log(f"--reuse: re-running on the existing {self.name}, no first converge")
        else:
            if container_exists(self.name):
                raise RuntimeError(f"a container named {self.name} exists already (another run, or one "
                                   f"left by --keep): --reuse re-runs on it, --replace removes it first")
            self.created = True  # from here on, cleanup removes whatever pi_up made
            start = time.monotonic()
            up = run_playbook([PI_UP, "-e", "@" + self.pis], os.path.join(self.work, "pi_up.log"))
            if up["rc"] != 0:
                self.failed = True
                raise RuntimeError(f"pi_up.yml failed (rc {up['rc']}); log {up['log']}")
            context["pi_up_seconds"] = time.monotonic() - start
            log(f"simulated Pi {self.name} up in {context['pi_up_seconds']:.1f} s")
            first = self.site("first")
        reruns = [self.site(f"rerun{index}") for index in range(1, args.reruns + 1)]
        context["loadavg_end"] = os.getloadavg()
        context["simulated_pis_end"] = simulated_pis()
        return {"first": first, "reruns": reruns, "context": context, "ansible": version}

    def remove_pi(self) -> None:
        log(f"removing the simulated Pi {self.name} (tests/testbed/pi_down.yml)")
        down = run_playbook([PI_DOWN, "-e", "@" + self.pis], os.path.join(self.work, "pi_down.log"))
        if down["rc"] != 0:
            self.failed = True
            log(f"pi_down.yml FAILED (rc {down['rc']}): see {down['log']}; remove {self.name} by hand")

    def cleanup(self) -> None:
        if self.args.keep and self.created:
            log(f"kept the simulated Pi {self.name} (--keep): --reuse re-runs on it, --replace removes it")
        elif self.created:
            self.remove_pi()
        if self.failed or self.args.keep_logs:
            log(f"logs kept in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Reporting


def summarize(bench: Bench, raw: dict) -> dict:
    args = bench.args
    first, reruns = raw["first"], raw["reruns"]
    times = [run["seconds"] for run in reruns]
    rerun_median = statistics.median(times)
    # The slowest tasks of the re-run whose time is the median (the lower middle for an even count).
    typical = sorted(reruns, key=lambda run: run["seconds"])[(len(reruns) - 1) // 2]
    changed = [run["recap"].get(bench.name, {}).get("changed") for run in reruns]
    summary = {
        "pi": bench.name,
        "ansible": raw["ansible"],
        "reruns": len(reruns),
        "statistic": "median" if len(reruns) > 1 else "single run",
        "context": raw["context"],
        "first_converge_seconds": first["seconds"] if first else None,
        "first_converge_changed": first["recap"].get(bench.name, {}).get("changed") if first else None,
        "rerun_seconds": rerun_median,
        "rerun_seconds_all": times,
        "rerun_over_first": rerun_median / first["seconds"] if first else None,
        "rerun_changed": changed,
        "rerun_changed_tasks": [run["changed_tasks"] for run in reruns],
        "rerun_tasks": len(typical["profile"]),
        "rerun_slowest_tasks": typical["profile"][:args.top],
        "rerun_tasks_sum_seconds": sum(task["seconds"] for task in typical["profile"]),
        "target_seconds": args.target,
    }
    summary["meets_target"] = {
        "time": rerun_median <= args.target,
        "no_change": all(count == 0 for count in changed),
    }
    summary["pass"] = all(summary["meets_target"].values())
    summary["raw"] = {"first": first, "reruns": reruns}
    return summary


def report(summary: dict) -> None:
    context = summary["context"]
    print(f"\nsite.yml re-run on the simulated Pi {summary['pi']} - {summary['ansible']}, "
          f"{summary['statistic']} of {summary['reruns']} re-run(s)")
    print(f"load average start {context['loadavg_start'][0]:.2f}, end {context['loadavg_end'][0]:.2f} "
          f"on {context['cpus']} CPUs; simulated Pis running: {', '.join(context['simulated_pis_end']) or 'none'}")
    print(f"checkout {context['git']}; pipelining {context['pipelining']}")
    rows = []
    if summary["first_converge_seconds"] is not None:
        rows.append(["first converge (fresh Pi, blank SSD)", fmt(summary["first_converge_seconds"], ".1f"),
                     str(summary["first_converge_changed"]), ""])
    raw = summary["raw"]["reruns"]
    for index, run in enumerate(raw, 1):
        rows.append([f"re-run {index}", fmt(run["seconds"], ".1f"), str(summary["rerun_changed"][index - 1]),
                     f"{run['loadavg_start'][0]:.2f}"])
    rows.append([f"re-run ({summary['statistic']})", fmt(summary["rerun_seconds"], ".1f"), "", ""])
    if summary["rerun_over_first"] is not None:
        rows.append(["re-run / first converge", fmt(summary["rerun_over_first"]), "", ""])
    print_table("playbooks/site.yml", ["", "seconds", "changed", "load at start"], rows)

    rows = [[task["task"], fmt(task["seconds"])] for task in summary["rerun_slowest_tasks"]]
    print_table(f"The {len(rows)} slowest of the re-run's {summary['rerun_tasks']} tasks (profile_tasks; "
                f"{summary['rerun_tasks_sum_seconds']:.1f} s in tasks)", ["task", "seconds"], rows)
    for index, tasks in enumerate(summary["rerun_changed_tasks"], 1):
        if tasks:
            print(f"\nre-run {index} changed: " + "; ".join(tasks))

    met = summary["meets_target"]
    words = {True: "meets", False: "MISSES"}
    print(f"\nTarget: a re-run takes <= {summary['target_seconds']:.0f} s and changes nothing: "
          f"time {words[met['time']]} ({summary['rerun_seconds']:.1f} s), "
          f"no change {words[met['no_change']]} (changed={summary['rerun_changed']})")
    print("PASS" if summary["pass"] else "FAIL")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--reruns", type=int, default=2, help="re-runs after the first converge (default 2)")
    parser.add_argument("--target", type=float, default=60.0, help="re-run target in seconds (default 60)")
    parser.add_argument("--top", type=int, default=10, help="how many of the slowest tasks to show (default 10)")
    parser.add_argument("--name", default=DEFAULT_NAME,
                        help=f"name of the simulated Pi and its Blob container (default {DEFAULT_NAME})")
    parser.add_argument("--replace", action="store_true",
                        help="remove a container of that name first (one left by --keep or a killed run)")
    parser.add_argument("--keep", action="store_true", help="keep the simulated Pi afterwards (for --reuse)")
    parser.add_argument("--reuse", action="store_true",
                        help="re-run on an existing, converged Pi of that name (no first converge, not removed "
                             "at the end)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the ansible-playbook logs (kept on failure)")
    parser.add_argument("--no-setup", action="store_true", help="skip tests/testbed/setup.sh")
    parser.add_argument("--json", metavar="PATH", help="also write the JSON result to PATH")
    parser.add_argument("--tmpdir", default=None, help="where the work dir (inventory, logs) goes (default $TMPDIR or /tmp)")
    args = parser.parse_args(argv)
    if args.reruns < 1 or args.top < 1:
        parser.error("--reruns and --top must be >= 1")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{2,62}", args.name):
        parser.error("--name: lower-case letters, digits and '-' (it also names the Blob container)")
    if FOREIGN_NAME.match(args.name):
        parser.error(f"--name {args.name}: that Pi belongs to the demo or the molecule scenarios; pick another")
    if args.reuse and args.replace:
        parser.error("--reuse and --replace exclude each other")

    bench = Bench(args)
    if args.replace and container_exists(args.name):
        log(f"--replace: removing the existing {args.name}")
        bench.remove_pi()

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    try:
        raw = bench.run()
    except BaseException:
        bench.failed = True
        raise
    finally:
        # A second Ctrl-C must not leave the Pi and its loop devices behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bench.cleanup()
    summary = summarize(bench, raw)
    report(summary)
    rclone_bench.print_json(summary, args.json)
    return 0 if summary["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
