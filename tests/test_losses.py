import math

import numpy as np
import pytest
import torch
from pytorch_metric_learning.losses import BaseMetricLossFunction
from pytorch_metric_learning.reducers import SumReducer
from torch.func import functional_call

from histlib import HISTLoss
from histlib.losses import STATISTICS, term_statistics

from . import naive_hist

SPEC_KEYS = [
    "means",
    "log_vars",
    "hgnn.theta1.weight",
    "hgnn.theta1.bias",
    "hgnn.bn1.weight",
    "hgnn.bn1.bias",
    "hgnn.bn1.running_mean",
    "hgnn.bn1.running_var",
    "hgnn.bn1.num_batches_tracked",
    "hgnn.theta2.weight",
    "hgnn.theta2.bias",
]


def make_batch(n=12, c=7, d=6, dtype=torch.float64, seed=0, classes=None):
    g = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(n, d, generator=g, dtype=dtype) * 3
    pool = torch.arange(c) if classes is None else torch.tensor(classes)
    labels = pool[torch.randint(0, len(pool), (n,), generator=g)]
    return embeddings, labels


def make_loss(c=7, d=6, hidden=5, layers=2, dtype=torch.float64, seed=0, **kwargs):
    torch.manual_seed(seed)
    loss = HISTLoss(c, d, hgnn_hidden=hidden, hgnn_layers=layers, **kwargs).to(dtype)
    with torch.no_grad():  # spread log-variances over relu6's range, off its kinks
        loss.log_vars.uniform_(0.2, 5.8)
        loss.log_vars[:, ::3] = -1.0
        for name, p in loss.hgnn.named_parameters():
            if name.startswith("bn"):  # non-trivial affine BatchNorm
                p.uniform_(0.5, 1.5)
    return loss


def params_of(loss):
    return {k: v for k, v in loss.state_dict().items()}


# -- interface ------------------------------------------------------------------------------


def test_state_dict_keys_and_shapes_match_the_specification():
    loss = HISTLoss(num_classes=100, embedding_size=512)
    state = loss.state_dict()
    assert list(state) == SPEC_KEYS
    assert state["means"].shape == state["log_vars"].shape == (100, 512)
    assert state["hgnn.theta1.weight"].shape == (512, 512)
    assert state["hgnn.bn1.running_var"].shape == (512,)
    assert state["hgnn.theta2.weight"].shape == (100, 512)
    assert state["hgnn.theta2.bias"].shape == (100,)
    assert loss.hgnn.bn1.eps == 1e-5 and loss.hgnn.bn1.momentum == 0.1


def test_class_distributions_are_initialised_with_fan_out_kaiming():
    loss = HISTLoss(num_classes=400, embedding_size=300)
    for p in (loss.means, loss.log_vars):
        assert p.mean().abs() < 0.01
        assert p.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.02)


def test_deeper_hgnn_has_one_more_theta_and_bn_per_layer():
    keys = [k for k in HISTLoss(5, 4, hgnn_hidden=3, hgnn_layers=3).state_dict() if k.endswith("weight")]
    assert keys == [
        "hgnn.theta1.weight", "hgnn.bn1.weight", "hgnn.theta2.weight",
        "hgnn.bn2.weight", "hgnn.theta3.weight",
    ]
    assert list(HISTLoss(5, 4, hgnn_layers=1).hgnn.state_dict()) == ["theta1.weight", "theta1.bias"]


def test_is_a_pytorch_metric_learning_loss_returning_a_scalar():
    loss = make_loss(dtype=torch.float32)
    x, y = make_batch(dtype=torch.float32)
    assert isinstance(loss, BaseMetricLossFunction)
    value = loss(x, y)
    assert value.ndim == 0
    torch.testing.assert_close(value, loss.compute_terms(x, y).loss)


