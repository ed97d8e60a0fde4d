"""fastconv / torch and fastconv / fastest-peer time ratios per workload, as
a Markdown table.

    python bench/report.py results.json [--stat median]

``results.json`` is written by ``pytest bench/test_workloads.py
--benchmark-json=results.json``.  Per workload: torch's time, the fastest
fastconv method (``auto`` included) and its time over torch's, ``auto``'s
time over torch's, the fastest peer (torch, ONNX Runtime, jax, SciPy,
OpenCV: whichever ran) and the fastest fastconv time over its, and the
target (fastconv time / torch time, lower is better).  Times are each
benchmark's minimum by default: on a shared machine the least disturbed
round.
"""

import argparse
import json
import sys

TORCH = "torch"


def _format_time(seconds):
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def workload_rows(benchmarks, stat):
    """{workload: {"target": t, "problem": str, "times": {contender: s}, "fastconv": set}}"""
    rows = {}
    for bench in benchmarks:
        info = bench.get("extra_info", {})
        if info.get("kind") != "workload":
            continue
        row = rows.setdefault(info["workload"], {
            "target": info["target"], "problem": info["problem"], "times": {},
            "fastconv": set(),
        })
        row["times"][info["method"]] = bench["stats"][stat]
        if info["fastconv"]:
            row["fastconv"].add(info["method"])
    return rows


def _fastest(times):
    """(name, time) of the fastest of ``times``, or (None, None) when empty."""
    if not times:
        return None, None
    name = min(times, key=times.get)
    return name, times[name]


def table(rows):
    lines = [
        "| workload | problem | torch | fastest fastconv | fastest / torch "
        "| auto / torch | fastest peer | fastconv / fastest peer | target | met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        times = row["times"]
        ours = {m: times[m] for m in row["fastconv"]}
        torch_time = times.get(TORCH)
        best, best_time = _fastest(ours)
        peer, peer_time = _fastest({m: t for m, t in times.items() if m not in row["fastconv"]})

        def ratio(t):
            return f"{t / torch_time:.3g}" if t is not None and torch_time else "—"

        if best is None or torch_time is None:
            met = "—"
        else:
            met = "yes" if best_time / torch_time <= row["target"] else "no"
        cells = [
            name, row["problem"],
            _format_time(torch_time) if torch_time else "—",
            f"{best} ({_format_time(best_time)})" if best else "—",
            ratio(best_time), ratio(ours.get("auto")),
            f"{peer} ({_format_time(peer_time)})" if peer else "—",
            f"{best_time / peer_time:.3g}" if best and peer else "—",
            f"≤ {row['target']}", met,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def gemm_rate_table(benchmarks, rows, stat):
    """The fastest fastconv method's GFLOP/s over numpy.matmul's on the same
    multiply-adds, per workload that test_gemm_rate timed (target >= 0.5)."""
    lines = ["| workload | fastest fastconv | GFLOP/s | numpy.matmul GFLOP/s | ratio |",
             "|---|---|---|---|---|"]
    for bench in benchmarks:
        info = bench.get("extra_info", {})
        if info.get("kind") != "gemm-rate" or info["workload"] not in rows:
            continue
        row = rows[info["workload"]]
        best, best_time = _fastest({m: row["times"][m] for m in row["fastconv"]})
        if best is None:
            continue
        ours = info["gflop"] / best_time
        gemm = info["gflop"] / bench["stats"][stat]
        lines.append(f"| {info['workload']} | {best} | {ours:.1f} | {gemm:.1f} | "
                     f"{ours / gemm:.2f} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="pytest-benchmark JSON (--benchmark-json)")
    parser.add_argument("--stat", default="min", choices=["min", "median", "mean"],
                        help="which timing statistic to compare (default: min)")
    args = parser.parse_args(argv)
    with open(args.json) as f:
        data = json.load(f)
    rows = workload_rows(data["benchmarks"], args.stat)
    if not rows:
        sys.exit(f"{args.json} holds no workload benchmarks (bench/test_workloads.py)")
    print(table(rows))
    rates = gemm_rate_table(data["benchmarks"], rows, args.stat)
    if rates:
        print()
        print(rates)


if __name__ == "__main__":
    main()
