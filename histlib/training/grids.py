"""The analysis as data: named grids of config overrides x seeds (run by ``histlib.sweep``) and the
tuning studies' search spaces (run by ``histlib.tuning``).

Each :class:`Grid` answers one question of the analysis notebook on an offline stand-in's CPU
recipe. ``fixed`` overrides apply to every point (the sweep budget); ``points`` are the settings
compared. A derived grid (``derive_from``) takes its points from a tuning study's trials table:
the best trial of each loss on the *validation* classes (the equal tuning budget of Musgrave et
al., "A Metric Learning Reality Check"), re-trained with more seeds and evaluated once on the
unseen test classes.

Each :class:`Tuning` is a study per loss with the same number of trials: a seeded TPE sampler over
:data:`SEARCH_SPACES` (each loss's own knobs over its paper's sensitivity range, plus
:data:`SHARED_SPACE`, the knobs every loss has), one pruner on per-epoch validation MAP@R.

    >>> GRIDS["lambda_s"].points
    ({'lambda_s': 0.0}, {'lambda_s': 0.25}, {'lambda_s': 1.0}, {'lambda_s': 4.0})
    >>> [p.name for p in search_space("proxy_anchor")]
    ['lr', 'batch_size', 'images_per_class', 'proxy_anchor_margin', 'proxy_anchor_alpha', 'lr_ds']
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..data.fashion_mnist import example_folder
from .config import STAND_INS, get_config

__all__ = ["Grid", "Scaled", "apply_variant", "variant_label", "PRIMARY_SEEDS", "GRIDS", "PLATEAU_BUDGET",
           "FROZEN_PLATEAU_BUDGET", "WIDE_SPACES", "PLATEAU_ABLATIONS", "DISTANCE_ABLATIONS",
           "SWEEP_BUDGET", "CONTROLS", "CONTROL_SETTINGS", "Param", "SHARED_SPACE", "SEARCH_SPACES",
           "search_space", "Tuning", "TUNINGS", "PRUNER", "point_label", "OWN_EXAMPLE",
           "OWN_VALIDATION"]

#: Notebook 8's example on the glyphs recipe: Fashion-MNIST's 10 classes as a class folder, split 5 / 5 into
#: training and unseen test classes. With 5 training classes it trains on all of them for a fixed budget
#: (selection="last") of 10 epochs, by which the recipe's halving learning rate is 1/32 of its start.
#: OWN_VALIDATION, its comparison: 2 of the 5 held out to select the epoch (the recipe's 0.2 would hold out 1).
OWN_EXAMPLE = {"dataset": "folder", "max_images_per_class": None, "selection": "last", "epochs": 10}
OWN_VALIDATION = {**OWN_EXAMPLE, "selection": "val", "val_fraction": 0.4}

#: The first sweeps' run length on the glyphs recipe: 8 epochs. It did not reach a plateau: 78-93 % of
#: those tables' runs select their last epoch (``python -m histlib.plateau``); PLATEAU_BUDGET replaces it.
SWEEP_BUDGET = {"epochs": 8, "test_every_epoch": False}

#: Trained to a plateau (issue "Experiments that can answer their questions"): early stopping on validation
#: MAP@R. From scratch: stop after PATIENCE epochs without a gain of more than MIN_DELTA (0.2 points), at
#: most ``epochs``; chosen by replaying the stopping rule on the 20-epoch curves of ``plateau_calibration``
#: (notebook 7 shows the replay). Frozen trunk: the same rule with 5 epochs' patience, at most 40 epochs,
#: chosen on the 30-epoch curves of the frozen tables (0-1 of 20-100 runs per table would reach the last).
PLATEAU_BUDGET = {"epochs": 24, "patience": 3, "min_delta": 0.002, "test_every_epoch": False}
FROZEN_PLATEAU_BUDGET = {"epochs": 40, "patience": 5, "min_delta": 0.002, "test_every_epoch": False}


def point_label(point: dict) -> str:
    """A grid point's name in the sweep tables' ``point`` column: its settings as ``key=value``, in order.

    >>> point_label({"alpha": 2.0, "tau": 4.0}), point_label({"loss": "proxy_anchor"}), point_label({})
    ('alpha=2.0 tau=4.0', 'loss=proxy_anchor', 'recipe')
    """
    return " ".join(f"{key}={value}" for key, value in point.items()) or "recipe"


@dataclass(frozen=True)
class Grid:
    """A question, the recipe it is asked on, the points compared and the seeds of each point."""

    name: str
    question: str
    base: str
    points: tuple[dict, ...] = ()
    seeds: tuple[int, ...] = (1, 2, 3)
    fixed: dict = field(default_factory=dict)
    derive_from: str | None = None  # a tuning study (TUNINGS) whose best trial per loss is re-run
    derive_losses: tuple[str, ...] | None = None  # of a derived grid: only these losses' best trials (None: all)
    variants: tuple[dict, ...] = ()  # of a derived grid: each applied to the first derived point (see Scaled)
    each_loss_at: tuple[dict, ...] = ()  # of a derived grid: its points are instead every derived point with
    # each of these settings (e.g. each loss's tuned point at each batch size)
    needs_hypergraph: bool = False  # of a derived grid: its HIST point must train L_CE through the hypergraph
    # (lambda_s > 0, G from H); an ablation of the hypergraph at a winner without one compares nothing
    derive_keys: tuple[str, ...] | None = None  # of a derived grid: only these settings of each tuned point (and
    # its loss) are taken; the rest stay the grid's recipe's (e.g. each loss's own learning rates on another stand-in)
    analysis: bool = True  # False: not notebook 7's analysis nor part of ``python -m histlib.sweep all`` (the CI's
    # machinery check, the training notebooks' own seeds)
    full_curves: bool = False  # True: every epoch's val_/test_ metrics and the untrained network as epoch 0
    data: Callable[[Path], Path] | None = None  # own data: the project's data folder -> the dataset's root (made
    # there if missing), given to every run as data_root
    points_from: Callable[[Path], tuple[dict, ...]] | None = None  # the points read from a committed table under
    # the results folder (e.g. the settings of results/membership_predictions.csv), instead of ``points``

    def points_for(self, results: Path) -> tuple[dict, ...]:
        """The points; for a derived grid, the best completed trial of each loss in its study's table
        (of ``derive_losses`` only, where given), then each of ``variants`` applied to the first of them;
        for a grid with ``points_from``, the points it reads under ``results``."""
        if self.points_from is not None:
            return self.points_from(Path(results))
        if self.derive_from is None:
            return self.points
        points = TUNINGS[self.derive_from].best_points(results)
        if self.derive_losses is not None:
            points = tuple(point for point in points if point["loss"] in self.derive_losses)
        for point in points:
            if self.needs_hypergraph and point["loss"] == "hist" and (
                    point.get("lambda_s", 1.0) == 0 or point.get("hgnn_propagation", "hypergraph") != "hypergraph"):
                raise ValueError(f"grid {self.name!r}: the tuned HIST of {self.derive_from!r} has lambda_s="
                                 f"{point.get('lambda_s')} and hgnn_propagation={point.get('hgnn_propagation')!r}: its "
                                 "hypergraph does not reach the loss, so ablating it compares runs that differ in "
                                 "nothing; the study's answer is that the tuned optimum does without it (report that)")
        if self.derive_keys is not None:
            points = tuple({k: v for k, v in point.items() if k == "loss" or k in self.derive_keys} for point in points)
        if self.each_loss_at:
            return tuple(apply_variant(point, setting) for point in points for setting in self.each_loss_at)
        varied = tuple(apply_variant(points[0], variant) for variant in self.variants)
        for variant, point in zip(self.variants, varied):
            if point == points[0]:
                raise ValueError(f"grid {self.name!r}: the variant {variant_label(variant)} leaves the point "
                                 f"{point_label(points[0])!r} unchanged (the tuned value is already that); "
                                 "change the variant in histlib/training/grids.py")
        return points + varied

    def named_points(self, results: Path) -> dict[str, dict]:
        """The points by a short name: a derived point by its loss, a variant by :func:`variant_label`
        (prefixed by nothing: it varies the first derived point), any other point by its label.

        >>> list(GRIDS["lambda_s"].named_points(Path("results")))
        ['lambda_s=0.0', 'lambda_s=0.25', 'lambda_s=1.0', 'lambda_s=4.0']
        """
        points = self.points_for(results)
        if self.derive_from is None:
            return {point_label(point): point for point in points}
        if self.each_loss_at:
            return {f"{point['loss']} {variant_label(setting)}": point
                    for point, setting in zip(points, self.each_loss_at * (len(points) // len(self.each_loss_at)))}
        derived = points[:len(points) - len(self.variants)]
        return {**{point["loss"]: point for point in derived},
                **{variant_label(variant): point for variant, point in zip(self.variants, points[len(derived):])}}

    @property
    def key(self) -> str:
        """The one setting a one-dimensional grid varies (a ValueError for other grids)."""
        keys = {key for point in self.points for key in point}
        if len(keys) != 1:
            raise ValueError(f"grid {self.name!r} varies {sorted(keys) or 'nothing'}, not one setting")
        return keys.pop()

    def values(self, key: str | None = None) -> list:
        """The values of ``key`` (default: :attr:`key`) over the points, in order, each once.

        >>> GRIDS["tau"].values()
        [4.0, 8.0, 16.0, 32.0, 64.0]
        """
        key = self.key if key is None else key
        return list(dict.fromkeys(point[key] for point in self.points if key in point))

    def recipe_value(self, key: str | None = None):
        """The grid's recipe's own setting of ``key`` (default: :attr:`key`): the reference its points
        are compared with.

        >>> GRIDS["tau"].recipe_value(), GRIDS["depth"].recipe_value(), GRIDS["frozen_tau"].recipe_value()
        (32.0, 2, 32.0)
        """
        return getattr(get_config(self.base, **self.fixed), self.key if key is None else key)


@dataclass(frozen=True)
class Scaled:
    """A variant's value relative to the point it is applied to: the point's value times ``factor``.

    >>> apply_variant({"tau": 4.0, "alpha": 2.0}, {"tau": Scaled(2.0), "hgnn_layers": 3})
    {'tau': 8.0, 'alpha': 2.0, 'hgnn_layers': 3}
    """

    factor: float


def apply_variant(point: dict, variant: dict) -> dict:
    """``point`` with ``variant``'s settings (a :class:`Scaled` value multiplies the point's own value,
    which must be there)."""
    out = dict(point)
    for key, value in variant.items():
        if isinstance(value, Scaled):
            if key not in point:
                raise ValueError(f"the variant scales {key!r}, which the point {point_label(point)!r} does not set")
            value = point[key] * value.factor
        out[key] = value
    return out


def variant_label(variant: dict) -> str:
    """A variant's short name: its settings as ``key=value``, a scaled one as ``key x factor``.

    >>> variant_label({"lambda_s": 0.0}), variant_label({"tau": Scaled(0.5)})
    ('lambda_s=0.0', 'tau x0.5')
    """
    return " ".join(f"{key} x{value.factor:g}" if isinstance(value, Scaled) else f"{key}={value}"
                    for key, value in variant.items())


def _grid(name: str, question: str, key: str, values, **kwargs) -> Grid:
    return Grid(name, question, "glyphs", tuple({key: v} for v in values), fixed=dict(SWEEP_BUDGET), **kwargs)


@dataclass(frozen=True)
class Param:
    """One tuned setting: a :class:`~histlib.training.TrainConfig` field, a range or a set of choices.

    >>> Param("tau", 2.0, 64.0, log=True).describe()
    'tau in [2, 64], log scale'
    """

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()
    integer: bool = False
    or_zero: bool = False  # a range that can also be exactly 0 (drawn as a choice first: the switch ``zero_flag``)

    @property
    def zero_flag(self) -> str:
        """The name of the choice that sets an ``or_zero`` setting to 0 (e.g. ``lambda_s_is_zero``)."""
        return f"{self.name}_is_zero"

    def contains(self, value) -> bool:
        """Whether ``value`` lies in this setting's space (a choice of the same type, or a number in range).

        >>> Param("batch_size", choices=(32, 64)).contains(64), Param("tau", 2.0, 64.0).contains(1.0)
        (True, False)
        >>> Param("lambda_s", 0.01, 10.0, log=True, or_zero=True).contains(0.0)
        True
        """
        if self.choices:
            return any(value is c or (type(value) is type(c) and value == c) for c in self.choices)
        if self.or_zero and isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
            return True
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high

    def describe(self) -> str:
        if self.choices:
            return f"{self.name} in {{{', '.join(map(str, self.choices))}}}"
        return (f"{self.name} in [{self.low:g}, {self.high:g}]" + (" or 0" if self.or_zero else "")
                + (", log scale" if self.log else ""))


#: The knobs every loss has: the learning rate of the network, the batch size, and the sampler
#: (None: plain random batches, the HIST recipe; 4: four images of each class, Multi-Similarity's).
SHARED_SPACE = (
    Param("lr", 1e-4, 1e-2, log=True),
    Param("batch_size", choices=(32, 64, 128)),
    Param("images_per_class", choices=(None, 4)),
)

#: Each loss's own knobs, over (at least) the range its paper's sensitivity study covers.
#: HIST: tau and alpha (the paper's sensitivity figures; the replication's Bayesian tuning moved both),
#: lambda_s, the class distributions' learning rate (lr_ds) and the HGNN's (lr x hgnn_lr_factor).
#: Proxy-Anchor: margin delta and scale alpha (its paper's figure), and its proxies' learning rate
#: (lr_ds, as HIST's class distributions). Multi-Similarity: alpha, beta and the base (lambda) of its paper.
SEARCH_SPACES: dict[str, tuple[Param, ...]] = {
    "hist": (
        Param("tau", 2.0, 64.0, log=True),
        Param("alpha", 0.25, 32.0, log=True),
        Param("lambda_s", 0.1, 10.0, log=True),
        Param("lr_ds", 1e-3, 1.0, log=True),
        Param("hgnn_lr_factor", 0.3, 30.0, log=True),
    ),
    "proxy_anchor": (
        Param("proxy_anchor_margin", 0.0, 0.5),
        Param("proxy_anchor_alpha", 4.0, 128.0, log=True),
        Param("lr_ds", 1e-3, 1.0, log=True),
    ),
    "multi_similarity": (
        Param("ms_alpha", 0.5, 16.0, log=True),
        Param("ms_beta", 10.0, 100.0, log=True),
        Param("ms_base", 0.0, 1.0),
    ),
}


def search_space(loss: str) -> tuple[Param, ...]:
    """The knobs tuned for ``loss``: the shared ones, then its own."""
    if loss not in SEARCH_SPACES:
        raise KeyError(f"no search space for loss {loss!r}; choose one of {sorted(SEARCH_SPACES)}")
    return SHARED_SPACE + SEARCH_SPACES[loss]


#: The spaces of the plateau studies (issue "Experiments that can answer their questions"): every bound a
#: winner of the first studies touched, widened (batch 32 for HIST and Proxy-Anchor, the smallest choice, and
#: frozen Multi-Similarity's 128, the largest; hgnn_lr_factor 0.32 / 0.37 against 0.3; frozen tau 2.14
#: against 2; frozen Proxy-Anchor's alpha 5.6 against 4; lr 0.0065 within a factor 2 of 1e-2), and HIST's
#: space reaching L_D alone (lambda_s = 0) and the G = I control (hgnn_propagation = "identity"). The largest
#: batch is 192, not 256: with 4 images per class a batch of 256 needs 64 classes, and glyphs trains on 63.
WIDE_SHARED_SPACE = (
    Param("lr", 1e-4, 3e-2, log=True),
    Param("batch_size", choices=(16, 32, 64, 128, 192)),
    Param("images_per_class", choices=(None, 4)),
)
WIDE_SPACES: dict[str, tuple[Param, ...]] = {
    "hist": WIDE_SHARED_SPACE + (
        Param("tau", 0.5, 64.0, log=True),
        Param("alpha", 0.25, 32.0, log=True),
        Param("lambda_s", 0.01, 10.0, log=True, or_zero=True),
        Param("lr_ds", 1e-4, 1.0, log=True),
        Param("hgnn_lr_factor", 0.01, 30.0, log=True),
        Param("hgnn_propagation", choices=("hypergraph", "identity")),
    ),
    "proxy_anchor": WIDE_SHARED_SPACE + (
        Param("proxy_anchor_margin", 0.0, 0.5),
        Param("proxy_anchor_alpha", 1.0, 128.0, log=True),
        Param("lr_ds", 1e-4, 1.0, log=True),
    ),
    "multi_similarity": WIDE_SHARED_SPACE + (
        Param("ms_alpha", 0.25, 16.0, log=True),
        Param("ms_beta", 5.0, 100.0, log=True),
        Param("ms_base", 0.0, 1.0),
    ),
}


#: The one pruner of every study (optuna.pruners.MedianPruner's arguments): after 5 trials, a trial
#: whose validation MAP@R at an epoch is below the median of the earlier trials at that epoch stops,
#: from the end of the first quarter of the epochs on.
PRUNER = {"n_startup_trials": 5, "warmup_fraction": 0.25}


@dataclass(frozen=True)
class Tuning:
    """A tuning study per loss: ``trials`` trials each on ``base`` (+ ``fixed``), seed ``seed``."""

    name: str
    question: str
    base: str
    trials: int
    fixed: dict = field(default_factory=dict)
    losses: tuple[str, ...] = ("hist", "proxy_anchor", "multi_similarity")
    seed: int = 1  # the sampler's seed and every trial's training seed
    metric: str = "map@r"  # the objective: validation MAP@R of the model selected on the validation classes
    spaces: dict[str, tuple[Param, ...]] | None = None  # each loss's whole space; None: search_space(loss)
    rescore_top: int = 0  # re-train each loss's best few completed trials ...
    rescore_seeds: tuple[int, ...] = ()  # ... with these seeds (other validation splits and initialisations)

    def space(self, loss: str) -> tuple[Param, ...]:
        """The settings this study tunes for ``loss``."""
        if self.spaces is None:
            return search_space(loss)
        if loss not in self.spaces:
            raise KeyError(f"study {self.name!r} has no search space for loss {loss!r}; choose one of "
                           f"{sorted(self.spaces)}")
        return self.spaces[loss]

    def best_points(self, results: Path) -> tuple[dict, ...]:
        """The best completed trial of each loss in ``results/<name>.csv``, as grid points; for a study
        that re-scores (``rescore_top``), the trial with the best mean validation score over its own seed
        and ``rescore_seeds`` in ``results/<name>_rescored.csv`` (:func:`histlib.tuning.rescore`)."""
        if self.rescore_top:
            from ..tuning import rescored_winners

            return tuple(rescored_winners(self, results)[loss]["point"] for loss in self.losses)
        table = Path(results) / f"{self.name}.csv"
        if not table.is_file():
            raise FileNotFoundError(f"{table} is missing: the head-to-head re-runs the best trial of each loss of "
                                    f"the {self.name!r} study; run `python -m histlib.tuning {self.name}` first")
        with open(table, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
        missing = [c for c in ("loss", "state", "value") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{table} has no column {missing}: it is not a trials table of histlib.tuning")
        points = []
        for loss in self.losses:
            done = [r for r in rows if r["loss"] == loss and r["state"] == "COMPLETE"]
            if len(done) == 0:
                raise ValueError(f"{table} has no completed trial of {loss!r}: finish the {self.name!r} study first")
            best = max(done, key=lambda r: _number(table, r, "value"))
            points.append(self.trial_point(table, best))
        return tuple(points)

    def trial_point(self, table: Path, row: dict) -> dict:
        """A trials-table row's settings as a grid point (``loss`` first)."""
        return {"loss": row["loss"], **{p.name: _param_value(table, row, p) for p in self.space(row["loss"])}}