def test_inputs_are_checked_once_per_call_and_lambda_s_weights_one_place(monkeypatch):
    loss = make_loss(lambda_s=2.5)
    x, y = make_batch()
    calls = []
    check = HISTLoss._check_inputs
    monkeypatch.setattr(HISTLoss, "_check_inputs", lambda self, *a: (calls.append(1), check(self, *a))[1])
    value = loss(x, y)
    assert len(calls) == 1  # forward checks; the computation behind it does not check again
    terms = loss.compute_terms(x, y)
    assert len(calls) == 2
    torch.testing.assert_close(terms.weighted_hgnn_loss, 2.5 * terms.hgnn_loss)
    torch.testing.assert_close(terms.sample_weighted_hgnn_loss, 2.5 * terms.sample_hgnn_loss)
    torch.testing.assert_close(terms.loss, terms.distribution_loss + 2.5 * terms.hgnn_loss)
    torch.testing.assert_close(value, terms.loss)  # what PML reduces (per-sample terms) is the same total
    with pytest.raises(ValueError, match=r"labels must lie in \[0, "):
        loss(x, torch.full_like(y, 10_000))  # labels on the CPU are checked there, before the device copy


def test_reducers_see_per_sample_losses():
    x, y = make_batch()
    mean_loss = make_loss()
    summed = make_loss(reducer=SumReducer())
    torch.testing.assert_close(summed(x, y), len(y) * mean_loss(x, y))


def test_compute_terms_shapes():
    loss = make_loss(c=9)
    x, y = make_batch(n=10, c=9, classes=[1, 4, 4, 8])
    t = loss.compute_terms(x, y)
    assert t.distances.shape == (10, 9) and t.logits.shape == (10, 9)
    assert t.hyperedge_classes.tolist() == sorted(set(y.tolist()))
    assert t.incidence.shape == (10, len(t.hyperedge_classes))
    assert t.propagation.shape == (10, 10)
    torch.testing.assert_close(t.loss, t.distribution_loss + loss.lambda_s * t.hgnn_loss)


def test_parameter_groups_cover_every_parameter_once():
    loss = HISTLoss(10, 8)
    groups = loss.parameter_groups(lr_ds=0.1, lr_hgnn=5e-4)
    assert [g["lr"] for g in groups] == [0.1, 5e-4]
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in loss.parameters())
    assert groups[0]["params"] == [loss.means, loss.log_vars]
    torch.optim.Adam(groups, weight_decay=1e-4)  # a valid optimiser specification


# -- exactness ------------------------------------------------------------------------------


def test_tiny_case_worked_out_by_hand():
    """Two orthogonal unit samples of two classes, identity layers, unit variances.

    d = [[0, 2], [2, 0]], so L_D = log(1 + e^(-2 tau)). With q = e^(-2 alpha):
    H = [[1, q], [q, 1]], every degree is 1 + q and G = H H^T / (1 + q)^2 = [[a, b], [b, a]]
    with a = (1 + q^2) / (1 + q)^2, b = 2q / (1 + q)^2 (a + b = 1). With theta1 = I,
    Z1 = G; batch statistics per column give mean 1/2 and variance ((a - b) / 2)^2, so
    BN(Z1) = r [[1, -1], [-1, 1]] with r = ((a-b)/2) / sqrt(((a-b)/2)^2 + eps). After
    LeakyReLU(0.1) and theta2 = I, O = G A1 and each sample's logit margin is 1.1 r (a - b):
    L_CE = log(1 + exp(-1.1 r (a - b))).
    """
    tau, alpha, lambda_s = 1.0, 0.5, 0.7
    loss = HISTLoss(2, 2, tau=tau, alpha=alpha, lambda_s=lambda_s, hgnn_hidden=2).double()
    with torch.no_grad():
        loss.means.copy_(torch.eye(2))
        loss.log_vars.zero_()
        for theta in (loss.hgnn.theta1, loss.hgnn.theta2):
            theta.weight.copy_(torch.eye(2))
            theta.bias.zero_()
    x = torch.eye(2, dtype=torch.float64)
    y = torch.tensor([0, 1])
    t = loss.compute_terms(x, y)
    torch.testing.assert_close(t.distances, torch.tensor([[0.0, 2.0], [2.0, 0.0]], dtype=torch.float64))
    assert t.distribution_loss.item() == pytest.approx(math.log(1 + math.exp(-2 * tau)), rel=1e-12)
    assert t.loss.item() == pytest.approx(naive_hist.tiny_case_by_hand(tau, alpha, lambda_s), rel=1e-10)


