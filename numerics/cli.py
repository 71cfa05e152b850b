"""The ``sgdnoise`` command: list, derive, latex, check, reproduce.

Exit status: 0 success, 1 a check failed, 2 bad input (one line on stderr, no traceback).
Parameters given on the command line are parsed as numbers by the type of their default value:
user text is never passed to ``eval`` or ``sympify``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import derivations
from derivations import latex as latex_mod

from . import checks
from .errors import ParameterError, SgdNoiseError


def parse_param(text: str, defaults: dict) -> tuple[str, object]:
    """``KEY=VALUE`` → (key, value) typed like ``defaults[key]`` (int, float, bool or str)."""
    if "=" not in text:
        raise ParameterError(f"--param expects KEY=VALUE, got {text!r}")
    key, raw = (s.strip() for s in text.split("=", 1))
    if key not in defaults:
        raise ParameterError(f"unknown parameter {key!r}; known: {', '.join(sorted(defaults))}")
    return key, parse_value(key, raw, defaults[key])


def parse_value(key: str, raw: str, default):
    """Parse ``raw`` as the type of ``default``: explicit number parsing only, finite values only."""
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return raw.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            value = float(raw) if any(c in raw for c in ".eE") else int(raw, 10)
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                value = int(value)
            return value
        if isinstance(default, float):
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        raise ParameterError(f"parameter {key}={raw!r} is not a valid {type(default).__name__}") from None
    return raw


def _cmd_list(args) -> int:
    print("derivations:")
    for name in derivations.names():
        print(f"  {name:<40} {derivations.get(name).title}")
    print("checks:")
    for name in checks.check_names():
        print(f"  {name:<40} {checks.get_check(name).description}")
    return 0


def _cmd_derive(args) -> int:
    d = derivations.get(args.name)
    if args.json:
        print(json.dumps(d.to_json(), indent=2))
    elif args.latex:
        print(d.latex())
    else:
        print(f"{d.name}: {d.title}\n")
        for a in d.assumptions:
            print(f"  assume: {a}")
        for i, s in enumerate(d.steps, 1):
            print(f"  ({i}) {s.justification}\n      {s.equation}")
        print(f"\n  result: {d.result}")
    return 0


def _cmd_latex(args) -> int:
    paths = latex_mod.write(args.output, pdf=args.pdf)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def _run_checks(names, scale, params, seed, as_json, out=sys.stdout) -> list:
    results = []
    for name in names:
        check = checks.get_check(name)
        overrides = dict(parse_param(p, check.params(scale)) for p in params)
        result = check(seed=seed, scale=scale, **overrides)
        results.append(result)
        print(checks.dumps(result) if as_json else result.table() + "\n", file=out, flush=True)
    return results


def _cmd_check(args) -> int:
    names = args.names or checks.check_names()
    for name in names:
        checks.get_check(name)  # unknown names fail before any work starts
    results = _run_checks(names, args.scale, args.param, args.seed, args.json)
    return 0 if all(r.passed for r in results) else 1


def _cmd_reproduce(args) -> int:
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    pdf = latex_mod.pdflatex_available()
    print(f"[1/2] derivations -> LaTeX{' and PDF' if pdf else ' (pdflatex not found: no PDF)'}", flush=True)
    paths = latex_mod.write(out, pdf=pdf)
    print(f"[2/2] checks ({args.scale})", flush=True)
    with open(out / "checks.jsonl", "w") as jsonl:
        results = _run_checks(checks.check_names(), args.scale, [], args.seed, False)
        for r in results:
            jsonl.write(checks.dumps(r) + "\n")
    lines = ["# sgdnoise reproduce", "", f"scale: {args.scale}, seed: {args.seed}", "",
             "| check | verdict | max abs z | negative control |", "|---|---|---|---|"]
    for r in results:
        nc = "rejected" if r.negative_control.rejected else "NOT rejected"
        lines.append(f"| {r.check} | {'pass' if r.passed else 'FAIL'} | {r.max_abs_z:.2f} | {nc} |")
    lines += ["", "Derivations: " + ", ".join(f"`{p.name}`" for p in paths.values())]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    passed = sum(r.passed for r in results)
    print(f"{passed}/{len(results)} checks passed; {len(derivations.names())} derivations; "
          f"output in {out}/ ({time.perf_counter() - start:.0f} s)")
    return 0 if passed == len(results) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sgdnoise", description="Derive SGD-noise results and check them by Monte Carlo.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="derivations and checks, one line each").set_defaults(func=_cmd_list)

    p = sub.add_parser("derive", help="steps and result of one derivation")
    p.add_argument("name")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--latex", action="store_true")
    fmt.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_derive)

    p = sub.add_parser("latex", help="one standalone LaTeX document with every derivation")
    p.add_argument("-o", "--output", default="sgdnoise-output")
    p.add_argument("--pdf", action="store_true", help="compile with pdflatex")
    p.set_defaults(func=_cmd_latex)

    def add_scale(p):
        g = p.add_mutually_exclusive_group()
        g.add_argument("--quick", dest="scale", action="store_const", const="quick")
        g.add_argument("--full", dest="scale", action="store_const", const="full")
        p.set_defaults(scale="quick")
        p.add_argument("--seed", type=_seed, default=0)

    p = sub.add_parser("check", help="predicted vs measured with error bars (exit 1 if a check fails)")
    p.add_argument("names", nargs="*")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--json", action="store_true")
    add_scale(p)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("reproduce", help="derivations -> LaTeX/PDF -> checks -> report")
    p.add_argument("-o", "--output", default="sgdnoise-output")
    add_scale(p)
    p.set_defaults(func=_cmd_reproduce)
    return parser


def _seed(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SgdNoiseError as exc:
        print(f"sgdnoise: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sgdnoise: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
