"""Ingestion over HTTP: how many events per second one Chatlens server stores durably.

What is measured
    The real server (`chatlens serve --rate-limit 0 --noop-endpoint`) runs in a subprocess on
    a fresh DuckDB file in a temporary directory. wrk drives it with `ingest_batch.lua`,
    which builds a new realistic batch of 20 events per request (unique UUIDv7-shaped ids,
    varied visitors, sessions, types, URLs and products). The same script is pointed, in
    alternating runs, at

      /v1/noop   reads and discards the body on the same stack (uvicorn + httptools +
                 uvloop + the same dispatcher): the reference, what the HTTP stack and the
                 load generator manage when no work is done;
      /v1/batch  the real endpoint: parse, validate, dedupe, enrich, then answer only after
                 the journal group commit was synced (the events are durable).

    Per run it prints requests/s, events/s (2xx requests/s x 20), p50/p99 latency, non-2xx
    responses, and the CPU used by wrk, by the server process (all its threads) and by its
    event-loop thread alone, as shares of one core, how long that thread waited for a core
    while ready to run (its schedstat), plus the whole machine's busy share.
    Then it checks correctness:
    `chatlens_events_accepted_total` from GET /metrics must equal the rows in the DuckDB
    file (opened after a SIGTERM shutdown), every stored event_id must be distinct, and no
    event may have been counted as a duplicate. It prints the write path's histograms
    (journal group sizes and sync times, store load times).

    Targets (from the issue): >= 50,000 events/s on /v1/batch for one server process, and
    /v1/batch events/s >= half of /v1/noop events/s.

How to run (from the repository root; needs `wrk`: apt-get install -y wrk)
    .venv/bin/python benchmarks/ingest_http.py                # 2 rounds of 15 s per endpoint
    .venv/bin/python benchmarks/ingest_http.py --rounds 3 --duration 20 --connections 64
    .venv/bin/python benchmarks/ingest_http.py --profile /tmp/batch.speedscope.json
        (one extra, unreported /v1/batch run under `py-spy record`; needs py-spy)

Exit status: 0 when the correctness checks pass (whether or not the throughput targets are
met, which are reported), 1 when they fail, 2 when wrk or the server cannot be started.
This is a hand-run benchmark, not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from chatlens.engine._compiled import describe

HERE = Path(__file__).resolve().parent
LUA_SCRIPT = HERE / "ingest_batch.lua"
EVENTS_PER_REQUEST = 20  # must match EVENTS_PER_BATCH in ingest_batch.lua
TARGET_EVENTS_PER_S = 50_000
TARGET_RATIO = 0.5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CPUS = os.cpu_count() or 1
BUSY_WARNING_PCT = 10.0
HTTP_HISTOGRAM = "chatlens_http_request_duration_seconds"
OTHER_CPU_WARNING_PCT = 15.0  # % of one core used by neither wrk nor the server
STARTUP_TIMEOUT_S = 60.0


# -- data --------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    public_key: str
    db_path: Path
    log_path: Path


@dataclass
class RunResult:
    endpoint: str  # "noop" or "batch"
    label: str  # "warm-up", "1", "2", ...
    requests: int
    ok_requests: int
    non_2xx: int
    socket_errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    wrk_cpu_pct: float  # of one core
    server_cpu_pct: float  # of one core, all threads of the server process
    loop_cpu_pct: float  # of one core, the server's main thread (the event loop) alone
    loop_wait_pct: float  # of the run's time: the loop ready to run but waiting for a CPU
    machine_busy_pct: float  # of all cores together

    @property
    def other_cpu_pct(self) -> float:
        """Of one core: busy time neither wrk's nor the server's (kernel softirq, other processes)."""
        return max(0.0, self.machine_busy_pct * CPUS - self.wrk_cpu_pct - self.server_cpu_pct)

    @property
    def requests_per_s(self) -> float:
        return self.ok_requests / self.seconds

    @property
    def events_per_s(self) -> float:
        return self.requests_per_s * EVENTS_PER_REQUEST


@dataclass
class Correctness:
    accepted_metric: int
    accepted_by_wrk: int  # 2xx responses x 20 that wrk saw (in-flight ones at a run's end are missing)
    duplicates_metric: int
    other_drops: dict[str, int]
    db_rows: int
    db_distinct_ids: int

    @property
    def ok(self) -> bool:
        return (
            self.accepted_metric == self.db_rows == self.db_distinct_ids
            and self.duplicates_metric == 0
            and not self.other_drops
            and self.accepted_by_wrk <= self.accepted_metric
        )


# -- processes and /proc ---------------------------------------------------------------


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        print(
            "wrk is not on PATH. Install it, e.g. on Debian/Ubuntu as root:\n"
            "    apt-get update && apt-get install -y wrk\n"
            "(macOS: brew install wrk)",
            file=sys.stderr,
        )
        sys.exit(2)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(stat_path: str) -> float:
    """utime + stime from a /proc/.../stat file (for a process: all of its threads)."""
    stat = Path(stat_path).read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # skip "pid (comm) "; fields[0] is field 3
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def server_cpu_seconds(pid: int) -> tuple[float, float]:
    """(whole process, main thread) CPU seconds; the main thread runs the event loop."""
    return cpu_seconds(f"/proc/{pid}/stat"), cpu_seconds(f"/proc/{pid}/task/{pid}/stat")


def loop_wait_seconds(pid: int) -> float:
    """How long the main thread has been runnable but not running (waiting for a CPU that
    another thread holds): the second field of its schedstat, in nanoseconds."""
    return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[1]) / 1e9


def machine_cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs together, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


def machine_busy_pct(seconds: float = 2.0) -> float:
    """How busy all CPUs are over `seconds`, as % of all cores."""
    busy_before, total_before = machine_cpu_ticks()
    time.sleep(seconds)
    busy_after, total_after = machine_cpu_ticks()
    return 100 * (busy_after - busy_before) / max(1, total_after - total_before)


def start_server(workdir: Path, port: int, extra: Sequence[str] = ()) -> Server:
    db_path = workdir / "bench.duckdb"
    log_path = workdir / "server.log"
    command = [
        sys.executable, "-m", "chatlens", "serve",
        "--db", str(db_path), "--port", str(port), "--rate-limit", "0", "--noop-endpoint", *extra,
    ]
    log = log_path.open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    log.close()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if "Application startup complete" in text:
            key = re.search(r"public key:\s+(pk_\S+)", text)
            if key is None:
                break
            return Server(process, f"http://127.0.0.1:{port}", key.group(1), db_path, log_path)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    process.wait()
    print(f"the server did not start; its output:\n{log_path.read_text(errors='replace')}", file=sys.stderr)
    sys.exit(2)


def stop_server(server: Server) -> bool:
    """SIGTERM, as an operator would: the server commits what is queued and closes the db.

    True on a clean shutdown (uvicorn re-raises the SIGTERM it handled, so -15 is normal).
    """
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(timeout=120)
    clean = "Application shutdown complete" in server.log_path.read_text(errors="replace")
    return clean and code in (0, -signal.SIGTERM)


@contextmanager
def running_server(workdir: Path, port: int, extra: Sequence[str] = ()) -> Iterator[Server]:
    server = start_server(workdir, port, extra)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


# -- wrk ---------------------------------------------------------------------------------


def run_wrk(
    server: Server, endpoint: str, label: str, run_id: int, args: argparse.Namespace, seconds: float
) -> RunResult:
    """One wrk run against /v1/ENDPOINT, with wrk's and the server's CPU time around it."""
    command = [
        args.wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds:g}s", "--latency",
        "-s", str(LUA_SCRIPT), f"{server.base_url}/v1/{endpoint}", "--", server.public_key, str(run_id),
    ]
    with tempfile.TemporaryFile() as out:
        server_before, loop_before = server_cpu_seconds(server.process.pid)
        wait_before = loop_wait_seconds(server.process.pid)
        busy_before, total_before = machine_cpu_ticks()
        started = time.perf_counter()
        wrk = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(wrk.pid, 0)  # rusage: wrk's own CPU, all its threads
        wrk.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        server_after, loop_after = server_cpu_seconds(server.process.pid)
        wait_after = loop_wait_seconds(server.process.pid)
        busy_after, total_after = machine_cpu_ticks()
        out.seek(0)
        output = out.read().decode(errors="replace")
    match = re.search(r"^CHATLENS_RESULT (\{.*\})$", output, re.MULTILINE)
    if wrk.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed (exit {wrk.returncode}):\n{output}")
    r = json.loads(match.group(1))
    if r["events_per_request"] != EVENTS_PER_REQUEST:
        raise RuntimeError("ingest_batch.lua and ingest_http.py disagree on events per request")
    errors = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
    return RunResult(
        endpoint=endpoint,
        label=label,
        requests=r["requests"],
        ok_requests=r["requests"] - r["non_2xx_3xx"],
        non_2xx=r["non_2xx_3xx"],
        socket_errors=errors,
        seconds=r["duration_us"] / 1e6,
        p50_ms=r["p50_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        wrk_cpu_pct=100 * (usage.ru_utime + usage.ru_stime) / wall,
        server_cpu_pct=100 * (server_after - server_before) / wall,
        loop_cpu_pct=100 * (loop_after - loop_before) / wall,
        loop_wait_pct=100 * (wait_after - wait_before) / wall,
        machine_busy_pct=100 * (busy_after - busy_before) / max(1, total_after - total_before),
    )


def run_profiled(server: Server, run_id: int, args: argparse.Namespace) -> None:
    """An extra /v1/batch run with py-spy sampling the server (not reported: it costs CPU).

    `--idle` keeps waiting threads in the samples, so shares are of wall-clock time;
    summarize with benchmarks/speedscope_top.py.
    """
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("--profile: py-spy not found (install: .venv/bin/pip install py-spy); skipped")
        return
    record_s = max(1, int(args.duration) - 2)
    command = [
        py_spy, "record", "--pid", str(server.process.pid), "--duration", str(record_s),
        "--rate", "100", "--idle", "--format", "speedscope", "--output", str(args.profile), "--nonblocking",
    ]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    run_wrk(server, "batch", "profiled", run_id, args, args.duration)
    _, err = spy.communicate(timeout=60)
    print(f"py-spy profile of one /v1/batch run: {args.profile} (exit {spy.returncode})")
    if spy.returncode != 0:
        print(err.decode(errors="replace"))


# -- /metrics and the database ---------------------------------------------------------------


def fetch_metrics(base_url: str) -> dict[str, float]:
    """Prometheus text -> {'name{labels}': value}."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def wait_until_idle(base_url: str, timeout_s: float = 60.0) -> dict[str, float]:
    """Metrics once requests still in flight at wrk's end have been committed.

    Settled: the accepted counter did not move for half a second and every
    `*_queue_depth` gauge (rows waiting to be written) is 0.
    """
    deadline = time.monotonic() + timeout_s
    previous = fetch_metrics(base_url)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        current = fetch_metrics(base_url)
        settled = current.get("chatlens_events_accepted_total") == previous.get("chatlens_events_accepted_total")
        queued = sum(v for k, v in current.items() if k.endswith("_queue_depth"))
        if settled and queued == 0:
            return current
        previous = current
    return previous


