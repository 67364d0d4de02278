"""Schedules against the reference test vectors (ALGORITHMS.md Appendix A)."""
from __future__ import annotations

import pytest

from workbench.methods.perturb import Epsilon
from workbench.methods.schedules import (
    CosinePowerAnnealing,
    GdasTau,
    SnasTau,
    cosine_lr,
    cosine_power_annealing,
    gdas_tau,
    naslib_gdas_tau,
    sdarts_epsilon,
    snas_temperature,
)

CPA = {  # (epochs, p, warmup) -> reference values (sharpDARTS cosine_power_annealing.py, max 0.025, min 1e-4)
    (10, 2, 0): [0.025, 0.022566, 0.019006, 0.014892, 0.010773, 0.007072, 0.004057, 0.001863, 0.000541, 0.0001],
    (10, 10, 0): [0.025, 0.020799, 0.015483, 0.010451, 0.00647, 0.003681, 0.001889, 0.000824, 0.000271, 0.0001],
    (10, 1, 0): [0.025, 0.023187, 0.020364, 0.016806, 0.012862, 0.008919, 0.005361, 0.002537, 0.000725, 0.0001],
    (10, 2, 2): [0.0084, 0.0167, 0.025, 0.020193, 0.015408, 0.010414, 0.00604, 0.00276, 0.000766, 0.0001],
}


@pytest.mark.parametrize("key", list(CPA))
def test_cosine_power_annealing_matches_reference_vectors(key):
    epochs, p, warmup = key
    got = cosine_power_annealing(epochs, 0.025, 1e-4, p, warmup)
    assert got == pytest.approx(CPA[key], abs=6e-7)
    slot = CosinePowerAnnealing(p, warmup)  # the Method lr_schedule slot gives the same values per epoch
    assert [slot(e, epochs, 0.025, 1e-4) for e in range(epochs)] == pytest.approx(got, abs=1e-12)


def test_cosine_power_annealing_long_run_with_warmup():
    got = cosine_power_annealing(120, 0.025, 1e-4, 2, 5)
    assert got[:6] == pytest.approx([0.00425, 0.0084, 0.01255, 0.0167, 0.02085, 0.025], abs=6e-7)
    assert got[-1] == pytest.approx(0.0001, abs=1e-12)
    assert len(got) == 120 and max(got) == pytest.approx(0.025)


def test_cosine_power_annealing_bad_input_and_short_runs():
    with pytest.raises(ValueError, match="exponent order"):
        cosine_power_annealing(10, 0.025, 1e-4, 0.5)
    with pytest.raises(ValueError, match="warmup"):
        cosine_power_annealing(10, 0.025, 1e-4, 2, 9)
    # the slot shortens a warm-up that does not fit: 3 epochs -> warm-up 1
    assert [CosinePowerAnnealing()(e, 3, 0.025, 1e-4) for e in range(3)] == pytest.approx(
        cosine_power_annealing(3, 0.025, 1e-4, 2, 1))


def test_darts_cosine_lr():
    assert [cosine_lr(e, 50, 0.025, 0.001) for e in (0, 1, 25, 49)] == pytest.approx(
        [0.025, 0.024976, 0.013, 0.001024], abs=6e-7)


def test_gdas_temperature_autodl_and_naslib():
    assert [gdas_tau(e, 250) for e in (0, 1, 125, 249)] == pytest.approx([10.0, 9.96024, 5.03012, 0.1], abs=6e-6)
    assert [naslib_gdas_tau(e, 50) for e in (0, 1, 49)] == pytest.approx([9.802, 9.604, 0.1], abs=1e-9)
    assert GdasTau()(125, 250) == gdas_tau(125, 250)
    assert GdasTau(variant="naslib")(1, 50) == pytest.approx(9.604)
    assert GdasTau()(0, 1) == 10.0  # a 1-epoch run stays at tau_max
    with pytest.raises(ValueError, match="accepted: autodl, naslib"):
        GdasTau(variant="dxy")


def test_snas_temperature():
    assert [snas_temperature(e) for e in (0, 1, 75, 150)] == pytest.approx([1.0, 0.99353, 0.515, 0.03], abs=6e-6)
    assert snas_temperature(400) == 0.03  # clipped at the minimum
    tau = SnasTau()  # training epoch 0 is scheduler epoch 1 in the reference
    assert tau(0, 10) == pytest.approx(snas_temperature(1)) and tau(74, 10) == pytest.approx(0.515)
    run_length = SnasTau(total=None)  # the option: anneal over the run itself
    assert run_length(9, 10) == pytest.approx(0.03)


def test_sdarts_epsilon():
    assert [sdarts_epsilon(e, 50) for e in (0, 1, 25, 49)] == pytest.approx([0.03, 0.0354, 0.165, 0.2946], abs=1e-9)
    assert Epsilon()(25, 50) == pytest.approx(0.165)
    with pytest.raises(ValueError, match="eps_min <= eps_max"):
        Epsilon(eps_max=0.01)
