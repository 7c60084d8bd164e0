"""Headroom of the offline stand-ins: untrained network vs Proxy-Anchor vs HIST, small-profile budget.

A stand-in on which every method scores R@1 ~ 99 cannot tell methods apart. For each stand-in
(glyphs for CUB, typefaces for Cars, kanji for SOP) this prints its statistics next to the
benchmark it stands in for, and R@1 / MAP@R on its unseen test classes (mean +/- std over seeds)
of the untrained network (the initialisation the runs start from), Proxy-Anchor and HIST, each
trained with the stand-in's recipe (``histlib.training.RECIPES``: the small CNN, the benchmark's
tau / alpha, model selection on validation classes held out of training).

    python benchmarks/standins_headroom.py                                  # 3 seeds, the recipes' budget
    python benchmarks/standins_headroom.py --set epochs=4 max_steps_per_epoch=100 glyphs:max_images_per_class=40
    python benchmarks/standins_headroom.py --datasets kanji --seeds 1 2

``--set KEY=VALUE`` overrides every recipe, ``--set NAME:KEY=VALUE`` only the recipe ``NAME``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from histlib.data.samplers import make_sampler
from histlib.evaluation import format_recall_table
from histlib.models import EmbeddingNet
from histlib.runtime import seed_everything
from histlib.training import RECIPES, build_run_data, evaluate, fit, get_config, parse_overrides

# The published benchmarks' training splits (docs/hist.md, section "Benchmarks and their split") and the stand-in for each.
BENCHMARK_OF = {"glyphs": "CUB-200-2011", "typefaces": "Cars-196", "kanji": "SOP"}
PUBLISHED = {  # name: (train classes, train images, test classes, test images, typical image size)
    "CUB-200-2011": (100, 5864, 100, 5924, "~500x360"),
    "Cars-196": (98, 8054, 98, 8131, "~700x480"),
    "SOP": (11318, 59551, 11316, 60502, "~400x400"),
}


def batch_statistics(labels: np.ndarray, batch_size: int = 32, batches: int = 200, seed: int = 0) -> tuple[float, float]:
    """Mean number of distinct classes in a random batch (plain random sampling, as the recipe
    draws) and mean number of those hyperedges that hold a single image, over ``batches`` batches."""
    sampler = make_sampler(labels, batch_size, seed=seed)
    order = np.concatenate([np.fromiter(iter(sampler), dtype=np.int64)
                            for _ in range(-(-batches * batch_size // len(labels)))])
    distinct, singletons = [], []
    for b in range(batches):
        counts = np.unique(labels[order[b * batch_size:(b + 1) * batch_size]], return_counts=True)[1]
        distinct.append(len(counts))
        singletons.append(int((counts == 1).sum()))
    return float(np.mean(distinct)), float(np.mean(singletons))


def published_batch_statistics(classes: int, images: int, batch_size: int = 32) -> tuple[float, float]:
    """The same statistics for a split of ``classes`` equal-size classes (the published counts)."""
    labels = np.repeat(np.arange(classes), -(-images // classes))[:images]
    return batch_statistics(labels, batch_size)


def describe(name: str, data, config) -> str:
    """Statistics of the stand-in's splits next to the benchmark it stands in for."""
    train_labels = np.asarray(data.train.labels)
    test_labels = np.asarray(data.test.labels)
    val = len(data.val.classes) if data.val is not None else 0
    image = np.asarray(data.test.load_image(0))
    distinct, singletons = batch_statistics(train_labels)
    benchmark = BENCHMARK_OF.get(name, "")
    lines = [
        f"{name}: {len(data.train.classes) + val} training classes ({len(data.train.classes)} trained on, {val} "
        f"held out for validation), {len(data.test.classes)} unseen test classes; "
        f"{len(train_labels) + (len(data.val) if data.val is not None else 0):,} training / {len(test_labels):,} "
        f"test images ({len(test_labels) / len(data.test.classes):.1f} per test class); "
        f"images {image.shape[1]}x{image.shape[0]} px greyscale"
        + (f", at most {config.max_images_per_class} per class" if config.max_images_per_class else ""),
        f"  random batch of 32 from the training classes (the papers' batch): {distinct:.1f} distinct classes, "
        f"{singletons:.1f} of them singleton hyperedges",
    ]
    if config.batch_size != 32:
        distinct, singletons = batch_statistics(train_labels, config.batch_size)
        lines.append(f"  random batch of {config.batch_size} (this recipe's): {distinct:.1f} distinct classes, "
                     f"{singletons:.1f} singletons")
    if benchmark:
        train_c, train_n, test_c, test_n, size = PUBLISHED[benchmark]
        d, s = published_batch_statistics(train_c, train_n)
        lines.append(
            f"  stands in for {benchmark}: {train_c:,} / {test_c:,} classes, {train_n:,} / {test_n:,} images "
            f"({train_n / train_c:.1f} per class), {size} px colour; batch of 32: {d:.1f} distinct, {s:.1f} "
            "singletons (equal-size classes)"
        )
    return "\n".join(lines)


