"""What every experiment module shares: its result record and its command line."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")  # experiments save figures to files; never open windows

from jaxdl import references  # noqa: E402
from jaxdl.files import OutputError, check_writable_dir  # noqa: E402
from jaxdl.compilation_cache import enable_compilation_cache  # noqa: E402
from jaxdl.plotting import save_figure  # noqa: E402
from jaxdl.references import Comparison  # noqa: E402

enable_compilation_cache()  # every experiment reuses programs compiled by earlier runs (opt out: JAXDL_NO_COMPILATION_CACHE=1)


@dataclass
class Result:
    """What one experiment produced: comparison rows, markdown text blocks and saved figures."""

    section: str
    title: str
    out_dir: Path
    comparisons: list[Comparison] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    def compare(self, quantity: str, ours: Any, reference: Any, *, rtol: float = 0.0, atol: float = 0.0) -> Comparison:
        """Adds one jaxdl-vs-PyTorch comparison row (the table is printed when the experiment ends)."""
        row = references.compare(quantity, ours, reference, rtol=rtol, atol=atol)
        self.comparisons.append(row)
        return row

    def within(self, quantity: str, value: float, low: float, high: float, reference: str | None = None) -> Comparison:
        """Adds a row that checks a measured value against a band of PyTorch runs."""
        row = references.within(quantity, value, low, high, reference)
        self.comparisons.append(row)
        return row

    def text(self, block: str) -> None:
        """Adds a markdown block (a sentence, a table of measured numbers) and prints it."""
        self.blocks.append(block)
        print(block, flush=True)

    def save_figure(self, fig: Any, name: str) -> Path:
        """Saves a matplotlib figure as PNG in the experiment's output directory."""
        import matplotlib.pyplot as plt

        path = save_figure(fig, self.out_dir / name)
        plt.close(fig)
        self.figures.append(path)
        print(f"saved figure {path}", flush=True)
        return path

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)


RunFn = Callable[[Result, bool], None]


def execute(section: str, title: str, run: RunFn, out_dir: Path, fast: bool = False) -> Result:
    """Runs one experiment body, timing it and printing its comparison table."""
    result = Result(section=section, title=title, out_dir=Path(out_dir))
    print(f"== {section} {title}", flush=True)
    start = time.perf_counter()
    run(result, fast)
    result.seconds = time.perf_counter() - start
    if result.comparisons:
        print(references.format_table(result.comparisons), flush=True)
    n_ok = sum(c.passed for c in result.comparisons)
    print(f"{section}: {n_ok}/{len(result.comparisons)} comparisons passed in {result.seconds:.1f} s", flush=True)
    return result


def cli(section: str, title: str, run: RunFn, argv: list[str] | None = None) -> None:
    """The command line of one experiment module: `python -m experiments.<module> [--fast] [--out DIR]`."""
    parser = argparse.ArgumentParser(description=f"d2l {section}: {title}")
    parser.add_argument("--fast", action="store_true", help="a quick run on less data (used by the tests)")
    parser.add_argument("--out", type=Path, default=None, help="where to save figures (default runs/<module>)")
    args = parser.parse_args(argv)
    # Named after the module, not the section: a section and its exercises share a section number.
    module = run.__module__ if run.__module__ != "__main__" else Path(sys.argv[0]).stem
    try:
        out = check_writable_dir(args.out or Path("runs") / module.split(".")[-1])
    except OutputError as err:
        parser.error(str(err))  # exits with status 2 before the experiment runs
    try:
        result = execute(section, title, run, out, fast=args.fast)
    except KeyboardInterrupt:
        print(f"interrupted; {section} did not finish (figures so far are in {out})", file=sys.stderr, flush=True)
        sys.exit(130)
    sys.exit(0 if result.passed else 1)
