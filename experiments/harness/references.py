"""Stored PyTorch reference numbers: reading, writing, and comparing jaxdl's numbers with them."""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import jax
import numpy as np

from jaxdl.files import check_writable_file, write_text_atomic

#: The folder of the chapter packages: each reference file lies beside the experiment module it serves,
#: ``experiments/ch4/ch4_4_softmax_regression_scratch.json`` beside ``ch4_4_softmax_regression_scratch.py``.
REFERENCE_ROOT = Path(os.environ.get("JAXDL_REFERENCE_DIR", Path(__file__).resolve().parents[1]))

REGENERATE = "`python -m experiments.reference` (`make references` installs torch 2.13.0, CPU build)"

# Keys whose values change from run to run (dates, wall times); ignored when deciding
# whether a regenerated file says anything new.
VOLATILE_KEYS = frozenset({"date", "timing"})


class ReferenceError(RuntimeError):
    """A reference file is missing or malformed."""


def chapter_of(name: str) -> str:
    """The chapter package of a module or reference name: "ch4" for "ch4_4_softmax_regression_scratch"."""
    return name.split("_", 1)[0]


def path_of(name: str, directory: Path | str | None = None) -> Path:
    """Where the reference file ``name`` lies: ``<directory>/<name>.json``, by default beside its experiment
    module in the chapter package (``experiments/<chapter>/<name>.json``)."""
    if directory is not None:
        return Path(directory) / f"{name}.json"
    return REFERENCE_ROOT / chapter_of(name) / f"{name}.json"


def files() -> list[Path]:
    """Every committed reference file, in every chapter package."""
    return sorted(REFERENCE_ROOT.glob("ch*/ch*.json"))


def load(name: str, directory: Path | str | None = None) -> dict[str, Any]:
    """Reads the reference file ``name`` (see path_of) and returns its ``data`` section."""
    path = path_of(name, directory)
    if not path.exists():
        raise ReferenceError(f"no reference file {path}; regenerate the references with {REGENERATE}")
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ReferenceError(f"reference file {path} is not valid JSON ({err}); regenerate it") from err
    if not isinstance(payload, dict) or "meta" not in payload or "data" not in payload:
        raise ReferenceError(f"reference file {path} lacks its 'meta' or 'data' section; regenerate it")
    return payload["data"]


def _read_json(path: Path) -> Any:
    """The file's JSON, or None where it is not valid JSON (a broken file is then simply replaced)."""
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def _strip_volatile(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_volatile(v) for k, v in obj.items() if k not in VOLATILE_KEYS}
    if isinstance(obj, list):
        return [_strip_volatile(v) for v in obj]
    return obj


