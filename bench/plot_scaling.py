"""Plot the scaling benchmark: time against image side, log-log.

    python bench/plot_scaling.py results.json [-o scaling.png]

``results.json`` is written by ``pytest bench/test_scaling.py
--benchmark-json=results.json``; one line per contender, each benchmark's
minimum time.  Needs matplotlib (``pip install ".[plot]"``).
"""

import argparse
import json
import sys


def series(benchmarks, stat):
    """{contender: [(side, seconds), ...]} sorted by side."""
    lines = {}
    for bench in benchmarks:
        info = bench.get("extra_info", {})
        if info.get("kind") == "scaling":
            lines.setdefault(info["method"], []).append((info["side"], bench["stats"][stat]))
    return {name: sorted(points) for name, points in lines.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="pytest-benchmark JSON (--benchmark-json)")
    parser.add_argument("-o", "--output", default="scaling.png", help="PNG to write")
    parser.add_argument("--stat", default="min", choices=["min", "median", "mean"])
    args = parser.parse_args(argv)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit('matplotlib is needed for the plot: pip install ".[plot]"')
    with open(args.json) as f:
        lines = series(json.load(f)["benchmarks"], args.stat)
    if not lines:
        sys.exit(f"{args.json} holds no scaling benchmarks (bench/test_scaling.py)")

    fig, ax = plt.subplots(figsize=(7, 5))
    all_sides = set()
    for name, points in sorted(lines.items()):
        sides, seconds = zip(*points)
        all_sides.update(sides)
        ax.loglog(sides, seconds, marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(all_sides), [str(s) for s in sorted(all_sides)])
    ax.set_xlabel("output image side (pixels)")
    ax.set_ylabel(f"time per call, {args.stat} (s)")
    ax.set_title("conv_transpose2d, 1 channel, 3x3 kernel, stride 2")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
