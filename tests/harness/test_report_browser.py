"""The HTML report opened in headless Chromium: every figure loads, sits beside its table, failing rows are
highlighted, and every summary link leads to its experiment."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from needs import missing

import experiments.harness.runner as runner
from fake_experiments import fake_experiment as _fake

# Runs in the report's page after everything (images included) has loaded, and writes what it measured into the
# page, which Chromium's --dump-dom then prints.
PROBE = """<script>
window.addEventListener("load", () => {
  const box = (e) => e.getBoundingClientRect();
  const result = {
    images: [...document.images].map(i => ({src: i.getAttribute("src"), complete: i.complete, width: i.naturalWidth})),
    links: [...document.querySelectorAll('a[href^="#"]')].map(a => ({
      href: a.getAttribute("href"), target: !!document.getElementById(a.getAttribute("href").slice(1))})),
    failing: [...document.querySelectorAll("tr.fail td")].map(td => getComputedStyle(td).backgroundColor),
    passing: [...document.querySelectorAll("tr:not(.fail) td")].map(td => getComputedStyle(td).backgroundColor),
    beside: [...document.querySelectorAll("section")].filter(s => s.querySelector("table") && s.querySelector("img"))
      .map(s => ({id: s.id, table: box(s.querySelector("table")), figure: box(s.querySelector("figure"))})),
  };
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    """Debian's Chromium (or $CHROMIUM); never a browser downloaded by a test tool."""
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    missing("Chromium", "apt-get install chromium, or set $CHROMIUM")


def open_in_browser(report: Path, tmp_path: Path) -> dict:
    """Loads a copy of the report (same directory, so the same relative figure paths) with the probe added."""
    page = report.with_name("probe.html")
    page.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
               "--window-size=1600,1200", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the probe did not run (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(html.unescape(found[1]))


def _with_figures(result, fast):
    for i in range(1, 9):
        result.compare(f"row {i}", i, i)
    for name in ("line", "bars"):
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot([0, 1], [0, 1]) if name == "line" else ax.bar([0, 1], [1, 2])
        result.save_figure(fig, f"{name}.png")


def _failing_with_figure(result, fast):
    result.compare("two", 1 + 1, 2)
    result.compare("three", 1 + 1, 3)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [1, 0])
    result.save_figure(fig, "down.png")


def _raising(result, fast):
    raise RuntimeError("broken on purpose")


def write_report(out: Path) -> Path:
    """The report of three fake experiments: one passing with two figures, one failing, one raising."""
    fakes = [_fake("9.1", _with_figures, "Figures"), _fake("9.2", _failing_with_figure, "Failing"),
             _fake("9.3", _raising, "Raising")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "discover", lambda: fakes)
        assert runner.main(["all", "--fast", "--out", str(out)]) == 1
    return out / "report.html"


@pytest.fixture(scope="module")
def seen(tmp_path_factory) -> dict:
    """What the probe measured in the report (one browser start for the tests that only look)."""
    tmp = tmp_path_factory.mktemp("report")
    return open_in_browser(write_report(tmp / "run"), tmp)


def test_every_figure_of_the_report_loads_in_chromium(seen):
    assert sorted(i["src"] for i in seen["images"]) == ["9.1/bars.png", "9.1/line.png", "9.2/down.png"]
    assert all(i["complete"] and i["width"] > 0 for i in seen["images"]), seen["images"]


def test_figures_sit_beside_their_table(seen):
    assert {s["id"] for s in seen["beside"]} == {"exp-9-1", "exp-9-2"}
    for s in seen["beside"]:  # to the right of the table, starting above its bottom edge
        assert s["figure"]["left"] >= s["table"]["right"] and s["figure"]["top"] < s["table"]["bottom"], s


def test_summary_links_reach_their_experiments_and_failing_rows_are_highlighted(seen):
    assert sorted(link["href"] for link in seen["links"]) == ["#exp-9-1", "#exp-9-2", "#exp-9-3"]
    assert all(link["target"] for link in seen["links"])
    # summary rows of 9.2 and 9.3 (6 cells each) and the failing comparison of 9.2
    assert len(seen["failing"]) == 6 + 6 + 6
    assert set(seen["failing"]).isdisjoint(seen["passing"]) and "rgba(0, 0, 0, 0)" not in seen["failing"]


def test_the_browser_check_sees_a_figure_that_does_not_load(tmp_path):
    report = write_report(tmp_path / "run")
    (report.parent / "9.1" / "line.png").write_bytes(b"not a png")
    seen = open_in_browser(report, tmp_path)
    widths = {i["src"]: i["width"] for i in seen["images"]}
    assert widths["9.1/line.png"] == 0 and widths["9.1/bars.png"] > 0
