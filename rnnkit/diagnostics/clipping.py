"""Exploding gradients, and what clipping does about them: one unstable model trained three ways.

A vanilla RNN whose recurrent weights ``W_aa`` are scaled up (``scale`` 3) has Jacobians ``∂a<t>/∂a<t-1>``
larger than one wherever ``tanh`` is not saturated, so backpropagation through T = 50 steps now and then
returns a gradient thousands of times too large. Plain SGD with a high learning rate turns one such gradient
into a jump that the next steps amplify: the loss blows up, often to ``inf``/``NaN``. Clipping bounds the
step (:func:`rnnkit.training.clipping.clip_gradients`):

- ``none``: the gradient as it comes;
- ``norm``: ``g ← g · max_norm / ‖g‖`` when ``‖g‖ > max_norm`` (the direction is kept);
- ``value``: every component clamped to ``[−max_value, max_value]`` (the direction may change).

The three runs start from the same weights and see the same batches (the adding problem of
:mod:`rnnkit.diagnostics.memory`, a regression with the mean squared error). A run stops at its first
non-finite loss or gradient norm, and is marked as diverged there.

Example::

    result = clipping_experiment(steps=200)
    result.runs["none"].diverged, result.runs["norm"].losses[-1]
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch

from rnnkit.diagnostics.memory import ReadLast, adding_batch, task_loss
from rnnkit.training.clipping import clip_gradients
from rnnkit.training.config import TrainConfig
from rnnkit.training.optim import build_optimizer

VARIANTS = ("none", "norm", "value")
_LABELS = {"none": "no clipping", "norm": "clip by global norm", "value": "clip by value"}


@torch.no_grad()
def scale_recurrent_weights(layer, scale: float) -> None:
    """Multiply the recurrent block ``W_?a`` (the first H columns) of every ``W_?`` of ``layer`` by ``scale``."""
    H = layer.hidden_size
    for name, p in layer.named_parameters():
        if name.split(".")[-1].startswith("W_"):
            p[:, :H] *= scale


@dataclass
class ClipRun:
    """One training run: per step, the loss, the global gradient norm before and after clipping.

    ``diverged_at`` is the 1-based step of the first non-finite loss or norm (the run's last), else None.
    """

    variant: str
    losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    clipped_norms: list[float] = field(default_factory=list)
    diverged_at: int | None = None

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    def final_loss(self, last: int = 20) -> float:
        """The mean loss of the last ``last`` steps (``inf`` when the run diverged)."""
        if self.diverged:
            return math.inf
        tail = self.losses[-last:]
        return sum(tail) / len(tail)

    def to_json(self) -> dict:
        return {"label": _LABELS[self.variant], "steps_run": len(self.losses), "diverged": self.diverged,
                "diverged_at_step": self.diverged_at, "final_loss": _finite_or_none(self.final_loss()),
                "max_grad_norm": _finite_or_none(max(self.grad_norms, default=0.0)),
                "losses": [_finite_or_none(v) for v in self.losses],
                "grad_norms": [_finite_or_none(v) for v in self.grad_norms],
                "clipped_norms": [_finite_or_none(v) for v in self.clipped_norms]}


@dataclass
class ClippingResult:
    """The configuration and one :class:`ClipRun` per variant (``none``, ``norm``, ``value``)."""

    config: dict
    runs: dict[str, ClipRun]

    def to_json(self) -> dict:
        return {"config": self.config, "note": "non-finite values are written as null",
                "variants": {name: run.to_json() for name, run in self.runs.items()}}


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def clipping_experiment(cell: str = "rnn", scale: float = 3.0, steps: int = 200, clip_norm: float = 1.0,
                        clip_value: float = 0.5, lr: float = 0.1, length: int = 50, hidden: int = 32,
                        batch_size: int = 32, seed: int = 0) -> ClippingResult:
    """Train the same scaled-up ``cell`` three times with SGD at ``lr`` on the adding problem of length ``length``:
    without clipping, clipped to global norm ``clip_norm``, clipped to ``clip_value``.

    The weights are drawn under ``torch.manual_seed(seed)`` in a forked RNG (the global RNG is left as it was);
    every run reads the same batches, from ``Generator(seed)``.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ReadLast(cell, 2, hidden, 1)
    scale_recurrent_weights(model.rnn, scale)
    start = copy.deepcopy(model.state_dict())
    limits = {"none": {}, "norm": {"max_norm": clip_norm}, "value": {"max_value": clip_value}}
    runs = {}
    for variant in VARIANTS:
        model.load_state_dict(start)
        optimizer = build_optimizer(model.parameters(), TrainConfig(optimizer="sgd", lr=lr, momentum=0.0))
        generator = torch.Generator().manual_seed(seed)
        run = runs[variant] = ClipRun(variant)
        for step in range(1, steps + 1):
            batch = adding_batch(length, batch_size, generator)
            loss = task_loss("adding", model(batch.x), batch.y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip = clip_gradients(model.parameters(), warn_nonfinite=False, **limits[variant])
            run.losses.append(float(loss.detach()))
            run.grad_norms.append(clip.norm)
            run.clipped_norms.append(_total_norm(model) if clip.finite else clip.norm)
            if not (math.isfinite(run.losses[-1]) and clip.finite):
                run.diverged_at = step
                break
            optimizer.step()
    config = {"cell": cell, "scale": scale, "steps": steps, "clip_norm": clip_norm, "clip_value": clip_value,
              "optimizer": "sgd", "lr": lr, "task": "adding", "length": length, "hidden": hidden,
              "batch_size": batch_size, "seed": seed}
    return ClippingResult(config, runs)


def _total_norm(model) -> float:
    return float(torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None]))


