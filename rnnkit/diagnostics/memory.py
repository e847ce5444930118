"""How long a dependency each cell learns: brief training on synthetic tasks whose dependency length T is set.

Three many-to-one tasks, read at the last step (``z = W_ya a<T_x> + b_y``, ``T_x = T + 1``), where the information
sits at step 1 and is needed T steps later:

- ``copy`` (recall): a data symbol (one of K) at step 1, then T random noise symbols from a disjoint set;
  predict the symbol. Accuracy: the recalled symbol is right. Chance: 1/K.
- ``adding`` (Hochreiter & Schmidhuber 1997): at every step a value ``v<t> ~ U(0, 1)`` and a marker; the
  markers are at step 1 and at one random step among the T after it; predict the sum of the two marked
  values. Accuracy: ``|ŷ − y| < 0.04`` (their threshold). The constant guess ŷ = 1 scores 0.078.
- ``brackets``: an opening bracket (one of K kinds) at step 1, then a balanced, well-nested filler of T
  brackets and letters; predict the kind of the closing bracket the first one still needs. Chance: 1/K.

Backpropagation through a vanilla RNN multiplies T Jacobians ``∂a<t>/∂a<t-1>``, so the gradient from the last
step to step 1 vanishes geometrically (:mod:`rnnkit.diagnostics.gradient_flow`): it learns the short tasks and
stays at chance on the long ones. The additive memory of GRUs and LSTMs, started open (``gate_bias``: LSTM
``b_f = 3``, GRU ``b_u = −3``, so 95 % of ``c<t-1>`` is kept per step), carries the gradient across.

Data: fresh batches from a ``torch.Generator`` seeded from ``seed``; the held-out evaluation from another
stream. The global RNG is never used for data, and is left as it was.

Example::

    result = memory_experiment("copy", ["rnn", "lstm"], [5, 40])
    result.table["lstm"][40]    # held-out accuracy at T = 40 (the mean over seeds)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import nn

from rnnkit.cells import CELLS, GRUCell, LSTMCell, SimpleGRUCell
from rnnkit.layers import Recurrent
from rnnkit.output import OutputLayer
from rnnkit.training.clipping import clip_gradients
from rnnkit.training.config import TrainConfig
from rnnkit.training.optim import build_optimizer

TASKS = ("copy", "adding", "brackets")
K = 4                      # data symbols (copy), bracket kinds (brackets)
NOISE = 4                  # noise symbols (copy)
ADDING_TOLERANCE = 0.04    # Hochreiter & Schmidhuber's "correct" for the adding problem
CHANCE = {"copy": 1 / K, "adding": 0.078, "brackets": 1 / K}
# Optimizer steps and Adam learning rate per task, measured: the least that lets the gated cells reach every
# default length on 2 CPU cores (adding needs more steps: a regression to within 0.04 is slow to fit).
DEFAULTS = {"copy": {"steps": 400, "lr": 3e-3}, "adding": {"steps": 1500, "lr": 1e-2},
            "brackets": {"steps": 800, "lr": 3e-3}}
METRIC = {"copy": "fraction of held-out sequences whose recalled symbol is right",
          "adding": f"fraction of held-out sequences with |ŷ − y| < {ADDING_TOLERANCE}",
          "brackets": "fraction of held-out sequences whose closing bracket is right"}
_EVAL_STREAM = 1_000_003   # the held-out generator is seeded with seed + this


@dataclass
class Batch:
    """``x`` (T + 1, B, X) time-major; ``y`` (B,) class ids (long) or target values (float); T the dependency length."""

    x: torch.Tensor
    y: torch.Tensor
    T: int


# --- the tasks ---------------------------------------------------------------------------------------------------

def copy_batch(T: int, batch_size: int, generator: torch.Generator) -> Batch:
    """Symbol ``s ∈ {0 … K−1}`` at step 1, then T noise symbols from ``{K … K+NOISE−1}``; ``y = s``.

    ``x``: (T + 1, B, K + NOISE) one-hot.
    """
    s = torch.randint(0, K, (batch_size,), generator=generator)
    noise = torch.randint(K, K + NOISE, (T, batch_size), generator=generator)
    ids = torch.cat([s.unsqueeze(0), noise])                                      # (T + 1, B)
    return Batch(nn.functional.one_hot(ids, K + NOISE).float(), s, T)


def adding_batch(T: int, batch_size: int, generator: torch.Generator) -> Batch:
    """Values ``v<t> ~ U(0, 1)``, markers at step 1 and at one step of 2 … T + 1; ``y = Σ_t marker<t> v<t>``.

    ``x``: (T + 1, B, 2), channel 0 the value, channel 1 the marker (0 or 1).
    """
    v = torch.rand(T + 1, batch_size, generator=generator)
    second = torch.randint(1, T + 1, (batch_size,), generator=generator)
    marker = torch.zeros(T + 1, batch_size)
    marker[0] = 1.0
    marker[second, torch.arange(batch_size)] = 1.0
    return Batch(torch.stack([v, marker], dim=2), (v * marker).sum(0), T)


def brackets_batch(T: int, batch_size: int, generator: torch.Generator) -> Batch:
    """An opener of kind ``k`` at step 1, then a balanced filler of length T; ``y = k``, the kind left to close.

    Symbols: openers ``0 … K−1``, closers ``K … 2K−1`` (kind k closes with ``K + k``), the letter ``2K``.
    ``x``: (T + 1, B, 2K + 1) one-hot.
    """
    first = torch.randint(0, K, (batch_size,), generator=generator)
    u = torch.rand(T, batch_size, generator=generator)
    kinds = torch.randint(0, K, (T, batch_size), generator=generator)
    ids = torch.full((T + 1, batch_size), 2 * K)                                  # letters unless set below
    ids[0] = first
    stack = torch.zeros(batch_size, T + 1, dtype=torch.long)                      # open kinds, innermost last
    depth = torch.zeros(batch_size, dtype=torch.long)
    rows = torch.arange(batch_size)
    for t in range(T):
        left = T - t                                                              # filler steps left, t's included
        close = (depth > 0) & ((depth == left) | (u[t] < 0.35))
        open_ = ~close & (depth < left - 1) & (u[t] < 0.75)                       # only with room left to close
        top = stack[rows, (depth - 1).clamp(min=0)]
        ids[t + 1] = torch.where(close, K + top, torch.where(open_, kinds[t], ids[t + 1]))
        stack[rows, depth] = torch.where(open_, kinds[t], stack[rows, depth])
        depth = depth + open_.long() - close.long()
    return Batch(nn.functional.one_hot(ids, 2 * K + 1).float(), first, T)


_GENERATORS = {"copy": copy_batch, "adding": adding_batch, "brackets": brackets_batch}
_SIZES = {"copy": (K + NOISE, K), "adding": (2, 1), "brackets": (2 * K + 1, K)}    # (X, n_y)


def make_batch(task: str, T: int, batch_size: int, generator: torch.Generator) -> Batch:
    """A batch of ``task`` (one of :data:`TASKS`) with dependency length T."""
    _check_task(task)
    return _GENERATORS[task](T, batch_size, generator)


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")


# --- the model ---------------------------------------------------------------------------------------------------

class ReadLast(nn.Module):
    """A recurrent layer and the output layer read at its last step: ``z = W_ya a<T_x> + b_y``, (T_x, B, X) → (B, n_y).

    ``gate_bias`` > 0 starts the memory open (see :func:`open_memory`).
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, output_size: int, gate_bias: float = 0.0):
        super().__init__()
        self.rnn = Recurrent(CELLS[cell], input_size, hidden_size)
        self.head = OutputLayer(hidden_size, output_size)
        open_memory(self.rnn, gate_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(x)                  # (T_x, B, H)
        return self.head(outputs[-1])             # (B, n_y)


@torch.no_grad()
def open_memory(layer: Recurrent, gate_bias: float) -> None:
    """Start every gated cell remembering ``σ(gate_bias)`` of its memory per step: LSTM ``b_f = gate_bias``
    (``c<t> = … + Γf * c<t-1>``), GRU ``b_u = −gate_bias`` (``c<t> = … + (1 − Γu) * c<t-1>``). 0 keeps the
    uniform initialisation; a vanilla RNN has no gate and is left as it is (the LSTM's ``forget_bias``)."""
    if not gate_bias:
        return
    for cell in layer.cells:
        if isinstance(cell, LSTMCell) and cell.b_f is not None:
            cell.b_f.fill_(gate_bias)
        elif isinstance(cell, (GRUCell, SimpleGRUCell)) and cell.b_u is not None:
            cell.b_u.fill_(-gate_bias)


def task_loss(task: str, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for the symbol tasks, the mean squared error for ``adding``; ``z`` (B, n_y)."""
    if task == "adding":
        return nn.functional.mse_loss(z.squeeze(1), y)
    return nn.functional.cross_entropy(z, y)


def _correct(task: str, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if task == "adding":
        return (z.squeeze(1) - y).abs() < ADDING_TOLERANCE
    return z.argmax(1) == y


# --- training and evaluation -------------------------------------------------------------------------------------

def train_and_evaluate(task: str, cell: str, T: int, steps: int | None = None, hidden: int = 32,
                       batch_size: int = 32, lr: float | None = None, gate_bias: float = 3.0, seed: int = 0,
                       eval_size: int = 1000) -> tuple[float, float]:
    """Train ``cell`` on ``task`` at length T for ``steps`` Adam steps (a fresh batch each step, the gradient
    clipped to norm 1); return (held-out accuracy on ``eval_size`` sequences, mean training loss of the last 20
    steps). ``steps`` and ``lr`` default to :data:`DEFAULTS`.

    The weights are drawn under ``torch.manual_seed(seed)`` in a forked RNG; the batches from ``Generator(seed)``.
    """
    _check_task(task)
    steps = DEFAULTS[task]["steps"] if steps is None else steps
    lr = DEFAULTS[task]["lr"] if lr is None else lr
    X, n_y = _SIZES[task]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ReadLast(cell, X, hidden, n_y, gate_bias)
    optimizer = build_optimizer(model.parameters(), TrainConfig(optimizer="adam", lr=lr))
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        batch = make_batch(task, T, batch_size, generator)
        loss = task_loss(task, model(batch.x), batch.y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_gradients(model.parameters(), max_norm=1.0, warn_nonfinite=False).finite:
            optimizer.step()
        losses.append(float(loss.detach()))
    tail = losses[-20:]
    return evaluate(model, task, T, eval_size, seed), sum(tail) / len(tail)


@torch.no_grad()
def evaluate(model: nn.Module, task: str, T: int, size: int, seed: int) -> float:
    """Held-out accuracy on ``size`` sequences of the evaluation stream of ``seed`` (never seen in training)."""
    was_training = model.training
    model.eval()
    batch = make_batch(task, T, size, torch.Generator().manual_seed(seed + _EVAL_STREAM))
    accuracy = round(float(_correct(task, model(batch.x), batch.y).float().mean()), 6)   # float32 → a count / size
    model.train(was_training)
    return accuracy


@dataclass
class MemoryResult:
    """``per_seed[cell][T]``: the held-out accuracy of each seed's run; ``table[cell][T]`` their mean;
    ``final_loss[cell][T]``: the mean over seeds of the training loss of the last 20 steps."""

    task: str
    cells: list[str]
    lengths: list[int]
    steps: int
    lr: float
    hidden: int
    gate_bias: float
    seeds: list[int]
    per_seed: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    table: dict[str, dict[int, float]] = field(default_factory=dict)
    final_loss: dict[str, dict[int, float]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def chance(self) -> float:
        return CHANCE[self.task]

    def longest_learned(self, threshold: float = 0.9) -> dict[str, int | None]:
        """Per cell, the longest T up to which every length reached ``threshold`` (None: not even the first)."""
        longest: dict[str, int | None] = {}
        for cell, row in self.table.items():
            longest[cell] = None
            for T in self.lengths:
                if row[T] < threshold:
                    break
                longest[cell] = T
        return longest

    def to_json(self) -> dict:
        by_length = lambda rows: {c: {str(T): v for T, v in row.items()} for c, row in rows.items()}
        return {"task": self.task, "metric": METRIC[self.task], "chance": self.chance, "cells": self.cells,
                "lengths": self.lengths, "steps": self.steps, "lr": self.lr, "hidden": self.hidden,
                "gate_bias": self.gate_bias, "seeds": self.seeds, "accuracy": by_length(self.table),
                "accuracy_per_seed": by_length(self.per_seed), "final_train_loss": by_length(self.final_loss),
                "longest_learned_at_0.9": self.longest_learned(),
                "seconds": round(self.seconds, 1)}


def memory_experiment(task: str, cells: list[str], lengths: list[int], steps: int | None = None,
                      hidden: int = 32, batch_size: int = 32, lr: float | None = None, gate_bias: float = 3.0,
                      seed: int = 0, repeats: int = 1, progress=None) -> MemoryResult:
    """:func:`train_and_evaluate` every cell at every length from each of the seeds ``seed … seed + repeats − 1``
    (weights and data); the table holds the mean accuracy. ``progress(cell, T, accuracies)`` is called after each
    (cell, T)."""
    _check_task(task)
    steps = DEFAULTS[task]["steps"] if steps is None else steps
    lr = DEFAULTS[task]["lr"] if lr is None else lr
    seeds = list(range(seed, seed + repeats))
    result = MemoryResult(task, list(cells), list(lengths), steps, lr, hidden, gate_bias, seeds)
    start = time.perf_counter()
    for cell in cells:
        result.per_seed[cell], result.table[cell], result.final_loss[cell] = {}, {}, {}
        for T in lengths:
            runs = [train_and_evaluate(task, cell, T, steps=steps, hidden=hidden, batch_size=batch_size, lr=lr,
                                       gate_bias=gate_bias, seed=s) for s in seeds]
            accuracies = [accuracy for accuracy, _ in runs]
            result.per_seed[cell][T] = accuracies
            result.table[cell][T] = sum(accuracies) / len(accuracies)
            result.final_loss[cell][T] = sum(loss for _, loss in runs) / len(runs)
            if progress is not None:
                progress(cell, T, accuracies)
    result.seconds = time.perf_counter() - start
    return result


# --- reporting ---------------------------------------------------------------------------------------------------

def format_table(result: MemoryResult) -> str:
    """The accuracy table as text: one row per cell, one column per dependency length T."""
    head = f"{'cell':<14}" + "".join(f"{'T=' + str(T):>8}" for T in result.lengths)
    rows = [f"{cell:<14}" + "".join(f"{row[T]:>8.2f}" for T in result.lengths) for cell, row in result.table.items()]
    over = f", mean of seeds {', '.join(map(str, result.seeds))}" if len(result.seeds) > 1 else ""
    return "\n".join([head, *rows, f"accuracy: {METRIC[result.task]}{over} (chance ≈ {result.chance:.2f})"])


_TITLES = {"copy": "copy task: recall the symbol shown T noisy steps earlier",
           "adding": f"adding problem: the sum of two values marked T steps apart (|error| < {ADDING_TOLERANCE})",
           "brackets": "brackets: name the bracket opened T steps earlier, past a balanced filler"}


def plot_memory(result: MemoryResult, path) -> bool:
    """Accuracy against dependency length, one line per cell, chance dashed; False when matplotlib is missing."""
    from rnnkit.metrics.figures import pyplot, save_png

    plt = pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for i, (cell, row) in enumerate(result.table.items()):   # markers and dashes differ: lines often coincide
        line, = ax.plot(result.lengths, [row[T] for T in result.lengths], marker="osD^v"[i % 5], ms=11 - 3 * (i % 3),
                        linestyle=("-", "--", ":", "-.")[i % 4], lw=2, label=cell)
        if len(result.seeds) > 1:       # the spread over seeds: lowest to highest accuracy
            runs = [result.per_seed[cell][T] for T in result.lengths]
            ax.fill_between(result.lengths, [min(r) for r in runs], [max(r) for r in runs], color=line.get_color(),
                            alpha=0.15, lw=0)
    ax.axhline(result.chance, color="grey", linestyle="--", label=f"chance ({result.chance:.2f})")
    if len(result.lengths) > 1 and min(result.lengths) > 0:
        ax.set_xscale("log", base=2)
    ax.set_xticks(result.lengths, [str(T) for T in result.lengths])
    ax.minorticks_off()
    ax.set_ylim(0, 1.04)
    ax.set_xlabel("dependency length T (time steps between the information and its use)")
    n = len(result.seeds)
    ax.set_ylabel("held-out accuracy (fraction correct)" + (f"\nmean of {n} seeds, band: min–max" if n > 1 else ""))
    memory = f", gated memory started open (gate bias {result.gate_bias:g})" if result.gate_bias else ""
    seeds = f"seeds {result.seeds[0]}–{result.seeds[-1]}" if n > 1 else f"seed {result.seeds[0]}"
    ax.set_title(f"{_TITLES[result.task]}\n{result.steps} Adam steps per run, H = {result.hidden}{memory}, "
                 f"{seeds}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(title="cell", loc="center left")
    fig.tight_layout()
    save_png(fig, path)
    return True
