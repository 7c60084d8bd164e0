"""Small mode must learn: HIST vs ProxyAnchorLoss on the offline glyphs, same budget, several seeds.

For each seed: the untrained network (the same initialisation the runs start from), the
``glyphs`` recipe trained with HISTLoss, and the same recipe with pytorch-metric-learning's
ProxyAnchorLoss. All evaluated on the unseen test classes, selected on validation classes held
out of the training classes. Prints mean +/- std over seeds and the wall time of each run.

    python benchmarks/train_small.py                 # 3 seeds, the recipe's 3 epochs
    python benchmarks/train_small.py --seeds 1 2 --set epochs=1
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch


from histlib.evaluation import format_recall_table
from histlib.models import EmbeddingNet
from histlib.training import fit, get_config, parse_overrides
from histlib.runtime import seed_everything
from histlib.training import build_run_data, evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of the glyphs recipe")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    results = {"untrained": [], "ProxyAnchorLoss": [], "HISTLoss": []}
    seconds = {name: [] for name in results}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            base = get_config("glyphs", seed=seed, **overrides)
            data = build_run_data(base)
            seed_everything(seed)  # fit() initialises the network from the same seed
            untrained = EmbeddingNet.from_backbone(base.backbone, base.pretrained, embedding_size=base.embedding_size)
            results["untrained"].append(evaluate(untrained, data.test, base, torch.device("cpu"), progress=False))
            for name, loss in (("ProxyAnchorLoss", "proxy_anchor"), ("HISTLoss", "hist")):
                config = get_config("glyphs", seed=seed, loss=loss, output_dir=f"{tmp}/{loss}-{seed}", **overrides)
                start = time.perf_counter()
                result = fit(config, data, progress=False)
                seconds[name].append(time.perf_counter() - start)
                results[name].append(result.test_metrics)
                print(f"seed {seed} {name}: epoch {result.selected_epoch + 1} selected, "
                      f"test R@1 {result.test_metrics['recall@1']:.3f}, {seconds[name][-1]:.0f} s", flush=True)
    config = get_config("glyphs", **overrides)
    print(f"\nglyphs, {len(data.train.classes)} training / {len(data.val.classes)} validation / "
          f"{len(data.test.classes)} unseen test classes ({len(data.test)} test images); "
          f"{config.epochs} epochs, batch {config.batch_size}, {config.backbone}, D={config.embedding_size}; "
          f"selection {config.selection}; seeds {args.seeds}; CPU, {torch.get_num_threads()} threads")
    print(format_recall_table(results, ks=config.eval_ks))
    for name in ("ProxyAnchorLoss", "HISTLoss"):
        print(f"{name}: {sum(seconds[name]) / len(seconds[name]):.0f} s per run (training + per-epoch evaluation)")


if __name__ == "__main__":
    main()
