"""Evaluation metrics: classification reports, their text table, the confusion-matrix picture, and speech
recognition's word and character error rates (jiwer is imported only when they are computed)."""

from rnnkit.metrics.classification import (
    MetricsError,
    classification_report,
    format_report,
    multilabel_report,
    plot_confusion,
)
from rnnkit.metrics.speech import error_rates

__all__ = ["MetricsError", "classification_report", "error_rates", "format_report", "multilabel_report",
           "plot_confusion"]
