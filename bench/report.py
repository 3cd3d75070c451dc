#!/usr/bin/env python3
"""bench/report.py: weft against its peers, from weft-bench's JSON output.

Reads Google Benchmark JSON (--benchmark_format=json, or --benchmark_out=FILE
--benchmark_out_format=json), pairs every "<workload>/weft<suffix>" with each
"<workload>/<peer><suffix>" of the same suffix, and prints one row per pair
key: weft's time, each peer's time and the ratio weft/peer (below 1: weft is
faster). A time is the median over repetitions: Google Benchmark's _median
aggregate when present, else the median of the plain runs. Benchmarks with
user counters (mem_churn) get a second table of those counters.

Usage: report.py [results.json] [--metric real_time|cpu_time]
(reads standard input when no file is given). Standard library only.
"""

import argparse
import json
import signal
import statistics
import sys

SUBJECT = "weft"
RATE_COUNTERS = {"items_per_second", "bytes_per_second"}
# Fields of a run that are not user counters.
RUN_FIELDS = {
    "name", "family_index", "per_family_instance_index", "run_name", "run_type",
    "repetitions", "repetition_index", "threads", "aggregate_name", "aggregate_unit",
    "iterations", "real_time", "cpu_time", "time_unit", "label", "error_occurred",
    "error_message",
}
TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
# Counters shown first, in this order, when present; the others follow by name.
COUNTER_ORDER = ["rss_start_mib", "rss_peak_mib", "rss_after_free_mib",
                 "rss_returned_gap_mib", "rss_after_trim_mib"]


def load(path):
    if path in (None, "-"):
        return json.load(sys.stdin)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def split_name(run_name):
    """'alloc_pair/weft/16' -> ('alloc_pair', 'weft', '/16')."""
    parts = run_name.split("/")
    if len(parts) < 2:
        return None
    return parts[0], parts[1], "".join("/" + p for p in parts[2:])


def collect(benchmarks, metric):
    """{run_name: {'time_ns': float, 'counters': {..}, 'reps': int, 'error': str}}"""
    medians, plain = {}, {}
    for b in benchmarks:
        run_name = b.get("run_name", b["name"])
        if b.get("error_occurred"):
            plain.setdefault(run_name, []).append(b)
            continue
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[run_name] = b
        else:
            plain.setdefault(run_name, []).append(b)

    runs = {}
    for run_name in list(medians) + [n for n in plain if n not in medians]:
        if run_name in medians:
            b = medians[run_name]
            runs[run_name] = {
                "time_ns": b[metric] * TO_NS[b.get("time_unit", "ns")],
                "counters": {k: v for k, v in b.items()
                             if k not in RUN_FIELDS and isinstance(v, (int, float))},
                "reps": b.get("repetitions", 0),
                "error": None,
            }
            continue
        bs = plain[run_name]
        errors = [b for b in bs if b.get("error_occurred")]
        good = [b for b in bs if not b.get("error_occurred")]
        if not good:
            runs[run_name] = {"time_ns": None, "counters": {}, "reps": 0,
                              "error": errors[0].get("error_message", "error")}
            continue
        keys = set()
        for b in good:
            keys |= {k for k, v in b.items()
                     if k not in RUN_FIELDS and isinstance(v, (int, float))}
        runs[run_name] = {
            "time_ns": statistics.median(
                b[metric] * TO_NS[b.get("time_unit", "ns")] for b in good),
            "counters": {k: statistics.median(b[k] for b in good if k in b) for k in keys},
            "reps": len(good),
            "error": errors[0].get("error_message", "error") if errors else None,
        }
    return runs


def fmt_time(ns):
    if ns is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}" if ns / scale < 100 else f"{ns / scale:.0f} {unit}"
    return f"{ns:.3g} ns" if ns < 100 else f"{ns:.0f} ns"


def fmt_num(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}" if abs(v) >= 1 else f"{v:.2g}"


def print_table(header, rows, out):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths)))
    print(line(header), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in rows:
        print(line(r), file=out)


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", nargs="?", help="Google Benchmark JSON (default: stdin)")
    ap.add_argument("--metric", choices=("real_time", "cpu_time"), default="real_time",
                    help="which time to compare (default real_time: the only fair one "
                         "for the multithreaded workloads)")
    args = ap.parse_args()
    out = sys.stdout

    data = load(args.json)
    runs = collect(data.get("benchmarks", []), args.metric)

    # key (workload, suffix) -> {impl: run}, in the order of the output.
    pairs, peers = {}, []
    for run_name, r in runs.items():
        parts = split_name(run_name)
        if not parts:
            continue
        workload, impl, suffix = parts
        pairs.setdefault((workload, suffix), {})[impl] = r
        if impl != SUBJECT and impl not in peers:
            peers.append(impl)

    ctx = data.get("context", {})
    reps = sorted({r["reps"] for r in runs.values() if r["reps"]})
    print(f"weft-bench {ctx.get('date', '')} on {ctx.get('host_name', '?')}: "
          f"{ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz, "
          f"Google Benchmark built as {ctx.get('library_build_type', '?')}", file=out)
    for key in ("process_malloc", "glibc_malloc", "jemalloc_malloc", "WEFT_MALLOC", "PYTHONMALLOC", "MALLOC_CONF"):
        if key in ctx:
            print(f"  {key}: {ctx[key]}", file=out)
    print(f"{args.metric} per iteration, median of {'/'.join(map(str, reps)) or '?'} "
          f"repetition(s); ratio = weft / peer (below 1: weft is faster)\n", file=out)

    header = ["workload", SUBJECT]
    for p in peers:
        header += [p, f"/{p}"]
    rows = []
    for (workload, suffix), impls in pairs.items():
        if SUBJECT not in impls:
            continue
        w = impls[SUBJECT]
        row = [workload + suffix, w["error"] or fmt_time(w["time_ns"])]
        for p in peers:
            r = impls.get(p)
            if r is None:
                row += ["", ""]
            elif r["time_ns"] is None:
                row += ["error", "-"]
            else:
                ratio = (w["time_ns"] / r["time_ns"]
                         if w["time_ns"] is not None and r["time_ns"] else None)
                row += [fmt_time(r["time_ns"]), f"{ratio:.2f}" if ratio is not None else "-"]
        rows.append(row)
    print_table(header, rows, out)

    # Counters of the workloads that report some (beyond the rates).
    for (workload, suffix), impls in pairs.items():
        found = {k for r in impls.values() for k in r["counters"]} - RATE_COUNTERS
        names = [k for k in COUNTER_ORDER if k in found]
        names += sorted(found - set(names))
        if not names:
            continue
        print(f"\n{workload}{suffix} counters (median):", file=out)
        order = [SUBJECT] + [p for p in peers if p in impls] if SUBJECT in impls else list(impls)
        crow = [[impl] + [fmt_num(impls[impl]["counters"].get(k)) for k in names]
                for impl in order]
        print_table(["impl"] + names, crow, out)

    errors = [(n, r["error"]) for n, r in runs.items() if r["error"]]
    if errors:
        print("\nerrors:", file=out)
        for n, e in errors:
            print(f"  {n}: {e}", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
