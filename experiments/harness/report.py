"""The report of a run of every experiment: runs/<timestamp>/report.md and report.html beside it."""

from __future__ import annotations

import datetime as dt
import html
import os
import platform
from pathlib import Path
from typing import Any

from experiments.harness.references import format_table
from experiments.harness.result import Result
from jaxdl.files import write_text_atomic

# Each run is (experiment, result, error): an experiment has .id and .title (runner.Experiment), error is the
# traceback of one that raised, or None.
Run = tuple[Any, Result, "str | None"]


def _summary_rows(runs: list[Run]) -> list[str]:
    rows = ["| experiment | title | comparisons passed | tolerances | time (s) | status |", "|---|---|---|---|---|---|"]
    for experiment, result, error in runs:
        n_ok = sum(c.passed for c in result.comparisons)
        tolerances = _tolerance_summary(result.comparisons)
        status = "ERROR" if error else ("pass" if result.passed else "FAIL")
        rows.append(f"| [{experiment.id}](#{_anchor(experiment)}) | {experiment.title} | {n_ok}/{len(result.comparisons)} "
                    f"| {tolerances} | {result.seconds:.1f} | {status} |")
    return rows


def _tolerance_summary(comparisons: list) -> str:
    """How the rows were checked: exactly, within rtol/atol (the loosest shown), or inside a band of seeds."""
    exact = sum(c.tolerance == "exact" for c in comparisons)
    bands = sum(c.tolerance.startswith("in [") for c in comparisons)
    loose = [c.tolerance for c in comparisons if c.tolerance != "exact" and not c.tolerance.startswith("in [")]
    parts = [f"{exact} exact"] if exact else []
    if loose:
        bounds = []
        for name in ("rtol", "atol"):
            values = [float(t.split(f"{name}=")[1].split(",")[0]) for t in loose if f"{name}=" in t]
            if values:
                bounds.append(f"{name} <= {max(values):.2g}")
        parts.append(f"{len(loose)} within {' / '.join(bounds)}")
    if bands:
        parts.append(f"{bands} in PyTorch seed bands")
    return ", ".join(parts) or "-"


def _anchor(experiment: Any) -> str:
    return "exp-" + experiment.id.replace(".", "-")


def write_report(runs: list[Run], out_dir: Path, seconds: float, fast: bool) -> Path:
    """Writes report.md (figures linked relative to it) and report.html beside it; returns the markdown path."""
    import jax

    total = sum(len(r.comparisons) for _, r, _ in runs)
    passed = sum(sum(c.passed for c in r.comparisons) for _, r, _ in runs)
    errors = [e.id for e, _, err in runs if err]
    intro = [
        f"Run {dt.datetime.now().isoformat(timespec='seconds')} on {platform.machine()} with {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, jax {jax.__version__}{' (fast settings)' if fast else ''}.",
        "",
        f"**{passed} of {total} comparisons with the stored PyTorch references passed** across {len(runs)} "
        f"experiments" + (f"; experiments that raised: {', '.join(errors)}" if errors else "")
        + f". Total time {seconds:.1f} s.",
    ]
    lines = [f"# {REPORT_TITLE}", "", *intro, "", *_summary_rows(runs)]
    for experiment, result, error in runs:
        lines += ["", f'<a id="{_anchor(experiment)}"></a>', "", f"## {experiment.id} {experiment.title}", ""]
        lines += [f"`python -m experiments run {experiment.id}` ({result.seconds:.1f} s)", ""]
        if error:
            lines += ["```", error.rstrip(), "```", ""]
        for block in result.blocks:
            lines += [block, ""]
        if result.comparisons:
            lines += [format_table(result.comparisons, markdown=True), ""]
        for figure in result.figures:
            lines += [f"![{figure.stem}]({_relative(figure, out_dir)})", ""]
    markdown_text = "\n".join(lines) + "\n"
    report = out_dir / "report.md"
    write_text_atomic(report, markdown_text)
    _write_html(runs, out_dir, "\n".join(intro), out_dir / "report.html")
    return report


REPORT_TITLE = "jaxdl: d2l chapters 2-5, JAX beside PyTorch"

