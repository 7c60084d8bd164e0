"""What the frozen-trunk regime costs, next to what it replaces, in one run.

Prints, side by side:
1. feature extraction in images/s: EfficientNet-Lite0 (the offline stand-ins' trunk) at the
   rendered size on real glyphs, and ResNet-50 at 224 px (the full profile's trunk; random weights,
   the same arithmetic as ImageNet's) on synthetic images, with the expected extraction time of
   CUB-200-2011, Cars-196 and SOP (all their images, train and test) at that rate;
2. one run of the frozen regime on cached features (``glyphs_frozen``, the cache built first if
   missing: its cost is printed too) and one from-scratch ``glyphs`` run (the small CNN on 32 px
   images) of the same number of epochs, and their ratio.

    python benchmarks/frozen_trunk_cost.py                 # 8 epochs each, 2 threads
    python benchmarks/frozen_trunk_cost.py --epochs 4 --threads 1
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from histlib.features import extract_features
from histlib.models import EmbeddingNet
from histlib.training import build_run_data, fit, get_config

#: Each benchmark's recipe, training images and classes, and all its images (docs/hist.md, section "Benchmarks and their split").
BENCHMARKS = {"CUB-200-2011": ("cub_frozen", 5864, 100, 5864 + 5924), "Cars-196": ("cars_frozen", 8054, 98, 8054 + 8131),
              "SOP": ("sop_frozen", 59551, 11318, 59551 + 60502)}


def images_per_second(encoder, dataset, batch_size: int) -> float:
    extract_features(encoder, torch.utils.data.Subset(dataset, range(min(batch_size, len(dataset)))), batch_size)
    start = time.perf_counter()
    extract_features(encoder, dataset, batch_size)
    return len(dataset) / (time.perf_counter() - start)


def epoch_seconds(config, train_images: int, classes: int) -> float:
    """Seconds of one training epoch of ``config`` on random (N, 2048) features of ``classes`` classes."""
    from histlib.features import FeatureDataset
    from histlib.training import build_criterion, build_model, build_optimiser, train_loader, train_one_epoch

    generator = torch.Generator().manual_seed(0)
    features = torch.randn(train_images, 2048, generator=generator)
    labels = torch.arange(train_images) % classes
    dataset = FeatureDataset(features, labels.numpy(), [str(c) for c in range(classes)])
    model, criterion = build_model(config), build_criterion(config, classes)
    optimizer, _ = build_optimiser(model, criterion, config)
    start = time.perf_counter()
    train_one_epoch(model, criterion, optimizer, train_loader(dataset, config, 0), torch.device("cpu"), progress=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=512, help="glyph images to time the stand-in trunk on")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")

    # 1. extraction
    frozen = get_config("glyphs_frozen", epochs=args.epochs)
    glyph_images = build_run_data(get_config("glyphs", image_size=frozen.image_size, pretrained=True,
                                             frozen_trunk=False, backbone=frozen.backbone)).test
    glyph_images = torch.utils.data.Subset(glyph_images, range(args.images))
    lite = EmbeddingNet.from_backbone("efficientnet_lite0", True).eval()
    lite_rate = images_per_second(lite.encode, glyph_images, 64)
    resnet = EmbeddingNet.from_backbone("resnet50", False).eval()
    synthetic = torch.utils.data.TensorDataset(torch.randn(64, 3, 224, 224), torch.zeros(64, dtype=torch.long))
    resnet_rate = images_per_second(resnet.encode, synthetic, 32)
    print("\nfeature extraction (pooled GAP+GMP features, no gradient)")
    print(f"  EfficientNet-Lite0, {frozen.image_size} px glyphs ({len(glyph_images)} images): {lite_rate:7.1f} images/s")
    print(f"  ResNet-50, 224 px ({len(synthetic)} images):                {resnet_rate:7.1f} images/s")
    print("\nthe full profile's frozen recipes on the real benchmarks: extraction at the ResNet-50 rate above, then\n"
          "one training epoch timed on random features of the benchmark's size (2,048 per image, its classes;\n"
          "the same arithmetic as real features), times the recipe's epochs (validation not included)")
    for name, (recipe, train_images, classes, images) in BENCHMARKS.items():
        config = get_config(recipe)
        epoch = epoch_seconds(config, train_images, classes)
        print(f"  {name:<13} extraction {images:>7,} images {images / resnet_rate / 60:6.1f} min; one epoch "
              f"{epoch:6.1f} s, {config.epochs} epochs {config.epochs * epoch / 60:5.1f} min")

    # 2. one run each
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        data = build_run_data(frozen)  # reads the cache, or extracts it once
        cache_seconds = time.perf_counter() - start
        start = time.perf_counter()
        fit(get_config("glyphs_frozen", epochs=args.epochs, output_dir=f"{folder}/frozen", test_every_epoch=False),
            data, progress=False)
        frozen_seconds = time.perf_counter() - start
        scratch = get_config("glyphs", epochs=args.epochs, output_dir=f"{folder}/scratch", test_every_epoch=False)
        scratch_data = build_run_data(scratch)
        start = time.perf_counter()
        fit(scratch, scratch_data, progress=False)
        scratch_seconds = time.perf_counter() - start
    print(f"\none run of {args.epochs} epochs on glyphs (train, validation each epoch, test once)")
    print(f"  frozen trunk (glyphs_frozen, 512-d head on cached features): {frozen_seconds:7.1f} s"
          f"   (features: {cache_seconds:.1f} s to read or build the cache)")
    print(f"  from scratch (glyphs, small CNN on 32 px images):           {scratch_seconds:7.1f} s")
    print(f"  ratio from scratch / frozen: {scratch_seconds / frozen_seconds:.1f}x")


if __name__ == "__main__":
    main()
