"""histlib: the HIST deep-metric-learning loss (CVPR 2022), written from its specification.

Public API:
    HISTLoss, HISTTerms, HypergraphNN  -- the loss (a pytorch-metric-learning loss)
    histlib.functional                 -- the pure tensor functions it is built from
    embed, retrieval_metrics           -- evaluation (histlib.evaluation: Recall@K, MAP@R, ...)
"""

from . import functional
from .evaluation import embed, retrieval_metrics
from .losses import HISTLoss, HISTTerms, HypergraphNN

__all__ = ["HISTLoss", "HISTTerms", "HypergraphNN", "embed", "functional", "retrieval_metrics"]
__version__ = "0.1.0"
