"""The HIST loss as a pytorch-metric-learning loss, and its hypergraph neural network."""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_metric_learning.losses import BaseMetricLossFunction
from pytorch_metric_learning.utils import common_functions as c_f
from torch import nn

from . import functional as HF

__all__ = ["HISTLoss", "HISTTerms", "HypergraphNN", "term_statistics", "STATISTICS", "PROPAGATIONS",
           "INCIDENCE_VARIANCES", "HGNN_GRADIENTS", "HYPEREDGE_DISTANCES", "MEMBERSHIPS"]

#: The controls of the analysis, as options of :class:`HISTLoss` (the first value is the paper's).
PROPAGATIONS = ("hypergraph", "identity")
INCIDENCE_VARIANCES = ("learned", "unit")
HGNN_GRADIENTS = ("full", "hgnn_only")
HYPEREDGE_DISTANCES = ("mahalanobis", "cosine", "euclidean")
MEMBERSHIPS = ("soft", "hard")

#: What ``HISTLoss(collect_stats=True)`` records of each call (detached () tensors, no device sync).
STATISTICS = {
    "distribution_loss": "L_D, mean over the batch",
    "hgnn_loss": "L_CE, mean over the batch (before the lambda_s weight)",
    "hgnn_loss_ratio": "L_CE / log C: 1 is the chance value of a C-way classifier, 0 a perfect one",
    "hgnn_accuracy": "fraction of the batch the HGNN classifies correctly (argmax of its logits)",
    "within_class_share": "fraction of G's weight between samples of the same class",
    "uniform_within_class_share": "the same for a uniform G (every entry equal): the no-structure value",
    "other_membership": "mean over samples of the summed soft membership in other classes' hyperedges",
}


class HISTTerms(NamedTuple):
    """Everything one HIST evaluation computes (returned by :meth:`HISTLoss.compute_terms`).

    Attributes:
        distribution_loss: () ``L_D``, mean over samples.
        hgnn_loss: () ``L_CE``, mean over samples (before the ``lambda_s`` weight).
        distances: (N, C) squared Mahalanobis distances to every class distribution.
        incidence: (N, E) soft incidence matrix H (from unit variances with
            ``incidence_variances="unit"``).
        hyperedge_classes: (E,) class of each hyperedge, ascending.
        propagation: (N, N) propagation matrix G (the identity with ``propagation="identity"``).
        logits: (N, C) HGNN output O.
        sample_distribution_loss: (N,) each sample's ``L_D`` term.
        sample_hgnn_loss: (N,) each sample's ``L_CE`` term (before the ``lambda_s`` weight).
        lambda_s: the weight of ``L_CE`` in the total.

    The weighted terms and the total are properties, so that ``lambda_s`` is applied in one place:
    ``loss`` () is ``distribution_loss + weighted_hgnn_loss``; ``weighted_hgnn_loss`` () and
    ``sample_weighted_hgnn_loss`` (N,) are ``lambda_s`` times ``hgnn_loss`` and ``sample_hgnn_loss``.
    """

    distribution_loss: torch.Tensor
    hgnn_loss: torch.Tensor
    distances: torch.Tensor
    incidence: torch.Tensor
    hyperedge_classes: torch.Tensor
    propagation: torch.Tensor
    logits: torch.Tensor
    sample_distribution_loss: torch.Tensor
    sample_hgnn_loss: torch.Tensor
    lambda_s: float

    @property
    def weighted_hgnn_loss(self) -> torch.Tensor:
        return self.lambda_s * self.hgnn_loss

    @property
    def sample_weighted_hgnn_loss(self) -> torch.Tensor:
        return self.lambda_s * self.sample_hgnn_loss

    @property
    def loss(self) -> torch.Tensor:
        return self.distribution_loss + self.weighted_hgnn_loss


