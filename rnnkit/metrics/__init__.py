"""Evaluation metrics: classification reports, their text table, and the confusion-matrix picture."""

from rnnkit.metrics.classification import (
    MetricsError,
    classification_report,
    format_report,
    multilabel_report,
    plot_confusion,
)

__all__ = ["MetricsError", "classification_report", "format_report", "multilabel_report", "plot_confusion"]