def _top(result: ClippingResult, key: str, headroom: float = 1e4) -> float | None:
    """The top of a panel: ``headroom`` times the largest value of the runs that did not diverge, so a blow-up
    does not squash them against the bottom; None (matplotlib's choice) when every run diverged."""
    kept = [v for run in result.runs.values() if not run.diverged for v in getattr(run, key) if math.isfinite(v)]
    return max(kept) * headroom if kept else None


def format_summary(result: ClippingResult) -> str:
    """One line per variant: final loss, largest gradient norm before clipping, where it diverged."""
    lines = [f"{'variant':<22}{'final loss':>12}{'max ‖g‖ before clip':>22}{'max ‖g‖ after':>15}  diverged"]
    for run in result.runs.values():
        after = max(run.clipped_norms, default=0.0)
        where = f"at step {run.diverged_at}" if run.diverged else "no"
        lines.append(f"{_LABELS[run.variant]:<22}{run.final_loss():>12.4g}{max(run.grad_norms, default=0.0):>22.4g}"
                     f"{after:>15.4g}  {where}")
    return "\n".join(lines)


def plot_clipping(result: ClippingResult, path) -> bool:
    """Loss and pre-clip gradient norm (both log scale) against step, one line per variant, side by side.

    Non-finite points are not drawn as values: a cross at the top of the panel marks where a run diverged.
    Returns False when matplotlib is missing.
    """
    from rnnkit.metrics.figures import pyplot, save_png

    plt = pyplot()
    if plt is None:
        return False
    c = result.config
    fig, (ax_loss, ax_norm) = plt.subplots(1, 2, figsize=(12, 4.6))
    colors = {"none": "tab:red", "norm": "tab:blue", "value": "tab:green"}
    for ax, key in ((ax_loss, "losses"), (ax_norm, "grad_norms")):
        top = _top(result, key)
        for name, run in result.runs.items():
            values = getattr(run, key)
            steps = [i + 1 for i, v in enumerate(values) if math.isfinite(v) and v > 0]
            shown = [values[i - 1] for i in steps]
            label = _LABELS[name]
            if top is not None and shown and max(shown) > top:
                label += f" (leaves the panel; peak {max(shown):.1e})"
            ax.plot(steps, shown, color=colors[name], lw=1.2, label=label)
            if run.diverged:
                ax.plot([run.diverged_at], [0.97], marker="X", ms=11, color=colors[name], linestyle="none",
                        transform=ax.get_xaxis_transform(), clip_on=False,
                        label=f"{_LABELS[name]}: non-finite (inf/NaN) at step {run.diverged_at}")
        if key == "losses":   # Var(v1 + v2) = 2/12 for two U(0, 1) values
            ax.axhline(1 / 6, color="grey", linestyle=":", lw=1.2, label="constant guess ŷ = 1 (MSE 1/6)")
        else:
            ax.axhline(c["clip_norm"], color="black", linestyle="--", lw=1, label=f"clip norm = {c['clip_norm']:g}")
        ax.set_yscale("log")
        if top is not None:
            low = min(v for run in result.runs.values() for v in getattr(run, key) if math.isfinite(v) and v > 0)
            ax.set_ylim((min(low, c["clip_norm"]) if key == "grad_norms" else min(low, 1 / 6)) / 3, top)
        ax.set_xlim(0, c["steps"] + 1)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(("training loss (mean squared error)" if key == "losses"
                       else "global gradient norm ‖g‖₂ before clipping") + ", log scale")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    ax_loss.set_title("loss")
    ax_norm.set_title("gradient norm, measured before clipping")
    fig.suptitle(f"exploding gradients: {c['cell']} with recurrent weights ×{c['scale']:g}, SGD lr {c['lr']:g}, "
                 f"adding problem over T = {c['length']} steps (seed {c['seed']})", fontsize=11)
    fig.tight_layout()
    save_png(fig, path)
    return True
