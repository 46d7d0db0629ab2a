"""The README a newcomer starts from: its example runs as written, it stays short, and every relative link in
it and in docs/ leads to a file of the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
MAX_LINES = 150

_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")  # [text](target) and [text](target "title")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)  # [name]: target


def first_python_block(text: str) -> str:
    """The first ```python fenced block of a markdown text."""
    match = re.search(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    if match is None:
        raise ValueError("no ```python block")
    return match[1]


def relative_links(text: str) -> list[str]:
    """The link targets of a markdown text that point into the repository (not URLs, not #anchors alone), code
    blocks and code spans left out."""
    prose = _CODE_SPAN.sub("", _FENCE.sub("", text))
    targets = _LINK.findall(prose) + _REFERENCE.findall(prose)
    return [t for t in targets if not re.match(r"^([a-z][a-z0-9+.-]*:|#)", t, re.IGNORECASE)]


def broken_links(page: Path) -> list[str]:
    """The relative links of one page that do not resolve to a file or folder inside the repository."""
    broken = []
    for target in relative_links(page.read_text()):
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not (path.is_relative_to(REPO) and path.exists()):
            broken.append(target)
    return broken


@pytest.mark.slow  # reads the real Fashion-MNIST and trains the MLP for two epochs
def test_the_readme_example_runs_as_written(tmp_path):
    code = first_python_block(README.read_text())
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"the README's example failed:\n{done.stdout}\n{done.stderr}"
    accuracy = re.search(r"validation accuracy after 2 epochs: (0\.\d+)", done.stdout)
    assert accuracy, f"the example printed no accuracy:\n{done.stdout}"
    assert float(accuracy[1]) > 0.7  # d2l 5.2's MLP is near 0.8 after two epochs


def test_the_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_LINES, f"README.md has {lines} lines; keep it to {MAX_LINES} and move the rest into docs/"


def test_the_readme_links_the_docs():
    linked = {(README.parent / t).resolve() for t in relative_links(README.read_text())}
    unlinked = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not unlinked, f"README.md links no page for {unlinked}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    assert not broken_links(page), f"{page.relative_to(REPO)}: links to nothing: {broken_links(page)}"


def test_the_link_finder_sees_links_and_skips_code_and_urls():
    text = ("[a](docs/a.md) [b](<b.md>) [t](x.md \"title\") [s](y.md#part) [u](https://x.org) [h](#top) "
            "`[c](code.md)`\n```sh\n[d](fenced.md)\n```\n[ref]: ref.md\n")
    assert relative_links(text) == ["docs/a.md", "b.md", "x.md", "y.md#part", "ref.md"]


def test_a_broken_link_is_found(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setattr(sys.modules[__name__], "REPO", repo)
    (repo / "proof.md").write_text("# proof\n")
    (tmp_path / "outside.md").write_text("outside the repository\n")
    page = repo / "page.md"
    page.write_text("[there](proof.md#top) [outside](../outside.md) [gone](no-such-page.md)\n")
    assert broken_links(page) == ["../outside.md", "no-such-page.md"]
