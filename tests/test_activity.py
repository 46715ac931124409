"""Spike counts of Fig. 3 (snnconv.evaluation.activity) and the paired statistics for numbers (per-image counts)."""

from __future__ import annotations

import pytest
import torch

from snnconv.book import claims
from snnconv.book.run import Run
from snnconv.evaluation.activity import active_share, spike_counts
from snnconv.evaluation.statistics import paired_mean_difference
from snnconv.experiment.parameters import resolve
from snnconv.method.models import build


def _network(threshold: float) -> torch.nn.Module:
    torch.manual_seed(0)
    net = build("vgg_small", "fashion_mnist").eval()
    with torch.no_grad():
        for neuron in net.neurons:
            neuron.threshold.fill_(threshold)
    return net


def test_a_network_that_always_fires_counts_every_possible_spike():
    # V_th far below any potential: z = v(t⁻) − V_th ≥ 0 at every neuron and step, so c(x) = N · T.
    net, images = _network(-1e6), torch.rand(5, 1, 28, 28)
    counts = spike_counts(net, images, time_steps=3)
    neurons = net.neuron_count((1, 28, 28))
    assert counts.tolist() == [neurons * 3] * 5
    assert active_share(counts, neurons, 3) == 100.0


def test_a_silent_network_counts_nothing_and_batches_do_not_matter():
    assert spike_counts(_network(1e6), torch.rand(4, 1, 28, 28), time_steps=3).tolist() == [0] * 4
    net, images = _network(0.5), torch.rand(7, 1, 28, 28)
    whole = spike_counts(net, images, time_steps=4, batch_size=7)
    assert torch.equal(whole, spike_counts(net, images, time_steps=4, batch_size=3))
    assert 0 < int(whole.sum()) < 7 * 4 * net.neuron_count((1, 28, 28))


def test_paired_mean_difference_by_hand_and_its_wilcoxon_p_value():
    from scipy.stats import wilcoxon

    a, b = [5.0, 7.0, 9.0, 4.0, 8.0], [4.0, 4.0, 6.0, 5.0, 4.0]
    c = paired_mean_difference(a, b)
    d = torch.tensor(a) - torch.tensor(b)  # 1, 3, 3, −1, 4: mean 2, sd 2
    assert c.difference == pytest.approx(2.0) and c.mean_a == pytest.approx(6.6)
    half = 2.7764451 * 2.0 / 5 ** 0.5  # t(0.975, 4) · s / √n
    assert (c.ci_low, c.ci_high) == pytest.approx((2.0 - half, 2.0 + half))
    assert c.p_value == pytest.approx(wilcoxon(d.numpy()).pvalue)
    assert paired_mean_difference([1.0, 2.0], [1.0, 2.0]).p_value == 1.0


def test_a_claim_on_numbers_uses_the_paired_mean_difference():
    def comparisons(run):
        return [("baseline spikes − ours", [12, 14, 13, 15, 16, 14], [10, 11, 10, 12, 12, 11])]
    claim = claims.Claim("toy", "ours spikes less", "nowhere", comparisons=comparisons)
    (row,) = claims.claim_rows(Run(resolve("smoke"), progress=False), [0], [claim])
    assert row["difference"] == pytest.approx(3.0) and row["status"] == "for"
    assert row["A"] == pytest.approx(14.0)
