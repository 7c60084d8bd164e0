"""histlib: the HIST deep-metric-learning loss (CVPR 2022), written from its specification.

Public API:
    HISTLoss, HISTTerms, HypergraphNN  -- the loss (a pytorch-metric-learning loss)
    histlib.functional                 -- the pure tensor functions it is built from
"""

from . import functional
from .losses import HISTLoss, HISTTerms, HypergraphNN

__all__ = ["HISTLoss", "HISTTerms", "HypergraphNN", "functional"]
__version__ = "0.1.0"
