#!/usr/bin/env python3
"""bench/report.py: weft against its peers, from weft-bench's JSON output.

Reads Google Benchmark JSON (--benchmark_format=json, or --benchmark_out=FILE
--benchmark_out_format=json), pairs every "<workload>/weft<suffix>" with each
"<workload>/<peer><suffix>" of the same suffix, and prints one row per pair
key: weft's time, each peer's time and the ratio weft/peer (below 1: weft is
faster). A time is the median over repetitions: Google Benchmark's _median
aggregate when present, else the median of the plain runs. Workloads are
grouped into tables by the peers they have (allocators; plain/atomic counters;
CPython). Benchmarks with user counters (mem_churn, mem_empty_lists) get a
table of those counters. Then come figures that are not weft/peer time
ratios (a thread-scaling factor, counter ratios), and the issues' targets,
each marked met or NOT MET.

Usage: report.py [results.json [more.json ...]] [--metric real_time|cpu_time]
(reads standard input when no file is given). With several files, the runs
of a benchmark found in the files after the first (together: bench/run.sh
runs some benchmarks again, one repetition per fresh process and file)
replace those of the same name in the first. Standard library only.
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
COUNTER_ORDER = ["rss_mib", "bytes_per_list", "rss_start_mib", "rss_peak_mib",
                 "rss_after_free_mib", "rss_returned_gap_mib", "rss_after_trim_mib"]

# Workloads run at several thread counts ("/threads:N"): total items_per_second
# at N threads over that at 1 thread (their rows set real_time in bench.h, so
# that items_per_second is the total of all threads).
SCALING = ["dict_get_shared", "dict_get_blocked_owner", "dict_get_private"]
# A scaling workload's control: the same code with nothing shared, whose
# scaling is what the machine gave at that moment (its virtual CPUs need not
# run at once). The report prints the workload's scaling over the control's.
SCALING_CONTROLS = {"dict_get_shared": "dict_get_private", "dict_get_blocked_owner": "dict_get_private"}
# Workloads compared by a counter rather than by time: weft/peer of it.
COUNTER_RATIOS = {"mem_empty_lists": "rss_mib"}
# The issues' targets: (label, kind, spec, op, bound).
#   time:    spec = (workload, suffix or "*" for every suffix, peer): weft/peer time
#   scaling: spec = (workload, impl, threads): see SCALING
#   counter: spec = (workload, suffix, peer, counter): weft/peer of the counter
TARGETS = [
    ("rc_owner weft/plain", "time", ("rc_owner", "", "plain"), "<=", 1.2),
    ("rc_owner weft/atomic", "time", ("rc_owner", "", "atomic"), "<=", 0.33),
    ("obj_new weft/cpython", "time", ("obj_new", "*", "cpython"), "<=", 0.7),
    ("list_append weft/cpython", "time", ("list_append", "", "cpython"), "<=", 1.0),
    ("list_get weft/cpython", "time", ("list_get", "", "cpython"), "<=", 1.0),
    ("dict_set weft/cpython", "time", ("dict_set", "", "cpython"), "<=", 1.0),
    ("dict_get weft/cpython", "time", ("dict_get", "", "cpython"), "<=", 1.0),
    ("dict_get_shared scaling at 2 threads", "scaling", ("dict_get_shared", SUBJECT, 2),
     ">=", 1.6),
    ("mem_empty_lists rss weft/cpython", "counter",
     ("mem_empty_lists", "", "cpython", "rss_mib"), "<=", 0.75),
]


def load(path):
    if path in (None, "-"):
        return json.load(sys.stdin)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_all(paths):
    """The first file's context, and the benchmarks of all files: the runs
    of a name found in the later files (all of them together, e.g. one
    repetition per file) replace those of that name in the first."""
    datas = [load(p) for p in (paths or [None])]
    later = [b for data in datas[1:] for b in data.get("benchmarks", [])]
    names = {b.get("run_name", b["name"]) for b in later}
    benchmarks = [b for b in datas[0].get("benchmarks", [])
                  if b.get("run_name", b["name"]) not in names]
    return {"context": datas[0].get("context", {}), "benchmarks": benchmarks + later}


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


def group_tables(pairs):
    """Split the (workload, suffix) keys into tables: a workload joins the
    latest table whose peers include all of its own peers, else starts a
    table of its own. Returns [(peers, [key, ...])]."""
    workload_peers, order = {}, []
    for (workload, suffix), impls in pairs.items():
        if SUBJECT not in impls:
            continue
        if workload not in workload_peers:
            workload_peers[workload] = []
            order.append(workload)
        for impl in impls:
            if impl != SUBJECT and impl not in workload_peers[workload]:
                workload_peers[workload].append(impl)
    tables = []
    for workload in order:
        peers = workload_peers[workload]
        for t in reversed(tables):
            if set(peers) <= set(t[0]):
                t[1].append(workload)
                break
        else:
            tables.append((list(peers), [workload]))
    return [(peers, [k for w in workloads for k in pairs
                     if k[0] == w and SUBJECT in pairs[k]])
            for peers, workloads in tables]


def time_ratio(pairs, workload, suffix, peer):
    impls = pairs.get((workload, suffix), {})
    w, p = impls.get(SUBJECT), impls.get(peer)
    if not w or not p or w["time_ns"] is None or not p["time_ns"]:
        return None
    return w["time_ns"] / p["time_ns"]


def counter_ratio(pairs, workload, suffix, peer, counter):
    impls = pairs.get((workload, suffix), {})
    w, p = impls.get(SUBJECT), impls.get(peer)
    if not w or not p:
        return None
    a, b = w["counters"].get(counter), p["counters"].get(counter)
    return a / b if a is not None and b else None


def split_threads(suffix):
    """'/real_time/threads:2' -> ('/real_time', 2); no threads part -> (suffix, None)."""
    parts = [p for p in suffix.split("/") if p]
    for p in parts:
        if p.startswith("threads:") and p[8:].isdigit():
            rest = [q for q in parts if q != p]
            return "".join("/" + q for q in rest), int(p[8:])
    return suffix, None


def rate(run):
    ips = run["counters"].get("items_per_second")
    if ips:
        return ips
    return 1e9 / run["time_ns"] if run["time_ns"] else None


def scaling_rates(runs, workload, impl):
    """{base suffix: {threads: total items per second}} of one workload's impl."""
    out = {}
    for run_name, r in runs.items():
        parts = split_name(run_name)
        if not parts or parts[0] != workload or parts[1] != impl or r["error"]:
            continue
        base, threads = split_threads(parts[2])
        if threads is not None and rate(r):
            out.setdefault(base, {})[threads] = rate(r)
    return out


