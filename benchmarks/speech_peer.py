"""A plain-PyTorch peer for rnnkit's CTC recognizer: the recipe a careful PyTorch user writes.

The model is what one writes from the PyTorch documentation for speech recognition with CTC, with nothing of
rnnkit's own::

    a = BiLSTM_L(x)            torch.nn.LSTM(F, H, num_layers=L, bidirectional=True, batch_first=True) run on a
                               pack_padded_sequence (enforce_sorted=False), unpacked with pad_packed_sequence
    log ŷ = log_softmax(W a + b)    nn.Linear(2H, C), over the C − 1 symbols and the blank 0

trained with Adam and ``F.ctc_loss(log_probs.transpose(0, 1), targets, input_lengths, target_lengths, blank=0,
zero_infinity=True)`` (``reduction="mean"``: each utterance's loss divided by its target length, averaged over
the batch), the targets of a batch concatenated into one 1-D tensor. The careful parts: packing, so padding
never enters the LSTM and an utterance's log-probabilities do not depend on its batch (the padded frames'
outputs are zeros before the Linear, and CTC never reads them); ``zero_infinity``, so an utterance too short for
its transcript adds nothing instead of ``inf``; the batches moved to the model's device once, before the clock
starts; the losses kept as tensors and read once at the end, so no step waits for the device.

Shapes: features (B, T, F) float; frame_lengths (B,); targets (ΣU,) long ids in 1 … C − 1; target_lengths (B,);
log_probs (B, T, C).

    model = PeerCTC(n_features=40, hidden_size=128, num_layers=2, n_classes=11)
    result = train_steps(model, batches, steps=200)        # batches: [(features, frame_lengths, targets, ...)]
    print(result["utterances_per_s"], result["losses"][-1])

The peer sets no thread count; the caller does (``torch.set_num_threads``) before timing, and runs a few steps
first (a separate call) if it wants the warm-up left out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # features, frame_lengths, targets, lengths


class PeerCTC(nn.Module):
    """A bidirectional ``nn.LSTM`` over packed features, then ``nn.Linear(2H, C)`` and ``log_softmax``.

    Attributes: ``lstm`` (the ``nn.LSTM``), ``out`` (the ``nn.Linear``).
    """

    def __init__(self, n_features: int, hidden_size: int, num_layers: int, n_classes: int, dropout: float = 0.0):
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes counts the blank and at least one symbol, got {n_classes}")
        self.lstm = nn.LSTM(input_size=n_features, hidden_size=hidden_size, num_layers=num_layers,
                            bidirectional=True, batch_first=True, dropout=dropout)
        self.out = nn.Linear(2 * hidden_size, n_classes)

    def forward(self, features: torch.Tensor, frame_lengths: torch.Tensor) -> torch.Tensor:
        """features (B, T, F), frame_lengths (B,) ≥ 1 → log-probabilities (B, T, C); rows past an utterance's
        length are those of a zero LSTM output (CTC never reads them)."""
        packed = pack_padded_sequence(features, frame_lengths.cpu(), batch_first=True, enforce_sorted=False)
        a, _ = self.lstm(packed)
        a, _ = pad_packed_sequence(a, batch_first=True, total_length=features.size(1))  # (B, T, 2H)
        return F.log_softmax(self.out(a), dim=-1)  # (B, T, C)


def ctc_loss(model: PeerCTC, batch: Batch) -> torch.Tensor:
    """The mean CTC loss of one batch (see the module docstring)."""
    features, frame_lengths, targets, target_lengths = batch
    log_probs = model(features, frame_lengths)
    return F.ctc_loss(log_probs.transpose(0, 1), targets, frame_lengths, target_lengths, blank=0,
                      zero_infinity=True)


def train_steps(model: PeerCTC, batches: Sequence[Batch], steps: int, lr: float = 1e-3) -> dict:
    """Train ``model`` for ``steps`` Adam steps, going through ``batches`` in order, round and round.

    Returns ``{"steps", "utterances", "seconds", "utterances_per_s", "losses"}``: the wall-clock time of the
    steps alone (the batches are moved to the model's device before the clock starts; on CUDA the device is
    synchronised before it is read) and every step's loss, in order (``losses[-1]`` is the last).
    """
    if steps < 1 or not batches:
        raise ValueError(f"train_steps needs at least one batch and one step, got {len(batches)} and {steps}")
    device = next(model.parameters()).device
    batches = [tuple(t.to(device) for t in batch) for batch in batches]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses, utterances = [], 0
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    synchronize()
    start = time.perf_counter()
    for step in range(steps):
        batch = batches[step % len(batches)]
        loss = ctc_loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
        utterances += batch[0].shape[0]
    synchronize()
    seconds = time.perf_counter() - start
    return {"steps": steps, "utterances": utterances, "seconds": seconds,
            "utterances_per_s": utterances / seconds if seconds > 0 else float("inf"),
            "losses": torch.stack(losses).tolist()}
