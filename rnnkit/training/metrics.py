"""``metrics.jsonl`` (one JSON object per logged step or evaluation) and the ``loss.png`` training curve."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

from rnnkit.fileio import atomic_write


class MetricsLog:
    """Append-only JSON lines; :meth:`truncate` drops records after a step, for an exact resume."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def append(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by a kill: everything before it is good
        return records

    def truncate(self, step: int) -> None:
        """Keep only records up to ``step`` (those a resumed run will not log again)."""
        kept = [r for r in self.read() if r.get("step", 0) <= step]
        atomic_write(self.path, "".join(json.dumps(r) + "\n" for r in kept))


def loss_axis_limits(train: list[tuple], valid: list[tuple]) -> tuple[float, float] | None:
    """The loss axis's (bottom, top) when the first steps' loss (often 10× the rest) would flatten the curve:
    up to 1.15 × the largest loss after the first 5 % of steps; None when matplotlib's own limits do."""
    later = [v for _, v in train[len(train) // 20:]] + [v for _, v in valid]
    peak = max([v for _, v in train] + [v for _, v in valid], default=0.0)
    if later and peak > 3 * max(later) > 0:
        return min(0.0, min(later)), 1.15 * max(later)
    return None


def plot_losses(records: list[dict], path: str | Path, title: str = "training curve", unit: str = "token",
                clip_norm: float | None = None) -> bool:
    """Draw the curves of :func:`loss_figure` into ``path`` (PNG); False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warnings.warn("matplotlib is not installed, so no loss.png: pip install 'rnnkit[plot]'", stacklevel=2)
        return False
    fig = loss_figure(records, title, unit, clip_norm)
    tmp = Path(path).with_name(f".{Path(path).name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return True


def loss_figure(records: list[dict], title: str = "training curve", unit: str = "token",
                clip_norm: float | None = None):
    """A matplotlib figure of training and validation loss against steps, the other validation metrics (when
    logged) and the gradient norm before clipping (when logged; log scale, with the clipping threshold
    ``clip_norm`` dashed), one panel each, side by side."""
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    valid = [(r["step"], r["valid_loss"]) for r in records if "valid_loss" in r]
    # Validation metrics besides the loss (accuracy, F1 …) get a panel of their own.
    extra = [k for k in ("valid_accuracy", "valid_macro_f1", "valid_f1", "valid_frame_accuracy", "valid_bleu",
                         "valid_chrf", "valid_wer", "valid_cer")
             if any(k in r for r in records)]
    norms = [(r["step"], r["grad_norm"]) for r in records if "grad_norm" in r]
    panels = 1 + bool(extra) + bool(norms)
    fig, axes = plt.subplots(1, panels, figsize=(7 + 5 * (panels - 1), 4), dpi=100, squeeze=False)
    ax = axes[0][0]
    if extra:
        side = axes[0][1]
        for key in extra:
            points = [(r["step"], r[key]) for r in records if key in r]
            side.plot(*zip(*points), marker="o", markersize=3, label=key.replace("valid_", "validation ")
                      .replace("_", "-" if "macro" in key else " "))
        side.set_xlabel("step")
        side.set_ylabel("validation metric")
        side.set_title("validation")
        side.grid(alpha=0.3)
        side.legend()
    if norms:
        _grad_norm_panel(axes[0][-1], norms, clip_norm)
    if train:
        ax.plot(*zip(*train), label="training loss", color="tab:blue", alpha=0.7, linewidth=1)
    if valid:
        ax.plot(*zip(*valid), label="validation loss", color="tab:orange", marker="o", markersize=3)
    limits = loss_axis_limits(train, valid)
    if limits is not None:
        ax.set_ylim(*limits)
        peak = max(v for _, v in train + valid)
        ax.annotate(f"first steps off the scale (up to {peak:.3g})", xy=(0.98, 0.97), xycoords="axes fraction",
                    ha="right", va="top", fontsize=8, color="gray")
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss (nats per {unit})")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def _grad_norm_panel(ax, norms: list[tuple], clip_norm: float | None) -> None:
    """The global gradient norm ‖g‖ before clipping, on a log scale; norms that are not finite and positive
    (an exploded step, a model without gradients) are left out and counted in a note."""
    shown = [(s, v) for s, v in norms if isinstance(v, (int, float)) and math.isfinite(v) and v > 0]
    if shown:
        ax.plot(*zip(*shown), label="gradient norm ‖g‖ before clipping", color="tab:green", alpha=0.8, linewidth=1)
    if clip_norm is not None:
        ax.axhline(clip_norm, color="tab:red", linestyle="--", linewidth=1, label=f"clipping threshold {clip_norm:g}")
    ax.set_yscale("log")
    if len(shown) < len(norms):
        ax.annotate(f"{len(norms) - len(shown)} non-finite or zero norms not shown", xy=(0.98, 0.03),
                    xycoords="axes fraction", ha="right", va="bottom", fontsize=8, color="gray")
    ax.set_xlabel("step")
    ax.set_ylabel("global gradient norm (log scale)")
    ax.set_title("gradient norm")
    ax.grid(alpha=0.3, which="both")
    if shown or clip_norm is not None:
        ax.legend()
