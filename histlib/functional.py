"""Pure tensor functions of the HIST loss (docs/hist.md, section "The loss").

Each function is stateless and differentiable; :class:`histlib.HISTLoss` composes them and the
hypergraph notebook calls them one at a time. Shapes: ``N`` samples, ``D`` embedding width,
``C`` training classes, ``E`` hyperedges (classes present in the batch).

Numerics: distances, the incidence and propagation matrices and every softmax are computed in
float32 (float64 when the embeddings are float64), also under ``torch.autocast``: half-precision
inputs are upcast and autocast is disabled inside these functions.

Example:
    >>> import torch
    >>> from histlib import functional as HF
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> y = torch.tensor([0, 1, 1])
    >>> means, log_vars = torch.eye(2), torch.zeros(2, 2)   # unit variances
    >>> d = HF.mahalanobis_distances(x, means, log_vars)
    >>> d.round(decimals=4)
    tensor([[0.0000, 2.0000],
            [2.0000, 0.0000],
            [0.5858, 0.5858]])
    >>> H, classes = HF.incidence_matrix(d, y, alpha=1.0)
    >>> classes
    tensor([0, 1])
    >>> HF.propagation_matrix(H).shape
    torch.Size([3, 3])
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

__all__ = [
    "class_variances",
    "mahalanobis_distances",
    "distribution_loss",
    "hyperedge_classes",
    "direction_distances",
    "incidence_matrix",
    "propagation_matrix",
    "propagate",
    "within_class_share",
    "uniform_within_class_share",
    "other_membership",
]

_FULL_PRECISION = (torch.float32, torch.float64)


def compute_dtype(tensor: torch.Tensor) -> torch.dtype:
    """The dtype the loss computes in for ``tensor``: float64 stays, anything else is float32."""
    return tensor.dtype if tensor.dtype in _FULL_PRECISION else torch.float32


def full_precision(tensor: torch.Tensor):
    """Context that disables autocast on ``tensor``'s device type (a no-op context otherwise)."""
    if torch.is_autocast_enabled(tensor.device.type):
        return torch.autocast(device_type=tensor.device.type, enabled=False)
    return contextlib.nullcontext()


def class_variances(log_vars: torch.Tensor) -> torch.Tensor:
    """Per-class diagonal variances ``exp(relu6(log_vars))``, each in ``[1, e^6]``.

    Args:
        log_vars: (C, D) float, the loss's learnable log-variances.
    Returns:
        (C, D) float variances.
    """
    return torch.exp(F.relu6(log_vars))


def mahalanobis_distances(
    embeddings: torch.Tensor, means: torch.Tensor, log_vars: torch.Tensor
) -> torch.Tensor:
    """Squared diagonal Mahalanobis distances between samples and class distributions.

    ``d[i, c] = sum_k (x[i, k] - mu[c, k])^2 / s2[c, k]`` with ``x``, ``mu`` L2-normalised
    (eps 1e-12, as ``F.normalize``) and ``s2 = exp(relu6(log_vars))``. The square is expanded
    into two matrix products, ``x^2 @ (1/s2)^T - 2 x @ (mu/s2)^T``, plus a per-class constant,
    so memory is O(N*C + C*D) and no (N, C, D) tensor is ever formed. Round-off below zero is
    clamped (``0 <= d <= 4``); the gradient is that of the unclamped expression. The backward
    pass is written by hand (a custom autograd function) to keep the number of (C, D)
    temporaries small at SOP scale; it supports first-order gradients only.

    Args:
        embeddings: (N, D) float, raw (not normalised) embeddings.
        means: (C, D) float, class means (normalised here).
        log_vars: (C, D) float, class log-variances.
    Returns:
        (N, C) float distances in the embeddings' compute dtype (float32 or float64).
    """
    dtype = compute_dtype(embeddings)
    with full_precision(embeddings):
        return _MahalanobisDistances.apply(
            embeddings.to(dtype), means.to(dtype), log_vars.to(dtype)
        )