@pytest.mark.parametrize(
    "c, classes",
    [(7, None), (2, None), (2, [1]), (6, [3]), (9, [0, 8])],
    ids=["general", "two-classes", "C2-one-present", "one-class-batch", "absent-classes"],
)
def test_matches_naive_implementation_values_and_gradients(c, classes):
    assert_matches_naive(make_loss(c=c), *make_batch(c=c, classes=classes))


def assert_matches_naive(loss, x, y, **naive_options):
    """``loss`` and :func:`naive_hist.hist_loss` agree on both terms, the total and every gradient."""
    x = x.detach().clone().requires_grad_()
    t = loss.compute_terms(x, y)
    t.loss.backward()

    params = {k: v.detach().clone().requires_grad_(v.is_floating_point()) for k, v in params_of(loss).items()}
    x_naive = x.detach().clone().requires_grad_()
    total, l_d, l_ce = naive_hist.hist_loss(x_naive, y, params, loss.tau, loss.alpha, loss.lambda_s, **naive_options)
    total.backward()

    torch.testing.assert_close(t.distribution_loss, l_d)
    torch.testing.assert_close(t.hgnn_loss, l_ce)
    torch.testing.assert_close(t.loss, total)
    torch.testing.assert_close(x.grad, x_naive.grad)
    for name, p in loss.named_parameters():
        torch.testing.assert_close(p.grad, params[name].grad, msg=name)


def test_gradcheck_through_the_whole_loss():
    loss = make_loss(c=5, d=4, hidden=3)
    x, y = make_batch(n=6, c=5, d=4)
    names = [n for n, _ in loss.named_parameters()]

    def total(x, *params):
        return functional_call(loss, dict(zip(names, params)), (x, y))

    inputs = (x.requires_grad_(), *[p.detach().clone().requires_grad_() for p in loss.parameters()])
    assert torch.autograd.gradcheck(total, inputs)


def test_float32_agrees_with_float64():
    loss64 = make_loss(c=20, d=16, hidden=8)
    loss32 = make_loss(c=20, d=16, hidden=8, dtype=torch.float32)
    loss32.load_state_dict(loss64.state_dict())
    x64, y = make_batch(n=24, c=20, d=16)
    x32 = x64.float()
    x64.requires_grad_(), x32.requires_grad_()
    l64, l32 = loss64(x64, y), loss32(x32, y)
    l64.backward(), l32.backward()
    assert l32.dtype == torch.float32
    assert l32.item() == pytest.approx(l64.item(), rel=1e-5)
    torch.testing.assert_close(x32.grad, x64.grad.float(), rtol=1e-3, atol=1e-5)
    for (name, p32), p64 in zip(loss32.named_parameters(), loss64.parameters()):
        torch.testing.assert_close(p32.grad, p64.grad.float(), rtol=1e-3, atol=1e-5, msg=name)


