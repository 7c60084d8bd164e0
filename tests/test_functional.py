import math

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from histlib import functional as HF

from . import naive_hist


def random_inputs(n=9, c=6, d=5, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(n, d, generator=g, dtype=dtype)
    means = torch.randn(c, d, generator=g, dtype=dtype)
    # log-variances spread over both kinks of relu6 (below 0, inside, above 6)
    log_vars = torch.empty(c, d, dtype=dtype).uniform_(-2.0, 8.0, generator=g)
    labels = torch.randint(0, c, (n,), generator=g)
    return embeddings, means, log_vars, labels


# -- distances ----------------------------------------------------------------------------


def test_distances_match_naive_broadcast():
    x, mu, lv, _ = random_inputs(n=11, c=7, d=6)
    torch.testing.assert_close(HF.mahalanobis_distances(x, mu, lv), naive_hist.distances(x, mu, lv))


def test_distances_by_hand():
    # unit variances (log_vars <= 0), so d is the squared Euclidean distance of unit vectors
    x = torch.tensor([[3.0, 0.0], [0.0, 2.0]])
    mu = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    d = HF.mahalanobis_distances(x, mu, torch.full((2, 2), -1.0))
    s = 1 / math.sqrt(2)
    expected = torch.tensor([[0.0, (1 - s) ** 2 + s**2], [2.0, s**2 + (1 - s) ** 2]])
    torch.testing.assert_close(d, expected)
    # variance e^6 on every dimension (log_vars >= 6 saturate) divides all distances by e^6
    d6 = HF.mahalanobis_distances(x, mu, torch.full((2, 2), 9.0))
    torch.testing.assert_close(d6, expected / math.exp(6))


def test_distances_bounded_and_nonnegative():
    x, mu, lv, _ = random_inputs(n=50, c=40, d=16, dtype=torch.float32)
    d = HF.mahalanobis_distances(x, mu, lv)
    assert d.shape == (50, 40)
    assert d.min() >= 0 and d.max() <= 4
    # a sample on a class mean: 0 up to float32 round-off of the expanded square, never negative
    d0 = HF.mahalanobis_distances(mu * 5, mu, lv).diagonal()
    assert d0.min() >= 0 and d0.max() < 1e-6


def test_distances_gradients_match_autograd_of_naive():
    x, mu, lv, _ = random_inputs()
    inputs = [t.clone().requires_grad_() for t in (x, mu, lv)]
    weights = torch.randn(9, 6, dtype=torch.float64)
    (HF.mahalanobis_distances(*inputs) * weights).sum().backward()
    naive_inputs = [t.clone().requires_grad_() for t in (x, mu, lv)]
    (naive_hist.distances(*naive_inputs) * weights).sum().backward()
    for ours, theirs in zip(inputs, naive_inputs):
        torch.testing.assert_close(ours.grad, theirs.grad)


def test_distances_gradcheck():
    x, mu, lv, _ = random_inputs(n=5, c=4, d=3, seed=3)
    inputs = tuple(t.requires_grad_() for t in (x, mu, lv))
    assert torch.autograd.gradcheck(HF.mahalanobis_distances, inputs)


def test_distances_gradient_of_a_single_input():
    x, mu, lv, _ = random_inputs()
    mu.requires_grad_()
    HF.mahalanobis_distances(x, mu, lv).sum().backward()
    assert mu.grad is not None and torch.isfinite(mu.grad).all()


def _largest_allocation(fn) -> int:
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    return max(event.self_cpu_memory_usage for event in prof.events())


def test_distances_never_allocate_an_n_by_c_by_d_tensor():
    n, c, d = 64, 300, 256
    x, mu, lv, _ = random_inputs(n=n, c=c, d=d, dtype=torch.float32)
    x.requires_grad_(), mu.requires_grad_(), lv.requires_grad_()
    ncd_bytes = n * c * d * 4

    def ours():
        HF.mahalanobis_distances(x, mu, lv).sum().backward()

    def naive():
        naive_hist.distances(x, mu, lv).sum().backward()

    assert _largest_allocation(naive) >= ncd_bytes  # the probe sees such a tensor
    assert _largest_allocation(ours) < ncd_bytes / 8


# -- distribution loss --------------------------------------------------------------------


def test_distribution_loss_is_cross_entropy_of_negative_scaled_distances():
    d = torch.tensor([[0.0, 1.0, 2.0], [3.0, 0.5, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    tau = 2.0
    expected = -(
        math.log(1 / (1 + math.exp(-2) + math.exp(-4)))
        + math.log(1 / (math.exp(-6 + 0) + math.exp(-1) + 1))
    ) / 2
    assert HF.distribution_loss(d, y, tau).item() == pytest.approx(expected, rel=1e-12)
    per_sample = HF.distribution_loss(d, y, tau, reduction="none")
    assert per_sample.shape == (2,)


@pytest.mark.parametrize("gap", [4.0, 3.0])  # softmax underflows to 0 / to a subnormal in float32
def test_distribution_loss_keeps_samples_whose_probability_underflows(gap):
    tau = 32.0
    d = torch.tensor([[gap, 0.0, 0.0], [0.0, 1.0, 1.0]], requires_grad=True)
    y = torch.tensor([0, 0])
    # the reference's log(softmax) in float32: the true-class probability is 0 or subnormal
    p_true = F.softmax(-tau * d.detach(), dim=1)[0, 0]
    assert p_true < torch.finfo(torch.float32).tiny
    loss = HF.distribution_loss(d, y, tau)
    loss.backward()
    d64 = d.detach().double()
    expected = -F.log_softmax(-tau * d64, dim=1)[torch.arange(2), y].mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert loss.item() > gap * tau / 2 - 1  # the far sample counts in the mean
    assert torch.isfinite(d.grad).all()
    assert d.grad[0, 0] == pytest.approx(tau / 2, rel=1e-6)


# -- hypergraph ---------------------------------------------------------------------------


def test_incidence_by_hand():
    d = torch.tensor([[0.5, 1.0, 2.0, 0.1], [1.5, 0.2, 0.3, 0.4], [0.7, 0.9, 1.1, 1.3]])
    y = torch.tensor([2, 0, 2])
    H, classes = HF.incidence_matrix(d, y, alpha=2.0)
    assert classes.tolist() == [0, 2]  # one hyperedge per present class, ascending
    e = math.exp
    expected = torch.tensor([[e(-1.0), 1.0], [1.0, e(-0.6)], [e(-1.4), 1.0]])
    torch.testing.assert_close(H, expected)


def test_incidence_gradient_flows_through_soft_memberships_only():
    d = torch.rand(4, 3, requires_grad=True)
    y = torch.tensor([0, 0, 1, 2])
    H, _ = HF.incidence_matrix(d, y, alpha=1.0)
    H.sum().backward()
    member = torch.zeros(4, 3, dtype=torch.bool)
    member[torch.arange(4), y] = True
    assert torch.all(d.grad[member] == 0)
    torch.testing.assert_close(d.grad[~member], -torch.exp(-d.detach()[~member]))


def test_propagation_matches_explicit_degree_matrices():
    x, mu, lv, y = random_inputs(n=10, c=5, d=4)
    H, _ = HF.incidence_matrix(HF.mahalanobis_distances(x, mu, lv), y, alpha=1.3)
    G = HF.propagation_matrix(H)
    torch.testing.assert_close(G, naive_hist.propagation(H))
    torch.testing.assert_close(G, G.t())
    assert torch.linalg.eigvalsh(G).min() > -1e-12  # B B^T is positive semi-definite


def test_propagation_of_a_single_hyperedge_is_uniform_averaging():
    H = torch.ones(4, 1)
    torch.testing.assert_close(HF.propagation_matrix(H), torch.full((4, 4), 0.25))


def test_propagation_of_disjoint_hard_hyperedges_averages_within_class():
    H = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    expected = torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    torch.testing.assert_close(HF.propagation_matrix(H), expected)


def test_propagate_equals_linear_then_propagation():
    g = torch.Generator().manual_seed(1)
    G = torch.rand(6, 6, generator=g, dtype=torch.float64)
    X = torch.randn(6, 4, generator=g, dtype=torch.float64)
    W = torch.randn(7, 4, generator=g, dtype=torch.float64)
    b = torch.randn(7, generator=g, dtype=torch.float64)
    torch.testing.assert_close(HF.propagate(G, X, W, b), G @ (X @ W.t() + b))
    torch.testing.assert_close(HF.propagate(G, X, W), G @ (X @ W.t()))


# -- precision ----------------------------------------------------------------------------


def test_autocast_keeps_distances_and_graph_in_float32():
    x, mu, lv, y = random_inputs(n=8, c=5, d=6, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = x.to(torch.bfloat16)
        d = HF.mahalanobis_distances(low, mu, lv)
        H, _ = HF.incidence_matrix(d, y, 1.0)
        G = HF.propagation_matrix(H)
        loss = HF.distribution_loss(d, y, 32.0)
    assert d.dtype == H.dtype == G.dtype == loss.dtype == torch.float32
    torch.testing.assert_close(d, HF.mahalanobis_distances(low.float(), mu, lv))


def test_float64_inputs_stay_float64():
    x, mu, lv, _ = random_inputs()
    assert HF.mahalanobis_distances(x, mu.float(), lv.float()).dtype == torch.float64