def _number(table: Path, row: dict, column: str) -> float:
    try:
        return float(row[column])
    except (TypeError, ValueError):
        raise ValueError(f"{table}, trial {row.get('trial')} of {row.get('loss')!r}: {column} is {row[column]!r}, "
                         "not a number") from None


def _param_value(table: Path, row: dict, param: Param):
    """A parameter's value as the trials table spells it (an empty cell is None where None is a choice)."""
    if param.name not in row:
        raise ValueError(f"{table} has no column {param.name!r}, a parameter of {row.get('loss')!r}")
    text = row[param.name]
    if param.choices:
        for choice in param.choices:
            if (text in ("", None) and choice is None) or (choice is not None and str(choice) == str(text)):
                return choice
        raise ValueError(f"{table}, trial {row.get('trial')} of {row.get('loss')!r}: {param.name} is {text!r}, not "
                         f"one of its choices {param.choices}")
    value = _number(table, row, param.name)
    if not param.contains(value):
        raise ValueError(f"{table}, trial {row.get('trial')} of {row.get('loss')!r}: {param.name} = {value} lies "
                         f"outside its search space ({param.describe()})")
    return int(value) if param.integer else value


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

#: The seeds of every primary comparison (histlib.verdicts): 10 paired seeds per setting.
PRIMARY_SEEDS = tuple(range(1, 11))

