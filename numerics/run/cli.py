"""The ``sgdnoise`` command: list, derive, latex, check, reproduce, store.

Exit status: 0 success, 1 a check failed, 2 bad input or a refused run (one line on stderr, no traceback).
Parameters given on the command line are parsed as numbers by the type of their default value:
user text is never passed to ``eval`` or ``sympify``.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from pathlib import Path

import derivations
from derivations import latex as latex_mod

from numerics.engine import progress
from numerics import verify
from numerics.errors import ParameterError, SgdNoiseError, UnknownNameError, require_int_in_range

PDFLATEX_HINT = ("for the PDF install pdflatex, e.g. apt-get install --no-install-recommends texlive-latex-base "
                 "texlive-latex-recommended")


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
        print(f"  {name:<40} {derivations.plain_text(derivations.title(name))}")
    print("checks:")
    for name in verify.check_names():
        check = verify.get_check(name)
        missing = check.missing()
        print(f"  {name:<40} {check.description}" + (f" [not runnable here: {missing}]" if missing else ""))
    return 0


def _cmd_derive(args) -> int:
    d = derivations.get(args.name)
    if args.json:
        print(json.dumps(d.to_json(), indent=2))
    elif args.latex:
        print(d.latex())
    else:
        print(f"{d.name}: {d.plain_title}\n")
        for a in d.assumptions:
            print(f"  assume: {derivations.plain_text(a)}")
        for i, s in enumerate(d.steps, 1):
            print(f"  ({i}) {derivations.plain_text(s.justification)}\n      {s.equation}")
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
        check = verify.get_check(name)
        overrides = dict(parse_param(p, check.params(scale)) for p in params)
        result = check(seed=seed, scale=scale, **overrides)
        results.append(result)
        print(verify.dumps(result) if as_json else result.table() + "\n", file=out, flush=True)
    return results


def _runnable(names: list[str], skip: bool) -> list[str]:
    """The checks among ``names`` whose optional dependencies are installed; the others are skipped with a line
    each (``skip``, when running every check) or refused before any work starts."""
    reasons = {n: why for n in names if (why := verify.get_check(n).missing())}
    if reasons and not skip:
        raise ParameterError("; ".join(reasons.values()))
    for why in reasons.values():
        print(f"sgdnoise: skipped {why}", file=sys.stderr, flush=True)
    return [n for n in names if n not in reasons]


def _cmd_check(args) -> int:
    if bool(args.names) == args.all:
        sys.stderr.write(args.usage)
        raise ParameterError("name the checks to run (see 'sgdnoise list') or give --all, not both"
                             if args.all else "name the checks to run (see 'sgdnoise list'), or give --all to run every check")
    names = _runnable(args.names or verify.check_names(), skip=args.all)  # unknown names fail before any work
    _warn_without_numba()
    progress.enable()
    results = _run_checks(names, args.scale, args.param, args.seed, args.json)
    return 1 if any(verify.get_check(r.check).fails(r) for r in results) else 0


def _warn_without_numba() -> None:
    """One line, before a long run, where numba (a dependency) could not be installed on this platform."""
    from numerics.engine.streams import HAVE_NUMBA

    if not HAVE_NUMBA:
        print("sgdnoise: numba is not available: the compiled kernels fall back to numpy and the perceptron checks "
              "run about 50x slower (pip install numba)", file=sys.stderr, flush=True)


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix.rstrip(".") + ".")


def _selected(prefixes: list[str]) -> tuple[list[str], list[str]]:
    """(checks, derivations) named by ``--only`` (full names or prefixes such as ``dln``); all without it."""
    check_names, derivation_names = verify.check_names(), derivations.names()
    if not prefixes:
        return check_names, derivation_names
    for prefix in prefixes:
        if not any(_matches(n, prefix) for n in check_names + derivation_names):
            raise UnknownNameError("check or derivation", prefix, check_names + derivation_names)
    return ([n for n in check_names if any(_matches(n, p) for p in prefixes)],
            [n for n in derivation_names if any(_matches(n, p) for p in prefixes)])


def _cmd_reproduce(args) -> int:
    """Derivations → LaTeX (+ PDF) → every check (sweep runner + result store: resumable) → figures → report."""
    from tqdm.auto import tqdm

    from numerics.run import report, sweeps

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    names, derivation_names = _selected(args.only)
    names = _runnable(names, skip=True)
    store = sweeps.ResultStore(out / sweeps.STORE_FILENAME)  # a foreign or corrupted file stops us here
    executor = sweeps.make_executor(args.workers, args.scheduler, args.dask_local)
    pdf = latex_mod.pdflatex_available()
    _warn_without_numba()
    print(f"[1/4] derivations -> LaTeX{' and PDF' if pdf else ' (pdflatex not found: no PDF; ' + PDFLATEX_HINT + ')'}",
          flush=True)
    tex = latex_mod.write(out, [derivations.get(n) for n in derivation_names])["tex"]
    documents, problems = [(tex.name, tex.name)], []
    if pdf:
        try:
            documents.append((latex_mod.compile_pdf(tex).name,) * 2)
        except SgdNoiseError as exc:
            problems.append("PDF failed")
            print(f"warning: {exc}", file=sys.stderr)

    tasks = [sweeps.Task(n, sweeps.CheckFunction(n), verify.get_check(n).params(args.scale), args.seed) for n in names]
    print(f"[2/4] {len(tasks)} checks ({args.scale}, seed {args.seed}) on {executor.description}; "
          f"results stored in {store.path}", flush=True)
    bar = tqdm(total=len(tasks), desc="checks", unit="check", file=sys.stderr)

    def progress(o):
        verdict = "ERROR" if not o.ok else o.value["verdict"]
        tqdm.write(f"  {verdict:<12} {o.task.name}  ({'stored' if o.cached else f'{o.runtime_s:.1f} s'})")
        bar.set_postfix_str(o.task.name, refresh=False)
        bar.update(1)

    try:
        with executor:
            outcomes = sweeps.run_tasks(tasks, executor, store, on_outcome=progress, on_error="collect")
    except sweeps.SweepInterrupted as exc:
        bar.close()
        print(f"sgdnoise: interrupted by {signal.Signals(exc.signum).name}: {exc.done}/{exc.total} checks saved in "
              f"{store.path}; run the same command again to resume", file=sys.stderr)
        return 128 + exc.signum
    finally:
        store.close()
    bar.close()

    print("[3/4] figures", flush=True)
    entries = []
    for o in tqdm(outcomes, desc="figures", unit="check", file=sys.stderr, leave=False):
        entry = report.Entry(o.task.name, verify.get_check(o.task.name).description, error=o.error, cached=o.cached)
        if o.ok:
            entry.result = verify.CheckResult.from_json(o.value, o.runtime_s)
            entry.figures, entry.notes = report.make_figures(entry.result, out / "figures")
        entries.append(entry)

    print("[4/4] report", flush=True)
    with open(out / "checks.jsonl", "w") as jsonl:
        for e in entries:
            if e.result is not None:
                jsonl.write(verify.dumps(e.result) + "\n")
    elapsed = time.perf_counter() - start
    meta = dict(scale=args.scale, seed=args.seed, version=sweeps.package_version(), executor=executor.description,
                store=str(store.path), n_cached=sum(o.cached for o in outcomes), runtime_s=elapsed,
                documents=documents + [("checks.jsonl", "checks.jsonl")],
                derivations=[(n, derivations.get(n).title) for n in derivation_names])
    paths = report.write_report(out, entries, meta)
    failed = [f"{e.name} ({e.verdict})" for e in entries if e.result is None or verify.get_check(e.name).fails(e.result)]
    problems = ([f"failing (errors, exact theories not CONFIRMED): {', '.join(failed)}"] if failed else []) + problems
    print(f"{report.verdict_counts(entries)} ({meta['n_cached']} from the store); "
          f"{len(derivation_names)} derivations{' + PDF' if len(documents) > 1 else ''}; "
          f"{elapsed:.0f} s; report {paths['html']}" + (f" — {'; '.join(problems)}" if problems else ""))
    return 1 if problems else 0


def _cmd_store(args) -> int:
    """``store info``: what the result store of an output directory holds; ``store clear``: delete results."""
    from numerics.run import sweeps

    path = Path(args.output) / sweeps.STORE_FILENAME
    if not path.exists():
        print(f"no result store at {path}")
        return 0
    with sweeps.ResultStore(path) as store:
        if args.action == "clear":
            n = store.clear(args.check)
            print(f"deleted {n} stored result{'s' if n != 1 else ''}" + (f" of {args.check}" if args.check else "")
                  + f" from {path}")
            return 0
        info = store.info()
    print(f"{info['path']}: {info['results']} results, {info['bytes']} bytes, schema {info['schema_version']}, "
          f"created with sgdnoise {info['created_with']}")
    for g in info["groups"]:
        print(f"  {g['name']:<44} v{g['version']:<10} {g['results']:>5} results  {g['runtime_s']:.1f} s computed")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sgdnoise", description="Derive SGD-noise results and check them by Monte Carlo.",
                                     epilog="Exit status: 0 success, 1 a check failed, 2 bad input or a refused run.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="derivations and checks, one line each").set_defaults(func=_cmd_list)

    p = sub.add_parser("derive", help="steps and result of one derivation")
    p.add_argument("name", help="a derivation name (see 'sgdnoise list'), e.g. linreg.noise_covariance")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--latex", action="store_true", help="print the LaTeX section (to paste into a paper)")
    fmt.add_argument("--json", action="store_true", help="print name, result, LaTeX, symbols, assumptions and steps as JSON")
    p.set_defaults(func=_cmd_derive)

    p = sub.add_parser("latex", help="one standalone LaTeX document with every derivation")
    p.add_argument("-o", "--output", default="sgdnoise-output", help="output directory (default: %(default)s)")
    p.add_argument("--pdf", action="store_true", help="also compile it with pdflatex")
    p.set_defaults(func=_cmd_latex)

    def add_scale(p):
        g = p.add_mutually_exclusive_group()
        g.add_argument("--quick", dest="scale", action="store_const", const="quick",
                       help="quick parameters: minutes on a laptop (default)")
        g.add_argument("--full", dest="scale", action="store_const", const="full",
                       help="publication-scale parameters (much longer)")
        p.set_defaults(scale="quick")
        p.add_argument("--seed", type=_seed, default=0, help="root seed of every random stream (default: %(default)s)")

    p = sub.add_parser("check", help="predicted vs measured with error bars (exit 1 if a check fails)",
                       epilog="Runs are capped at SGDNOISE_MAX_STEPS steps (default 1e7) and SGDNOISE_MAX_MEMORY_GB "
                              "(default: half the physical memory); set these environment variables to raise the caps.")
    p.add_argument("names", nargs="*", help="check names (see 'sgdnoise list')")
    p.add_argument("--all", action="store_true", help="run every registered check")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter of the check (repeatable), parsed as the type of its default, e.g. eta=0.01")
    p.add_argument("--json", action="store_true", help="one JSON object per check instead of a table")
    add_scale(p)
    p.set_defaults(func=_cmd_check, usage=p.format_usage())

    p = sub.add_parser("reproduce", help="derivations -> LaTeX/PDF -> checks -> figures -> report (resumable)")
    p.add_argument("-o", "--output", default="sgdnoise-output",
                   help="output directory; its result store makes a rerun resume (default: %(default)s)")
    add_scale(p)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive_int, metavar="N",
                       help="local worker processes (default: CPU count; 1 runs in this process)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="a dask.distributed scheduler, e.g. tcp://host:8786")
    where.add_argument("--dask-local", type=_positive_int, metavar="N", help="start a dask LocalCluster of N workers")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="only the derivations and checks with this name or name prefix (repeatable), e.g. --only dln")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser("store", help="the result store of an output directory: info, or clear it")
    p.add_argument("action", choices=["info", "clear"], help="info: what is stored; clear: delete stored results")
    p.add_argument("-o", "--output", default="sgdnoise-output", help="output directory of reproduce (default: %(default)s)")
    p.add_argument("--check", metavar="NAME", help="clear only the results of this check")
    p.set_defaults(func=_cmd_store)
    return parser


def _seed(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        return require_int_in_range("N", int(text, 10), 1)
    except (ValueError, ParameterError):
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SgdNoiseError as exc:
        print(f"sgdnoise: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:  # the engines estimate their memory first; this catches what an estimate missed
        print("sgdnoise: error: out of memory; lower n_replicas/n_paths (see SGDNOISE_MAX_MEMORY_GB)", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `sgdnoise list | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("sgdnoise: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
