"""Regenerates the committed PyTorch reference files: `python -m experiments.reference [chapter ...]`.

Needs torch 2.13.0 (CPU build), which `make references` installs. Each chapter module `torch_chN`
returns {file name: data}; a file whose data did not change keeps its date and bytes.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
from pathlib import Path

from experiments.harness import references

CHAPTERS = ("ch2", "ch2_6", "ch2_7", "ch3", "ch3_7", "ch4", "ch5", "ch5_4", "ch5_6", "ch5_7")
HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help=f"any of {', '.join(CHAPTERS)} (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.chapters) - set(CHAPTERS))
    if unknown:
        parser.error(f"unknown chapter(s) {', '.join(unknown)}; choose from {', '.join(CHAPTERS)}")
    try:
        import torch
    except ImportError:
        sys.exit("the reference generator needs PyTorch 2.13.0, CPU build: run `make references`, which installs it")
    import numpy as np

    torch.set_num_threads(2)
    for chapter in args.chapters or CHAPTERS:
        module = importlib.import_module(f"experiments.reference.torch_{chapter}")
        start = time.perf_counter()
        files = module.generate()
        for name, data in files.items():
            meta = {
                "torch_version": torch.__version__,
                "numpy_version": np.__version__,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "command": f"python -m experiments.reference {chapter}",
                "generator": f"experiments/reference/torch_{chapter}.py",
            }
            changed = references.save(HERE / f"{name}.json", data, meta)
            print(f"{name}.json: {'written' if changed else 'unchanged'}")
        print(f"{chapter}: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
