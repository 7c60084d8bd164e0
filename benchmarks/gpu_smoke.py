"""GPU smoke test: a few hundred steps of the CUB recipe on a synthetic CUB-layout fixture.

Writes a CUB_200_2011 tree (200 class folders of random 256 px JPEGs, images.txt,
image_class_labels.txt, classes.txt) to a temporary folder, trains the published CUB recipe on
it at 224 px with mixed precision (ResNet-50 from scratch: no weights can be downloaded on the
GPU machine), and prints images/s and peak GPU memory. Without CUDA it says so and exits 0.

    python benchmarks/gpu_smoke.py [--steps 300] [--workers 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image



def write_cub_fixture(root: Path, train_per_class: int, test_per_class: int, size: int = 256, seed: int = 0) -> None:
    """A CUB_200_2011 tree in the official layout with random images (classes 1-200)."""
    g = np.random.default_rng(seed)
    base = root / "CUB_200_2011"
    images, labels, classes = [], [], []
    image_id = 1
    for class_id in range(1, 201):
        name = f"{class_id:03d}.Class_{class_id}"
        classes.append(f"{class_id} {name}")
        (base / "images" / name).mkdir(parents=True, exist_ok=True)
        colour = g.integers(0, 255, size=3)
        for k in range(train_per_class if class_id <= 100 else test_per_class):
            pixels = np.clip(colour + g.normal(0, 40, size=(size, size, 3)), 0, 255).astype(np.uint8)
            relative = f"{name}/{name}_{k:04d}.jpg"
            Image.fromarray(pixels).save(base / "images" / relative, quality=85)
            images.append(f"{image_id} {relative}")
            labels.append(f"{image_id} {class_id}")
            image_id += 1
    (base / "images.txt").write_text("\n".join(images) + "\n")
    (base / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    (base / "classes.txt").write_text("\n".join(classes) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps in all (batch 32)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_smoke: no CUDA device on this machine; nothing to measure (run it where a GPU is)")
        return 0

    from histlib.training import fit, get_config

    epochs, steps_per_epoch = 3, -(-args.steps // 3)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_cub_fixture(Path(tmp), train_per_class=(steps_per_epoch * 32) // 100 + 1, test_per_class=3)
        print(f"fixture written in {time.perf_counter() - start:.1f} s")
        config = get_config(
            "cub", data_root=tmp, pretrained=False, epochs=epochs, max_steps_per_epoch=steps_per_epoch,
            selection="last", num_workers=args.workers, output_dir=str(Path(tmp) / "run"),
        )
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = fit(config, progress=False)
        seconds = time.perf_counter() - start
    device = torch.cuda.get_device_name()
    print(f"device: {device}, torch {torch.__version__}, AMP float16 + channels_last, batch 32, 224 px")
    for row in result.history:
        print(f"epoch {row['epoch']}: {row['images_per_s']:.0f} images/s (train), loss {row['train_loss']:.3f}")
    print(f"{epochs * steps_per_epoch} steps in {seconds:.1f} s including evaluation; "
          f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
