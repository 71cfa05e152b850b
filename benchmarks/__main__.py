"""``python -m benchmarks [--smoke] [--only NAME ...]``: every benchmark, peers side by side, as Markdown."""

from __future__ import annotations

import argparse
import os
import platform
import time

from . import covariance, latex_build, network, scaling, sde_ensemble, sgd_throughput

SECTIONS = {"sgd": sgd_throughput, "covariance": covariance, "sde": sde_ensemble, "latex": latex_build,
            "scaling": scaling, "network": network}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that everything runs (seconds)")
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), help="run only these sections")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats after a warm-up (best and median)")
    args = parser.parse_args(argv)
    print(f"# sgdnoise benchmarks{' (smoke: tiny sizes, numbers mean nothing)' if args.smoke else ''}\n")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          "wall-clock times, compilation excluded (first call reported)\n", flush=True)
    for name in args.only or SECTIONS:
        t0 = time.perf_counter()
        print(SECTIONS[name].run(smoke=args.smoke, repeats=1 if args.smoke else args.repeats))
        print(f"({name}: {time.perf_counter() - t0:.1f} s)\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