def scaling(runs, workload, impl, threads):
    for by_threads in scaling_rates(runs, workload, impl).values():
        if 1 in by_threads and threads in by_threads:
            return by_threads[threads] / by_threads[1]
    return None


def fmt_rate(v):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:.3g}{unit}/s"
    return f"{v:.3g}/s"


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", nargs="*", help="Google Benchmark JSON file(s) (default: stdin)")
    ap.add_argument("--metric", choices=("real_time", "cpu_time"), default="real_time",
                    help="which time to compare (default real_time: the only fair one "
                         "for the multithreaded workloads)")
    args = ap.parse_args()
    out = sys.stdout

    data = load_all(args.json)
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

    for n, (table_peers, keys) in enumerate(group_tables(pairs)):
        if n:
            print(file=out)
        header = ["workload", SUBJECT]
        for p in table_peers:
            header += [p, f"/{p}"]
        rows = []
        for key in keys:
            workload, suffix = key
            impls = pairs[key]
            w = impls[SUBJECT]
            row = [workload + suffix, w["error"] or fmt_time(w["time_ns"])]
            for p in table_peers:
                r = impls.get(p)
                if r is None:
                    row += ["", ""]
                elif r["time_ns"] is None:
                    row += ["error", "-"]
                else:
                    ratio = (w["time_ns"] / r["time_ns"]
                             if w["time_ns"] is not None and r["time_ns"] else None)
                    row += [fmt_time(r["time_ns"]),
                            f"{ratio:.2f}" if ratio is not None else "-"]
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

    # Figures other than weft/peer times.
    derived = []
    for workload in SCALING:
        for impl in [SUBJECT] + peers:
            for base, by_threads in scaling_rates(runs, workload, impl).items():
                if 1 not in by_threads:
                    continue
                for n in sorted(t for t in by_threads if t != 1):
                    derived.append(
                        f"{workload}/{impl}{base}: {fmt_rate(by_threads[1])} at 1 thread, "
                        f"{fmt_rate(by_threads[n])} at {n} (total): "
                        f"scaling {by_threads[n] / by_threads[1]:.2f}")
    for workload, control in SCALING_CONTROLS.items():
        for n in (2, 4, 8):
            subject = scaling(runs, workload, SUBJECT, n)
            machine = scaling(runs, control, SUBJECT, n)
            if subject and machine:
                derived.append(
                    f"{workload}/{SUBJECT} at {n} threads: scaling {subject:.2f} against "
                    f"{machine:.2f} for {control} (nothing shared) in the same run: "
                    f"{subject / machine:.2f} of what the machine gave")
    for workload, counter in COUNTER_RATIOS.items():
        for (w, suffix), impls in pairs.items():
            if w != workload or SUBJECT not in impls:
                continue
            for p in peers:
                ratio = counter_ratio(pairs, workload, suffix, p, counter)
                if ratio is not None:
                    derived.append(
                        f"{workload}{suffix}: {counter} {fmt_num(impls[SUBJECT]['counters'][counter])} "
                        f"(weft) / {fmt_num(impls[p]['counters'][counter])} ({p}) = {ratio:.2f}")
    derived += [line for hook in DERIVED_HOOKS for line in hook(runs, pairs)]
    if derived:
        print("\nderived (medians):", file=out)
        for line in derived:
            print("  " + line, file=out)

    # The targets, where the runs needed are present.
    verdicts = []
    for label, kind, spec, op, bound in TARGETS:
        found = []
        if kind == "time":
            workload, suffix, peer = spec
            suffixes = ([sfx for (w, sfx) in pairs if w == workload] if suffix == "*"
                        else [suffix])
            for sfx in suffixes:
                found.append((f"{label}{sfx}", time_ratio(pairs, workload, sfx, peer)))
        elif kind == "scaling":
            workload, impl, threads = spec
            found.append((label, scaling(runs, workload, impl, threads)))
        elif kind == "counter":
            workload, suffix, peer, counter = spec
            found.append((label, counter_ratio(pairs, workload, suffix, peer, counter)))
        for name, value in found:
            if value is None:
                continue
            met = value <= bound if op == "<=" else value >= bound
            verdicts.append([name, f"{value:.2f}", f"{op} {bound}", "met" if met else "NOT MET"])
    verdicts += [row for hook in TARGET_HOOKS for row in hook(runs, pairs)]
    if verdicts:
        print("\ntargets:", file=out)
        print_table(["target", "value", "bound", "verdict"], verdicts, out)

    errors = [(n, r["error"]) for n, r in runs.items() if r["error"]]
    if errors:
        print("\nerrors:", file=out)
        for n, e in errors:
            print(f"  {n}: {e}", file=out)
    return 0


