"""Regenerates the committed PyTorch reference files: `python -m experiments.reference [ID ...]`.

Each section has one generator beside it, experiments/chN/chN_M_<name>_torch.py, whose generate() returns
{file name: data} for the section and its exercises; the files are written beside it
(experiments/chN/<file name>.json). An ID is a section ("4.4"), a chapter ("ch4") or a generator's module name;
none means every generator. A file whose data did not change keeps its date and bytes.

A generator may also define generate_band(): PyTorch seed bands that take many minutes (7.6's LeNet trained for the
book's 10 epochs, seed after seed). They run only when asked, `python -m experiments.reference 7.6 --band`, so that
regenerating the quick files never spends that time unannounced.

Needs torch 2.13.0 (CPU build), which `make references` installs.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import re
import sys
import time
from pathlib import Path

import experiments
from experiments.harness import references

_GENERATOR = re.compile(r"ch(\d+)_(\d+)_\w+_torch")
ROOT = Path(experiments.__file__).resolve().parents[1]


def generators() -> dict[str, str]:
    """Section id ("4.4") -> the dotted name of its generator module, in book order."""
    found = []
    for chapter in pkgutil.iter_modules(experiments.__path__):
        if not (chapter.ispkg and re.fullmatch(r"ch\d+", chapter.name)):
            continue
        package = importlib.import_module(f"experiments.{chapter.name}")
        for info in pkgutil.iter_modules(package.__path__):
            match = _GENERATOR.fullmatch(info.name)
            if match:
                found.append(((int(match[1]), int(match[2])), f"{match[1]}.{match[2]}",
                              f"experiments.{chapter.name}.{info.name}"))
    return {section: name for _, section, name in sorted(found)}


def select(ids: list[str], available: dict[str, str]) -> dict[str, str]:
    """The generators named by ids (a section, a chapter "chN", a module name); all of them for no ids."""
    if not ids:
        return available
    chosen, unknown = {}, []
    for i in ids:
        hits = {s: m for s, m in available.items()
                if i == s or i == m.rsplit(".", 1)[1] or i == m or i == m.split(".")[1]}
        if not hits:
            unknown.append(i)
        chosen.update(hits)
    if unknown:
        raise SystemExit(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(available)} "
                         f"or a chapter (ch2, ch3, ...)")
    return {s: available[s] for s in available if s in chosen}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m experiments.reference", description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="sections (4.4), chapters (ch4) or generator modules (default: all)")
    parser.add_argument("--band", action="store_true",
                        help="also run the generators' generate_band() (seed bands: many minutes each)")
    args = parser.parse_args(argv)
    chosen = select(args.ids, generators())
    try:
        import torch
    except ImportError:
        sys.exit("the reference generator needs PyTorch 2.13.0, CPU build: run `make references`, which installs it")
    import numpy as np

    torch.set_num_threads(2)
    for section, name in chosen.items():
        module = importlib.import_module(name)
        generator = Path(module.__file__).resolve().relative_to(ROOT).as_posix()
        start = time.perf_counter()
        files = {file: (data, "") for file, data in module.generate().items()}
        if args.band and hasattr(module, "generate_band"):
            files |= {file: (data, " --band") for file, data in module.generate_band().items()}
        for file_name, (data, flag) in files.items():
            meta = {
                "torch_version": torch.__version__,
                "numpy_version": np.__version__,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "command": f"python -m experiments.reference {section}{flag}",
                "generator": generator,
            }
            path = references.path_of(file_name)
            changed = references.save(path, data, meta)
            print(f"{path.relative_to(ROOT)}: {'written' if changed else 'unchanged'}")
        print(f"{section}: {time.perf_counter() - start:.1f} s")
