"""Every tolerance and band margin lives in its experiment's TOLERANCES table, is pinned here, and the
table of tolerances in docs/proof.md says the same. Loosening one means changing a number below: a reviewed change.

A new experiment module needs a TOLERANCES table (see experiments/harness/result.py) and its values pinned in
PINNED; test_every_experiment_is_pinned fails until both are there."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from experiments.harness import tolerances
from experiments.harness.runner import discover
from experiments.harness.result import Margin, Result, Tolerance
from experiments.harness.references import TREE_RTOL

# module -> entry -> (rtol, atol) for a Tolerance, a number for a Margin
PINNED = {
    # -- sections 2.6, 2.7, 5.4 --
    'ch2_6_probability': {
        'sampling_z': 4.0,
        'exact': (1e-06, 0.0),
        'book': (0.0, 5e-05),
    },
    'ch2_6_probability_exercises': {
        'sampling_z': 4.0,
        'exact': (1e-06, 0.0),
    },
    'ch2_7_documentation': {
        'sampling_z': 4.0,
    },
    'ch2_7_documentation_exercises': {
        'sampling_z': 4.0,
    },
    'ch5_4_numerical_stability': {
        'grid': (0.0, 2e-06),
        'sigmoid': (1e-06, 1e-07),
        'product': (1e-05, 0.0),
        'replay_grads': (1e-05, 1e-08),
        'replay_losses': (0.0001, 0.0),
        'replay_params': (0.0, 1e-05),
        'symmetry': (0.0, 1e-07),
        'float64': (1e-12, 0.0),
        'sampling_z': 4.0,
    },
    'ch5_4_numerical_stability_exercises': {
        'replay_losses': (0.0001, 0.0),
        'replay_params': (0.0, 1e-05),
        'singular_values': (1e-05, 1e-05),
        'log10_cond': (0.0, 0.01),
    },
    # -- sections 3.7, 5.6 --
    'ch3_7_weight_decay': {
        'replay steps': (0.0001, 1e-11),
        'epoch losses': (0.0001, 0.0),
        'final parameters': (0.0, 1e-06),
        'l2 penalty': (0.0001, 0.0),
        'decay = penalty': (1e-05, 1e-09),
        'book band sds': 1.5,
    },
    'ch3_7_weight_decay_exercises': {
        'replay steps': (0.0001, 1e-11),
        'epoch losses': (0.0001, 0.0),
        'final parameters': (0.0, 1e-06),
    },
    'ch5_6_dropout': {
        'replay steps': (0.0001, 0.0),
        'val logits': (0.0001, 1e-05),
        'init loss': (1e-06, 0.0),
        'init grad W': (0.0001, 1e-07),
        'init grad b': (1e-05, 1e-08),
        'final W': (0.0001, 1e-05),
        'final b': (0.0, 1e-05),
        'val acc': (0.0, 0.001),
        'kept sds': 5.0,
        'kept value': (1e-06, 0.0),
        'band val_acc': 0.01,
        'band losses': 0.03,
    },
    'ch5_6_dropout_exercises': {
        'band val_acc': 0.01,
        'band losses': 0.03,
        'variance': (0.05, 0.0),
    },
    # -- sections 5.7, 13.5 --
    'ch5_7_kaggle_house_prices': {
        'features': (0.0, 0.0),
        'label_sum': (0.0, 2e-06),
        'step_loss': (0.0001, 0.0),
        'final_params': (1e-05, 1e-06),
        'val': (0.0001, 0.0),
        'band_sds': 2.5,
    },
    'ch5_7_kaggle_house_prices_exercises': {
        'sweep_margin': 0.02,
        'raw_step_loss': (0.0001, 0.0),
    },
    'ch8_5_batch_norm': {
        'bn outputs': (1e-05, 1e-06),
        'bn gradients': (1e-05, 1e-05),
        'running stats': (1e-06, 1e-06),
        'float64 steps': (1e-10, 0.0),
        'float64 final': (1e-10, 1e-12),
        'float32 steps': (1e-05, 0.0),
        'float32 final': (1e-05, 1e-06),
        'val correct': (0.0, 1),
        'band val_acc': 0.01,
        'band losses': 0.03,
    },
    'ch13_5_multiple_devices': {
        'steps vs 1 device': (1e-05, 0.0),
        'final parameters vs 1 device': (1e-05, 1e-06),
        'steps vs PyTorch': (0.0001, 0.0),
    },
    'ch2_1_ndarray': {},
    'ch2_2_preprocessing': {},
    'ch2_3_linear_algebra': {},
    'ch2_4_calculus': {
        'jit quotient atol * h': 2**-22,
        'float64 quotients': (1e-09, 0.0),
        'linspace': (2**-23, 0.0),
        'grad at linspace': (1e-06, 0.0),
    },
    'ch2_5_autodiff': {
        'control flow': (1e-06, 0.0),
        'd2 cubic': (1e-06, 1e-06),
        'd2 sin': (1e-06, 1e-07),
    },
    'ch2_5_autodiff_exercises': {
        'derivatives': (1e-05, 1e-06),
        'hvp': (1e-05, 1e-05),
        'control flow': (1e-06, 0.0),
    },
    'ch3_1_linear_regression': {
        'density vs float64': (5e-06, 0.0),
        'density vs float32': (1e-06, 0.0),
        'curve sum': (1e-05, 0.0),
    },
    'ch3_1_linear_regression_exercises': {
        'mean': (1e-06, 0.0),
        'grid search atol in grid steps': 1.0,
        'losses': (1e-05, 0.0),
        'final parameters': (0.0, 0.0001),
    },
    'ch3_2_oo_design': {
        'points': (0.0, 2e-06),
    },
    'ch3_3_synthetic_data': {
        'standard errors': 4.0,
    },
    'ch3_4_linear_regression_scratch': {
        'replay steps': (0.0001, 0.0),
        'replay parameters': (0.0, 1e-05),
        'gradients at init': (1e-05, 0.0),
        'book band sds': 1.5,
    },
    'ch3_4_linear_regression_scratch_exercises': {
        'gradients at init': (1e-05, 0.0),
        'error in w': (0.0, 1e-05),
        'replay steps': (0.0001, 0.0),
        'replay parameters': (0.0, 1e-05),
    },
    'ch3_5_linear_regression_concise': {
        'gradients at init': (1e-05, 0.0),
        'book band sds': 1.5,
        'MSE = 2 x squared loss': (1e-06, 0.0),
    },
    'ch4_1_softmax_regression': {
        'values': (1e-06, 1e-07),
    },
    'ch4_2_image_classification_dataset': {
        'statistics': (1e-07, 0.0),
        'resized pixels': (0.0, 1),
        'resized sum': (1e-05, 0.0),
    },
    'ch4_3_base_classification': {},
    'ch4_4_softmax_regression_scratch': {
        'band val_acc': 0.01,
        'band train_loss': 0.005,
        'band val_loss': 0.02,
        'replay steps': (0.0001, 0.0),
        'replay val acc': (0.0, 1e-06),
        'final W_norm': (1e-05, 0.0),
        'final W_sum': (0.0, 0.0001),
        'final W_column_sums': (0.0, 0.0001),
        'final W_rows': (0.0, 1e-05),
        'final b': (0.0, 1e-05),
        'init grad_W_norm': (1e-05, 0.0),
        'init grad_W_sum': (0.0, 1e-05),
        'init grad_W_column_sums': (1e-05, 1e-06),
        'init grad_W_rows': (1e-05, 1e-07),
        'init grad_b': (1e-05, 1e-07),
        'init loss': (1e-06, 0.0),
        'softmax example': (1e-06, 0.0),
    },
    'ch4_4_softmax_regression_scratch_exercises': {
        'subnormal': (1e-06, 2**-126),
        'values': (1e-06, 0.0),
        'stable cross-entropy': (1e-06, 1e-06),
    },
    'ch4_5_softmax_regression_concise': {
        'init std': 0.02,
    },
    'ch5_1_mlp': {
        'values': (1e-06, 1e-07),
        'tanh': (1e-06, 2.5e-07),
        'tanh grad': (1e-06, 5e-07),
        'grid': (0.0, 2e-06),
        'grad alpha': (1e-06, 0.0),
    },
    'ch5_1_mlp_exercises': {
        'grad alpha': (1e-06, 0.0),
        "swish'(x_min)": (0.0, 1e-06),
        'swish grid': 0.0006250000000000001,
    },
    'ch5_2_mlp_implementation': {
        'band val_acc': 0.01,
        'band losses': 0.03,
        'init loss': (1e-06, 0.0),
        'weight norm': (1e-05, 0.0),
        'weight slice': 0.0001,
        'init grad W': (0.0001, 1e-07),
        'init grad b': (1e-05, 1e-08),
        'replay steps': (0.0001, 0.0),
        'final scratch': (0.0005, 0.0001),
        'final concise': (0.0001, 1e-05),
        'val loss': (0.0001, 0.0),
        'val acc': (0.0, 0.001),
    },
    'ch5_2_mlp_implementation_exercises': {
        'band val_acc': 0.01,
        'band losses': 0.03,
    },
    'ch5_3_forward_backward': {
        'forward': (1e-06, 1e-07),
        'gradients': (1e-05, 1e-07),
        'intermediate gradients': (1e-05, 1e-08),
    },
    # -- chapter 6 --
    'ch6_1_model_construction': {
        'forward': (1e-06, 1e-07),
        'halved sum': (0.0, 2.5e-06),
        'gradients': (1e-05, 1e-07),
    },
    'ch6_1_model_construction_exercises': {
        'forward': (1e-06, 1e-07),
    },
    'ch6_2_parameters': {
        'forward': (1e-06, 1e-07),
        'gradients': (1e-05, 1e-07),
    },
    'ch6_2_parameters_exercises': {
        'forward': (1e-06, 1e-07),
        'replay steps': (0.0001, 0.0),
        'replay params': (0.0, 1e-05),
    },
    'ch6_3_init_param': {
        'sampling_z': 4.0,
        'forward': (1e-06, 0.0),
    },
    'ch6_3_init_param_exercises': {
        'sampling_z': 4.0,
        'orthogonality': (0.0, 1e-05),
        'sum of squares': (1e-05, 0.0),
    },
    'ch6_4_lazy_init': {
    },
    'ch6_4_lazy_init_exercises': {
        'permutation': (1e-06, 1e-07),
    },
    'ch6_5_custom_layer': {
        'forward': (1e-06, 1e-06),
        'mean': (0.0, 1e-07),
        'gradients': (1e-05, 1e-06),
    },
    'ch6_5_custom_layer_exercises': {
        'forward': (1e-06, 1e-07),
        'gradients': (1e-05, 1e-06),
    },
    'ch6_6_file_io': {
        'logits': (1e-06, 1e-06),
    },
    'ch6_6_file_io_exercises': {
    },
    'ch6_7_gpus': {
        'sum': (1e-05, 0.0),
    },
    'ch6_7_gpus_exercises': {
    },
    # -- chapter 7 --
    'ch7_2_conv_layer': {
        'random corr2d': (1e-06, 1e-06),
        'learning': (1e-05, 0.0),
        'learning gradients': (1e-05, 1e-06),
    },
    'ch7_2_conv_layer_exercises': {
    },
    'ch7_3_padding_and_strides': {
        'values': (1e-05, 1e-06),
    },
    'ch7_3_padding_and_strides_exercises': {
        'mirror conv': (1e-05, 1e-06),
        'ratios': (1e-12, 0.0),
    },
    'ch7_4_channels': {
        '1x1': (1e-06, 1e-06),
    },
    'ch7_4_channels_exercises': {
        'composed': (1e-05, 1e-05),
        'ratios': (1e-12, 0.0),
    },
    'ch7_5_pooling': {
        'avg values': (1e-06, 1e-07),
        'avg gradients': (1e-06, 1e-07),
    },
    'ch7_5_pooling_exercises': {
        'as convolution': (1e-06, 1e-06),
        'relu max': (1e-06, 1e-06),
    },
    'ch7_6_lenet': {
        'float64 steps': (1e-10, 0.0),
        'float64 final': (1e-10, 1e-12),
        'float32 steps': (1e-05, 0.0),
        'float32 final': (1e-06, 1e-07),
        'val correct': (0.0, 1),
        'band val_acc': 0.01,
        'band losses': 0.03,
    },
    'ch7_6_lenet_exercises': {
        'float64': (1e-10, 1e-12),
        'float32 steps': (1e-05, 0.0),
        'activations': (1e-10, 1e-12),
    },
}

EXPERIMENTS = {e.module.__name__.split(".")[-1]: e.module for e in discover()}


def _pins(table: dict) -> dict:
    return {name: entry.value if isinstance(entry, Margin) else (entry.rtol, entry.atol) for name, entry in table.items()}


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_experiment_has_a_tolerance_table_with_reasons(name):
    table = getattr(EXPERIMENTS[name], "TOLERANCES", None)
    assert isinstance(table, dict), f"{name} has no TOLERANCES table (see experiments/harness/result.py)"
    for entry_name, entry in table.items():
        assert isinstance(entry, (Tolerance, Margin)), f"{name}: {entry_name} is not a Tolerance or a Margin"
        assert len(entry.why.split()) >= 4, f"{name}: {entry_name} needs its reason"


def test_every_experiment_is_pinned():
    assert sorted(PINNED) == sorted(EXPERIMENTS), "pin the TOLERANCES of every experiment module in PINNED"


@pytest.mark.parametrize("name", sorted(PINNED))
def test_tolerances_are_their_pinned_values(name):
    assert _pins(EXPERIMENTS[name].TOLERANCES) == PINNED[name]


def test_compare_tree_rtol_by_dtype_is_pinned():
    assert TREE_RTOL == {"float32": 1e-6, "float64": 1e-12}


def _literal_tolerances(module) -> list[str]:
    """rtol=/atol= keyword arguments given as number literals anywhere but in the TOLERANCES table."""
    found = []
    for node in ast.walk(ast.parse(Path(inspect.getfile(module)).read_text())):
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id == "Tolerance"):
            for kw in node.keywords:
                literal = all(isinstance(n, (ast.Constant, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop))
                              for n in ast.walk(kw.value))  # 1e-6, 2**-22 / 3: numbers only, no names
                if kw.arg in ("rtol", "atol") and literal:
                    found.append(f"line {node.lineno}: {kw.arg}={ast.unparse(kw.value)}")
    return found


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_experiments_take_their_tolerances_from_the_table(name):
    assert not _literal_tolerances(EXPERIMENTS[name]), "move these into TOLERANCES"


def test_proof_page_table_is_generated_from_the_tables():
    section = tolerances.page_section(tolerances.PAGE.read_text())
    assert section == tolerances.markdown(), "run `python -m experiments.harness.tolerances --write`"


def test_proof_page_table_shows_each_pinned_number():
    section = tolerances.page_section(tolerances.PAGE.read_text())
    for name, pins in PINNED.items():
        experiment_id = EXPERIMENTS[name].SECTION + ("-exercises" if name.endswith("_exercises") else "")
        for entry, value in pins.items():
            rtol, atol = (None, None) if not isinstance(value, tuple) else value
            shown = f"margin {value:g}" if rtol is None else ", ".join(
                s for s in (f"rtol {rtol:g}" if rtol else "", f"atol {atol:g}" if atol else "") if s) or "exact"
            assert f"| {experiment_id} | {entry} | {shown} |" in section


@pytest.mark.parametrize("make, message", [
    (lambda: Tolerance(rtol=-1e-6, why="a reason of some words"), "rtol must be a finite number >= 0"),
    (lambda: Tolerance(atol=float("nan"), why="a reason of some words"), "atol must be a finite number >= 0"),
    (lambda: Tolerance(rtol=1e-6), r"^a Tolerance needs its reason \(why=\.\.\.\)$"),
    (lambda: Margin(-0.01, why="a reason of some words"), r"^a Margin must be a number >= 0, got -0\.01$"),
    (lambda: Margin(float("nan"), why="a reason of some words"), r"^a Margin must be a number >= 0, got nan$"),
    (lambda: Margin(0.01), r"^a Margin needs its reason \(why=\.\.\.\)$"),
])
def test_bad_table_entries_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_zero_margin_is_a_margin():
    assert Margin(0, why="no widening at all").value == 0 and Margin(0.0, why="no widening at all").value == 0


def test_result_compare_takes_a_table_entry():
    result = Result("9.9", "t", Path("."))
    tol = Tolerance(rtol=1e-3, why="a reason of some words")
    assert result.compare("near", 1.0009, 1.0, tol=tol).passed
    assert not result.compare("far", 1.0011, 1.0, tol=tol).passed
    assert result.comparisons[0].tolerance == "rtol=0.001"
    with pytest.raises(ValueError, match="not both"):
        result.compare("both", 1.0, 1.0, tol=tol, atol=1e-3)


def test_training_notebook_checks_the_experiments_accuracy_margin():
    import nbformat

    path = Path(__file__).resolve().parents[2] / "notebooks" / "04_train_fashion_mnist.ipynb"
    source = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code")
    margin = float(source.split("ACC_MARGIN = ", 1)[1].split()[0])
    assert margin == EXPERIMENTS["ch4_4_softmax_regression_scratch"].TOLERANCES["band val_acc"].value
    assert margin == EXPERIMENTS["ch5_2_mlp_implementation"].TOLERANCES["band val_acc"].value
    assert "assert low <= ours <= high" in source