class HypergraphNN(nn.Module):
    """Hypergraph neural network of HIST: ``layers`` hypergraph convolutions over G.

    Each hidden layer is ``LeakyReLU_0.1(BatchNorm1d(G (X W^T + b)))``; the last one is
    ``G (X W^T + b)`` with ``num_classes`` outputs (the logits). Modules are named ``theta1``,
    ``bn1``, ``theta2``, ... so that the default two-layer network has exactly the reference's
    state_dict keys.

    The BatchNorm layers always normalise with *batch* statistics, as the reference does (it
    never puts them in eval mode): a hypergraph is built per batch, so there is no population to
    estimate. Running statistics are updated only while the module is in training mode, so
    evaluating the loss under ``.eval()`` leaves the state untouched. ``batchnorm=False`` (a
    control of the analysis, not the paper's network) drops them: hidden layers are then
    ``LeakyReLU_0.1(G (X W^T + b))``.
    """

    def __init__(self, in_features: int, num_classes: int, hidden: int = 512, layers: int = 2,
                 batchnorm: bool = True):
        super().__init__()
        if layers < 1:
            raise ValueError(f"hgnn_layers must be >= 1, got {layers}")
        self.layers = layers
        self.batchnorm = bool(batchnorm)
        widths = [in_features] + [hidden] * (layers - 1) + [num_classes]
        for index in range(1, layers + 1):
            self.add_module(f"theta{index}", nn.Linear(widths[index - 1], widths[index]))
            if index < layers and self.batchnorm:
                self.add_module(f"bn{index}", nn.BatchNorm1d(widths[index]))

    def forward(self, features: torch.Tensor, propagation: torch.Tensor) -> torch.Tensor:
        """Args: features (N, in_features), propagation (N, N). Returns logits (N, num_classes)."""
        x = features
        for index in range(1, self.layers + 1):
            theta = getattr(self, f"theta{index}")
            x = HF.propagate(propagation, x, theta.weight, theta.bias)
            if index < self.layers:
                if self.batchnorm:
                    x = self._batch_norm(getattr(self, f"bn{index}"), x)
                x = F.leaky_relu(x, 0.1)
        return x

    def _batch_norm(self, bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return bn(x)  # batch statistics, running statistics updated
        return F.batch_norm(x, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)


class HISTLoss(BaseMetricLossFunction):
    """Hypergraph-Induced Semantic Tuplet loss (Lim et al., CVPR 2022).

    ``loss(embeddings, labels)`` returns ``L_D + lambda_s * L_CE`` (docs/hist.md, section "The loss"):
    ``L_D`` pulls each sample into its learnable class distribution; ``L_CE`` trains a hypergraph
    neural network, whose hyperedges are the batch's classes, to classify each sample from its
    semantic tuplets. Like pytorch-metric-learning's ``ProxyAnchorLoss``, it is a drop-in
    metric loss::

        loss_func = HISTLoss(num_classes=100, embedding_size=512, tau=32, alpha=1.1)
        loss = loss_func(embeddings, labels)

    **This loss has trainable parameters** (the class means and log-variances, and the HGNN),
    so it must be passed to an optimiser too, e.g. ``torch.optim.Adam(
    loss_func.parameter_groups(lr_ds=1e-1, lr_hgnn=6e-4))`` next to the model's parameters.

    Args:
        num_classes: C, the number of training classes; labels must lie in ``[0, C)``.
        embedding_size: D, the width of the (un-normalised) embeddings.
        tau: temperature of the distribution loss.
        alpha: scale of soft hyperedge membership ``exp(-alpha * d)``.
        lambda_s: weight of the HGNN (semantic tuplet) loss.
        hgnn_hidden: width of the HGNN's hidden layers.
        hgnn_layers: number of hypergraph convolutions (2 is the paper's default).
        propagation: ``"hypergraph"`` (the paper: G from the soft incidence H) or ``"identity"``
            (a control: G = I, so the HGNN is a per-sample classifier on the embedding and no
            sample sees another).
        hgnn_batchnorm: False drops the HGNN's BatchNorm (a control; the paper uses it).
        incidence_variances: ``"learned"`` (the paper: H from the distances that ``L_D`` uses) or
            ``"unit"`` (a control: H from distances with every variance 1, ``L_D`` unchanged).
        hgnn_gradient: ``"full"`` (the paper) or ``"hgnn_only"`` (a control: ``L_CE`` trains the
            HGNN only; its gradient is stopped before the embeddings and the class distributions,
            which then learn from ``L_D`` alone).
        hyperedge_distance: ``"mahalanobis"`` (the paper: H from the distances ``L_D`` uses) or
            ``"cosine"`` / ``"euclidean"`` (the distance ablation: H from ``1 - cos`` or the
            unsquared distance between the directions of sample and class mean,
            :func:`~histlib.functional.direction_distances`; ``L_D`` unchanged).
        membership: ``"soft"`` (the paper) or ``"hard"`` (a control: one-hot memberships, each
            sample only in its own class's hyperedge; ``alpha`` then plays no part).
        **kwargs: pytorch-metric-learning options (``reducer``, ``embedding_regularizer``,
            ``collect_stats``...). The default reducer averages the per-sample losses.

    Parameters and buffers move to the embeddings' device and dtype on each call (float32 for
    half-precision inputs); distances and softmaxes run in float32 under autocast. Each batch
    needs at least two samples (the HGNN's BatchNorm uses batch statistics).
    ``indices_tuple`` (miners) and ``ref_emb`` are not supported.
    """

    def __init__(
        self,
        num_classes: int,
        embedding_size: int,
        tau: float = 32.0,
        alpha: float = 0.9,
        lambda_s: float = 1.0,
        hgnn_hidden: int = 512,
        hgnn_layers: int = 2,
        propagation: str = "hypergraph",
        hgnn_batchnorm: bool = True,
        incidence_variances: str = "learned",
        hgnn_gradient: str = "full",
        hyperedge_distance: str = "mahalanobis",
        membership: str = "soft",
        **kwargs,
    ):
        if "distance" in kwargs:
            raise ValueError("HISTLoss uses its own Mahalanobis distance; 'distance' is not accepted")
        _check_positive_int(num_classes=num_classes, embedding_size=embedding_size,
                            hgnn_hidden=hgnn_hidden, hgnn_layers=hgnn_layers)
        for name, value, low in (("tau", tau, None), ("alpha", alpha, 0), ("lambda_s", lambda_s, 0)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
                    or (value <= 0 if low is None else value < low):
                raise ValueError(f"{name} must be a finite number {'> 0' if low is None else '>= 0'}, got {value!r}")
        for name, value, choices in (("propagation", propagation, PROPAGATIONS),
                                     ("incidence_variances", incidence_variances, INCIDENCE_VARIANCES),
                                     ("hgnn_gradient", hgnn_gradient, HGNN_GRADIENTS),
                                     ("hyperedge_distance", hyperedge_distance, HYPEREDGE_DISTANCES),
                                     ("membership", membership, MEMBERSHIPS)):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        if not isinstance(hgnn_batchnorm, bool):
            raise ValueError(f"hgnn_batchnorm must be True or False, got {hgnn_batchnorm!r}")
        super().__init__(**kwargs)
        self.propagation = propagation
        self.incidence_variances = incidence_variances
        if hyperedge_distance != "mahalanobis" and incidence_variances != "learned":
            raise ValueError(f"incidence_variances={incidence_variances!r} is a control of the Mahalanobis distance; "
                             f"it does not combine with hyperedge_distance={hyperedge_distance!r}")
        self.hgnn_gradient = hgnn_gradient
        self.hyperedge_distance = hyperedge_distance
        self.membership = membership
        self.num_classes = int(num_classes)
        self.embedding_size = int(embedding_size)
        self.tau = float(tau)
        self.alpha = float(alpha)
        self.lambda_s = float(lambda_s)
        self.means = nn.Parameter(torch.empty(num_classes, embedding_size))
        self.log_vars = nn.Parameter(torch.empty(num_classes, embedding_size))
        self.hgnn = HypergraphNN(self.embedding_size, self.num_classes, int(hgnn_hidden), int(hgnn_layers),
                                 batchnorm=hgnn_batchnorm)
        self.reset_class_distributions()
        self.add_to_recordable_attributes(
            list_of_names=["num_classes", "embedding_size", "tau", "alpha", "lambda_s"],
            is_stat=False,
        )
        # with collect_stats=True: detached statistics of the last call (PML statistics), see STATISTICS
        self.add_to_recordable_attributes(list_of_names=list(STATISTICS), is_stat=True)

    def reset_class_distributions(self) -> None:
        """Initialise ``means`` and ``log_vars`` with ``kaiming_normal_(mode="fan_out")``: N(0, 2/C)."""
        nn.init.kaiming_normal_(self.means, mode="fan_out")
        nn.init.kaiming_normal_(self.log_vars, mode="fan_out")

    def parameter_groups(self, lr_ds: float, lr_hgnn: float) -> list[dict]:
        """Optimiser parameter groups of the loss: class distributions and HGNN.

        Args:
            lr_ds: learning rate of ``means`` and ``log_vars``.
            lr_hgnn: learning rate of the HGNN (the recipe uses ``lr * hgnn_lr_factor``).
        Returns:
            Two dicts for ``torch.optim`` (``params``, ``lr``, ``name``); add the model's groups.
        """
        return [
            {"params": [self.means, self.log_vars], "lr": lr_ds, "name": "class_distributions"},
            {"params": list(self.hgnn.parameters()), "lr": lr_hgnn, "name": "hgnn"},
        ]

    # -- pytorch-metric-learning interface -------------------------------------------------

    def forward(self, embeddings, labels=None, indices_tuple=None, ref_emb=None, ref_labels=None):
        """Total loss, a scalar. Args: embeddings (N, D) float, labels (N,) int in [0, C)."""
        # PML sums the sub-losses in the embeddings' dtype: keep that sum out of half precision.
        if torch.is_tensor(embeddings) and embeddings.dtype in (torch.float16, torch.bfloat16):
            embeddings = embeddings.float()
        if labels is not None:  # checked here, once, before pytorch-metric-learning reads their .shape
            labels = self._checked_labels(embeddings, labels)
        return super().forward(embeddings, labels, indices_tuple, ref_emb, ref_labels)

    def compute_loss(self, embeddings, labels, indices_tuple, ref_emb, ref_labels):
        c_f.labels_required(labels)
        c_f.ref_not_supported(embeddings, labels, ref_emb, ref_labels)
        c_f.indices_tuple_not_supported(indices_tuple)
        terms = self._evaluate(embeddings, labels)
        if self.collect_stats:
            for name, value in term_statistics(terms, labels).items():
                setattr(self, name, value)
        indices = c_f.torch_arange_from_size(embeddings)
        return {
            "distribution_loss": {
                "losses": terms.sample_distribution_loss,
                "indices": indices,
                "reduction_type": "element",
            },
            "hgnn_loss": {
                "losses": terms.sample_weighted_hgnn_loss,
                "indices": indices,
                "reduction_type": "element",
            },
        }

    def _sub_loss_names(self):
        return ["distribution_loss", "hgnn_loss"]

    def cast_types(self, dtype: torch.dtype, device: torch.device) -> None:
        """Move parameters and buffers to ``device`` and to ``dtype`` (float32 if half precision)."""
        dtype = dtype if dtype in (torch.float32, torch.float64) else torch.float32
        if self.means.dtype != dtype or self.means.device != device:
            self.to(device=device, dtype=dtype)

    # -- the computation -------------------------------------------------------------------

    def compute_terms(self, embeddings: torch.Tensor, labels: torch.Tensor) -> HISTTerms:
        """All intermediate results of the loss, for inspection (see :class:`HISTTerms`).

        Args:
            embeddings: (N, D) float. labels: (N,) int in ``[0, C)``.
        """
        return self._evaluate(embeddings, self._checked_labels(embeddings, labels))

    def _evaluate(self, embeddings: torch.Tensor, labels: torch.Tensor) -> HISTTerms:
        """One pass: every intermediate result, the per-sample terms and their means (inputs already checked)."""
        self.cast_types(HF.compute_dtype(embeddings), embeddings.device)
        labels = labels.long()
        distances = HF.mahalanobis_distances(embeddings, self.means, self.log_vars)
        per_sample_distribution = HF.distribution_loss(distances, labels, self.tau, reduction="none")
        detach = self.hgnn_gradient == "hgnn_only"  # L_CE then reaches the HGNN's weights only
        features = embeddings.detach() if detach else embeddings
        means = self.means.detach() if detach else self.means
        if self.hyperedge_distance != "mahalanobis":
            hyperedge_distances = HF.direction_distances(features, means, self.hyperedge_distance)
        elif self.incidence_variances == "unit":
            hyperedge_distances = HF.mahalanobis_distances(features, means, torch.zeros_like(self.log_vars))
        else:
            hyperedge_distances = distances.detach() if detach else distances
        incidence, classes = HF.incidence_matrix(hyperedge_distances, labels, self.alpha,
                                                 hard=self.membership == "hard")
        if self.propagation == "identity":
            propagation = torch.eye(len(labels), dtype=incidence.dtype, device=incidence.device)
        else:
            propagation = HF.propagation_matrix(incidence)
        logits = self.hgnn(features, propagation)
        with HF.full_precision(logits):
            per_sample_ce = F.cross_entropy(
                logits.to(HF.compute_dtype(embeddings)), labels, reduction="none"
            )
        return HISTTerms(
            distribution_loss=per_sample_distribution.mean(),
            hgnn_loss=per_sample_ce.mean(),
            distances=distances,
            incidence=incidence,
            hyperedge_classes=classes,
            propagation=propagation,
            logits=logits,
            sample_distribution_loss=per_sample_distribution,
            sample_hgnn_loss=per_sample_ce,
            lambda_s=self.lambda_s,
        )

    def _checked_labels(self, embeddings, labels) -> torch.Tensor:
        """Checked inputs' labels as a tensor on the embeddings' device; a ValueError for bad input.

        Lists and numpy arrays of integers are accepted. Labels are checked where they are given:
        labels on the CPU (as a DataLoader yields them) cost no device synchronisation, and are then
        copied to the embeddings' device; labels already on an accelerator cost one (the range check).
        """
        if not torch.is_tensor(labels) and isinstance(labels, (list, tuple, np.ndarray, np.integer)):
            array = np.asarray(labels)
            if array.dtype.kind in "iu":
                labels = torch.as_tensor(array, dtype=torch.long)
        self._check_inputs(embeddings, labels)
        return labels.to(embeddings.device, non_blocking=True)

    def _check_inputs(self, embeddings, labels) -> None:
        if not torch.is_tensor(embeddings) or not embeddings.is_floating_point() or embeddings.ndim != 2:
            raise ValueError(
                "embeddings must be a 2-D floating-point tensor of shape "
                f"(N, {self.embedding_size}), got {_describe(embeddings)}"
            )
        if embeddings.shape[1] != self.embedding_size:
            raise ValueError(
                f"embeddings have width {embeddings.shape[1]} but this HISTLoss was built with "
                f"embedding_size={self.embedding_size}"
            )
        if not torch.is_tensor(labels) or labels.ndim != 1 or labels.is_floating_point() or labels.is_complex():
            raise ValueError(f"labels must be a 1-D integer tensor of shape (N,), got {_describe(labels)}")
        if labels.shape[0] != embeddings.shape[0]:
            raise ValueError(
                f"got {embeddings.shape[0]} embeddings but {labels.shape[0]} labels"
            )
        if embeddings.shape[0] < 2:
            raise ValueError(
                "HISTLoss needs at least 2 samples per batch (its HGNN uses BatchNorm with batch "
                f"statistics), got {embeddings.shape[0]}"
            )
        outside = (labels < 0) | (labels >= self.num_classes)
        if bool(outside.any()):
            bad = torch.unique(labels[outside]).tolist()[:10]
            raise ValueError(
                f"labels must lie in [0, {self.num_classes}) (num_classes={self.num_classes}); "
                f"found {bad}. Map dataset labels to 0-based training-class indices."
            )


def term_statistics(terms: HISTTerms, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The :data:`STATISTICS` of one evaluation: detached () tensors, computed without a device sync.

    Args:
        terms: from :meth:`HISTLoss.compute_terms`. labels: (N,) int, the batch's labels.
    """
    with torch.no_grad():
        labels = labels.long()
        num_classes = terms.logits.shape[1]
        return {
            "distribution_loss": terms.distribution_loss.detach(),
            "hgnn_loss": terms.hgnn_loss.detach(),
            "hgnn_loss_ratio": terms.hgnn_loss.detach() / math.log(num_classes) if num_classes > 1
            else torch.full_like(terms.hgnn_loss.detach(), math.nan),
            "hgnn_accuracy": (terms.logits.argmax(dim=1) == labels).to(terms.logits.dtype).mean(),
            "within_class_share": HF.within_class_share(terms.propagation, labels),
            "uniform_within_class_share": HF.uniform_within_class_share(labels).to(terms.propagation.dtype),
            "other_membership": HF.other_membership(terms.incidence, labels, terms.hyperedge_classes).mean(),
        }


def _check_positive_int(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _describe(value) -> str:
    if torch.is_tensor(value):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return f"{type(value).__name__}"
