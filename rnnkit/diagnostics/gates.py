"""Gate statistics: how often each gate unit is saturated, after Karpathy, Johnson & Fei-Fei (2015).

A gate ``Γ = σ(W [a<t-1>, x<t>] + b)`` is *left-saturated* at a step when ``Γ < 0.1`` (it blocks almost
everything) and *right-saturated* when ``Γ > 0.9`` (it lets almost everything through). "Visualizing and
understanding recurrent networks" (arXiv 1506.02078, §4.2) plots, for every gate unit, the fraction of
steps it spends left-saturated (x) against the fraction right-saturated (y): forget gates of an LSTM that
sit near the top left are integrators that remember across long spans; points along the diagonal
``x + y = 1`` are gates that act as switches.

The fast engines fuse the gates away, so the gates here come from running the layer's cells one step at a
time (:func:`trace`), reading each gate from the cell's named parameters with the one formula all the
built-in gates share (every gate reads ``[a<t-1>, x<t>]``; the peephole LSTM's also reads ``c<t-1>``)::

    Γ = σ(W_g [a<t-1>, x<t>] + b_g)              (+ P_g * c<t-1> with peepholes)

The GRUs' gates read ``c<t-1>``, which is their ``a<t-1>`` (``state[0]``).

Example::

    traces = trace(lstm, x)                                   # x (T, B, X); one LayerTrace per layer
    left, right = saturation_fractions(traces[0].gates["gamma_f"], lengths)   # (H,) each
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from rnnkit.cells import GRUCell, LSTMCell, RNNCell, SimpleGRUCell
from rnnkit.cells.base import linear

# The gates of each built-in cell, by their names in the notes. Exact classes only: a subclass may change
# the step, and then the formula above would not be its gate.
GATE_NAMES: dict[type, tuple[str, ...]] = {
    SimpleGRUCell: ("gamma_u",),
    GRUCell: ("gamma_u", "gamma_r"),
    LSTMCell: ("gamma_u", "gamma_f", "gamma_o"),
}
_LABELS = {
    (LSTMCell, "gamma_u"): "Γu, input (update) gate", (LSTMCell, "gamma_f"): "Γf, forget gate",
    (LSTMCell, "gamma_o"): "Γo, output gate",
    (GRUCell, "gamma_u"): "Γu, update gate", (GRUCell, "gamma_r"): "Γr, reset gate",
    (SimpleGRUCell, "gamma_u"): "Γu, update gate",
}
LEFT, RIGHT = 0.1, 0.9   # the saturation thresholds of the paper


@dataclass
class LayerTrace:
    """What one layer computed at every step. Shapes: every tensor (T, B, H).

    Attributes:
        states: ``"a"`` → ``a<t>`` (and ``"c"`` → ``c<t>`` for an LSTM), the state after reading ``x<t>``.
        gates: gate name (``"gamma_u"``, …) → ``Γ<t>``, the gate at step t (empty without ``with_gates``).
    """

    states: dict[str, torch.Tensor]
    gates: dict[str, torch.Tensor] = field(default_factory=dict)

    def narrow(self, start: int) -> LayerTrace:
        """The same trace without its first ``start`` steps (a context read before the text)."""
        cut = lambda d: {k: v[start:] for k, v in d.items()}
        return LayerTrace(cut(self.states), cut(self.gates))


def gate_names(cell) -> tuple[str, ...]:
    """The gate names of a built-in cell (``()`` for the vanilla RNN, which has no gates)."""
    if type(cell) in GATE_NAMES:
        return GATE_NAMES[type(cell)]
    if type(cell) is RNNCell:
        return ()
    raise ValueError(f"gate statistics know the built-in cells (simple GRU, GRU, LSTM), not {type(cell).__name__}")


def gate_label(cell_type: type, name: str) -> str:
    """A gate's name for people, e.g. ``"Γf, forget gate"``."""
    return _LABELS.get((cell_type, name), name)


