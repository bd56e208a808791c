"""Training loops and evaluation of trainable codecs."""

from .ltc import LTCEvaluation, evaluate_ltc, train_ltc

__all__ = ["LTCEvaluation", "evaluate_ltc", "train_ltc"]
