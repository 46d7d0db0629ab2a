"""d2l 13.5: the tolerances of the multiple-devices experiment, each with its reason."""

from experiments.ch5 import ch5_2_mlp_implementation as mlp
from experiments.ch13 import ch13_5_multiple_devices as multi


def test_every_tolerance_says_why():
    assert multi.TOLERANCES and all(t.why.strip() for t in multi.TOLERANCES.values())


def test_several_devices_must_match_one_device_to_rtol_1e_5_at_every_step():
    t = multi.TOLERANCES["steps vs 1 device"]
    assert (t.rtol, t.atol) == (1e-5, 0.0)


def test_several_devices_keep_the_5_2_replay_tolerances_against_pytorch():
    assert (multi.TOLERANCES["steps vs PyTorch"].rtol, multi.TOLERANCES["steps vs PyTorch"].atol) == (1e-4, 0.0)
    assert multi.REFERENCE == mlp.REFERENCE


def test_final_parameters_vs_one_device_tolerance_is_pinned():
    t = multi.TOLERANCES["final parameters vs 1 device"]
    assert (t.rtol, t.atol) == (1e-5, 1e-6)
