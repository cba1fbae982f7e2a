"""Summarize a py-spy speedscope profile: the hottest functions per thread, as text.

py-spy writes one sampled profile per thread. For each thread this prints the share of
samples in which a function was running itself ("self") and in which it was anywhere on
the stack ("total"), as `file:function` (`--lines`: `file:line function`). Record with `--idle` to have the shares be
of wall-clock time (idle waits such as epoll show up as their own frames); without it
they are shares of the thread's busy samples.

    .venv/bin/py-spy record --pid PID --duration 10 --rate 100 --idle \\
        --format speedscope -o /tmp/profile.json
    .venv/bin/python benchmarks/speedscope_top.py /tmp/profile.json --top 25
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def frame_label(frame: dict[str, Any], root: str, with_line: bool) -> str:
    file = str(frame.get("file", ""))
    for marker in ("/site-packages/", "/src/", root):
        if marker and marker in file:
            file = file.split(marker, 1)[1]
            break
    line = frame.get("line") if with_line else None
    return f"{file}:{line} {frame['name']}" if line else f"{file}:{frame['name']}"


def summarize(profile: dict[str, Any], labels: list[str], top: int) -> None:
    samples: list[list[int]] = profile["samples"]
    weights: list[float] = profile.get("weights") or [1.0] * len(samples)
    total = sum(weights)
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    for stack, weight in zip(samples, weights):
        if not stack:
            continue
        own[labels[stack[-1]]] += weight
        for label in {labels[i] for i in stack}:
            anywhere[label] += weight
    print(f"\n== {profile['name']}: {len(samples)} samples")
    print(f"{'self %':>7} {'total %':>8}  function")
    for label, weight in own.most_common(top):
        print(f"{100 * weight / total:>7.1f} {100 * anywhere[label] / total:>8.1f}  {label}")
    print("-- by total (inclusive) --")
    for label, weight in anywhere.most_common(top):
        print(f"{100 * own[label] / total:>7.1f} {100 * weight / total:>8.1f}  {label}")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="hottest functions per thread of a py-spy speedscope file")
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--min-samples", type=int, default=50, help="skip threads with fewer samples")
    p.add_argument("--lines", action="store_true", help="one entry per source line, not per function")
    args = p.parse_args(argv)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    data = json.loads(args.profile.read_text())
    root = str(Path.cwd()) + "/"
    labels = [frame_label(f, root, args.lines) for f in data["shared"]["frames"]]
    for profile in data["profiles"]:
        if len(profile["samples"]) >= args.min_samples:
            summarize(profile, labels, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