#: The hypergraph's ablations of a tuned HIST: L_D alone (no L_CE), and G = I (the HGNN a per-sample
#: classifier: L_CE without the hypergraph).
HYPERGRAPH_ABLATIONS = ({"lambda_s": 0.0}, {"hgnn_propagation": "identity"})
#: At the plateau studies' tuned HIST, also hard (one-hot) memberships (G only within classes: no
#: semantic tuplets) and alpha = 0 (every sample fully in every hyperedge: G uniform).
PLATEAU_ABLATIONS = HYPERGRAPH_ABLATIONS + ({"membership": "hard"}, {"alpha": 0.0})
#: The batch size at a fixed number of optimiser steps (the first batch grid compared HIST alone at fixed
#: epochs, so a smaller batch also took more steps): every run takes 56 rounds of 20 steps (1,120 steps; a
#: batch-64 epoch of glyphs is about 75), the learning rate halved every 8 rounds (160 steps, as the
#: glyphs recipe's every 2 epochs of batch 64), no early stopping: the same steps and schedule for all.
FIXED_STEPS = {"epochs": 56, "max_steps_per_epoch": 20, "lr_step": 8, "test_every_epoch": False}
BATCH_SIZES = (16, 32, 64, 128)
#: A loss's own learning rates: the network's, the class distributions' or proxies' (lr_ds) and the HGNN's factor.
LEARNING_RATES = ("lr", "lr_ds", "hgnn_lr_factor")
#: The distance that builds the hyperedges (the paper's Mahalanobis against cosine and Euclidean).
DISTANCE_ABLATIONS = ({"hyperedge_distance": "cosine"}, {"hyperedge_distance": "euclidean"})

