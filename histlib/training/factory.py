"""What a config builds: the embedding network, the loss, the optimiser's parameter groups.

The training loop, the run folder (reading a finished run back) and the notebooks (the untrained
network a run starts from) all build through these functions, so a model read from disk and a
model trained in this process are the same object shape.

    >>> from histlib.training import get_config
    >>> config = get_config("glyphs")
    >>> model, criterion = initial_state(config, num_classes=10)
    >>> type(model).__name__, type(criterion).__name__, tuple(criterion.means.shape)
    ('EmbeddingNet', 'HISTLoss', (10, 64))
"""

from __future__ import annotations

import torch

from ..losses import HISTLoss
from ..models import EmbeddingNet
from ..runtime import seed_everything
from .config import TrainConfig

__all__ = ["build_model", "build_encoder", "build_criterion", "parameter_groups", "build_optimiser", "end_epoch",
           "initial_state"]


def build_model(config: TrainConfig, pretrained: bool | str | None = None) -> EmbeddingNet:
    """The config's embedding network. ``pretrained`` None: the config's choice; False: random
    weights (e.g. before loading a saved state). With ``frozen_trunk`` only its head: the trunk is
    built without its weights (no download) and replaced by the identity, so the network embeds
    cached pooled features (:mod:`histlib.features`); the trunk's weights enter through the cache."""
    if config.frozen_trunk:
        pretrained = False
    model = EmbeddingNet.from_backbone(
        config.backbone, config.pretrained if pretrained is None else pretrained,
        embedding_size=config.embedding_size, freeze_trunk_batchnorm=config.freeze_bn,
    )
    return model.without_trunk() if config.frozen_trunk else model


def build_encoder(config: TrainConfig) -> EmbeddingNet:
    """The frozen trunk whose pooled features the frozen-trunk mode caches: the config's backbone
    with its weights (seeded with ``config.seed`` when it has none), in eval mode, no gradients.
    Call ``.encode(images)`` for the (B, channels) features."""
    seed_everything(config.seed)
    model = EmbeddingNet.from_backbone(config.backbone, config.pretrained, embedding_size=config.embedding_size)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def build_criterion(config: TrainConfig, num_classes: int) -> torch.nn.Module:
    """HISTLoss, or pytorch-metric-learning's ProxyAnchorLoss or MultiSimilarityLoss, as the config says.

    HISTLoss collects its two terms and the HGNN's statistics as pytorch-metric-learning statistics
    (:data:`histlib.losses.STATISTICS`: detached values of the last call), which the loop logs per step.
    """
    if config.loss == "hist":
        return HISTLoss(
            num_classes, config.embedding_size, tau=config.tau, alpha=config.alpha,
            lambda_s=config.lambda_s, hgnn_hidden=config.hgnn_hidden, hgnn_layers=config.hgnn_layers,
            propagation=config.hgnn_propagation, hgnn_batchnorm=config.hgnn_batchnorm,
            incidence_variances=config.incidence_variances, hgnn_gradient=config.hgnn_gradient,
            hyperedge_distance=config.hyperedge_distance, membership=config.membership, collect_stats=True,
        )
    from pytorch_metric_learning import losses

    if config.loss == "proxy_anchor":
        return losses.ProxyAnchorLoss(num_classes, config.embedding_size, margin=config.proxy_anchor_margin,
                                      alpha=config.proxy_anchor_alpha)
    return losses.MultiSimilarityLoss(alpha=config.ms_alpha, beta=config.ms_beta, base=config.ms_base)


def parameter_groups(model: EmbeddingNet, criterion: torch.nn.Module, config: TrainConfig) -> list[dict]:
    """The recipe's groups: backbone (lr), embedding layer (lr), class distributions or proxies
    (lr_ds) and, for HIST, the HGNN (lr * hgnn_lr_factor). A loss without parameters adds none."""
    groups = [
        {"params": model.trunk_parameters(), "lr": config.lr, "name": "backbone"},
        {"params": model.head_parameters(), "lr": config.lr, "name": "embedding"},
    ]
    if isinstance(criterion, HISTLoss):
        groups += criterion.parameter_groups(lr_ds=config.lr_ds, lr_hgnn=config.lr * config.hgnn_lr_factor)
    elif list(criterion.parameters()):
        groups.append({"params": list(criterion.parameters()), "lr": config.lr_ds, "name": "proxies"})
    return groups


def build_optimiser(model: EmbeddingNet, criterion: torch.nn.Module, config: TrainConfig
                    ) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.StepLR]:
    """The recipe's optimiser and schedule: Adam over :func:`parameter_groups` (``weight_decay``) and
    a StepLR (``lr_step`` epochs, factor ``lr_gamma``) that :func:`end_epoch` steps."""
    optimizer = torch.optim.Adam(parameter_groups(model, criterion, config), weight_decay=config.weight_decay)
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step, gamma=config.lr_gamma)


def end_epoch(scheduler: torch.optim.lr_scheduler.LRScheduler, config: TrainConfig, epoch: int) -> None:
    """The schedule at the end of epoch ``epoch`` (0-based): one step, except in the warm-up epochs
    (the schedule's ``lr_step`` epochs are counted after the warm-up)."""
    if epoch >= config.warmup_epochs:
        scheduler.step()


def initial_state(config: TrainConfig, num_classes: int) -> tuple[EmbeddingNet, torch.nn.Module]:
    """The network and loss a run of ``config`` starts from: seeded with ``config.seed``, built in
    the loop's order, so ``initial_state(config, C)`` equals epoch 0 of ``fit(config)``."""
    seed_everything(config.seed)
    model = build_model(config)
    return model, build_criterion(config, num_classes)
