"""How far back a gradient reaches: ``‖∂L/∂x<t>‖`` and ``‖∂L/∂a<t>‖`` (``‖∂L/∂c<t>‖``) for a loss read at the last step.

Backpropagation through time multiplies one Jacobian ``∂a<t>/∂a<t-1>`` per step. In a vanilla RNN those
products shrink (or grow) geometrically, so the gradient that reaches early steps vanishes (or explodes);
the additive memory of GRUs and LSTMs (``c<t> = Γu * c̃ + Γf * c<t-1>``) keeps a path open. This module
measures that directly, per input step (:func:`input_gradient_norms`) or per layer and state
(:func:`state_gradient_norms`), and draws it (:func:`plot_gradient_flow`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def _direction(seed: int, size: int, dtype, device) -> torch.Tensor:
    """A fixed random unit vector ``r``: the loss is ``L = r · a<T>`` (a generator of its own, never the global one)."""
    r = torch.randn(size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (r / r.norm()).to(device=device, dtype=dtype)


def input_gradient_norms(layer, x: torch.Tensor, state=None, seed: int = 0) -> torch.Tensor:
    """``‖∂L/∂x<t>‖`` for ``t = 1 … T`` with ``L = r · a<T>`` (a fixed random unit direction ``r``).

    Shapes: ``x`` (T, B, X) (time-major) → (T,), averaged over the batch. The layer is unchanged.
    """
    x = x.detach().clone().requires_grad_(True)
    outputs, _ = layer(x.transpose(0, 1) if layer.batch_first else x, state)
    last = (outputs[:, -1] if layer.batch_first else outputs[-1])  # (B, D·H)
    (last @ _direction(seed, last.shape[-1], last.dtype, last.device)).sum().backward()
    return x.grad.norm(dim=2).mean(dim=1).detach()  # (T,)


@dataclass
class StateCurve:
    """``‖∂L/∂s<t>‖`` of one state ``s`` (``a`` or ``c``) of one layer and direction, for t = 1 … T (batch mean)."""

    layer: int          # 1-based, as [l] in the notes
    direction: str      # "forward" or "backward"
    state: str          # "a" or "c"
    norms: torch.Tensor  # (T,)

    @property
    def name(self) -> str:
        return f"layer {self.layer}{' ' + self.direction if self.direction == 'backward' else ''}, {self.state}"


def state_gradient_norms(layer, x: torch.Tensor, seed: int = 0) -> list[StateCurve]:
    """``‖∂L/∂a^[l]<t>‖`` (and ``‖∂L/∂c^[l]<t>‖`` for cells with a memory cell) for every layer ``l``, direction
    and step, with ``L = r · y<T>``: a fixed random unit direction ``r`` read on the top layer's output at the
    last step. ``∂L/∂a^[l]<t>`` is the total derivative: through later steps of layer ``l`` and through the
    layers above it.

    The layer is run cell by cell (its reference loop, so the states of every step exist to be differentiated),
    in its current mode; it is unchanged. Shapes: ``x`` (B, T, X) if ``layer.batch_first`` else (T, B, X),
    every sequence T steps long → one :class:`StateCurve` per (layer, direction, state), ``norms`` (T,).
    """
    x = x.detach()
    if layer.batch_first:
        x = x.transpose(0, 1)
    T, B, _ = x.shape
    D = layer.num_directions
    with torch.enable_grad():
        kept, layer_input = [], x
        for l in range(layer.num_layers):
            outputs = []
            for d in range(D):
                cell = layer.cells[l * D + d]
                state = cell.init_state(B, device=x.device, dtype=x.dtype)
                steps = [None] * T
                for t in (range(T - 1, -1, -1) if d == 1 else range(T)):
                    state = cell(layer_input[t], state)
                    state = state if isinstance(state, tuple) else (state,)
                    for s in state:
                        s.retain_grad()
                    steps[t] = state
                kept.append((l, d, steps))
                outputs.append(torch.stack([s[0] for s in steps]))                  # (T, B, H): a<t>
            layer_input = outputs[0] if D == 1 else torch.cat(outputs, dim=2)
            if layer.dropout > 0 and layer.training and l < layer.num_layers - 1:
                layer_input = torch.nn.functional.dropout(layer_input, layer.dropout, training=True)
        last = layer_input[-1]                                                      # y<T>: (B, D·H)
        (last @ _direction(seed, last.shape[-1], last.dtype, last.device)).sum().backward()
    curves = []
    for l, d, steps in kept:
        for i, name in enumerate(layer.state_names):
            grads = [s[i].grad for s in steps]
            norms = torch.stack([torch.zeros(B, dtype=x.dtype, device=x.device) if g is None else g.norm(dim=1)
                                 for g in grads]).mean(dim=1)
            curves.append(StateCurve(l + 1, "backward" if d == 1 else "forward", name, norms.detach().cpu()))
    return curves


def decades_lost(norms: torch.Tensor) -> float:
    """``log10(‖g<T>‖ / ‖g<1>‖)``: how many factors of ten the gradient loses on its way back (∞ if it dies)."""
    first, last = float(norms[0]), float(norms[-1])
    return float("inf") if first <= 0 or last <= 0 else float(torch.log10(torch.tensor(last / first)))


def plot_gradient_flow(curves: dict[str, torch.Tensor], path, title: str = "gradient flow through time",
                       ylabel: str = "‖∂L/∂x<t>‖ (batch mean)") -> bool:
    """One line per curve: its norm (log scale) against the distance ``T − t`` back from the step where the loss
    is read. Saves a PNG; False when matplotlib is missing."""
    from rnnkit.metrics.figures import pyplot, save_png

    plt = pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(8, 4.5))
    # one colour per model ("lstm: …", "run-a: …"), one line style per layer and state within it
    groups = list(dict.fromkeys(name.split(": ")[0] for name in curves))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles, seen = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3))), {}
    for name, norms in curves.items():
        group = name.split(": ")[0]
        k = seen[group] = seen.get(group, -1) + 1
        values = norms.double().clamp_min(1e-30).cpu().numpy()[::-1]               # distance 0 … T − 1
        ax.semilogy(range(len(values)), values, label=name, color=colours[groups.index(group) % len(colours)],
                    linestyle=styles[k % len(styles)])
    ax.set_xlabel("distance T − t (steps back from the loss, read at the last step T)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=2 if len(curves) > 8 else 1)
    fig.tight_layout()
    save_png(fig, path)
    return True
