"""The experiment runner: `python -m experiments [list | run ID ... | all]`.

`list` shows every experiment, `run 4.4` runs one (or several), `all` runs every one and writes
runs/<timestamp>/report.md and report.html (each run in a directory of its own: runs/<timestamp>-2/ when
another run took that second). The exit status is non-zero if any comparison with the
PyTorch references fails or any experiment raises.

The experiments are the modules experiments/chN/chN_M_<name>.py (a section) and
experiments/chN/chN_M_<name>_exercises.py (its exercises) of every chapter package; a chapter's other modules
(its PyTorch generators *_torch.py, its support module common.py) are not experiments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import pkgutil
import re
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import experiments
from experiments.harness.report import write_report
from experiments.harness.result import Result, execute, use_every_core
from jaxdl.files import OutputError, check_writable_dir, new_run_dir

_CHAPTER = re.compile(r"ch(\d+)")
_MODULE = re.compile(r"ch(\d+)_(\d+)_\w+")


@dataclass(frozen=True)
class Experiment:
    """One runnable experiment module and the id a user types for it ("4.4", "4.4-exercises")."""

    id: str
    title: str
    module: ModuleType

    def run(self, out_dir: Path, fast: bool) -> Result:
        return execute(self.module.SECTION, self.module.TITLE, self.module.run, out_dir, fast=fast)


def experiment_modules() -> list[str]:
    """The dotted names of every experiment module (experiments.chN.chN_M_*), generators and support modules
    left out."""
    names = []
    for chapter in pkgutil.iter_modules(experiments.__path__):
        if not (chapter.ispkg and _CHAPTER.fullmatch(chapter.name)):
            continue
        package = importlib.import_module(f"experiments.{chapter.name}")
        for info in pkgutil.iter_modules(package.__path__):
            if _MODULE.fullmatch(info.name) and not info.name.endswith("_torch"):
                names.append(f"experiments.{chapter.name}.{info.name}")
    return names


def discover() -> list[Experiment]:
    """Every experiment module, in book order, each section's exercises after it."""
    found = []
    for name in experiment_modules():
        base = name.rsplit(".", 1)[1]
        match = _MODULE.fullmatch(base)
        module = importlib.import_module(name)
        suffix = "-exercises" if base.endswith("_exercises") else ""
        order = (int(match[1]), int(match[2]), bool(suffix), base)
        found.append((order, Experiment(module.SECTION + suffix, module.TITLE, module)))
    return [e for _, e in sorted(found, key=lambda pair: pair[0])]


def select(all_experiments: list[Experiment], ids: list[str]) -> list[Experiment]:
    """The experiments named by ids (an id, or a module name); exits with the list if one is unknown."""
    by_name = {e.id: e for e in all_experiments} | {e.module.__name__.split(".")[-1]: e for e in all_experiments}
    unknown = [i for i in ids if i not in by_name]
    if unknown:
        sys.exit(f"unknown experiment(s) {', '.join(unknown)}; choose from: {', '.join(e.id for e in all_experiments)}")
    return [by_name[i] for i in ids]


def _run_safely(experiment: Experiment, out_dir: Path, fast: bool) -> tuple[Result, str | None]:
    try:
        return experiment.run(out_dir, fast), None
    except Exception:  # one broken experiment must not hide the others' results
        error = traceback.format_exc()
        print(error, file=sys.stderr, flush=True)
        return Result(experiment.module.SECTION, experiment.title, out_dir), error


def output_dir(out: Path | None) -> Path:
    """The run's output directory: --out checked for writing, or a fresh runs/<timestamp>[-N] of its own."""
    if out is not None:
        return check_writable_dir(out)
    return new_run_dir(Path("runs") / dt.datetime.now().strftime("%Y%m%d-%H%M%S"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("list", help="list the experiments")
    run_p = sub.add_parser("run", help="run some experiments by id, e.g. 4.4 or 4.4-exercises")
    run_p.add_argument("ids", nargs="+")
    all_p = sub.add_parser("all", help="run every experiment and write a report")
    for p in (run_p, all_p):
        p.add_argument("--fast", action="store_true", help="quick settings (less data, fewer epochs)")
        p.add_argument("--out", type=Path, default=None, help="output directory (default runs/<timestamp>)")
    args = parser.parse_args(argv)
    use_every_core()

    all_experiments = discover()
    if args.command in (None, "list"):
        width = max(len(e.id) for e in all_experiments)
        for e in all_experiments:
            print(f"{e.id:<{width}}  {e.title}  (python -m {e.module.__name__})")
        return 0

    chosen = all_experiments if args.command == "all" else select(all_experiments, args.ids)
    try:
        out_dir = output_dir(args.out)
    except OutputError as err:
        parser.error(str(err))  # exits with status 2 before any experiment runs
    start = time.perf_counter()
    runs = []
    experiments.start_work()  # until here a Ctrl-C ends the process at once (experiments/__init__.py)
    try:
        for experiment in chosen:
            result, error = _run_safely(experiment, out_dir / experiment.id, args.fast)
            runs.append((experiment, result, error))
    except KeyboardInterrupt:
        print(f"interrupted after {len(runs)} of {len(chosen)} experiments; no report written "
              f"(figures so far are in {out_dir})", file=sys.stderr, flush=True)
        return 130
    if experiments.interrupted():  # a Ctrl-C that something caught and carried on from
        print(f"interrupted; {len(runs)} of {len(chosen)} experiments ran, no report written", file=sys.stderr,
              flush=True)
        return 130
    seconds = time.perf_counter() - start
    failed = [e.id for e, r, err in runs if err or not r.passed]
    if args.command == "all":
        report = write_report(runs, out_dir, seconds, args.fast)
        print(f"report: {report} and {report.with_suffix('.html')}")
    total = sum(len(r.comparisons) for _, r, _ in runs)
    passed = sum(sum(c.passed for c in r.comparisons) for _, r, _ in runs)
    print(f"{passed}/{total} comparisons passed in {len(runs)} experiments, {seconds:.1f} s"
          + (f"; failing: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0