def recipe_overrides(items: list[str], name: str) -> list[str]:
    """The ``KEY=VALUE`` items of ``--set`` that apply to recipe ``name``: the plain ones and those
    written ``NAME:KEY=VALUE``; an unknown ``NAME`` is an error (a misspelt recipe is not ignored).

    >>> recipe_overrides(["epochs=4", "glyphs:max_images_per_class=40", "data_root=/a:b"], "kanji")
    ['epochs=4', 'data_root=/a:b']
    """
    chosen = []
    for item in items:
        key = item.split("=", 1)[0]
        if ":" not in key:
            chosen.append(item)
            continue
        recipe, rest = item.split(":", 1)
        if recipe not in RECIPES:
            raise SystemExit(f"--set {item}: no recipe {recipe!r} (recipes: {', '.join(sorted(RECIPES))})")
        if recipe == name:
            chosen.append(rest)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["glyphs", "typefaces", "kanji"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--set", nargs="*", default=[], metavar="[NAME:]KEY=VALUE",
                        help="overrides of every recipe, or of recipe NAME only")
    args = parser.parse_args()
    for name in args.datasets:
        overrides = parse_overrides(recipe_overrides(args.set, name))
        results = {"untrained": [], "ProxyAnchorLoss": [], "HISTLoss": []}
        seconds = {"ProxyAnchorLoss": [], "HISTLoss": []}
        with tempfile.TemporaryDirectory() as tmp:
            for seed in args.seeds:
                base = get_config(name, seed=seed, **overrides)
                data = build_run_data(base)
                seed_everything(seed)  # fit() initialises the network from the same seed
                untrained = EmbeddingNet.from_backbone(base.backbone, base.pretrained, embedding_size=base.embedding_size)
                results["untrained"].append(evaluate(untrained, data.test, base, torch.device("cpu"), progress=False))
                for method, loss in (("ProxyAnchorLoss", "proxy_anchor"), ("HISTLoss", "hist")):
                    config = get_config(name, seed=seed, loss=loss, output_dir=f"{tmp}/{name}-{loss}-{seed}", **overrides)
                    start = time.perf_counter()
                    result = fit(config, data, progress=False)
                    seconds[method].append(time.perf_counter() - start)
                    results[method].append(result.test_metrics)
                    print(f"{name} seed {seed} {method}: epoch {result.selected_epoch + 1} selected, test R@1 "
                          f"{result.test_metrics['recall@1']:.3f}, MAP@R {result.test_metrics['map@r']:.3f}, "
                          f"{seconds[method][-1]:.0f} s", flush=True)
        config = get_config(name, **overrides)
        print()
        print(describe(name, data, config))
        print(f"  budget: {config.epochs} epochs x at most {config.max_steps_per_epoch or 'all'} steps of batch "
              f"{config.batch_size}, {config.backbone}, D={config.embedding_size}, tau={config.tau}, alpha={config.alpha}; "
              f"selection {config.selection} ({config.selection_metric}); seeds {args.seeds}; CPU, "
              f"{torch.get_num_threads()} threads; "
              + ", ".join(f"{m} {np.mean(s):.0f} s per run" for m, s in seconds.items()))
        print(format_recall_table(results, ks=(1,), extra=("map@r",)))
        print(flush=True)


if __name__ == "__main__":
    main()
