"""Training loops and evaluation of trainable codecs; one :class:`Trainer` for any model."""

from .ltc import LTCEvaluation, evaluate_ltc, train_ltc
from .trainer import RateDistortionLoss, Trainer, TrainerConfig

__all__ = [
    "LTCEvaluation",
    "RateDistortionLoss",
    "Trainer",
    "TrainerConfig",
    "evaluate_ltc",
    "train_ltc",
]
