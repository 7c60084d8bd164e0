"""Training configurations: one dataclass, the published recipes as data (specification section 2).

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
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["TrainConfig", "RECIPES", "get_config", "parse_overrides", "SELECTIONS", "LOSSES"]

#: Model selection rules. ``best_on_test`` is the reference's test-set feedback, named as such.
SELECTIONS = ("val", "last", "best_on_test")
LOSSES = ("hist", "proxy_anchor")


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on. Defaults are the paper's common settings."""

    # data
    dataset: str = "cub"
    data_root: str = "data"
    image_size: int = 224  # train crop / eval centre crop
    batch_size: int = 32
    images_per_class: int | None = None  # None: plain random sampling (the recipe)
    max_images_per_class: int | None = None  # keep at most this many images per class (train and test)
    num_workers: int = 4
    # model
    backbone: str = "resnet50"
    pretrained: bool | str = True
    embedding_size: int = 512
    freeze_bn: bool = True  # backbone BatchNorm kept in eval mode
    # loss
    loss: str = "hist"
    tau: float = 32.0
    alpha: float = 0.9
    lambda_s: float = 1.0
    hgnn_hidden: int = 512
    hgnn_layers: int = 2
    proxy_anchor_margin: float = 0.1
    proxy_anchor_alpha: float = 32.0
    # optimisation
    epochs: int = 40
    warmup_epochs: int = 1  # backbone frozen; only the embedding layer and the loss train
    lr: float = 1e-4  # backbone and embedding layer
    lr_ds: float = 1e-1  # class distributions (HIST) or proxies (Proxy-Anchor)
    hgnn_lr_factor: float = 10.0  # HGNN lr = lr * factor
    weight_decay: float = 1e-4  # coupled (Adam's L2), on every parameter group
    lr_step: int = 10  # StepLR step size in epochs, counted after warm-up
    lr_gamma: float = 0.5
    max_steps_per_epoch: int | None = None  # cap for smoke tests and benchmarks
    # selection and evaluation
    selection: str = "val"
    selection_metric: str = "recall@1"
    val_fraction: float = 0.2  # of the training classes, held out when selection == "val"
    eval_ks: tuple[int, ...] = (1, 2, 4, 8)
    eval_batch_size: int = 128
    # run
    seed: int = 1
    device: str = "auto"  # "auto": CUDA when available
    amp: bool = True  # float16 autocast + channels_last, CUDA only
    output_dir: str = "runs/default"

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {self.selection!r}")
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise ValueError(f"warmup_epochs must lie in [0, epochs={self.epochs}], got {self.warmup_epochs}")
        if self.selection == "val" and not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must lie in (0, 1) for selection='val', got {self.val_fraction}")
        if self.selection_metric not in {f"recall@{k}" for k in self.eval_ks} | {"map@r", "r_precision"}:
            raise ValueError(f"selection_metric {self.selection_metric!r} is not computed (eval_ks={self.eval_ks})")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
    # CPU small mode: 32 px glyphs, a 0.1M-parameter CNN trained from scratch (no warm-up, since
    # a random backbone gains nothing from being frozen), a few minutes on 2 cores.
    "glyphs": replace(
        _COMMON, dataset="glyphs", image_size=32, batch_size=64, num_workers=0,
        backbone="small_cnn", pretrained=False, embedding_size=64, freeze_bn=False,
        tau=32.0, alpha=1.1, hgnn_hidden=128, epochs=3, warmup_epochs=0, lr=2e-3, lr_ds=1e-1,
        hgnn_lr_factor=1.0, weight_decay=5e-5, lr_step=2, eval_batch_size=512,
        selection_metric="map@r",  # Recall@1 saturates near 1 on glyphs (hundreds of fonts per class)
        output_dir="runs/glyphs",
    ),
}
# The other offline stand-ins (data/README.md): the glyphs budget, the benchmark's tau and alpha.
RECIPES["typefaces"] = replace(  # for Cars-196: typefaces as classes, fine-grained style, Cars' ~82 per class
    RECIPES["glyphs"], dataset="typefaces", tau=32.0, alpha=0.9, max_images_per_class=82, output_dir="runs/typefaces",
)
RECIPES["kanji"] = replace(  # for SOP: thousands of classes, SOP's ~5 images per class
    RECIPES["glyphs"], dataset="kanji", tau=16.0, alpha=2.0, eval_ks=(1, 10, 100, 1000),
    max_images_per_class=5, output_dir="runs/kanji",
)


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
