"""Figures of the workbook; each function returns a matplotlib ``Figure`` (nothing is shown or saved).

One module per concept: :mod:`.style` (colours, :func:`save_figure`), :mod:`.hypergraph` (one batch),
:mod:`.curves` (a run), :mod:`.embeddings` (maps and retrieval), :mod:`.sweeps` (the analysis and
the tuning studies); everything is importable from ``histlib.plots``.

Conventions: axes are labelled and every colour scale has a labelled colour bar; values that are
compared share a fixed colour scale (G always [0, ``G_SCALE / N``]); a setting on a log-spaced
grid is drawn on a log axis (or at evenly spaced categorical positions); a class keeps one colour
in every figure (:func:`class_colours`, indexed by the class's label, distinct colours for the
classes shown together).

- :func:`hypergraph_figure`: distances, incidence H and propagation G of one batch;
  :func:`hypergraph_alpha_figure` H and G of one batch at several alphas.
- :func:`sample_terms_figure`: each sample's two loss terms and the gradient each sends;
  :func:`batch_settings_figure` both views of one batch at several settings on fixed scales
  (:func:`fixed_log_axis`): the batch explorer's static version.
- :func:`distribution_loss_vs_tau`: what tau does to ``L_D`` for one fixed embedding (a U).
- :func:`training_curves`: per-step losses (smoothed, with ``L_CE``'s chance value log C) and per-epoch
  metrics of a run (the untrained network at epoch 0, the selected epoch marked).
- :func:`embedding_map`, :func:`embedding_stages_figure`, :func:`hyperedge_map`: 2-D maps of
  embeddings, the same points at several stages of training, and a batch's hyperedges.
- :func:`retrieval_grid`: queries and their nearest neighbours with similarities.
- :func:`sweep_figure`, :func:`convergence_figure`: the analysis sweeps with error bars, and
  their validation curves.
- :func:`committed_points_figure`, :func:`fine_tuning_figure`: sweep points against the recipe's
  seed band (:func:`histlib.analysis.seed_band`), and the quick trainer's fine-tunings against it.
- :func:`grid_heatmaps`: a two-way grid (e.g. alpha x tau), one heatmap per quantity;
  :func:`hgnn_grid_figure` the alpha x tau grid of the HGNN question.
- :func:`membership_figure`: per run, how much the HGNN learned against the soft membership in
  other classes' hyperedges (the condition for G to carry class structure).
- :func:`optimisation_history`, :func:`importance_figure`: the tuning studies, per loss, and the
  parameter importances of a loss's search space.
- :mod:`.plateau`: :func:`selected_epochs_figure` (per table, the runs at their last allowed epoch
  against the one-fifth rule) and :func:`predictions_figure` (the membership predictions against
  their outcomes).
"""


from .curves import training_curves
from .embeddings import embedding_map, embedding_stages_figure, hyperedge_map, retrieval_grid
from .hypergraph import (FEW_CLASSES, G_SCALE, batch_settings_figure, distribution_loss_vs_tau, fixed_log_axis,
                         g_colour_label, hypergraph_alpha_figure, hypergraph_figure, sample_terms_figure)
from .plateau import predictions_figure, selected_epochs_figure
from .style import LOSS_COLOURS, LOSS_NAMES, as_numpy, class_colours, colour_differences, save_figure
from .sweeps import (committed_points_figure, convergence_figure, fine_tuning_figure, grid_heatmaps, hgnn_grid_figure,
                     importance_figure, membership_figure, optimisation_history, sweep_figure)

__all__ = [
    "class_colours", "hypergraph_figure", "sample_terms_figure", "distribution_loss_vs_tau", "training_curves",
    "embedding_map", "hyperedge_map", "retrieval_grid", "sweep_figure", "convergence_figure", "grid_heatmaps",
    "hgnn_grid_figure", "membership_figure", "optimisation_history", "importance_figure", "save_figure",
    "LOSS_COLOURS", "LOSS_NAMES", "fixed_log_axis", "batch_settings_figure", "committed_points_figure",
    "fine_tuning_figure", "as_numpy", "colour_differences", "hypergraph_alpha_figure", "embedding_stages_figure",
    "G_SCALE", "FEW_CLASSES", "g_colour_label", "selected_epochs_figure", "predictions_figure",
]
