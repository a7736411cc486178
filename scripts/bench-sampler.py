#!/usr/bin/env python3
"""CPU and memory of process groups, sampled from /proc for scripts/bench.sh.

Usage: bench-sampler.py OUT INTERVAL NAME=SPEC...

Creates OUT.ready once it handles SIGTERM, samples every INTERVAL seconds until SIGTERM, then takes one last sample (so that even a window
shorter than the interval is measured) and writes a JSON summary to OUT: per group the average
and maximum CPU (% of one core) and memory (MiB), plus "others", the busiest processes outside
the groups by command name, which shows whatever else kept the machine busy. SPEC is one of
  pid:N        one process; memory is its RSS
  tree:N       N and all its descendants; memory is their PSS, so shared pages count once
  pgdb:N:DB    the Postgres cluster whose postmaster is N, without the client backends of other
               databases (their activity is not ours); PSS
  system:      the whole machine: busy CPU of all cores, memory in use
"""

import json
import os
import re
import signal
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
# A Postgres client backend's title: "postgres: [cluster: ]user database host(port) state".
BACKEND_TITLE = re.compile(r"^postgres: (?:\S+: )?(\S+) (\S+) (?:\S+\(\d+\)|\[local\])")


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def processes():
    """{pid: (ppid, utime + stime in ticks, command name)} of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        raw = read(f"/proc/{entry}/stat")
        if raw is None:
            continue
        head, tail = raw.rsplit(b")", 1)
        fields = tail.split()
        comm = head.split(b"(", 1)[1].decode(errors="replace")
        table[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]), comm)
    return table


def kib(path, key):
    match = re.search(rb"^" + key + rb":\s+(\d+)", read(path) or b"", re.M)
    return int(match.group(1)) if match else 0


def machine():
    """(busy ticks of all cores, KiB of memory in use)."""
    cpu = [int(x) for x in read("/proc/stat").split(b"\n")[0].split()[1:]]
    busy = sum(cpu) - cpu[3] - cpu[4]  # everything but idle and iowait
    used = kib("/proc/meminfo", b"MemTotal") - kib("/proc/meminfo", b"MemAvailable")
    return busy, used


def members(spec, table):
    kind, _, arg = spec.partition(":")
    root = int(arg.split(":")[0])
    if kind == "pid":
        return {root} & table.keys()
    pids = {root} & table.keys()
    while True:
        children = {p for p, (ppid, _, _) in table.items() if ppid in pids and p not in pids}
        if not children:
            break
        pids |= children
    if kind == "pgdb":
        database = arg.split(":", 1)[1]

        def other_database(pid):
            title = (read(f"/proc/{pid}/cmdline") or b"").split(b"\0")[0].decode(errors="replace")
            match = BACKEND_TITLE.match(title)
            return match is not None and match.group(2) != database

        pids = {p for p in pids if not other_database(p)}
    return pids


def memory_kib(spec, pids):
    if spec.startswith("pid:"):
        return sum(kib(f"/proc/{p}/status", b"VmRSS") for p in pids)
    return sum(kib(f"/proc/{p}/smaps_rollup", b"Pss") for p in pids)


def main():
    out, interval = sys.argv[1], float(sys.argv[2])
    specs = [arg.split("=", 1) for arg in sys.argv[3:]]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    # From here on SIGTERM ends the sampling cleanly; the caller waits for this file before it may stop us.
    open(out + ".ready", "w").close()

    samples = {name: [] for name, _ in specs}
    previous = {}  # per group: {pid: ticks}, or the machine's busy ticks
    others, others_previous, window = {}, {}, 0.0
    previous_t = None
    last = False
    while not last:
        last = bool(stop)
        # The machine's counters first, right at t: scanning /proc takes a while on a busy machine.
        t = time.monotonic()
        busy, used = machine()
        table = processes()
        grouped = {os.getpid()}
        for name, spec in specs:
            if spec.startswith("system"):
                if previous_t is not None:
                    samples[name].append((100.0 * (busy - previous[name]) / TICK / (t - previous_t), used))
                previous[name] = busy
                continue
            pids = members(spec, table)
            grouped |= pids
            ticks = {p: table[p][1] for p in pids}
            if previous_t is not None and pids:
                # A process that appeared since the last sample used all its ticks in this window.
                used_ticks = sum(v - previous[name].get(p, 0) for p, v in ticks.items())
                cpu = 100.0 * used_ticks / TICK / (t - previous_t)
                samples[name].append((cpu, memory_kib(spec, pids)))
            previous[name] = ticks
        if previous_t is not None:
            for pid, (_, ticks, comm) in table.items():
                if pid not in grouped:
                    others[comm] = others.get(comm, 0) + ticks - others_previous.get(pid, 0)
            window += t - previous_t
        others_previous = {pid: v[1] for pid, v in table.items()}
        previous_t = t
        deadline = t + interval
        while not stop and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    summary = {}
    for name, spec in specs:
        got = samples[name]
        if not got:
            continue
        summary[name] = {
            "cpu_avg": sum(c for c, _ in got) / len(got),
            "cpu_max": max(c for c, _ in got),
            "mem_avg": sum(m for _, m in got) / len(got) / 1024,
            "mem_max": max(m for _, m in got) / 1024,
            "mem_kind": {"pid": "RSS", "system": "in use"}.get(spec.split(":")[0], "PSS"),
            "n": len(got),
        }
    busiest = sorted(((100.0 * v / TICK / window, c) for c, v in others.items() if window), reverse=True)
    summary["others"] = ", ".join("%s %.0f %%" % (c, u) for u, c in busiest[:4] if u >= 5) or "none above 5 %"
    with open(out + ".tmp", "w") as f:
        json.dump(summary, f)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