class _MahalanobisDistances(torch.autograd.Function):
    """``mahalanobis_distances`` with a hand-written, allocation-frugal backward pass.

    At SOP scale each (C, D) temporary is 23 MB of freshly faulted memory, so the forward keeps
    three of them (mu, 1/s2, mu/s2) and the backward only allocates the two gradients it
    returns, updating them in place.
    """

    @staticmethod
    def forward(ctx, embeddings, means, log_vars):
        x_norm = torch.linalg.vector_norm(embeddings, dim=1, keepdim=True)
        x = embeddings / x_norm.clamp_min(_NORMALIZE_EPS)
        mu_norm = torch.linalg.vector_norm(means, dim=1, keepdim=True)
        mu = means / mu_norm.clamp_min(_NORMALIZE_EPS)
        inv_var = log_vars.clamp(0.0, 6.0).neg_().exp_()  # 1 / s2, (C, D)
        scaled_mu = mu * inv_var  # mu / s2
        mu_term = torch.linalg.vecdot(mu, scaled_mu)  # sum_k mu^2 / s2, (C,)
        # d = x^2 . (1/s2) - 2 x . (mu/s2) + mu^2 . (1/s2)
        distances = torch.addmm(mu_term, x * x, inv_var.t())
        distances.addmm_(x, scaled_mu.t(), alpha=-2.0)
        ctx.save_for_backward(x, x_norm, mu, mu_norm, inv_var, scaled_mu, log_vars)
        return distances.clamp_min_(0.0)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, x_norm, mu, mu_norm, inv_var, scaled_mu, log_vars = ctx.saved_tensors
        grad_embeddings = grad_means = grad_log_vars = None
        if ctx.needs_input_grad[0]:
            # dd/dx = 2 x / s2 - 2 mu / s2
            grad_x = (x * (grad @ inv_var)).sub_(grad @ scaled_mu).mul_(2.0)
            grad_embeddings = _normalize_backward(grad_x, x, x_norm)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            grad_t = grad.t()
            second = grad_t @ (x * x)  # A = g^T x^2, (C, D)
            shifted = grad_t @ x  # B = g^T x, (C, D)
            grad_sum = grad.sum(dim=0).unsqueeze(1)  # (C, 1)
            if ctx.needs_input_grad[2]:
                second.addcmul_(mu, shifted, value=-1.0)  # A - mu B
            shifted.neg_().addcmul_(mu, grad_sum)  # T = mu sum_i g - B
            if ctx.needs_input_grad[2]:
                # dL/d(1/s2) = sum_i g (x - mu)^2 = A - 2 mu B + mu^2 sum_i g = A - mu B + mu T
                second.addcmul_(mu, shifted)
                # d(1/s2)/dlog_vars = -1/s2 inside (0, 6), else 0: relu6's own backward kernel
                second.mul_(inv_var).neg_()
                grad_log_vars = torch.ops.aten.hardtanh_backward.grad_input(
                    second, log_vars, 0.0, 6.0, grad_input=second
                )
            if ctx.needs_input_grad[1]:
                grad_mu = shifted.mul_(inv_var).mul_(2.0)  # dL/dmu = 2 T / s2
                grad_means = _normalize_backward(grad_mu, mu, mu_norm)
        return grad_embeddings, grad_means, grad_log_vars


_NORMALIZE_EPS = 1e-12


