"""``loss.png``: the loss panel, the validation panel and the gradient-norm panel."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.training import trainer as trainer_module
from rnnkit.training.metrics import loss_figure, plot_losses

plt = pytest.importorskip("matplotlib.pyplot")


def _records(norms, accuracy=False):
    records = []
    for step, norm in enumerate(norms, 1):
        records.append({"step": step, "loss": 3.0 - step / 10, "lr": 1e-3, "grad_norm": norm})
        if step % 5 == 0:
            records.append({"step": step, "valid_loss": 2.9 - step / 10,
                            **({"valid_accuracy": step / 20} if accuracy else {})})
    return records


def test_gradient_norm_panel_is_log_scale_with_the_clipping_threshold_dashed():
    norms = [0.5, 2.0, 8.0, float("nan"), float("inf"), 0.0, 1.5, 3.0, 4.0, 1.0]
    fig = loss_figure(_records(norms, accuracy=True), clip_norm=5.0)
    try:
        loss, side, grad = fig.axes                            # the existing two panels, then the new one
        assert (loss.get_title(), side.get_title(), grad.get_title()) == ("training curve", "validation",
                                                                          "gradient norm")
        assert loss.get_ylabel() == "loss (nats per token)" and side.get_ylabel() == "validation metric"
        assert grad.get_yscale() == "log" and grad.get_xlabel() == "step" and "gradient norm" in grad.get_ylabel()
        curve, threshold = grad.get_lines()
        steps, values = curve.get_data()
        # the non-finite and zero norms are left out, the others drawn at their steps
        assert list(steps) == [1, 2, 3, 7, 8, 9, 10] and np.allclose(values, [0.5, 2, 8, 1.5, 3, 4, 1])
        assert threshold.get_linestyle() == "--" and list(threshold.get_ydata()) == [5.0, 5.0]
        labels = [t.get_text() for t in grad.get_legend().get_texts()]
        assert any("before clipping" in t for t in labels) and any("threshold 5" in t for t in labels)
        assert any("3 non-finite or zero" in t.get_text() for t in grad.texts)
        low, high = grad.get_ylim()
        assert low < 0.5 and high > 8.0 and all(map(math.isfinite, (low, high)))
    finally:
        plt.close(fig)


def test_no_threshold_without_clipping_and_no_panel_without_norms():
    fig = loss_figure(_records([1.0, 2.0, 3.0]), clip_norm=None)
    try:
        assert len(fig.axes) == 2 and len(fig.axes[1].get_lines()) == 1
    finally:
        plt.close(fig)
    fig = loss_figure([{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}])   # records of runs before the panel
    try:
        assert len(fig.axes) == 1
    finally:
        plt.close(fig)
    fig = loss_figure(_records([float("nan"), float("inf")]), clip_norm=1.0)     # nothing finite to draw
    try:
        assert len(fig.axes) == 2 and len(fig.axes[1].get_lines()) == 1
    finally:
        plt.close(fig)


def test_plot_losses_writes_a_readable_png(tmp_path):
    from matplotlib.image import imread

    path = tmp_path / "loss.png"
    assert plot_losses(_records([0.5, float("nan"), 2.0] * 4, accuracy=True), path, clip_norm=1.0)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = imread(path).shape
    assert (width, height) == (1700, 400)
    assert [p.name for p in tmp_path.iterdir()] == ["loss.png"]          # no temporary file left


def test_the_trainer_draws_its_clip_norm(tmp_path, monkeypatch):
    from tests.training.test_trainer import _setup

    seen = []
    monkeypatch.setattr(trainer_module, "plot_losses", lambda records, path, **kw: seen.append(kw))
    _, _, _, trainer = _setup(tmp_path, steps=2)
    trainer.config.clip_norm = 0.25
    trainer.fit()
    assert seen and all(kw["clip_norm"] == 0.25 for kw in seen)