# ============================================================================
# The collector's workloads (bench/gc_bench.c).
#
# gc_full, gc_cycles and gc_traversal pair weft with cpython, binary_trees
# with mimalloc, glibc and cpython, by the generic rule above; their targets
# are plain time ratios. What is not a weft/peer time gets its own rules
# here, run by main() through DERIVED_HOOKS and TARGET_HOOKS (each hook takes
# runs and pairs and returns lines, or verdict rows [name, value, bound,
# verdict]):
#   mutator_overhead/weft/on vs /off: the rate with the collector enabled over
#     the rate with it disabled (same work per iteration; rows over wall time);
#   gc_pause/weft: its counters (pauses and times-to-safepoint of the run's own
#     collections, in microseconds) against absolute bounds.
# ============================================================================

TARGETS += [
    ("gc_full weft/cpython", "time", ("gc_full", "*", "cpython"), "<=", 0.5),
    ("gc_cycles weft/cpython", "time", ("gc_cycles", "*", "cpython"), "<=", 0.5),
    ("gc_traversal weft/cpython", "time", ("gc_traversal", "*", "cpython"), "<=", 0.5),
    ("binary_trees weft/mimalloc", "time", ("binary_trees", "*", "mimalloc"), "<=", 1.5),
    ("binary_trees weft/cpython", "time", ("binary_trees", "*", "cpython"), "<=", 0.5),
]

