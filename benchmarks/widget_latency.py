"""How long the workbook's widgets take to answer, next to their targets.

BatchExplorer (notebook 1, section 7) on the small profile's trained run: milliseconds from a
control change to the redrawn figures, per control (median over interleaved repeats), against the
1 s target; the first change of batch size or state includes one batch's forward pass, later ones
are cached. QuickTrainer (``--trainer``): seconds of one click at the largest step count, which
also trains the recipe's settings once, against the 30 s target.

    python benchmarks/widget_latency.py              # the explorer
    python benchmarks/widget_latency.py --trainer    # and one click of the quick trainer

Reuses the cached run of notebook 2 (trained first if missing, about a minute on 2 idle cores);
HISTLIB_RUNS / HISTLIB_DATA / HISTLIB_RESULTS choose the folders.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from histlib.training import build_run_data, initial_state
from histlib.widgets import BatchExplorer, QuickTrainer
from histlib.workbook import RESULTS, load_or_train, notebook_config, quiet

# (control, two values to alternate between): each change redraws
CHANGES = [
    ("tau", (32.0, 8.0)),
    ("alpha", (1.1, 4.0)),
    ("lambda_s", (1.0, 2.5)),
    ("batch_size", (64, 32)),
    ("images_per_class", (0, 4)),
    ("state", ("after training", "at initialisation")),
]


def explorer_latency(explorer: BatchExplorer, repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name, _ in CHANGES}
    for r in range(repeats):
        for name, values in CHANGES:
            control = getattr(explorer, name)
            start = time.perf_counter()
            control.value = values[(r + 1) % 2]  # the control's observer redraws
            times[name].append(1e3 * (time.perf_counter() - start))
            assert not explorer.message.value, explorer.message.value
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--trainer", action="store_true", help="also time one click of the quick trainer")
    args = parser.parse_args()
    quiet()
    config = notebook_config("cub", "small")
    data = build_run_data(config)
    result = load_or_train(config)
    states = {"at initialisation": initial_state(config, data.num_classes),
              "after training": (result.model, result.criterion)}
    start = time.perf_counter()
    explorer = BatchExplorer(config, data.train, states, class_names=data.train.classes)
    print(f"BatchExplorer built (first batch, forward, figures) in {time.perf_counter() - start:.2f} s; "
          f"torch threads outside the widget: {torch.get_num_threads()}")
    times = explorer_latency(explorer, args.repeats)
    print(f"\n{'control change':<18}{'first (ms)':>12}{'later: median':>15}{'max (ms)':>10}   target 1000 ms")
    for name, values in times.items():
        worst = max(values[0], statistics.median(values[1:]))
        print(f"{name:<18}{values[0]:>12.0f}{statistics.median(values[1:]):>15.0f}{max(values[1:]):>10.0f}   "
              f"{'OK' if worst <= 1000 else 'SLOW'}")
    print("(first: the first change to a new value; a new batch size or sampler draws, embeds and lays out a new "
          "batch then; later changes find it cached)")
    explorer.set(**{name: values[0] for name, values in CHANGES})
    phases = ", ".join(f"{k} {v:.0f} ms" for k, v in explorer.timings.items())
    print(f"one redraw by phase (cached batch): {phases}")

    if args.trainer:
        trainer = QuickTrainer.from_result(result, data, RESULTS)
        trainer.steps.value = trainer.steps.max
        trainer.alpha.value = 4.0
        start = time.perf_counter()
        trainer.run()
        first = time.perf_counter() - start
        trainer.alpha.value = 2.0
        start = time.perf_counter()
        trainer.run()
        second = time.perf_counter() - start
        print(f"\nQuickTrainer at {trainer.steps.max} steps: first click {first:.1f} s (trains the recipe's settings "
              f"too), a later click {second:.1f} s; {1e3 * trainer.seconds_per_step:.0f} ms per step; target 30 s "
              f"{'OK' if first <= 30 else 'SLOW'}")
        print(trainer.verdict(trainer.tries[-1]))


if __name__ == "__main__":
    main()