def count_rows(db_path: Path) -> tuple[int, int]:
    import duckdb  # the server's own dependency: present in its venv

    con = duckdb.connect(str(db_path), read_only=True)
    try:
        # The intent engine's decisions are rows the server writes itself, beside the
        # accepted events: they are not what the accepted counter counts.
        rows, distinct = con.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM events WHERE type <> 'decision'"
        ).fetchone()
    finally:
        con.close()
    return int(rows), int(distinct)


def drops(metrics: dict[str, float]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in metrics.items():
        m = re.fullmatch(r'chatlens_events_dropped_total\{reason="([^"]+)"\}', name)
        if m and value:
            out[m.group(1)] = int(value)
    return out


def histogram(metrics: dict[str, float], name: str, labels: str = "") -> list[tuple[str, int]]:
    """(bucket upper bound, observations in that bucket) of a Prometheus histogram;
    `labels`: its other labels as rendered (`generation="2"`), if any."""
    before_le = re.escape(labels + "," if labels else "")
    cumulative = [
        (m.group(1), int(v))
        for k, v in metrics.items()
        if (m := re.fullmatch(re.escape(name) + r"_bucket\{" + before_le + r'le="([^"]+)"\}', k))
    ]
    out, before = [], 0
    for bound, count in cumulative:
        out.append((bound, count - before))
        before = count
    return out


# -- reporting ---------------------------------------------------------------------------


def median_of(runs: Sequence[RunResult], attribute: str) -> float:
    return statistics.median(getattr(r, attribute) for r in runs)


def print_runs(runs: Sequence[RunResult]) -> None:
    header = (
        f"{'endpoint':<9} {'run':<8} {'req/s':>9} {'events/s':>10} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'non-2xx':>7} {'sock err':>8} {'wrk CPU':>8} {'server CPU':>10} {'(loop)':>7} {'(waits)':>7} {'other CPU':>9} {'machine':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in runs:
        print(
            f"/v1/{r.endpoint:<5} {r.label:<8} {r.requests_per_s:>9,.0f} {r.events_per_s:>10,.0f} "
            f"{r.p50_ms:>7.2f} {r.p99_ms:>7.2f} {r.non_2xx:>7} {r.socket_errors:>8} "
            f"{r.wrk_cpu_pct:>7.0f}% {r.server_cpu_pct:>9.0f}% {r.loop_cpu_pct:>6.0f}% {r.loop_wait_pct:>6.0f}% "
            f"{r.other_cpu_pct:>8.0f}% "
            f"{r.machine_busy_pct:>7.0f}%"
        )
    disturbed = [f"/v1/{r.endpoint} {r.label}" for r in runs if r.other_cpu_pct > OTHER_CPU_WARNING_PCT]
    if disturbed:
        print(f"WARNING: other processes used more than {OTHER_CPU_WARNING_PCT:.0f}% of a core during: "
              f"{', '.join(disturbed)}; those figures are low, run again on a quiet machine")


def print_summary(noop: Sequence[RunResult], batch: Sequence[RunResult]) -> dict[str, object]:
    print("\nMedian of the measured runs (CPU: % of one core; (loop): the server's event-loop thread; "
          "(waits): the loop ready to run but waiting for a core; other: neither wrk nor server; "
          "machine: % of all cores)")
    print(f"{'endpoint':<10} {'req/s':>9} {'events/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} "
          f"{'wrk CPU':>8} {'server CPU':>10} {'(loop)':>7} {'(waits)':>7} {'other CPU':>9} {'machine':>8}")
    summary: dict[str, object] = {}
    for name, runs in (("noop", noop), ("batch", batch)):
        row = {a: median_of(runs, a) for a in (
            "requests_per_s", "events_per_s", "p50_ms", "p99_ms", "wrk_cpu_pct", "server_cpu_pct",
            "loop_cpu_pct", "loop_wait_pct", "other_cpu_pct", "machine_busy_pct")}
        row["non_2xx"] = sum(r.non_2xx for r in runs)
        summary[name] = row
        print(
            f"/v1/{name:<6} {row['requests_per_s']:>9,.0f} {row['events_per_s']:>10,.0f} "
            f"{row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f} {row['non_2xx']:>7} "
            f"{row['wrk_cpu_pct']:>7.0f}% {row['server_cpu_pct']:>9.0f}% {row['loop_cpu_pct']:>6.0f}% "
            f"{row['loop_wait_pct']:>6.0f}% "
            f"{row['other_cpu_pct']:>8.0f}% "
            f"{row['machine_busy_pct']:>7.0f}%"
        )
    batch_eps = summary["batch"]["events_per_s"]  # type: ignore[index]
    noop_eps = summary["noop"]["events_per_s"]  # type: ignore[index]
    ratio = batch_eps / noop_eps
    summary["ratio_batch_noop"] = ratio
    print(f"\nratio batch/noop (events/s): {ratio:.3f}")
    print(f"target >= {TARGET_EVENTS_PER_S:,} events/s on /v1/batch: "
          f"{'MET' if batch_eps >= TARGET_EVENTS_PER_S else 'NOT MET'} ({batch_eps:,.0f})")
    print(f"target batch/noop >= {TARGET_RATIO}: {'MET' if ratio >= TARGET_RATIO else 'NOT MET'} ({ratio:.3f})")
    headroom = noop_eps / batch_eps
    verdict = ("the load generator is not what limits /v1/batch" if headroom >= 1.5 else
               "the load generator may be what limits /v1/batch: check wrk CPU above")
    print(f"wrk on /v1/noop drove {headroom:.1f}x the events/s that /v1/batch absorbed: {verdict}")
    return summary


def print_correctness(c: Correctness) -> None:
    print("\nCorrectness (all /v1/batch runs, warm-up included)")
    print(f"  chatlens_events_accepted_total   {c.accepted_metric:>12,}")
    print(f"  2xx responses x 20 seen by wrk   {c.accepted_by_wrk:>12,}  (<= accepted: requests in flight "
          "when a run ended, and any --profile run, are stored but not counted here)")
    print(f"  rows in events (DuckDB file)     {c.db_rows:>12,}  (the engine's decision rows left out)")
    print(f"  distinct event_id                {c.db_distinct_ids:>12,}")
    print(f"  dropped as duplicate             {c.duplicates_metric:>12,}")
    print(f"  other drops                      {c.other_drops or 'none'}")
    print(f"  => {'OK' if c.ok else 'FAILED'}")


def print_write_path(metrics: dict[str, float]) -> None:
    """Journal group commits and store loads, and every histogram the write path reports."""
    groups = int(metrics.get("chatlens_journal_group_rows_count", 0))
    rows = metrics.get("chatlens_journal_group_rows_sum", 0.0)
    seconds = metrics.get("chatlens_journal_sync_seconds_sum", 0.0)
    if groups:
        print(f"\nJournal group commits: {groups:,}, {rows / groups:,.0f} rows and "
              f"{1000 * seconds / groups:.2f} ms each on average, {seconds:.1f} s in all")
    # Every other histogram the server reports (whatever this server version names them):
    # the write path's, and the garbage collector's pauses by generation.
    series = sorted({
        (name, re.sub(r',?le="[^"]*"', "", rest)[1:-1])
        for k in metrics if "_bucket{" in k
        for name, rest in [k.split("_bucket", 1)] if name != HTTP_HISTOGRAM
    })
    for name, labels in series:
        suffix = "{" + labels + "}" if labels else ""
        count = int(metrics.get(f"{name}_count{suffix}", 0))
        mean = metrics.get(f"{name}_sum{suffix}", 0.0) / max(1, count)
        print_histogram(f"{name}{suffix} ({count:,} observations, mean {mean:,.4g})", histogram(metrics, name, labels))


def print_histogram(title: str, buckets: list[tuple[str, int]]) -> None:
    total = max(1, sum(count for _, count in buckets))
    print(f"  {title}")
    for bound, count in buckets:
        print(f"    <= {bound:>7}: {count:>8,}  {'#' * round(50 * count / total)}")


def print_machine(args: argparse.Namespace) -> None:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        "unknown",
    )
    wrk_version = subprocess.run([args.wrk, "-v"], capture_output=True, text=True).stdout.splitlines()
    print(f"machine: {os.cpu_count()} CPUs ({model}); python {sys.version.split()[0]}; "
          f"{wrk_version[0] if wrk_version else 'wrk'}")
    print(f"code: {code_version()}; intent engine: {describe()}")
    print(f"wrk: {args.threads} thread(s), {args.connections} connections, {args.duration:g} s per run "
          f"after {args.warmup:g} s warm-up per endpoint, {args.rounds} rounds (noop, batch alternating); "
          f"server: --rate-limit 0 --noop-endpoint {' '.join(args.server_arg)}\n")


def code_version() -> str:
    """The commit measured, and whether src/ had uncommitted changes."""
    def git(*a: str) -> str:
        done = subprocess.run(["git", *a], capture_output=True, text=True, cwd=HERE.parent)
        return done.stdout.rstrip("\n") if done.returncode == 0 else ""  # keep porcelain's leading blanks

    commit = git("rev-parse", "--short", "HEAD") or "unknown (not a git checkout)"
    changed = git("status", "--porcelain", "--", "src")
    return f"commit {commit}" + (f", src/ modified: {' '.join(line[3:] for line in changed.splitlines())}" if changed else "")


# -- main --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=15, help="seconds per measured run (default 15)")
    p.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per endpoint (default 3)")
    p.add_argument("--rounds", type=int, default=2, help="noop+batch pairs, alternating (default 2)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    p.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    p.add_argument("--json", type=Path, help="also write the runs and summary to this file")
    p.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                   help="one more argument for `chatlens serve` (repeatable), e.g. --server-arg=--background-priority=normal")
    p.add_argument("--profile", type=Path, help="after the measured runs, py-spy one extra batch run into this file")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.connections < args.threads:
        p.error("--rounds must be >= 1 and --connections >= --threads")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.wrk = require_wrk()
    print_machine(args)
    idle_check = machine_busy_pct()
    print(f"machine busy before the benchmark: {idle_check:.0f}% of all cores")
    if idle_check > BUSY_WARNING_PCT:
        print("WARNING: something else is using the CPU; the figures below will be low and noisy")
    runs: list[RunResult] = []
    run_id = int.from_bytes(os.urandom(2), "big") % 1000  # ids differ from any earlier benchmark
    with tempfile.TemporaryDirectory(prefix="chatlens-bench-") as tmp, running_server(
        Path(tmp), args.port or free_port(), args.server_arg
    ) as server:
        plan = [("noop", "warm-up", args.warmup), ("batch", "warm-up", args.warmup)]
        for n in range(1, args.rounds + 1):
            plan += [("noop", str(n), args.duration), ("batch", str(n), args.duration)]
        try:
            for endpoint, label, seconds in plan:
                run_id += 1
                print(f"  running /v1/{endpoint} ({label}, {seconds:g} s) ...", flush=True)
                runs.append(run_wrk(server, endpoint, label, run_id, args, seconds))
            if args.profile:
                run_id += 1
                run_profiled(server, run_id, args)
        except RuntimeError as exc:  # wrk failed: say why; the server is stopped on the way out
            print(exc, file=sys.stderr)
            return 2
        metrics = wait_until_idle(server.base_url)
        clean_stop = stop_server(server)
        db_rows, db_distinct = count_rows(server.db_path)
        if not clean_stop:
            print(f"the server did not shut down cleanly:\n{server.log_path.read_text(errors='replace')[-3000:]}")
    print()
    print_runs(runs)
    measured = [r for r in runs if r.label != "warm-up"]
    summary = print_summary(
        [r for r in measured if r.endpoint == "noop"], [r for r in measured if r.endpoint == "batch"]
    )
    all_drops = drops(metrics)
    correctness = Correctness(
        accepted_metric=int(metrics.get("chatlens_events_accepted_total", 0)),
        accepted_by_wrk=sum(r.ok_requests for r in runs if r.endpoint == "batch") * EVENTS_PER_REQUEST,
        duplicates_metric=all_drops.pop("duplicate", 0),
        other_drops=all_drops,
        db_rows=db_rows,
        db_distinct_ids=db_distinct,
    )
    print_correctness(correctness)
    print_write_path(metrics)
    if args.json:
        payload = {"runs": [asdict(r) | {"events_per_s": r.events_per_s, "other_cpu_pct": r.other_cpu_pct} for r in runs],
                   "summary": summary, "correctness": asdict(correctness) | {"ok": correctness.ok}}
        args.json.write_text(json.dumps(payload, indent=2))
    return 0 if correctness.ok and clean_stop else 1


if __name__ == "__main__":
    sys.exit(main())