#: The paper's sensitivity claims at a tuned HIST: a batch twice as large (the tuned batch is 32, the
#: space's smallest), one and three HGNN layers instead of two, tau and alpha halved and doubled.
SENSITIVITY_VARIANTS = ({"batch_size": 64}, {"hgnn_layers": 1}, {"hgnn_layers": 3}, {"tau": Scaled(0.5)},
                        {"tau": Scaled(2.0)}, {"alpha": Scaled(0.5)}, {"alpha": Scaled(2.0)})

#: The frozen-trunk regime's stand-ins and the losses compared there: each at its paper's defaults
#: (pytorch-metric-learning's), Multi-Similarity with the m-per-class sampler its paper uses.
FROZEN_STAND_INS = tuple(STAND_INS.values())
FROZEN_LOSSES = ({"loss": "hist"}, {"loss": "hist", "lambda_s": 0.0}, {"loss": "proxy_anchor"},
                 {"loss": "multi_similarity", "images_per_class": 4})
FROZEN_CURVE_EPOCHS = 40

def _membership_points(results: Path) -> tuple[dict, ...]:
    from ..membership import prediction_points

    return prediction_points(results)


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
    Grid("head_to_head", "From scratch (glyphs): the best trial of each loss's tuning study, 10 seeds, evaluated "
         "once on the unseen test classes", "glyphs", seeds=PRIMARY_SEEDS, fixed=dict(SWEEP_BUDGET),
         derive_from="tuning"),
    Grid("frozen_head_to_head", "Frozen trunk (glyphs): the best trial of each loss's tuning study, 10 seeds, "
         "evaluated once on the unseen test classes", "glyphs_frozen", seeds=PRIMARY_SEEDS,
         fixed={"test_every_epoch": False}, derive_from="frozen_tuning"),
    # The ablations of the primary comparisons (histlib.verdicts), at the tuned HIST of each regime, where
    # its HGNN learns: the point itself (the head-to-head's runs, trained once), L_D alone and G = I; frozen, also the
    # paper's sensitivity claims (batch size, HGNN depth, tau and alpha halved and doubled).
    Grid("ablation", "From scratch (glyphs): the tuned HIST without L_CE and with G = I, 10 seeds", "glyphs",
         seeds=PRIMARY_SEEDS, fixed=dict(SWEEP_BUDGET), derive_from="tuning", derive_losses=("hist",),
         variants=HYPERGRAPH_ABLATIONS),
    Grid("frozen_ablation", "Frozen trunk (glyphs): the tuned HIST without L_CE, with G = I, and with its batch "
         "size, HGNN depth, tau and alpha changed, 10 seeds", "glyphs_frozen", seeds=PRIMARY_SEEDS,
         fixed={"test_every_epoch": False}, derive_from="frozen_tuning", derive_losses=("hist",),
         variants=HYPERGRAPH_ABLATIONS + SENSITIVITY_VARIANTS),
    # How long until the from-scratch runs plateau? Long runs without early stopping, whose validation curves
    # choose the plateau budget (PLATEAU_BUDGET: its patience and most epochs, by replaying the stopping rule).
    Grid("plateau_calibration", "From scratch (glyphs): how many epochs until validation MAP@R stops rising? "
         "Each loss's tuned point of the first study, 20 epochs, 3 seeds", "glyphs", seeds=(1, 2, 3),
         fixed={**SWEEP_BUDGET, "epochs": 20}, derive_from="tuning", analysis=False),
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
    # (curves: glyphs and kanji; typefaces' runs take 50-104 s per 30 epochs on 2 cores, its own runs' curves show it)
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
    # The training notebooks' own runs (02, 03, 04; 01 and 06 share 02's), their recipe unchanged, over
    # seeds: what the notebooks' sentences about trained numbers and curve shapes are made of, and the
    # band a live run of any seed on any CPU is checked against (histlib.workbook.checks).
    *(Grid(f"notebook_{stand_in}", f"Notebook {number}'s run ({stand_in}, its recipe unchanged) over 5 seeds: "
           "every epoch's validation and test metrics, from the untrained network on", stand_in,
           ({},), seeds=(1, 2, 3, 4, 5), full_curves=True, analysis=False)
      for number, stand_in in (("2", "glyphs"), ("3", "typefaces"), ("4", "kanji"))),
    # Notebook 8's own-data example: the glyphs recipe on a class folder, through histlib.data.own.
    Grid("notebook_own", "Notebook 8's run: the glyphs recipe on Fashion-MNIST exported as your own data would be "
         "(a class folder, 100 images per class), all 5 training classes, 10 epochs, over 10 seeds", "glyphs",
         ({},), seeds=tuple(range(1, 11)), fixed=OWN_EXAMPLE, full_curves=True, analysis=False, data=example_folder),
    Grid("own_validation", "Notebook 8's comparison: the same runs with 2 of the 5 training classes held out to "
         "choose the epoch on their validation MAP@R (10 seeds, paired with notebook_own)", "glyphs", ({},),
         seeds=tuple(range(1, 11)), fixed=OWN_VALIDATION, full_curves=True, analysis=False, data=example_folder),
    # Trained to a plateau, re-tuned over widened spaces (issue "Experiments that can answer their questions"):
    # each regime's head-to-head, the hypergraph ablated at its tuned HIST, and the hyperedges' distance.
    # (analysis=False until their tables are committed: notebook 7 and `sweep all` then take them up.)
    *(grid for prefix, base, budget in (("plateau", "glyphs", PLATEAU_BUDGET),
                                        ("frozen_plateau", "glyphs_frozen", FROZEN_PLATEAU_BUDGET))
      for regime in ["From scratch (glyphs)" if prefix == "plateau" else "Frozen trunk (glyphs)"]
      for grid in (
          Grid(f"{prefix}_head_to_head", f"{regime}, trained to a plateau: the re-scored winner of each loss's "
               "widened tuning study, 10 seeds, evaluated once on the unseen test classes", base, seeds=PRIMARY_SEEDS,
               fixed=dict(budget), derive_from=f"{prefix}_tuning", analysis=False),
          Grid(f"{prefix}_ablation", f"{regime}, trained to a plateau: the tuned HIST without L_CE, with G = I, with "
               "hard memberships and with alpha = 0, 10 seeds", base, seeds=PRIMARY_SEEDS, fixed=dict(budget),
               derive_from=f"{prefix}_tuning", derive_losses=("hist",), variants=PLATEAU_ABLATIONS, analysis=False,
               needs_hypergraph=True),
          Grid(f"{prefix}_distance", f"{regime}, trained to a plateau: the tuned HIST's hyperedges built with the "
               "paper's Mahalanobis distance, cosine and Euclidean, 10 seeds", base, seeds=PRIMARY_SEEDS,
               fixed=dict(budget), derive_from=f"{prefix}_tuning", derive_losses=("hist",),
               variants=DISTANCE_ABLATIONS, analysis=False, needs_hypergraph=True),
      )),
    # The other stand-ins trained to a plateau, each loss at its own learning rates (those of its plateau-tuned
    # glyphs point; the first regime grids gave Proxy-Anchor HIST's): HIST, L_D alone, Proxy-Anchor, Multi-Similarity.
    *(Grid(f"plateau_{stand_in}", f"{shape}-shaped ({stand_in}), trained to a plateau: HIST, L_D alone, Proxy-Anchor "
           "and Multi-Similarity, each at the learning rates of its plateau-tuned glyphs point, 5 seeds", stand_in,
           seeds=(1, 2, 3, 4, 5), fixed={**PLATEAU_BUDGET, "max_steps_per_epoch": 100}, derive_from="plateau_tuning",
           derive_keys=LEARNING_RATES, variants=({"lambda_s": 0.0},), analysis=False)
      for stand_in, shape in (("typefaces", "Cars"), ("kanji", "SOP"))),
    Grid("plateau_batch", "From scratch (glyphs): the batch size at a fixed number of steps (1,120), each loss at its "
         "plateau-tuned settings, batch 16, 32, 64, 128, 3 seeds", "glyphs", fixed=dict(FIXED_STEPS),
         derive_from="plateau_tuning", each_loss_at=tuple({"batch_size": b} for b in BATCH_SIZES), analysis=False),
    # The membership condition as a prediction (histlib.membership): the settings whose outcome was predicted
    # from their first epoch (results/membership_predictions.csv, committed first), trained to a plateau.
    Grid("membership_outcomes", "From scratch (glyphs), trained to a plateau: does the HGNN learn where the first "
         "epoch's memberships predicted it? The predicted settings, 3 seeds", "glyphs", seeds=(1, 2, 3),
         fixed=dict(PLATEAU_BUDGET), points_from=_membership_points, analysis=False),
    Grid("ci", "A tiny grid that checks the sweep machinery (CI; not an experiment)", "glyphs",
         ({"lambda_s": 0.0}, {"lambda_s": 1.0}), seeds=(1, 2),
         fixed={"epochs": 1, "max_steps_per_epoch": 2, "test_every_epoch": False}, analysis=False),
)}

