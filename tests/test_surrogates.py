import pytest
import torch

from snnconv.method.surrogates import (
    BPTR,
    BPTT,
    PAPER_ENSEMBLE,
    ReLUApproximation,
    exponential,
    rectangular,
    straight_through,
    triangular,
)

Z = torch.tensor([-2.0, -0.6, -0.1, 0.0, 0.1, 0.6, 2.0], dtype=torch.float64)


def _gradient(surrogate):
    z = Z.clone().requires_grad_(True)
    surrogate(z).sum().backward()
    return z.grad


def test_forward_is_heaviside_with_ge():
    for surrogate in (triangular(1.0), exponential(0.3, 1.0), rectangular(1.0), straight_through()):
        assert surrogate(Z).tolist() == [0, 0, 0, 1, 1, 1, 1]


def test_triangular_gradient_eq16():
    # (1/γ²)·max(0, γ − |z|) with γ = 1 and γ = 0.5, by hand.
    assert _gradient(triangular(1.0)).tolist() == pytest.approx([0, 0.4, 0.9, 1, 0.9, 0.4, 0])
    assert _gradient(triangular(0.5)).tolist() == pytest.approx([0, 0, 1.6, 2, 1.6, 0, 0])


def test_exponential_gradient_eq17():
    expected = [0.3 * torch.exp(torch.tensor(-2.0 * abs(z))).item() for z in Z.tolist()]
    assert _gradient(exponential(0.3, 2.0)).tolist() == pytest.approx(expected)


def test_rectangular_gradient_eq18():
    # (1/γ)·1[|z| < γ/2] with γ = 0.25: only |z| < 0.125 passes, with factor 4.
    assert _gradient(rectangular(0.25)).tolist() == [0, 0, 4, 4, 4, 0, 0]
    assert _gradient(rectangular(2.0)).tolist() == [0, 0.5, 0.5, 0.5, 0.5, 0.5, 0]


def test_straight_through_gradient_is_one():
    assert _gradient(straight_through()).tolist() == [1.0] * len(Z)


def test_surrogates_are_values():
    assert triangular(0.5) == triangular(0.5)
    assert hash(exponential(1.0, 2.0)) == hash(exponential(1.0, 2.0))
    assert triangular(0.5) != rectangular(0.5)


@pytest.mark.parametrize("make", [lambda: triangular(0), lambda: rectangular(-1), lambda: exponential(0, 1)])
def test_invalid_parameters_are_rejected(make):
    with pytest.raises(ValueError, match="must be > 0"):
        make()


def test_paper_ensemble_has_the_19_members_of_suppl_a4():
    assert len(PAPER_ENSEMBLE) == 19
    assert len(set(PAPER_ENSEMBLE)) == 19
    families = [m.surrogate.family for m in PAPER_ENSEMBLE if isinstance(m, BPTT)]
    assert families.count("triangular") == 5
    assert families.count("exponential") == 6
    assert families.count("rectangular") == 5
    assert families.count("straight_through") == 1
    assert sum(isinstance(m, BPTR) for m in PAPER_ENSEMBLE) == 1
    assert sum(isinstance(m, ReLUApproximation) for m in PAPER_ENSEMBLE) == 1
    widths = sorted(m.surrogate.width for m in PAPER_ENSEMBLE
                    if isinstance(m, BPTT) and m.surrogate.family == "triangular")
    assert widths == [0.25, 0.5, 1.0, 2.0, 3.0]
    pairs = sorted((m.surrogate.dampening, m.surrogate.steepness) for m in PAPER_ENSEMBLE
                   if isinstance(m, BPTT) and m.surrogate.family == "exponential")
    assert pairs == [(0.3, 0.5), (0.3, 1.0), (0.3, 2.0), (1.0, 0.5), (1.0, 1.0), (1.0, 2.0)]
    assert len({m.label for m in PAPER_ENSEMBLE}) == 19
