"""Metrics: shared functions, membership-inference building blocks, one suite per paper."""
from .core import accuracy, confidence, entropy, per_sample_loss, predict
from .mia import (binary_attack_accuracy, class_threshold_efficacy, entropy_lr_mia,
                  svc_mia_efficacy)
from .suites import accuracies, evaluate, loss_mia, suite, suite_fingerprint, suites

__all__ = ["accuracy", "confidence", "entropy", "per_sample_loss", "predict",
           "binary_attack_accuracy", "class_threshold_efficacy", "entropy_lr_mia", "svc_mia_efficacy", "accuracies",
           "evaluate", "loss_mia", "suite", "suite_fingerprint", "suites"]