#: The tuning studies (``python -m histlib.tuning NAME``): the same number of trials for every loss.
#: From scratch: the sweeps' 8-epoch glyphs budget. Frozen trunk: the 30-epoch glyphs_frozen recipe,
#: seconds per run, so three times the trials. ``ci`` checks the machinery (tests; not an experiment).
TUNINGS: dict[str, Tuning] = {tuning.name: tuning for tuning in (
    Tuning("tuning", "From scratch (glyphs): each loss tuned with the same budget on the validation classes",
           "glyphs", trials=20, fixed=dict(SWEEP_BUDGET)),
    Tuning("frozen_tuning", "Frozen trunk (glyphs): each loss tuned with the same budget on the validation classes",
           "glyphs_frozen", trials=60, fixed={"test_every_epoch": False}),
    # Trained to a plateau over widened spaces (WIDE_SPACES: HIST's reaches lambda_s = 0 and G = I); each
    # loss's best 3 trials re-scored on 3 other validation splits (seeds 2-4) before its winner is chosen.
    Tuning("plateau_tuning", "From scratch (glyphs), trained to a plateau: each loss tuned with the same number of "
           "trials over widened spaces, its best 3 re-scored on 3 other validation splits", "glyphs", trials=20,
           fixed=dict(PLATEAU_BUDGET), spaces=WIDE_SPACES, rescore_top=3, rescore_seeds=(2, 3, 4)),
    Tuning("frozen_plateau_tuning", "Frozen trunk (glyphs), trained to a plateau: each loss tuned with the same "
           "number of trials over widened spaces, its best 3 re-scored on 3 other validation splits", "glyphs_frozen",
           trials=40, fixed=dict(FROZEN_PLATEAU_BUDGET), spaces=WIDE_SPACES, rescore_top=3, rescore_seeds=(2, 3, 4)),
    Tuning("ci", "A tiny study that checks the tuning machinery (tests; not an experiment)", "glyphs", trials=4,
           fixed={"epochs": 2, "max_steps_per_epoch": 2, "test_every_epoch": False}, losses=("hist",)),
)}
