"""A one-to-many model of polyphonic music: the next piano-roll frame from the frames before it.

A piece is a sequence of 88-key multi-hot frames ``y<1> … y<T>`` (which keys sound in each time step). The
model reads the frames so far and gives each key's probability of sounding in the next one::

    x<1> = 0,  x<t> = y<t-1>                     the previous frame (nothing before the first)
    a<t> = RNN(dropout_in(x<t>), a<t-1>)         L layers of any cell
    ŷ<t> = σ(W_ya dropout(a<t>) + b_y)           (88,) independent Bernoulli probabilities

trained with the notes' logistic loss summed over the keys, ``L<t> = Σ_k −y_k log ŷ_k − (1 − y_k) log(1 − ŷ_k)``,
which is ``−log P(y<t> | y<1…t-1>)``. The literature's score, the negative log-likelihood per frame, averages
``L<t>`` over every frame but the first of each piece (:meth:`PianoRollModel.frame_losses` gives all of them;
the first, predicted from nothing, is learned too, so that generation can start from silence).

Generation runs the same recurrence one frame at a time and draws every key from ``σ(z_k / temperature)``
(``temperature → 0``: the most likely frame, each key on where ``z_k > 0``), optionally keeping only the
``max_polyphony`` most probable of the drawn keys; a primer's frames are fed instead of drawn.

Shapes: rolls (B, T, 88) (0/1, any dtype); lengths (B,); logits (B, T, 88).

Example::

    model = PianoRollModel(hidden_size=128, cell="lstm")
    nll = model.frame_losses(rolls, lengths)[:, 1:].sum() / (lengths - 1).sum()     # per frame
    pieces = model.generate(num=2, length=64, generator=torch.Generator().manual_seed(0))   # (2, 64, 88)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from rnnkit.cells import cell_factory
from rnnkit.engine import Stepper
from rnnkit.layers import Recurrent
from rnnkit.losses import sequence_logistic_loss
from rnnkit.output import OutputLayer

KEYS = 88


@dataclass
class PianoRollConfig:
    """Everything needed to rebuild a :class:`PianoRollModel` (JSON-able); saved as ``config.json["model"]``."""

    hidden_size: int = 256
    num_layers: int = 1
    cell: str = "lstm"
    dropout: float = 0.5
    input_dropout: float = 0.0
    keys: int = KEYS
    cell_options: dict = field(default_factory=dict)


class PianoRollModel(nn.Module):
    """``P(y<t> | y<1…t-1>)`` over 88-key frames, with sigmoid outputs (see the module doc)."""

    def __init__(self, hidden_size: int = 256, num_layers: int = 1, cell: str = "lstm", dropout: float = 0.5,
                 input_dropout: float = 0.0, keys: int = KEYS, cell_options: dict | None = None,
                 engine: str = "auto"):
        super().__init__()
        if not 0 <= input_dropout < 1:
            raise ValueError(f"input_dropout must be in [0, 1), got {input_dropout}")
        self.config = PianoRollConfig(int(hidden_size), int(num_layers), cell, float(dropout), float(input_dropout),
                                      int(keys), dict(cell_options or {}))
        self.rnn = Recurrent(cell_factory(cell), keys, hidden_size, num_layers=num_layers, dropout=dropout,
                             batch_first=True, engine=engine, **self.config.cell_options)
        self.drop = nn.Dropout(dropout)
        self.head = OutputLayer(hidden_size, keys, activation="sigmoid")

    @classmethod
    def from_config(cls, config: PianoRollConfig | dict) -> PianoRollModel:
        return cls(**(asdict(config) if isinstance(config, PianoRollConfig) else config))

    @torch.no_grad()
    def start_from(self, frequencies) -> None:
        """Set ``b_y`` to the log-odds of each key's frequency (in the training frames), so that the untrained
        model is the independent-Bernoulli baseline rather than a coin per key (88 · log 2 nats per frame)."""
        p = torch.as_tensor(frequencies, dtype=torch.float64).clamp(1e-4, 1 - 1e-4)
        self.head.b_y.copy_(torch.log(p / (1 - p)).to(self.head.b_y))

    @staticmethod
    def shift(rolls: torch.Tensor) -> torch.Tensor:
        """The inputs ``x<t> = y<t-1>`` (``x<1> = 0``) of rolls (B, T, K)."""
        return nn.functional.pad(rolls[:, :-1], (0, 0, 1, 0))

    def forward(self, x: torch.Tensor, state=None):
        """Logits ``z<t>`` of the frame after each input frame: x (B, T, K) → (B, T, K), and the final state.
        Padding after a piece's end cannot reach its earlier steps (the model is causal), so a padded batch
        needs no lengths here."""
        x = x.to(self.head.W_ya.dtype)
        if self.training and self.config.input_dropout > 0:
            x = nn.functional.dropout(x, self.config.input_dropout, training=True)
        outputs, state = self.rnn(x, state)
        return self.head(self.drop(outputs)), state

    def frame_losses(self, rolls: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``L<t> = −log P(y<t> | y<1…t-1>)`` (nats, summed over keys) of every frame: (B, T), 0 past ``lengths``."""
        logits, _ = self(self.shift(rolls))
        return sequence_logistic_loss(logits, rolls, lengths=lengths, reduction="none", batch_first=True).t()

    @torch.no_grad()
    def generate(self, num: int, length: int, primer: torch.Tensor | None = None, temperature: float = 1.0,
                 max_polyphony: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """``num`` pieces of ``length`` frames (bool (num, length, K)), each starting with ``primer`` (P, K) if
        given (``P <= length``), the rest drawn frame by frame (see the module doc)."""
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if max_polyphony is not None and max_polyphony < 1:
            raise ValueError(f"max_polyphony must be at least 1, got {max_polyphony}")
        K, device = self.config.keys, self.head.W_ya.device
        dtype = self.head.W_ya.dtype
        if primer is not None and (primer.dim() != 2 or primer.shape[1] != K or primer.shape[0] > length):
            raise ValueError(f"primer must be (P, {K}) frames with P <= length ({length}), got "
                             f"{tuple(primer.shape)}")
        was_training = self.training
        self.eval()
        try:
            out = torch.zeros(num, length, K, dtype=torch.bool, device=device)
            x = torch.zeros(num, K, dtype=dtype, device=device)
            stepper = Stepper(self.rnn, None, num, device=device, dtype=dtype)
            n_primer = 0 if primer is None else primer.shape[0]
            for t in range(length):
                z = self.head(stepper.step(x))                                  # (num, K) logits
                if t < n_primer:
                    frame = primer[t].to(device=device, dtype=torch.bool).expand(num, K)
                else:
                    frame = draw_frame(z, temperature, max_polyphony, generator)
                out[:, t] = frame
                x = frame.to(dtype)
            return out
        finally:
            self.train(was_training)


def draw_frame(logits: torch.Tensor, temperature: float = 1.0, max_polyphony: int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Keys drawn independently, key ``k`` on with probability ``σ(z_k / temperature)``; temperature 0 takes
    every key with ``z_k > 0``. With ``max_polyphony`` only that many of the drawn keys stay, the most
    probable. (B, K) logits → (B, K) bool."""
    if temperature == 0:
        frame = logits > 0
    else:
        p = torch.sigmoid(logits.float() / temperature)
        where = generator.device if generator is not None else p.device
        frame = torch.rand(p.shape, generator=generator, device=where).to(p.device) < p
    if max_polyphony is not None and int(frame.sum(dim=1).max()) > max_polyphony:
        ranked = torch.where(frame, logits.float(), torch.full_like(logits, float("-inf"), dtype=torch.float32))
        keep = ranked.topk(max_polyphony, dim=1).indices
        frame = frame & torch.zeros_like(frame).scatter_(1, keep, True)
    return frame