def gate_values(cell, x_t: torch.Tensor, state: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
    """Every gate of ``cell`` at one step, from its named parameters: x_t (B, X), state as the cell's → (B, H)."""
    a_prev = state[0]
    out = {}
    for name in gate_names(cell):
        g = name[-1]                                                  # "gamma_f" → W_f, b_f, P_f
        z = linear(getattr(cell, f"W_{g}"), getattr(cell, f"b_{g}"), a_prev, x_t)   # W_g [a<t-1>, x<t>] + b_g
        P = getattr(cell, f"P_{g}", None)
        if P is not None:
            z = z + P * state[1]                                      # peephole: + P_g * c<t-1>
        out[name] = torch.sigmoid(z)
    return out


@torch.no_grad()
def trace(rnn, x: torch.Tensor, state=None, with_gates: bool = True) -> list[LayerTrace]:
    """Run a unidirectional :class:`rnnkit.Recurrent` one step at a time through its own cells, keeping
    every layer's states (and gates) at every step. No dropout: this is the network at inference.

    Shapes: x (T, B, X) time-major (whatever the layer's ``batch_first``); state as the layer's, or None
    for zeros → one :class:`LayerTrace` per layer, every tensor (T, B, H). The outputs equal the layer's
    own forward: ``traces[-1].states["a"]`` is ``rnn(x)[0]`` (time-major).
    """
    if rnn.bidirectional:
        raise ValueError("trace() follows a unidirectional layer; a bidirectional one reads the sequence "
                         "backwards too")
    T, B, _ = x.shape
    traces = []
    layer_input = x
    for k, cell in enumerate(rnn.cells):
        names = gate_names(cell) if with_gates else ()
        s = (cell.init_state(B, device=x.device, dtype=x.dtype) if state is None
             else tuple(part[k] for part in state))
        states = {n: [] for n in cell.state_names}
        gates = {n: [] for n in names}
        for t in range(T):
            if names:
                for n, g in gate_values(cell, layer_input[t], s).items():
                    gates[n].append(g)
            s = cell(layer_input[t], s)
            for n, v in zip(cell.state_names, s):
                states[n].append(v)
        stack = lambda d: {n: torch.stack(v) for n, v in d.items()}
        traces.append(LayerTrace(stack(states), stack(gates)))
        layer_input = traces[-1].states["a"]
    return traces


def trace_language_model(model, ids: list[int], context: list[int] = (), with_gates: bool = True
                         ) -> list[LayerTrace]:
    """:func:`trace` of a :class:`rnnkit.models.LanguageModel` reading ``context`` then ``ids`` (one stream);
    the steps of ``context`` are dropped, so step t of each trace is the state after reading ``ids[t]``.

    Shapes: ids (T,) → every tensor of every trace (T, 1, H).
    """
    device = model.head.W_ya.device
    seq = torch.tensor([*context, *ids], device=device)
    with torch.no_grad():
        x = model.embed(seq).unsqueeze(1)                             # (T, 1, X)
    return [t.narrow(len(context)) for t in trace(model.rnn, x, with_gates=with_gates)]


def saturation_fractions(gate: torch.Tensor, lengths: torch.Tensor | None = None, left: float = LEFT,
                         right: float = RIGHT) -> tuple[torch.Tensor, torch.Tensor]:
    """For each unit, the fraction of steps its gate is left-saturated (``Γ < left``) and right-saturated
    (``Γ > right``), over the valid steps only: step t of sequence b counts when ``t < lengths[b]``.

    Shapes: gate (T, B, H), lengths (B,) or None (every step valid) → two (H,) float64 tensors.

    Example::

        g = torch.tensor([[[0.05]], [[0.95]], [[0.5]], [[0.0]]])    # T = 4, B = 1, H = 1
        saturation_fractions(g, torch.tensor([3]))                  # (tensor([1/3]), tensor([1/3]))
    """
    if gate.dim() != 3:
        raise ValueError(f"expected gate activations of shape (T, B, H), got {tuple(gate.shape)}")
    if not 0 <= left < right <= 1:
        raise ValueError(f"the thresholds must satisfy 0 <= left < right <= 1, got left={left}, right={right}")
    T, B, _ = gate.shape
    if lengths is None:
        valid = torch.ones(T, B, dtype=torch.bool, device=gate.device)
    else:
        lengths = torch.as_tensor(lengths, device=gate.device)
        if lengths.shape != (B,) or int(lengths.min()) < 1 or int(lengths.max()) > T:
            raise ValueError(f"lengths must be (B,) = ({B},) integers in 1 … T = {T}, got {lengths.tolist()}")
        valid = torch.arange(T, device=gate.device).unsqueeze(1) < lengths.unsqueeze(0)   # (T, B)
    valid = valid.unsqueeze(2)
    n = valid.sum(dim=(0, 1)).to(torch.float64)                       # valid steps (1,)
    low = ((gate < left) & valid).sum(dim=(0, 1)).to(torch.float64)
    high = ((gate > right) & valid).sum(dim=(0, 1)).to(torch.float64)
    return low / n, high / n


def gate_statistics(traces: list[LayerTrace], lengths: torch.Tensor | None = None) -> list[dict[str, dict]]:
    """Per layer, per gate: both saturation fractions per unit and their means over the units (plain lists,
    ready for JSON): ``[{"gamma_f": {"left_saturated": [...H], "right_saturated": [...H], "mean_left": m,
    "mean_right": m}, …}, …]``."""
    layers = []
    for tr in traces:
        per_gate = {}
        for name, gate in tr.gates.items():
            low, high = saturation_fractions(gate, lengths)
            per_gate[name] = {"left_saturated": low.tolist(), "right_saturated": high.tolist(),
                              "mean_left": float(low.mean()), "mean_right": float(high.mean())}
        layers.append(per_gate)
    return layers


def plot_gate_saturation(stats: list[dict[str, dict]], path: str | Path, cell_type: type, title: str) -> bool:
    """The paper's scatter, one panel per gate: x = fraction left-saturated, y = fraction right-saturated,
    one colour per layer. Returns False (nothing drawn) when matplotlib is not installed."""
    from rnnkit.metrics.figures import pyplot, save_png

    plt = pyplot()
    if plt is None:
        return False
    names = list(stats[0])
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names) + 0.6, 5.1), squeeze=False)
    colours = plt.get_cmap("tab10").colors
    for ax, name in zip(axes[0], names):
        ax.plot([0, 1], [1, 0], color="0.6", linestyle="--", linewidth=1, label="x + y = 1 (always saturated)")
        for layer, per_gate in enumerate(stats):
            s = per_gate[name]
            ax.scatter(s["left_saturated"], s["right_saturated"], s=16, alpha=0.65, color=colours[layer % 10],
                       edgecolors="none", label=f"layer {layer + 1} ({len(s['left_saturated'])} units)")
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-0.03, 1.03)
        ax.set_aspect("equal")
        ax.set_title(gate_label(cell_type, name))
        ax.set_xlabel(f"fraction of steps left-saturated (Γ < {LEFT})")
        ax.set_ylabel(f"fraction of steps right-saturated (Γ > {RIGHT})")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    fig.suptitle(title)
    fig.text(0.5, 0.015, "one dot per gate unit: at the top left a gate is almost always open, at the bottom right "
             "almost always closed, along the dashed line it switches between the two", ha="center", fontsize=9,
             color="0.3")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    save_png(fig, path)
    return True
