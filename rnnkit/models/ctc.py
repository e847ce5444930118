"""Speech recognition with CTC (many-to-many, ``T_y ≪ T_x``, no alignment given): features → symbols.

For the feature frames ``x<1> … x<T_x>`` of an utterance (log-mel filterbank or MFCC, :mod:`rnnkit.audio`)::

    u<t'> = subsample(x)                       frame stacking or a strided convolution: T' = ⌈T_x / k⌉
    a<t'> = BiRNN(u<t'>)                       L layers of any cell, both directions
    ŷ<t'> = softmax(W_ya dropout(a<t'>) + b_y) one distribution per frame over the C − 1 symbols and the blank

and the loss is CTC's (Graves et al. 2006): ``−log P(y | x) = −log Σ_{π ∈ B⁻¹(y)} Π_t ŷ<t>[π<t>]``, the sum
over every frame-level path π that collapses to the transcript y once repeats are merged and blanks removed
(``torch.nn.functional.ctc_loss``, with the lengths of both). Symbol 0 is the blank.

Shapes: features (B, T, F); lengths (B,); log_probs (B, T', C); targets (B, U) ids in 1 … C − 1, padded, with
target_lengths (B,).

Example::

    model = CTCRecognizer(num_features=40, num_symbols=28, hidden_size=64)
    log_probs, frames = model(torch.randn(2, 100, 40), torch.tensor([100, 73]))     # (2, 50, 28), (2,)
    loss = model.loss(log_probs, frames, torch.tensor([[3, 4, 5], [6, 7, 0]]), torch.tensor([3, 2]))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.cells import cell_factory
from rnnkit.layers import Recurrent
from rnnkit.models.pooling import valid_steps
from rnnkit.output import OutputLayer

SUBSAMPLING = ("none", "stack", "conv")


@dataclass
class CTCRecognizerConfig:
    """Everything needed to rebuild a :class:`CTCRecognizer` (JSON-able); saved as ``config.json["model"]``."""

    num_features: int
    num_symbols: int
    hidden_size: int = 256
    num_layers: int = 3
    cell: str | None = "lstm"
    bidirectional: bool = True
    subsampling: str = "stack"
    stride: int = 2
    conv_channels: int = 256
    dropout: float = 0.0
    cell_options: dict = field(default_factory=dict)


class CTCRecognizer(nn.Module):
    """Features → optional subsampling → deep (bidirectional) RNN → per-frame softmax over symbols + blank.

    Subsampling (``stride`` k) shortens the sequence the RNN reads, which is most of the cost:
    ``"stack"`` concatenates k consecutive frames into one (F·k inputs), ``"conv"`` is a 1-D convolution of
    width 2k − 1 and stride k with ``conv_channels`` outputs and a ReLU; ``"none"`` reads every frame. Frames
    past an utterance's end are zeroed before either, so padding stays invisible: an utterance's
    log-probabilities do not depend on its batch.

    ``cell`` is a ``--cell`` name or a cell factory of your own (see :class:`rnnkit.layers.Recurrent`).
    """

    def __init__(self, num_features: int, num_symbols: int, hidden_size: int = 256, num_layers: int = 3,
                 cell="lstm", bidirectional: bool = True, subsampling: str = "stack", stride: int = 2,
                 conv_channels: int = 256, dropout: float = 0.0, cell_options: dict | None = None,
                 engine: str = "auto"):
        super().__init__()
        if int(num_symbols) < 2:
            raise ValueError(f"num_symbols counts the blank and at least one symbol, got {num_symbols}")
        if subsampling not in SUBSAMPLING:
            raise ValueError(f"subsampling must be one of {', '.join(SUBSAMPLING)}, got {subsampling!r}")
        if int(stride) < 1:
            raise ValueError(f"stride must be at least 1, got {stride}")
        factory = cell_factory(cell) if isinstance(cell, str) else cell
        if not callable(factory):
            raise ValueError(f"cell must be a --cell name or a cell factory, got {cell!r}")
        self.config = CTCRecognizerConfig(int(num_features), int(num_symbols), int(hidden_size), int(num_layers),
                                          cell if isinstance(cell, str) else None, bool(bidirectional),
                                          subsampling, int(stride) if subsampling != "none" else 1,
                                          int(conv_channels), float(dropout), dict(cell_options or {}))
        c = self.config
        self.conv = None
        if c.subsampling == "conv":
            self.conv = nn.Conv1d(c.num_features, c.conv_channels, 2 * c.stride - 1, stride=c.stride,
                                  padding=c.stride - 1)
            input_size = c.conv_channels
        else:
            input_size = c.num_features * c.stride
        self.rnn = Recurrent(factory, input_size, c.hidden_size, num_layers=c.num_layers,
                             bidirectional=c.bidirectional, dropout=c.dropout, batch_first=True, engine=engine,
                             **c.cell_options)
        self.drop = nn.Dropout(c.dropout)
        self.head = OutputLayer(self.rnn.num_directions * c.hidden_size, c.num_symbols)

    @classmethod
    def from_config(cls, config: CTCRecognizerConfig | dict, cell=None, engine: str = "auto") -> CTCRecognizer:
        config = asdict(config) if isinstance(config, CTCRecognizerConfig) else dict(config)
        if cell is None and config.get("cell") is None:
            raise ValueError("this recognizer was built with a cell factory of the user's own: pass it again, "
                             "CTCRecognizer.from_config(config, cell=my_factory)")
        if cell is not None:
            config["cell"] = cell
        return cls(**config, engine=engine)

    def config_dict(self) -> dict:
        return asdict(self.config)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Frames the RNN and the CTC see for inputs of ``lengths`` frames: ``⌈T / k⌉`` (the convolution's
        padding of k − 1 gives the same count)."""
        k = self.config.stride
        return torch.div(lengths + k - 1, k, rounding_mode="floor")

    def subsample(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``u`` (B, T', X'): the frames the RNN reads."""
        B, T, Fe = x.shape
        x = x.masked_fill(~valid_steps(lengths, T).unsqueeze(2), 0.0)
        k = self.config.stride
        if self.conv is not None:
            return torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        if k == 1:
            return x
        T2 = -(-T // k)
        if T2 * k != T:
            x = F.pad(x, (0, 0, 0, T2 * k - T))
        return x.reshape(B, T2, k * Fe)                                   # [x<kt'>, …, x<kt'+k−1>]

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log_probs (B, T', C), frames (B,))``: per-frame ``log ŷ<t'>`` and each utterance's frame count."""
        if features.dim() != 3 or features.shape[2] != self.config.num_features:
            raise ValueError(f"features must be (B, T, {self.config.num_features}), got {tuple(features.shape)}")
        B, T, _ = features.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long, device=features.device)
        lengths = lengths.to(features.device).long()
        u = self.subsample(features, lengths)
        frames = self.output_lengths(lengths)
        full = bool((frames == u.shape[1]).all())
        a = self.rnn(u)[0] if full else self.rnn.outputs(u, frames)                # (B, T', D·H)
        z = self.head(self.drop(a))                                                # (B, T', C)
        return torch.log_softmax(z if z.dtype == torch.float64 else z.float(), dim=2), frames   # fp32 at least

    def loss(self, log_probs: torch.Tensor, frames: torch.Tensor, targets: torch.Tensor,
             target_lengths: torch.Tensor) -> torch.Tensor:
        """Each utterance's ``−log P(y | x)`` (B,), summed over all alignments by ``F.ctc_loss``. An utterance
        too short for its transcript has infinite loss (callers check the lengths first, see
        :func:`min_frames`)."""
        return F.ctc_loss(log_probs.transpose(0, 1), targets, frames, target_lengths, blank=0,
                          reduction="none", zero_infinity=False)

    @torch.no_grad()
    def predict(self, features: torch.Tensor, lengths: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``forward`` in evaluation mode."""
        was = self.training
        self.eval()
        try:
            return self(features, lengths)
        finally:
            self.train(was)


def min_frames(labels) -> int:
    """The fewest frames CTC needs to emit ``labels``: one per label and a blank between equal neighbours."""
    labels = list(labels)
    return len(labels) + sum(1 for a, b in zip(labels, labels[1:]) if a == b)


__all__ = ["CTCRecognizer", "CTCRecognizerConfig", "SUBSAMPLING", "min_frames"]