def test_underflowing_true_class_probability_still_counts_without_nan():
    """A sample at distance 4 from its class and 0 from another, tau = 32 (float32)."""
    loss = HISTLoss(3, 2, tau=32.0, alpha=1.0, hgnn_hidden=4)
    with torch.no_grad():
        loss.means.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]))
        loss.log_vars.fill_(-1.0)  # unit variances
    x = torch.tensor([[-1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], requires_grad=True)
    y = torch.tensor([0, 2, 2])  # sample 0 sits on class 1's mean, opposite its own
    t = loss.compute_terms(x, y)
    t.loss.backward()
    # d = [4, 0, 2]: its -log p = 32 * 4 + log(1 + e^-64 + e^-128) (float32 p would be 0);
    # the two others, at d = [2, 2, 0], contribute log(1 + 2 e^-64), which is 0 in float32
    assert t.distribution_loss.item() == pytest.approx(128 / 3, rel=1e-6)
    for g in [x.grad, *[p.grad for p in loss.parameters()]]:
        assert torch.isfinite(g).all()


# -- edge cases -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "c, labels",
    [(2, [0, 1]), (2, [1, 1]), (5, [3, 3]), (1, [0, 0, 0]), (4, [2] * 8)],
    ids=["N2-C2", "N2-one-class", "N2-C5", "C1", "one-class-batch"],
)
def test_small_and_degenerate_batches_are_finite(c, labels):
    loss = HISTLoss(c, 8, hgnn_hidden=6)
    x = torch.randn(len(labels), 8, requires_grad=True)
    value = loss(x, torch.tensor(labels))
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in loss.parameters())


def test_single_class_problem_has_zero_loss():
    loss = HISTLoss(1, 4)
    assert loss(torch.randn(5, 4), torch.zeros(5, dtype=torch.long)).item() == 0.0


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, y, message",
    [
        (torch.randn(4, 6), torch.tensor([0, 1, 2, 7]), r"labels must lie in \[0, 7\).*\[7\]"),
        (torch.randn(4, 6), torch.tensor([0, -1, 2, 3]), r"labels must lie in \[0, 7\).*\[-1\]"),
        (torch.randn(4, 5), torch.tensor([0, 1, 2, 3]), "width 5 .* embedding_size=6"),
        (torch.randn(4, 6), torch.tensor([0.0, 1.0, 2.0, 3.0]), "integer tensor"),
        (torch.randn(1, 6), torch.tensor([0]), "at least 2 samples"),
        (torch.randn(4, 6), torch.tensor([0, 1, 2]), "embeddings"),
        (torch.randn(4, 6, 1), torch.tensor([0, 1, 2, 3]), "2-D floating-point"),
    ],
)
def test_bad_inputs_raise_value_errors(x, y, message):
    loss = HISTLoss(7, 6)
    with pytest.raises(ValueError, match=message):
        loss(x, y)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_classes": 0}, "num_classes"),
        ({"embedding_size": 2.5}, "embedding_size"),
        ({"hgnn_layers": 0}, "hgnn_layers"),
        ({"tau": 0.0}, "tau"),
        ({"alpha": -1.0}, "alpha"),
        ({"lambda_s": -0.1}, "lambda_s"),
        ({"distance": object()}, "distance"),
    ],
)
def test_bad_configuration_raises_value_errors(kwargs, message):
    args = {"num_classes": 3, "embedding_size": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        HISTLoss(**args)


def test_miners_and_reference_embeddings_are_rejected():
    loss = HISTLoss(3, 4)
    x, y = torch.randn(4, 4), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match="indices_tuple"):
        loss(x, y, indices_tuple=(torch.tensor([0]), torch.tensor([1]), torch.tensor([2])))
    with pytest.raises(ValueError, match="ref_emb"):
        loss(x, y, ref_emb=torch.randn(2, 4), ref_labels=torch.tensor([0, 1]))


# -- state, dtype, device -------------------------------------------------------------------


def test_batch_norm_uses_batch_statistics_and_updates_running_stats_only_in_training():
    loss = make_loss(dtype=torch.float32)
    x, y = make_batch(dtype=torch.float32)
    before = loss.hgnn.bn1.running_mean.clone()
    train_value = loss(x, y)
    assert loss.hgnn.bn1.num_batches_tracked.item() == 1
    assert not torch.equal(loss.hgnn.bn1.running_mean, before)
    loss.eval()
    frozen = {k: v.clone() for k, v in loss.state_dict().items()}
    eval_value = loss(x, y)
    torch.testing.assert_close(eval_value, train_value)  # batch statistics in both modes
    for k, v in loss.state_dict().items():
        assert torch.equal(v, frozen[k]), k


