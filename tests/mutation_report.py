"""After `mutmut run`: the share of mutants killed per file and over jaxdl/, and every survivor that
tests/mutation_equivalents.md does not explain. Exits 1 if jaxdl/ is below 90% or a survivor is unexplained.

Run by `make mutation`; reads mutmut's results in mutants/ (mutmut 3's .meta files)."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = ROOT / "tests" / "mutation_equivalents.md"
TARGET = 0.90

# mutmut's exit codes: 1 and 3 are a failing test run (killed), timeouts count as caught too
KILLED = {1, 3, 36, 24, -24, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}


def status(code: int | None) -> str:
    if code is None:
        return "not run"
    if code in KILLED:
        return "killed"
    if code in SURVIVED:
        return "survived"
    if code in NO_TESTS:
        return "no tests"
    return "suspicious"


def explained() -> dict[str, str]:
    """Mutant name -> reason, from lines of the form "- `name`: reason" in the equivalents file."""
    if not EQUIVALENTS.exists():
        return {}
    pattern = re.compile(r"^- `([^`]+)`: (.+)$")
    return {m[1]: m[2] for line in EQUIVALENTS.read_text().splitlines() if (m := pattern.match(line))}


def main() -> int:
    metas = sorted((ROOT / "mutants").rglob("*.py.meta"))
    if not metas:
        print("no mutmut results in mutants/; run `mutmut run` first")
        return 1
    reasons = explained()
    totals: Counter = Counter()
    unexplained, explained_survivors, stale = [], [], []
    seen: set[str] = set()
    print(f"{'file':<32} {'killed':>7} {'survived':>9} {'no tests':>9} {'not run':>8} {'score':>7}")
    for meta in metas:
        source = meta.relative_to(ROOT / "mutants").with_suffix("")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts = Counter(status(c) for c in codes.values())
        if not codes:
            continue
        tried = counts["killed"] + counts["survived"] + counts["no tests"] + counts["suspicious"]
        score = counts["killed"] / tried if tried else float("nan")
        print(f"{str(source):<32} {counts['killed']:>7} {counts['survived']:>9} {counts['no tests']:>9} "
              f"{counts['not run']:>8} {score:>7.1%}")
        if str(source).startswith("jaxdl/"):
            totals += counts
        seen.update(codes)
        for name, code in codes.items():
            if status(code) in ("survived", "no tests", "suspicious"):
                if name in reasons and not reasons[name].startswith("killed by"):
                    explained_survivors.append(name)
                else:  # a line saying a test kills it explains nothing once the mutant has been run again
                    note = ", listed as killed" if name in reasons else ""
                    unexplained.append(f"{name} ({status(code)}{note})")
            elif status(code) == "killed" and name in reasons:
                stale.append(name)
    tried = totals["killed"] + totals["survived"] + totals["no tests"] + totals["suspicious"]
    score = totals["killed"] / tried if tried else 0.0
    print(f"\njaxdl/: {totals['killed']} of {tried} mutants killed ({score:.1%}); {len(explained_survivors)} "
          f"survivors explained in {EQUIVALENTS.relative_to(ROOT)}; {totals['not run']} not run")
    if stale:
        print(f"\n{len(stale)} mutants listed in {EQUIVALENTS.name} are killed now; take their lines out:")
        print("\n".join(f"  {name}" for name in stale))
    unknown = sorted(set(reasons) - seen)
    if unknown:
        print(f"\n{len(unknown)} lines in {EQUIVALENTS.name} name mutants this run does not have (their function "
              "changed, and mutmut numbered its mutants afresh); take them out:")
        print("\n".join(f"  {name}" for name in unknown))
    if unexplained:
        print(f"\n{len(unexplained)} survivors neither killed nor explained (see `mutmut show NAME`):")
        print("\n".join(f"  {u}" for u in unexplained))
    return 0 if score >= TARGET and not unexplained and not unknown and not totals["not run"] else 1


if __name__ == "__main__":
    sys.exit(main())
