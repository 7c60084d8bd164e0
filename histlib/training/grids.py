"""The analysis sweeps as data: named grids of config overrides x seeds (run by ``histlib.sweep``).

Each :class:`Grid` answers one question of the analysis notebook on an offline stand-in's CPU
recipe. ``fixed`` overrides apply to every point (the sweep budget); ``points`` are the settings
compared. A derived grid (``derive_from``) takes its points from another grid's table: the best
configuration of each loss on the *validation* classes (the tuning budget of Musgrave et al.,
"A Metric Learning Reality Check"), then re-trained with more seeds and evaluated once on the
unseen test classes.

    >>> GRIDS["lambda_s"].points
    ({'lambda_s': 0.0}, {'lambda_s': 0.25}, {'lambda_s': 1.0}, {'lambda_s': 4.0})
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Grid", "GRIDS", "SWEEP_BUDGET", "CONTROLS", "CONTROL_SETTINGS"]

#: The sweeps' run length on the glyphs recipe, chosen so that validation MAP@R has flattened
#: (the analysis notebook plots every run's validation curve to show it).
SWEEP_BUDGET = {"epochs": 8, "test_every_epoch": False}


@dataclass(frozen=True)
class Grid:
    """A question, the recipe it is asked on, the points compared and the seeds of each point."""

    name: str
    question: str
    base: str
    points: tuple[dict, ...] = ()
    seeds: tuple[int, ...] = (1, 2, 3)
    fixed: dict = field(default_factory=dict)
    derive_from: str | None = None  # a tuning grid whose best configuration per loss is re-run
    analysis: bool = True  # False: a machinery check, not part of ``python -m histlib.sweep all``
    metric: str = "val_map@r"  # what the derived grid ranks the tuning runs by

    def points_for(self, results: Path) -> tuple[dict, ...]:
        """The points; for a derived grid, the best tuning point of each loss in its table."""
        if self.derive_from is None:
            return self.points
        table = Path(results) / f"{self.derive_from}.csv"
        if not table.is_file():
            raise FileNotFoundError(f"grid {self.name!r} re-runs the best configurations of {self.derive_from!r}: "
                                    f"run `python -m histlib.sweep {self.derive_from}` first ({table} is missing)")
        with open(table, newline="") as f:
            rows = list(csv.DictReader(f))
        source = GRIDS[self.derive_from]
        best: dict[str, tuple[float, dict]] = {}
        for point in source.points:
            label = " ".join(f"{k}={v}" for k, v in point.items())
            scores = [float(r[self.metric]) for r in rows if r["point"] == label]
            if not scores:
                raise ValueError(f"{table} has no run of {label!r}: finish the {self.derive_from!r} sweep first")
            score = sum(scores) / len(scores)
            loss = point.get("loss", "hist")
            if loss not in best or score > best[loss][0]:
                best[loss] = (score, point)
        return tuple(point for _, point in best.values())


def _grid(name: str, question: str, key: str, values, **kwargs) -> Grid:
    return Grid(name, question, "glyphs", tuple({key: v} for v in values), fixed=dict(SWEEP_BUDGET), **kwargs)


#: Losses compared head to head; each gets the same number of configurations in ``tuning``.
TUNING_POINTS = (
    {"loss": "hist", "tau": 16.0, "alpha": 1.1},
    {"loss": "hist", "tau": 32.0, "alpha": 1.1},
    {"loss": "hist", "tau": 32.0, "alpha": 0.5},
    {"loss": "hist", "tau": 64.0, "alpha": 2.0},
    {"loss": "proxy_anchor", "proxy_anchor_margin": 0.1, "proxy_anchor_alpha": 32.0},
    {"loss": "proxy_anchor", "proxy_anchor_margin": 0.1, "proxy_anchor_alpha": 16.0},
    {"loss": "proxy_anchor", "proxy_anchor_margin": 0.2, "proxy_anchor_alpha": 32.0},
    {"loss": "proxy_anchor", "proxy_anchor_margin": 0.0, "proxy_anchor_alpha": 64.0},
    {"loss": "multi_similarity", "ms_alpha": 2.0, "ms_beta": 50.0, "ms_base": 0.5},
    {"loss": "multi_similarity", "ms_alpha": 2.0, "ms_beta": 40.0, "ms_base": 0.5, "images_per_class": 4},
    {"loss": "multi_similarity", "ms_alpha": 1.0, "ms_beta": 50.0, "ms_base": 0.7, "images_per_class": 4},
    {"loss": "multi_similarity", "ms_alpha": 2.0, "ms_beta": 50.0, "ms_base": 0.5, "images_per_class": 8},
)

#: The alpha x tau grid of both regimes: the recipe's alpha and tau, and the values where the HGNN learns.
ALPHA_TAU_POINTS = tuple({"alpha": a, "tau": t} for t in (4.0, 32.0) for a in (1.1, 2.0, 4.0, 16.0))

#: Settings of the alpha_tau grid where the HGNN learns: hard membership at the recipe's tau, and the
#: softest membership at which it learns at tau 4 (G then still mixes classes: semantic tuplets).
CONTROL_SETTINGS = ({"alpha": 16.0, "tau": 32.0}, {"alpha": 2.0, "tau": 4.0})

#: The controls of the HGNN question, each a HISTLoss option (histlib.losses) set through the config.
CONTROLS = (
    {},  # the loss as the paper defines it
    {"lambda_s": 0.0},  # no L_CE at all: L_D alone
    {"hgnn_propagation": "identity"},  # G = I: a per-sample classifier, no hypergraph
    {"hgnn_batchnorm": False},  # the HGNN without its BatchNorm
    {"incidence_variances": "unit"},  # H from unit variances
    {"hgnn_gradient": "hgnn_only"},  # L_CE trains the HGNN but not the embedding
)

#: The frozen-trunk regime's stand-ins and the losses compared there: each at its paper's defaults
#: (pytorch-metric-learning's), Multi-Similarity with the m-per-class sampler its paper uses.
FROZEN_STAND_INS = ("glyphs", "typefaces", "kanji")
FROZEN_LOSSES = ({"loss": "hist"}, {"loss": "hist", "lambda_s": 0.0}, {"loss": "proxy_anchor"},
                 {"loss": "multi_similarity", "images_per_class": 4})
FROZEN_CURVE_EPOCHS = 40

GRIDS: dict[str, Grid] = {grid.name: grid for grid in (
    _grid("lambda_s", "Does the hypergraph help? lambda_s = 0 is L_D alone, a proxy-style loss", "lambda_s",
          (0.0, 0.25, 1.0, 4.0)),
    _grid("alpha", "Soft membership: alpha = 0 puts every sample fully in every hyperedge; large alpha keeps "
          "only the own class", "alpha", (0.0, 0.3, 1.1, 4.0, 16.0)),
    _grid("tau", "Temperature of L_D (the paper's sensitivity figure)", "tau", (4.0, 8.0, 16.0, 32.0, 64.0)),
    _grid("depth", "HGNN depth (the paper: 2 is best; the replication: 3+ layers cost ~3 R@1 on Cars)",
          "hgnn_layers", (1, 2, 3, 4)),
    _grid("width", "HGNN width", "hgnn_hidden", (32, 128, 512)),
    _grid("batch", "Batch size (the paper: insensitive; the replication: only from 32 up)", "batch_size",
          (16, 32, 64, 128)),
    _grid("sampler", "Random vs m-per-class sampling", "images_per_class", (None, 4)),
    Grid("tuning", "Equal tuning budget: 4 configurations per loss, scored on validation classes (seed 1)",
         "glyphs", TUNING_POINTS, seeds=(1,), fixed=dict(SWEEP_BUDGET)),
    Grid("head_to_head", "The best configuration of each loss, 5 seeds, evaluated once on the unseen test classes",
         "glyphs", seeds=(1, 2, 3, 4, 5), fixed=dict(SWEEP_BUDGET), derive_from="tuning"),
    # When does the HGNN learn, and does it help retrieval? (notebook 7, section 7)
    Grid("alpha_tau", "When does the HGNN learn? alpha x tau, with L_CE / log C and the HGNN's accuracy logged",
         "glyphs", ALPHA_TAU_POINTS, fixed=dict(SWEEP_BUDGET)),
    Grid("controls", "Where the HGNN learns (alpha 16 at the recipe's tau 32; alpha 2 at tau 4): which part "
         "of HIST carries the effect?", "glyphs",
         tuple({**setting, **control} for setting in CONTROL_SETTINGS for control in CONTROLS),
         fixed=dict(SWEEP_BUDGET)),
    # The other regimes, at their recipes' own budget (4 epochs of at most 100 steps; their validation
    # curves still rise there, so these compare what each loss reaches in that budget, untuned).
    Grid("regime_typefaces", "Cars-shaped (typefaces): HIST with and without the hypergraph term vs Proxy-Anchor",
         "typefaces", ({"lambda_s": 1.0}, {"lambda_s": 0.0}, {"loss": "proxy_anchor"}),
         fixed={"test_every_epoch": False}),
    Grid("regime_kanji", "SOP-shaped (kanji): HIST with and without the hypergraph term vs Proxy-Anchor",
         "kanji", ({"lambda_s": 1.0}, {"lambda_s": 0.0}, {"loss": "proxy_anchor"}), seeds=(1, 2, 3, 4, 5),
         fixed={"test_every_epoch": False}),
    # The frozen-trunk regime (histlib.features; notebook 7, section 8): pretrained EfficientNet-Lite0
    # features, the 512-d head, the loss and the HGNN; seconds per run, so every comparison converges.
    # (curves: glyphs and kanji; typefaces' 40-epoch runs cost ~5 min each on 2 cores, its own runs' curves show it)
    *(Grid(f"frozen_curves_{stand_in}", f"Frozen trunk, {stand_in}: how many epochs until validation MAP@R "
           "flattens? (one seed per loss, long runs)", f"{stand_in}_frozen", FROZEN_LOSSES[::2] + FROZEN_LOSSES[3:],
           seeds=(1,), fixed={"test_every_epoch": False, "epochs": FROZEN_CURVE_EPOCHS})
      for stand_in in ("glyphs", "kanji")),
    *(Grid(f"frozen_{stand_in}", f"Frozen trunk, {stand_in}: HIST, HIST without L_CE, Proxy-Anchor and "
           "Multi-Similarity at their defaults", f"{stand_in}_frozen", FROZEN_LOSSES, seeds=(1, 2, 3, 4, 5),
           fixed={"test_every_epoch": False})
      for stand_in in FROZEN_STAND_INS),
    Grid("frozen_lambda_s", "Frozen trunk, glyphs: does the hypergraph term help? (lambda_s)", "glyphs_frozen",
         tuple({"lambda_s": v} for v in (0.0, 1.0, 4.0)), fixed={"test_every_epoch": False}),
    Grid("frozen_alpha", "Frozen trunk, glyphs: soft membership (alpha)", "glyphs_frozen",
         tuple({"alpha": v} for v in (0.0, 1.1, 4.0, 16.0)), fixed={"test_every_epoch": False}),
    Grid("frozen_tau", "Frozen trunk, glyphs: temperature of L_D (tau)", "glyphs_frozen",
         tuple({"tau": v} for v in (4.0, 16.0, 32.0, 64.0)), fixed={"test_every_epoch": False}),
    Grid("frozen_alpha_tau", "Frozen trunk, glyphs: when does the HGNN learn? alpha x tau", "glyphs_frozen",
         ALPHA_TAU_POINTS, fixed={"test_every_epoch": False}),
    Grid("ci", "A tiny grid that checks the sweep machinery (CI; not an experiment)", "glyphs",
         ({"lambda_s": 0.0}, {"lambda_s": 1.0}), seeds=(1, 2),
         fixed={"epochs": 1, "max_steps_per_epoch": 2, "test_every_epoch": False}, analysis=False),
)}