GC_PAUSE_WORKLOAD = "gc_pause"
# (counter, label, op, bound): gc_pause/weft's counters with a target.
GC_PAUSE_TARGETS = [
    ("young_pause_p99_us", "gc_pause young pause p99 (us)", "<=", 100),
    ("young_pause_max_us", "gc_pause young pause max (us)", "<=", 1000),
    ("ttsp_p99_us", "gc_pause time-to-safepoint p99 (us)", "<=", 50),
]
GC_PAUSE_SHOWN = ["young_pause_p50_us", "young_pause_p99_us", "young_pause_max_us",
                  "gen1_pause_max_us", "full_pause_max_us", "ttsp_p99_us", "ttsp_max_us",
                  "collections_gen0", "collections_gen1", "collections_gen2"]
OVERHEAD_WORKLOAD, OVERHEAD_BOUND = "mutator_overhead", 0.9


def _gc_runs(runs, workload, impl=SUBJECT):
    """[(suffix, run)] of one workload's impl, without errors."""
    found = []
    for run_name, r in runs.items():
        parts = split_name(run_name)
        if parts and parts[0] == workload and parts[1] == impl and not r["error"]:
            found.append((parts[2], r))
    return found


def _overhead_ratios(runs):
    """[(base suffix, rate on, rate off)]: '/on/real_time' pairs with '/off/real_time'."""
    by_suffix = dict(_gc_runs(runs, OVERHEAD_WORKLOAD))
    found = []
    for suffix, on in by_suffix.items():
        if not suffix.startswith("/on"):
            continue
        off = by_suffix.get("/off" + suffix[3:])
        if off and rate(on) and rate(off):
            found.append((suffix[3:], rate(on), rate(off)))
    return found


def gc_derived(runs, pairs):
    lines = []
    for rest, on, off in _overhead_ratios(runs):
        lines.append(f"{OVERHEAD_WORKLOAD}/{SUBJECT}{rest}: {fmt_rate(on)} collector on, "
                     f"{fmt_rate(off)} off: on/off {on / off:.3f}")
    for suffix, r in _gc_runs(runs, GC_PAUSE_WORKLOAD):
        c = r["counters"]
        shown = ", ".join(f"{k} {fmt_num(c[k])}" for k in GC_PAUSE_SHOWN if k in c)
        lines.append(f"{GC_PAUSE_WORKLOAD}/{SUBJECT}{suffix}: {shown}")
    return lines


def gc_verdicts(runs, pairs):
    rows = []
    for rest, on, off in _overhead_ratios(runs):
        met = on / off >= OVERHEAD_BOUND
        rows.append([f"mutator_overhead on/off{rest}", f"{on / off:.2f}",
                     f">= {OVERHEAD_BOUND}", "met" if met else "NOT MET"])
    for suffix, r in _gc_runs(runs, GC_PAUSE_WORKLOAD):
        for counter, label, op, bound in GC_PAUSE_TARGETS:
            v = r["counters"].get(counter)
            if v is None:
                continue
            met = v <= bound if op == "<=" else v >= bound
            rows.append([label, fmt_num(v), f"{op} {bound}", "met" if met else "NOT MET"])
    return rows


DERIVED_HOOKS = [gc_derived]
TARGET_HOOKS = [gc_verdicts]


if __name__ == "__main__":
    sys.exit(main())