def _normalize_backward(grad: torch.Tensor, unit: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
    """Gradient through ``unit = v / max(|v|, eps)`` for rows v; overwrites ``grad``.

    Args: grad, unit: (R, K); norm: (R, 1) the rows' norms |v|.
    """
    along = torch.linalg.vecdot(grad, unit).unsqueeze(1)
    along = torch.where(norm > _NORMALIZE_EPS, along, torch.zeros_like(along))
    return grad.addcmul_(unit, along, value=-1.0).div_(norm.clamp_min(_NORMALIZE_EPS))


def distribution_loss(
    distances: torch.Tensor, labels: torch.Tensor, tau: float, reduction: str = "mean"
) -> torch.Tensor:
    """``L_D``: cross-entropy of ``softmax(-tau * d)`` over all C classes against the labels.

    Computed with log-softmax, so a true-class probability that underflows still contributes
    its (large, finite) loss and gradient instead of being dropped or turning into NaN.

    Args:
        distances: (N, C) float, from :func:`mahalanobis_distances`.
        labels: (N,) int64 in ``[0, C)``.
        tau: temperature (> 0).
        reduction: ``"mean"`` (the loss) or ``"none"`` (per sample, shape (N,)).
    """
    with full_precision(distances):
        logits = distances.to(compute_dtype(distances)) * -tau
        return F.cross_entropy(logits, labels, reduction=reduction)


def hyperedge_classes(labels: torch.Tensor) -> torch.Tensor:
    """The classes present in the batch, in ascending order: one hyperedge each.

    Args:
        labels: (N,) int64.
    Returns:
        (E,) int64, E <= N.
    """
    return torch.unique(labels, sorted=True)


def direction_distances(embeddings: torch.Tensor, means: torch.Tensor, kind: str) -> torch.Tensor:
    """Distances between the directions of samples and class means (both L2-normalised, eps 1e-12):
    ``"cosine"``: ``1 - cos(x, mu)`` in [0, 2]; ``"euclidean"``: ``||x^ - mu^||`` (not squared) in
    [0, 2]. The alternatives to the paper's Mahalanobis distance in the hyperedges' ablation.

    Args:
        embeddings: (N, D) float. means: (C, D) float.
    Returns:
        (N, C) float in the embeddings' compute dtype.

    >>> x, mu = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    >>> direction_distances(x, mu, "cosine")
    tensor([[0., 1., 2.]])
    >>> direction_distances(x, mu, "euclidean").round(decimals=4)
    tensor([[0.0000, 1.4142, 2.0000]])
    """
    dtype = compute_dtype(embeddings)
    with full_precision(embeddings):
        cosine = F.normalize(embeddings.to(dtype), dim=1, eps=1e-12) @ F.normalize(means.to(dtype), dim=1, eps=1e-12).T
        distance = (1.0 - cosine).clamp(0.0, 2.0)
        if kind == "cosine":
            return distance
        if kind == "euclidean":  # ||a - b||^2 = 2 (1 - cos) on the unit sphere; clamped so the sqrt's gradient is finite
            return torch.sqrt((2.0 * distance).clamp_min(1e-12))
        raise ValueError(f"kind must be 'cosine' or 'euclidean', got {kind!r}")


def incidence_matrix(
    distances: torch.Tensor, labels: torch.Tensor, alpha: float, hard: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft incidence matrix of the semantic-tuplet hypergraph.

    ``H[i, e] = 1`` if sample ``i`` belongs to hyperedge ``e``'s class, else
    ``exp(-alpha * d[i, class_e])`` (``hard``: 0, a one-hot membership, as alpha -> infinity).

    Args:
        distances: (N, C) float, from :func:`mahalanobis_distances`.
        labels: (N,) int64.
        alpha: scale of the soft membership (>= 0).
        hard: one-hot memberships (a control: no sample belongs to another class's hyperedge).
    Returns:
        ``(H, classes)``: H (N, E) float in ``(0, 1]`` (``[0, 1]`` when hard) and classes (E,) int64,
        the class of each hyperedge (see :func:`hyperedge_classes`).
    """
    classes = hyperedge_classes(labels)
    with full_precision(distances):
        soft = torch.exp(distances.to(compute_dtype(distances))[:, classes] * -alpha)
        member = labels.unsqueeze(1) == classes.unsqueeze(0)
        other = torch.zeros_like(soft) if hard else soft
        return torch.where(member, torch.ones_like(soft), other), classes


def propagation_matrix(incidence: torch.Tensor) -> torch.Tensor:
    """Hypergraph propagation matrix ``G = Dv^-1/2 H De^-1 H^T Dv^-1/2`` (unit hyperedge weights).

    Written as ``B B^T`` with ``B = Dv^-1/2 H De^-1/2``: symmetric positive semi-definite.
    Every node and hyperedge degree is >= 1 (each sample is a full member of its own class's
    hyperedge), so no division by zero can occur.

    Args:
        incidence: (N, E) float, from :func:`incidence_matrix`.
    Returns:
        (N, N) float.
    """
    with full_precision(incidence):
        H = incidence.to(compute_dtype(incidence))
        node_degree = H.sum(dim=1, keepdim=True)  # (N, 1)
        edge_degree = H.sum(dim=0, keepdim=True)  # (1, E)
        B = H * node_degree.rsqrt() * edge_degree.rsqrt()
        return B @ B.t()


def propagate(
    propagation: torch.Tensor,
    features: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """One hypergraph convolution ``G (X W^T + b)``, evaluated as ``(G X) W^T + (G 1) b^T``.

    The two are equal; the second order costs ``N*N*F_in`` instead of ``N*N*F_out``, which
    matters for the last layer whose ``F_out`` is the number of classes (11,318 for SOP).

    Args:
        propagation: (N, N) float, G.
        features: (N, F_in) float, X.
        weight: (F_out, F_in) float, W (an ``nn.Linear`` weight).
        bias: (F_out,) float or None.
    Returns:
        (N, F_out) float.
    """
    mixed = propagation.to(features.dtype) @ features
    if bias is None:
        return mixed @ weight.t()
    row_sums = propagation.sum(dim=1).to(bias.dtype)
    return torch.addmm(torch.outer(row_sums, bias), mixed, weight.t())


def within_class_share(propagation: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of G's total weight that joins samples of the same class: 1 when G only mixes
    samples within their class, ``sum_c n_c^2 / N^2`` when every entry of G is equal.

    Args:
        propagation: (N, N) float, G.
        labels: (N,) int.
    Returns:
        () float tensor (no device sync).

    >>> y = torch.tensor([0, 0, 1, 1])
    >>> float(within_class_share(torch.ones(4, 4), y)), float(within_class_share(torch.eye(4), y))
    (0.5, 1.0)
    """
    same = labels.unsqueeze(1) == labels.unsqueeze(0)
    return (propagation * same).sum() / propagation.sum()


def uniform_within_class_share(labels: torch.Tensor) -> torch.Tensor:
    """:func:`within_class_share` of a uniform G (every entry equal), ``sum_c n_c^2 / N^2``: the
    value that says "no structure".

    Args:
        labels: (N,) int.
    Returns:
        () float32 tensor (no device sync).

    >>> float(uniform_within_class_share(torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])))
    0.5
    """
    same = labels.unsqueeze(1) == labels.unsqueeze(0)
    return same.sum(dtype=torch.float32) / len(labels) ** 2


def other_membership(incidence: torch.Tensor, labels: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Each sample's total soft membership in the hyperedges of *other* classes, ``sum_e exp(-alpha d)``.

    A sample's own hyperedge has membership 1, so this is the ratio of the weight its row of H
    puts on the other E - 1 hyperedges to the weight on its own: G carries class structure only
    when it is small next to 1, and it equals E - 1 (every hyperedge alike) at alpha = 0.

    Args:
        incidence: (N, E) float, H.
        labels: (N,) int.
        classes: (E,) int, the class of each hyperedge (from :func:`incidence_matrix`).
    Returns:
        (N,) float.

    >>> H = torch.tensor([[1.0, 0.1, 0.2], [0.3, 1.0, 0.0]])
    >>> other_membership(H, torch.tensor([0, 1]), torch.tensor([0, 1, 2]))
    tensor([0.3000, 0.3000])
    """
    member = labels.unsqueeze(1) == classes.unsqueeze(0)
    return incidence.masked_fill(member, 0.0).sum(dim=1)