def test_parameters_follow_the_embeddings_dtype_in_place():
    loss = HISTLoss(5, 4, hgnn_hidden=3)
    means = loss.means
    optimizer = torch.optim.SGD(loss.parameters(), lr=0.1)
    x, y = torch.randn(6, 4, dtype=torch.float64), torch.tensor([0, 1, 1, 2, 4, 4])
    value = loss(x, y)
    assert value.dtype == torch.float64 and loss.means.dtype == torch.float64
    assert loss.hgnn.bn1.running_var.dtype == torch.float64
    assert loss.means is means  # the optimiser still holds the same Parameter
    value.backward()
    optimizer.step()
    assert loss(x.float(), y).dtype == torch.float32 and loss.means.dtype == torch.float32


def test_autocast_bfloat16_embeddings_keep_float32_losses():
    torch.manual_seed(0)
    model = torch.nn.Linear(10, 8)
    loss = HISTLoss(6, 8, hgnn_hidden=16)
    inputs, y = torch.randn(12, 10), torch.randint(0, 6, (12,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        embeddings = model(inputs)
        assert embeddings.dtype == torch.bfloat16
        t = loss.compute_terms(embeddings, y)
        value = loss(embeddings, y)
    assert t.distances.dtype == t.propagation.dtype == torch.float32
    assert value.dtype == torch.float32 and loss.means.dtype == torch.float32
    reference = loss.compute_terms(embeddings.float(), y)
    torch.testing.assert_close(t.distances, reference.distances)
    torch.testing.assert_close(t.distribution_loss, reference.distribution_loss)
    value.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert loss.means.grad.dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    loss = make_loss(dtype=torch.float32)
    x, y = make_batch(dtype=torch.float32)
    expected = loss(x, y).item()  # batch statistics: running stats do not affect the value
    assert loss(x.cuda(), y.cuda()).item() == pytest.approx(expected, rel=1e-4)
    assert loss.means.is_cuda


# -- training -------------------------------------------------------------------------------


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_hgnn_variants_train(layers):
    torch.manual_seed(0)
    centres = torch.randn(4, 10) * 2
    y = torch.arange(4).repeat_interleave(16)
    inputs = centres[y] + 0.5 * torch.randn(64, 10)
    model = torch.nn.Linear(10, 8)
    loss = HISTLoss(4, 8, tau=8.0, alpha=1.0, hgnn_hidden=16, hgnn_layers=layers)
    optimizer = torch.optim.Adam(
        [{"params": model.parameters(), "lr": 1e-2}, *loss.parameter_groups(lr_ds=5e-2, lr_hgnn=1e-2)]
    )
    values = []
    for _ in range(60):
        optimizer.zero_grad()
        value = loss(model(inputs), y)
        value.backward()
        optimizer.step()
        values.append(value.item())
    assert values[-1] < 0.5 * values[0]
    assert math.isfinite(values[-1])


def test_labels_as_a_list_or_numpy_array_work_and_other_labels_are_a_value_error():
    torch.manual_seed(0)
    loss = HISTLoss(np.int64(3), np.int64(8), hgnn_hidden=np.int64(4))  # numpy integers are integers
    x, y = torch.randn(6, 8), [0, 0, 1, 1, 2, 2]
    expected = loss(x, torch.tensor(y))
    torch.testing.assert_close(loss(x, y), expected)
    torch.testing.assert_close(loss(x, np.array(y)), expected)
    torch.testing.assert_close(loss.compute_terms(x, np.array(y, dtype=np.int32)).loss, expected)
    for bad in ([0.0, 1.0, 1.0, 0.0, 2.0, 2.0], "abc", np.array(["a"] * 6)):
        with pytest.raises(ValueError, match="labels must be a 1-D integer tensor"):
            loss(x, bad)


def test_non_finite_settings_are_refused():
    for name in ("tau", "alpha", "lambda_s"):
        with pytest.raises(ValueError, match=f"{name} must be a finite number"):
            HISTLoss(3, 8, **{name: float("inf")})


# -- the controls of the analysis (options of the loss) ---------------------------------------

CONTROLS = [
    ({"propagation": "identity"}, {"propagation_kind": "identity"}),
    ({"hgnn_batchnorm": False}, {"batchnorm": False}),
    ({"incidence_variances": "unit"}, {"incidence_variances": "unit"}),
    ({"hgnn_gradient": "hgnn_only"}, {"hgnn_gradient": "hgnn_only"}),
    ({"hyperedge_distance": "cosine"}, {"hyperedge_distance": "cosine"}),
    ({"hyperedge_distance": "euclidean"}, {"hyperedge_distance": "euclidean"}),
    ({"membership": "hard"}, {"membership": "hard"}),
]


@pytest.mark.parametrize("option, naive_option", CONTROLS, ids=["=".join(map(str, next(iter(o.items()))))
                                                                 for o, _ in CONTROLS])
def test_each_control_matches_its_naive_definition_values_and_gradients(option, naive_option):
    assert_matches_naive(make_loss(alpha=0.7, **option), *make_batch(), **naive_option)


def test_each_control_changes_the_hgnn_term_and_leaves_the_distribution_term_alone():
    x, y = make_batch()
    paper = make_loss(alpha=0.7).compute_terms(x, y)
    for option, _ in CONTROLS:
        t = make_loss(alpha=0.7, **option).compute_terms(x, y)
        torch.testing.assert_close(t.distribution_loss, paper.distribution_loss)
        if "hgnn_gradient" not in option:  # that one changes gradients only
            assert not torch.allclose(t.hgnn_loss, paper.hgnn_loss), option


def test_identity_propagation_is_a_per_sample_classifier():
    loss = make_loss(propagation="identity")
    x, y = make_batch()
    t = loss.compute_terms(x, y)
    torch.testing.assert_close(t.propagation, torch.eye(len(y), dtype=x.dtype))
    # the incidence is still computed (for inspection), but nothing the HGNN sees depends on it
    moved = make_loss(propagation="identity", alpha=50.0).compute_terms(x, y)
    torch.testing.assert_close(moved.logits, t.logits)


def test_without_batchnorm_the_hgnn_has_no_bn_layers():
    loss = make_loss(hgnn_batchnorm=False, layers=3)
    keys = set(loss.state_dict())
    assert not any(".bn" in k for k in keys)
    assert {"hgnn.theta1.weight", "hgnn.theta2.weight", "hgnn.theta3.weight"} <= keys


def test_unit_variances_build_h_without_the_learned_variances():
    x, y = make_batch()
    loss = make_loss(incidence_variances="unit")
    before = loss.compute_terms(x, y)
    with torch.no_grad():
        loss.log_vars.add_(1.0)  # other variances: L_D changes, H does not
    after = loss.compute_terms(x, y)
    torch.testing.assert_close(after.incidence, before.incidence)
    assert not torch.allclose(after.distribution_loss, before.distribution_loss)


def test_hard_membership_puts_each_sample_in_its_own_hyperedge_only_whatever_alpha():
    x, y = make_batch()
    t = make_loss(membership="hard", alpha=0.01).compute_terms(x, y)
    torch.testing.assert_close(t.incidence, (y[:, None] == t.hyperedge_classes[None, :]).to(x.dtype))
    same = y[:, None] == y[None, :]
    assert torch.all(t.propagation[~same] == 0) and torch.all(t.propagation[same] > 0)  # G within classes only
    torch.testing.assert_close(make_loss(membership="hard", alpha=40.0).compute_terms(x, y).logits, t.logits)


def test_the_distance_ablation_changes_h_but_not_l_d_and_cosine_is_half_the_unit_variance_distance():
    x, y = make_batch()
    unit = make_loss(incidence_variances="unit", alpha=0.7).compute_terms(x, y)
    cosine = make_loss(hyperedge_distance="cosine", alpha=1.4).compute_terms(x, y)  # d_unit = 2 (1 - cos)
    torch.testing.assert_close(cosine.incidence, unit.incidence)
    euclidean = make_loss(hyperedge_distance="euclidean", alpha=0.7).compute_terms(x, y)
    torch.testing.assert_close(euclidean.distribution_loss, unit.distribution_loss)
    assert not torch.allclose(euclidean.incidence, unit.incidence)


def test_hgnn_only_gradient_reaches_the_hgnn_and_nothing_else():
    loss = make_loss(hgnn_gradient="hgnn_only")
    x, y = make_batch()
    x.requires_grad_()
    terms = loss.compute_terms(x, y)
    inputs = [x, loss.means, loss.log_vars, *loss.hgnn.parameters()]
    grads = torch.autograd.grad(terms.hgnn_loss, inputs, allow_unused=True)
    for name, g in zip(["embeddings", "means", "log_vars"], grads[:3]):
        assert g is None or torch.count_nonzero(g) == 0, name
    assert all(g is not None and torch.count_nonzero(g) > 0 for g in grads[3:])
    # the paper's loss sends L_CE's gradient to the embeddings
    full = make_loss().compute_terms(x, y)
    assert torch.count_nonzero(torch.autograd.grad(full.hgnn_loss, x)[0]) > 0


@pytest.mark.parametrize("kwargs, message", [
    ({"propagation": "clique"}, "propagation"),
    ({"incidence_variances": "fixed"}, "incidence_variances"),
    ({"hgnn_gradient": "none"}, "hgnn_gradient"),
    ({"hgnn_batchnorm": 1}, "hgnn_batchnorm"),
    ({"hyperedge_distance": "manhattan"}, "hyperedge_distance"),
    ({"membership": "fuzzy"}, "membership"),
    ({"hyperedge_distance": "cosine", "incidence_variances": "unit"}, "does not combine"),
])
def test_bad_control_options_are_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HISTLoss(3, 4, **kwargs)


def test_term_statistics_match_independent_computations():
    loss = make_loss(c=4)
    x, y = make_batch(c=4)
    t = loss.compute_terms(x, y)
    stats = term_statistics(t, y)
    assert list(stats) == list(STATISTICS)
    torch.testing.assert_close(stats["hgnn_loss_ratio"], t.hgnn_loss / math.log(4))
    accuracy = sum(int(t.logits[i].argmax()) == int(y[i]) for i in range(len(y))) / len(y)
    assert float(stats["hgnn_accuracy"]) == pytest.approx(accuracy)
    G, same = t.propagation.detach().numpy(), (y[:, None] == y[None, :]).numpy()
    assert float(stats["within_class_share"]) == pytest.approx(G[same].sum() / G.sum())
    counts = np.bincount(y.numpy())
    assert float(stats["uniform_within_class_share"]) == pytest.approx((counts ** 2).sum() / len(y) ** 2)
    H, classes = t.incidence.detach().numpy(), t.hyperedge_classes.tolist()
    others = [sum(H[i, e] for e, c in enumerate(classes) if c != int(y[i])) for i in range(len(y))]
    assert float(stats["other_membership"]) == pytest.approx(np.mean(others))


def test_collect_stats_records_every_statistic_of_the_last_call():
    loss = make_loss(collect_stats=True)
    x, y = make_batch()
    loss(x, y)
    expected = term_statistics(loss.compute_terms(x, y), y)
    for name in STATISTICS:
        torch.testing.assert_close(getattr(loss, name), expected[name], msg=name)


def test_hard_membership_makes_g_block_diagonal_and_soft_membership_makes_it_uniform():
    x, y = make_batch()
    hard = term_statistics(make_loss(alpha=1e4).compute_terms(x, y), y)
    flat = term_statistics(make_loss(alpha=0.0).compute_terms(x, y), y)
    assert float(hard["within_class_share"]) == pytest.approx(1.0, abs=1e-6)
    assert float(hard["other_membership"]) == pytest.approx(0.0, abs=1e-6)
    assert float(flat["within_class_share"]) == pytest.approx(float(flat["uniform_within_class_share"]))
    assert float(flat["other_membership"]) == pytest.approx(len(torch.unique(y)) - 1)
