"""histlib: the HIST deep-metric-learning loss (CVPR 2022), written from its specification.

Public API:
    HISTLoss, HISTTerms, HypergraphNN  -- the loss (a pytorch-metric-learning loss)
    histlib.functional                 -- the pure tensor functions it is built from
    embed, retrieval_metrics           -- evaluation (histlib.evaluation: Recall@K, MAP@R, ...)
    load_dataset                       -- CUB, Cars, SOP, glyphs, Fashion-MNIST (histlib.data)
    histlib.models, histlib.training   -- EmbeddingNet, recipes and the training loop
"""

from . import functional
from .data import load_dataset
from .evaluation import embed, retrieval_metrics
from .losses import HISTLoss, HISTTerms, HypergraphNN

__all__ = ["HISTLoss", "HISTTerms", "HypergraphNN", "embed", "functional", "load_dataset", "retrieval_metrics"]
__version__ = "0.1.0"