def to_jsonable(obj: Any) -> Any:
    """Turns arrays and numpy scalars into lists and Python numbers, exactly (float32 -> float64 is exact)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "__array__"):
        return np.asarray(obj).tolist()  # a Python number for 0-d arrays and numpy scalars (they have __array__)
    return obj


def save(path: Path | str, data: dict[str, Any], meta: dict[str, Any]) -> bool:
    """Writes a reference file atomically; returns False (and leaves the file alone) if nothing but
    volatile fields (date, timing) would change, so regenerating on the same machine is a no-op."""
    path = check_writable_file(path)  # an OutputError saying what is wrong (a directory, no permission), before writing
    meta = {"date": _dt.date.today().isoformat(), **meta}
    # json writes NaN and Infinity by default (as d2l's diverged runs need), which json.loads reads back
    text = json.dumps({"meta": to_jsonable(meta), "data": to_jsonable(data)}, indent=1, sort_keys=True) + "\n"
    if path.exists() and _strip_volatile(_read_json(path)) == _strip_volatile(json.loads(text)):
        return False
    write_text_atomic(path, text)
    return True


@dataclass(frozen=True)
class Comparison:
    """One line of a comparison table: a jaxdl number beside its PyTorch reference."""

    quantity: str
    jaxdl: str
    reference: str
    difference: float
    tolerance: str
    passed: bool


def _show(x: Any) -> str:
    arr = np.asarray(x)
    if arr.dtype.kind in "USO":
        return str(x)
    if arr.size == 1:
        v = arr.item()
        return f"{v:.6g}" if isinstance(v, float) else str(v)
    if arr.size <= 4:
        return np.array2string(arr.ravel(), precision=5, separator=", ")
    return f"{arr.dtype}{list(arr.shape)} |x|={np.linalg.norm(arr.astype(np.float64).ravel()):.6g}"


def check_tolerances(rtol: float, atol: float) -> None:
    """Raises a ValueError unless rtol and atol are finite and non-negative."""
    for name, tol in (("rtol", rtol), ("atol", atol)):
        try:
            ok = not isinstance(tol, str) and bool(np.isfinite(float(tol))) and float(tol) >= 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{name} must be a finite number >= 0, got {tol!r}")


def compare(
    quantity: str, ours: Any, reference: Any, *, rtol: float = 0.0, atol: float = 0.0
) -> Comparison:
    """Compares numbers elementwise: passes when shapes agree and |ours - ref| <= atol + rtol * |ref|
    everywhere. With rtol = atol = 0 the check is exact.

    Shapes must be equal, not broadcastable: (n, 1) against (n,) fails, and so does (2, 3) against (3, 2).
    rtol is relative to the reference's own magnitude, atol absolute. NaN matches only NaN at the same
    position, and an infinity only the same infinity. Complex numbers compare their real and imaginary parts
    separately, each as above (a real number has imaginary part 0). dtypes: numbers of any dtype are compared by value in
    float64 (int 2 equals float32 2.0, but float32(0.1) is not 0.1); a dtype is checked by a separate row
    (compare_tree adds one per stored tensor). Strings and other objects compare exactly with ==.
    """
    check_tolerances(rtol, atol)
    a = np.asarray(ours)
    b = np.asarray(reference)
    if a.dtype.kind in "USO" or b.dtype.kind in "USO":
        ok = a.shape == b.shape and bool(np.all(a == b))
        return Comparison(quantity, _show(ours), _show(reference), 0.0 if ok else float("nan"), "exact", ok)
    if a.shape != b.shape:
        return Comparison(
            quantity, f"shape {list(a.shape)}", f"shape {list(b.shape)}", float("nan"), "same shape", False
        )
    if a.dtype.kind == "c" or b.dtype.kind == "c":  # both parts compared, each as a real number
        a, b = (np.stack([x.real, np.imag(x)], axis=-1) for x in (a, b))
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    matched = (np.isnan(a64) & np.isnan(b64)) | (np.isinf(a64) & (a64 == b64))
    finite = np.isfinite(a64) & np.isfinite(b64)
    # A NaN or an infinity is as far as can be from anything but itself, whatever the tolerance.
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf and 0 * inf, on entries that are then set aside
        diff = np.where(finite, np.abs(a64 - b64), np.where(matched, 0.0, np.inf))
        ok = bool(np.all(matched | (finite & (diff <= atol + rtol * np.abs(b64)))))
    tol = "exact" if rtol == 0 and atol == 0 else ", ".join(
        s for s in (f"rtol={rtol:g}" if rtol else "", f"atol={atol:g}" if atol else "") if s
    )
    return Comparison(
        quantity, _show(ours), _show(reference), float(diff.max()) if diff.size else 0.0, tol, ok
    )


#: Relative tolerance of `compare_tree` per stored tensor dtype; integers and booleans compare exactly.
TREE_RTOL = {"float32": 1e-6, "float64": 1e-12}


def _is_stored_tensor(entry: Any) -> bool:
    # How the generators store a tensor: {"values": ..., "shape": [...], "dtype": "float32"}.
    return isinstance(entry, Mapping) and set(entry) == {"values", "shape", "dtype"}


def compare_tree(
    compare: Callable[..., Comparison], ours: Mapping[str, Any], ref: Mapping[str, Any], prefix: str = ""
) -> list[Comparison]:
    """Compares each leaf of the nested dict `ours` with the same key of `ref` via `compare`, one row per leaf;
    a quantity the reference lacks (or holds as a number where ours is a group) is a failing row saying so."""
    # `compare` is `references.compare` (tests) or `Result.compare` (experiments); it matches NaN and inf.
    # A stored tensor is checked on its values (rtol by dtype) and on its dtype as JAX canonicalises it:
    # torch's int64 is JAX's int32 unless 64-bit mode is on. Other leaves compare exactly.
    rows = []
    for key, value in ours.items():
        name = f"{prefix}{key}"
        if key not in ref:
            rows.append(Comparison(name, _show_leaf(value), "not in the reference; regenerate it with "
                                   + REGENERATE, float("nan"), "present", False))
            continue
        expected = ref[key]
        if isinstance(value, Mapping) and not isinstance(expected, Mapping):
            rows.append(Comparison(name, "a group of quantities", "not a group in the reference", float("nan"),
                                   "same structure", False))
            continue
        if _is_stored_tensor(expected):
            torch_dtype = expected["dtype"]
            rows.append(compare(name, value, expected["values"], rtol=TREE_RTOL.get(torch_dtype, 0.0)))
            jax_dtype = str(jax.dtypes.canonicalize_dtype(np.dtype(torch_dtype)))
            label = f"{name} dtype"
            if jax_dtype != torch_dtype:
                label += f" (torch {torch_dtype} is {jax_dtype} in JAX)"
            rows.append(compare(label, str(np.asarray(value).dtype), jax_dtype))
        elif isinstance(value, Mapping):
            rows += compare_tree(compare, value, expected, f"{name}.")
        else:
            rows.append(compare(name, value, expected))
    return rows


def _show_leaf(value: Any) -> str:
    return "a group of quantities" if isinstance(value, Mapping) else _show(value)


def within(quantity: str, value: float, low: float, high: float, reference: str | None = None) -> Comparison:
    """Checks that a measured value lies in the closed band [low, high] (e.g. the spread of PyTorch seeds).

    within adds no margin of its own: a value a hair below low or above high fails, NaN fails. A caller that
    widens a band of seeds does so before the call, with the margin from its experiment's TOLERANCES table.
    """
    low, high = float(low), float(high)
    if not low <= high:
        raise ValueError(f"the band of {quantity!r} is [{low}, {high}]; its low end must not exceed its high end")
    value = float(value)
    centre = (low + high) / 2
    return Comparison(
        quantity,
        f"{value:.6g}",
        reference or f"{centre:.6g}",
        abs(value - centre),
        f"in [{low:.4g}, {high:.4g}]",
        bool(low <= value <= high),
    )


def format_table(comparisons: Iterable[Comparison], markdown: bool = False) -> str:
    """Renders comparisons as a table: quantity, jaxdl, PyTorch, difference, tolerance, pass/fail."""
    header = ("quantity", "jaxdl", "PyTorch", "difference", "tolerance", "result")
    rows = [
        (c.quantity, c.jaxdl, c.reference, f"{c.difference:.3g}", c.tolerance, "pass" if c.passed else "FAIL")
        for c in comparisons
    ]
    if markdown:
        esc = lambda s: s.replace("|", "\\|")  # noqa: E731
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(esc(s) for s in row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows])
