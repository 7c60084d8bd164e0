"""A deliberately naive HIST written straight from the specification's formulas.

It shares no code with histlib: explicit (N, C, D) broadcasting for the distances, explicit
diagonal degree matrices, BatchNorm written out, log of an explicit softmax. The tests compare
histlib against it in float64, where its numerical weaknesses do not matter.
"""

from __future__ import annotations

import math

import torch


def normalize_rows(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)


def distances(embeddings, means, log_vars):
    x = normalize_rows(embeddings)
    mu = normalize_rows(means)
    variances = torch.exp(torch.clamp(log_vars, 0.0, 6.0))
    diff = x[:, None, :] - mu[None, :, :]  # (N, C, D)
    return (diff**2 / variances[None]).sum(dim=2)


def incidence(d, labels, alpha, hard=False):
    classes = sorted(set(labels.tolist()))
    one = torch.ones((), dtype=d.dtype)
    rows = [
        torch.stack([one if int(labels[i]) == c else (0 * one if hard else torch.exp(-alpha * d[i, c]))
                     for c in classes])
        for i in range(len(labels))
    ]
    return torch.stack(rows), torch.tensor(classes)


def direction_distances(embeddings, means, kind):
    """1 - cos (cosine) or the plain Euclidean distance of the unit vectors, pair by pair."""
    x, mu = normalize_rows(embeddings), normalize_rows(means)
    out = torch.empty(len(x), len(mu), dtype=x.dtype)
    for i in range(len(x)):
        for c in range(len(mu)):
            out[i, c] = 1 - (x[i] * mu[c]).sum() if kind == "cosine" else ((x[i] - mu[c]) ** 2).sum().sqrt()
    return out


def propagation(H):
    dv = torch.diag(H.sum(dim=1) ** -0.5)
    de = torch.diag(1.0 / H.sum(dim=0))
    return dv @ H @ de @ H.t() @ dv


def batch_norm(z, weight, bias, eps=1e-5):
    mean = z.mean(dim=0)
    var = ((z - mean) ** 2).mean(dim=0)  # biased, as BatchNorm normalises
    return (z - mean) / torch.sqrt(var + eps) * weight + bias


def hgnn(m, G, params, layers=2, batchnorm=True):
    x = m
    for index in range(1, layers + 1):
        x = G @ (x @ params[f"hgnn.theta{index}.weight"].t() + params[f"hgnn.theta{index}.bias"])
        if index < layers:
            z = batch_norm(x, params[f"hgnn.bn{index}.weight"], params[f"hgnn.bn{index}.bias"]) if batchnorm else x
            x = torch.where(z > 0, z, 0.1 * z)
    return x


def nll_of_softmax(logits, labels):
    probs = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
    probs = probs / probs.sum(dim=1, keepdim=True)
    return -torch.log(probs[torch.arange(len(labels)), labels]).mean()


def hist_loss(embeddings, labels, params, tau, alpha, lambda_s, layers=2, *, propagation_kind="hypergraph",
              batchnorm=True, incidence_variances="learned", hgnn_gradient="full", hyperedge_distance="mahalanobis",
              membership="soft"):
    """Returns (total, L_D, L_CE) for the given parameter dict (state_dict keys).

    The keyword options are the analysis controls, written as their definitions say: G = I; no
    BatchNorm; H from unit variances; L_CE fed detached embeddings and class distributions."""
    d = distances(embeddings, params["means"], params["log_vars"])
    l_d = nll_of_softmax(-tau * d, labels)
    m, means, log_vars = embeddings, params["means"], params["log_vars"]
    if hgnn_gradient == "hgnn_only":
        m, means, log_vars = m.detach(), means.detach(), log_vars.detach()
    if incidence_variances == "unit":
        log_vars = torch.zeros_like(log_vars)
    d_h = distances(m, means, log_vars) if hyperedge_distance == "mahalanobis" else \
        direction_distances(m, means, hyperedge_distance)
    H, _ = incidence(d_h, labels, alpha, hard=membership == "hard")
    G = torch.eye(len(labels), dtype=H.dtype) if propagation_kind == "identity" else propagation(H)
    l_ce = nll_of_softmax(hgnn(m, G, params, layers, batchnorm), labels)
    return l_d + lambda_s * l_ce, l_d, l_ce


def tiny_case_by_hand(tau: float, alpha: float, lambda_s: float, eps: float = 1e-5) -> float:
    """Closed form of the loss for the two-sample case built in test_losses (derivation there)."""
    q = math.exp(-2 * alpha)
    a = (1 + q**2) / (1 + q) ** 2
    b = 2 * q / (1 + q) ** 2
    half_gap = (a - b) / 2
    r = half_gap / math.sqrt(half_gap**2 + eps)
    l_d = math.log(1 + math.exp(-2 * tau))
    l_ce = math.log(1 + math.exp(-1.1 * r * (a - b)))
    return l_d + lambda_s * l_ce
