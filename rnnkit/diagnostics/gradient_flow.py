"""How far back a gradient reaches: ``‖∂L/∂x<t>‖`` for a loss read at the last step only.

Backpropagation through time multiplies one Jacobian ``∂a<t>/∂a<t-1>`` per step. In a vanilla RNN those
products shrink (or grow) geometrically, so the gradient that reaches early inputs vanishes (or explodes);
the additive memory of GRUs and LSTMs (``c<t> = Γu * c̃ + Γf * c<t-1>``) keeps a path open. This module
measures that directly.
"""

from __future__ import annotations

import torch


def input_gradient_norms(layer, x: torch.Tensor, state=None, seed: int = 0) -> torch.Tensor:
    """``‖∂L/∂x<t>‖`` for ``t = 1 … T`` with ``L = r · a<T>`` (a fixed random unit direction ``r``).

    Shapes: ``x`` (T, B, X) (time-major) → (T,), averaged over the batch. The layer is unchanged.
    """
    x = x.detach().clone().requires_grad_(True)
    outputs, _ = layer(x.transpose(0, 1) if layer.batch_first else x, state)
    last = (outputs[:, -1] if layer.batch_first else outputs[-1])  # (B, D·H)
    r = torch.randn(last.shape[-1], generator=torch.Generator().manual_seed(seed), dtype=last.dtype)
    r = (r / r.norm()).to(last.device)
    (last @ r).sum().backward()
    return x.grad.norm(dim=2).mean(dim=1).detach()  # (T,)


def plot_gradient_flow(curves: dict[str, torch.Tensor], path, title: str = "gradient flow through time") -> None:
    """One line per curve: ``‖∂L/∂x<t>‖`` against ``t`` on a log scale, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for name, norms in curves.items():
        ax.semilogy(range(1, len(norms) + 1), norms.clamp_min(1e-30).cpu().numpy(), label=name)
    ax.set_xlabel("t (the loss is read at the last step)")
    ax.set_ylabel("‖∂L/∂x<t>‖")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
