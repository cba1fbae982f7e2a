"""Which threads take the event loop's core while `/v1/batch` is under load.

    .venv/bin/python benchmarks/loop_preemptions.py [--at 30] [--record 4] [--server-arg=...]

Starts `chatlens serve` as `ingest_http.py` does, drives `/v1/batch` with wrk (32
connections), and after `--at` seconds (once loads into DuckDB are under way) records the
scheduler's context switches of the whole machine for `--record` seconds with
`perf sched record` (root, or perf_event_paranoid permitting; apt-get install
linux-perf). It prints, for every time the loop's thread was switched out while still
ready to run, which thread took the core, and how long the loop waited until it ran
again: the reference is the loop's own running time over the same seconds. Threads of
the server are named by their scheduling policy. A diagnostic, run by hand; see
docs/benchmarks.md, "Background work at a lower priority".
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import ingest_http as bench

POLICY_NAMES = {0: "default", 3: "SCHED_BATCH", 5: "SCHED_IDLE"}
SWITCH = re.compile(
    r"^\s*([\d.]+):\s+sched:sched_switch:\s+prev_comm=(.*?) prev_pid=(\d+) prev_prio=\d+ "
    r"prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)"
)


def thread_names(pid: int) -> dict[int, str]:
    """Thread id -> "server, <policy>" (the main thread: "event loop")."""
    names = {}
    for tid in map(int, os.listdir(f"/proc/{pid}/task")):
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        policy = int(stat[stat.rindex(")") + 2 :].split()[38])
        names[tid] = "event loop" if tid == pid else f"server, {POLICY_NAMES.get(policy, policy)}"
    return names


def preemptions(
    perf_script: str, loop: int, names: dict[int, str]
) -> tuple[collections.Counter[str], dict[str, float], float]:
    """(times each thread took the core from a runnable loop, seconds the loop then waited,
    seconds the loop ran) from `perf script` output of sched_switch events."""
    taken: collections.Counter[str] = collections.Counter()
    waited: dict[str, float] = collections.defaultdict(float)
    ran, culprit = 0.0, ""
    on_since: float | None = None  # when the loop last got a core
    off_since: float | None = None  # when it was last preempted
    for line in perf_script.splitlines():
        m = SWITCH.search(line)
        if not m:
            continue
        ts, prev_pid, prev_state, next_comm, next_pid = float(m[1]), int(m[3]), m[4], m[5], int(m[6])
        if prev_pid == loop:
            if on_since is not None:
                ran += ts - on_since
                on_since = None
            if prev_state.startswith("R"):  # switched out while ready to run: preempted
                culprit = names.get(next_pid, next_comm)
                taken[culprit] += 1
                off_since = ts
        elif next_pid == loop:
            on_since = ts
            if off_since is not None:
                waited[culprit] += ts - off_since
                off_since = None
    return taken, waited, ran


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--at", type=float, default=30, help="seconds of load before recording (default 30)")
    p.add_argument("--record", type=float, default=4, help="seconds recorded (default 4)")
    p.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                   help="one more argument for `chatlens serve` (repeatable), e.g. --server-arg=--background-priority=normal")
    args = p.parse_args()
    perf = shutil.which("perf")
    if perf is None:
        print("perf is not on PATH (Debian: apt-get install linux-perf)", file=sys.stderr)
        return 2
    wrk_args = argparse.Namespace(wrk=bench.require_wrk(), threads=1, connections=32)
    with tempfile.TemporaryDirectory(prefix="chatlens-bench-") as tmp:
        data = Path(tmp) / "sched.data"
        with bench.running_server(Path(tmp), bench.free_port(), args.server_arg) as server:
            load = threading.Thread(
                target=bench.run_wrk, args=(server, "batch", "load", 5, wrk_args, args.at + args.record + 5)
            )
            load.start()
            time.sleep(args.at)
            names = thread_names(server.process.pid)
            recorded = subprocess.run(
                [perf, "sched", "record", "-a", "-o", str(data), "--", "sleep", str(args.record)],
                capture_output=True, text=True,
            )
            load.join()
            bench.stop_server(server)
        if recorded.returncode != 0:
            print(f"perf sched record failed:\n{recorded.stderr}", file=sys.stderr)
            return 2
        script = subprocess.run(
            [perf, "script", "-i", str(data), "-F", "time,event,trace"], capture_output=True, text=True, check=True
        ).stdout
    taken, waited, ran = preemptions(script, server.process.pid, names)
    print(f"server: chatlens serve --rate-limit 0 --noop-endpoint {' '.join(args.server_arg)}")
    print(f"over {args.record:g} s after {args.at:g} s of /v1/batch load, the event loop ran {ran:.2f} s (reference)")
    print(f"and was preempted {sum(taken.values()):,} times, waiting {sum(waited.values()):.3f} s in all, by:")
    for who, count in taken.most_common(10):
        print(f"  {who:28s} {count:7,} times, the loop waited {waited.get(who, 0.0) * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