# Each experiment is a section: its text, then its comparison table with its figures beside it (below it on a
# narrow screen). Failing rows and experiments are red, so they are found at a glance.
_STYLE = """
body{font-family:sans-serif;margin:0 auto;padding:1em;max-width:110em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%;vertical-align:top}
tr.fail td,section.fail>h2{background:#f8d0d0}tr.fail td.status{font-weight:bold;color:#a00000}
.results{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}.results>.comparisons{flex:1 1 40em;overflow-x:auto}
.figures{flex:1 1 30em;display:flex;flex-wrap:wrap;gap:.5em}figure{margin:0}img{max-width:100%;max-height:28em}
figcaption{font-size:80%;color:#555}pre{overflow-x:auto;background:#f6f6f6;padding:.5em}section{margin-top:2em}
"""


def _relative(figure: Path, out_dir: Path) -> str:
    return figure.resolve().relative_to(out_dir.resolve()).as_posix()


def _status(result: Result, error: str | None) -> str:
    return "ERROR" if error else ("pass" if result.passed else "FAIL")


def _html_summary(runs: list[Run]) -> str:
    """The summary table: one linked row per experiment, failing ones highlighted."""
    head = "".join(f"<th>{h}</th>" for h in ("experiment", "title", "comparisons passed", "tolerances",
                                                 "time (s)", "status"))
    rows = []
    for experiment, result, error in runs:
        status = _status(result, error)
        cells = (f'<a href="#{_anchor(experiment)}">{html.escape(experiment.id)}</a>', html.escape(experiment.title),
                 f"{sum(c.passed for c in result.comparisons)}/{len(result.comparisons)}",
                 html.escape(_tolerance_summary(result.comparisons)), f"{result.seconds:.1f}", status)
        row_class = "" if status == "pass" else ' class="fail"'
        rows.append(f"<tr{row_class}>" + "".join(f"<td>{c}</td>" for c in cells[:-1])
                    + f'<td class="status">{status}</td></tr>')
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"


def _html_comparisons(comparisons: list) -> str:
    """One experiment's comparison table, failing rows with class "fail"."""
    head = "".join(f"<th>{h}</th>" for h in ("quantity", "jaxdl", "PyTorch", "difference", "tolerance", "result"))
    rows = []
    for c in comparisons:
        cells = "".join(f"<td>{html.escape(v)}</td>" for v in (c.quantity, c.jaxdl, c.reference,
                                                                f"{c.difference:.3g}", c.tolerance))
        row = "<tr>" if c.passed else '<tr class="fail">'
        rows.append(f'{row}{cells}<td class="status">{"pass" if c.passed else "FAIL"}</td></tr>')
    return (f'<table class="comparisons-table">\n<thead><tr>{head}</tr></thead>\n<tbody>\n' + "\n".join(rows)
            + "\n</tbody>\n</table>")


def _html_section(experiment: Any, result: Result, error: str | None, out_dir: Path) -> str:
    """One experiment: heading, command, error, text blocks, then its table with its figures beside it."""
    import markdown

    status = _status(result, error)
    parts = [f'<section id="{_anchor(experiment)}" class="{"pass" if status == "pass" else "fail"}">',
             f"<h2>{html.escape(experiment.id)} {html.escape(experiment.title)} ({status})</h2>",
             f"<p><code>python -m experiments run {html.escape(experiment.id)}</code> ({result.seconds:.1f} s)</p>"]
    if error:
        parts.append(f'<pre class="error">{html.escape(error.rstrip())}</pre>')
    parts += [markdown.markdown(block, extensions=["tables", "fenced_code"]) for block in result.blocks]
    table = _html_comparisons(result.comparisons) if result.comparisons else ""
    figures = "".join(
        f'<figure><img alt="{html.escape(f.stem)}" src="{html.escape(_relative(f, out_dir))}" loading="eager">'
        f"<figcaption>{html.escape(f.name)}</figcaption></figure>"
        for f in result.figures
    )
    if table or figures:
        parts.append(f'<div class="results"><div class="comparisons">{table}</div>'
                     f'<div class="figures">{figures}</div></div>')
    parts.append("</section>")
    return "\n".join(parts)


def _write_html(runs: list[Run], out_dir: Path, intro: str, path: Path) -> None:
    """report.html: the summary with links at the top, then each experiment with its figures inline."""
    import markdown

    body = [f"<h1>{html.escape(REPORT_TITLE)}</h1>", markdown.markdown(intro), _html_summary(runs)]
    body += [_html_section(experiment, result, error, out_dir) for experiment, result, error in runs]
    write_text_atomic(path, "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>jaxdl report</title>"
                    f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")
