"""histlib: the HIST deep-metric-learning loss (CVPR 2022), as docs/hist.md defines it.

Public API:
    HISTLoss, HISTTerms, HypergraphNN      -- the loss (a pytorch-metric-learning loss)
    histlib.functional                     -- the pure tensor functions it is built from
    embed, retrieval_metrics, nearest_neighbours
                                           -- evaluation (histlib.evaluation: Recall@K, MAP@R, ...)
    load_dataset                           -- CUB, Cars, SOP and the offline stand-ins (histlib.data)
    histlib.models, histlib.training       -- EmbeddingNet; recipes, fit, load_or_train, run folders
    histlib.runtime                        -- pick_device, seed_everything
    histlib.paths                          -- the project's folders: data/, runs/, results/, figures/
    histlib.sweep, histlib.tuning          -- named grids x seeds, Optuna studies -> tables under results/
    histlib.analysis, histlib.plots        -- the workbook's measurements and figures
    histlib.workbook                       -- what the notebooks share: profiles, load-or-train, checks
"""

from . import functional
from .data import load_dataset
from .evaluation import embed, nearest_neighbours, retrieval_metrics
from .losses import HISTLoss, HISTTerms, HypergraphNN

__all__ = ["HISTLoss", "HISTTerms", "HypergraphNN", "embed", "functional", "load_dataset", "nearest_neighbours",
           "retrieval_metrics"]
__version__ = "0.2.0"
