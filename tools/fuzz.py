"""Fuzz fastconv against the reference: random calls until a time budget ends.

Each call is drawn by ``spec_from_rng`` of tests/test_properties.py from a
NumPy generator seeded with (seed, case number), and checked by
``check_spec`` (every method, dtype and memory layout against
tests/reference.py) in a child process, so a segfault or a hang is reported
as a failure of that one call.  On a failure it prints the seed, the case
number, the command that replays that case and a standalone reproducer
script, and exits with status 1.

    python tools/fuzz.py --seconds 60            # CI: a new seed each run
    python tools/fuzz.py --seconds 3600          # the long run
    python tools/fuzz.py --seed 123 --case 456   # replay one case

Run it from the repository root; it imports the fastconv on sys.path.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from test_adversarial import Worker  # noqa: E402
from test_properties import reproducer, spec_from_rng  # noqa: E402


def spec_for(seed, case):
    return spec_from_rng(np.random.default_rng([seed, case]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="time budget")
    parser.add_argument("--seed", type=int, help="default: a new random seed")
    parser.add_argument("--case", type=int, help="run only this case of the seed")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds one call may take before it counts as a hang")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    print(f"fastconv fuzz: seed {seed}, budget {args.seconds:.0f} s", flush=True)
    worker = Worker()
    cases = [args.case] if args.case is not None else None
    start = time.monotonic()
    done = 0
    try:
        case = 0
        while True:
            if cases is not None:
                if done == len(cases):
                    break
                case = cases[done]
            elif time.monotonic() - start > args.seconds:
                break
            spec = spec_for(seed, case)
            verdict = worker.call("test_properties", "check_spec_verdict", spec,
                                  timeout=args.timeout)
            done += 1
            if verdict["status"] != "ok":
                print(f"\nFAILED: seed {seed}, case {case}: {verdict['status']}: "
                      f"{verdict['message']}")
                print(f"spec: {spec}")
                print(f"replay: python tools/fuzz.py --seed {seed} --case {case}")
                print("reproducer (run from the repository root):\n" + "-" * 60)
                print(reproducer(spec))
                print("-" * 60, flush=True)
                return 1
            case += 1
    finally:
        worker.close()
    print(f"fastconv fuzz: {done} calls passed in {time.monotonic() - start:.0f} s "
          f"(seed {seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
