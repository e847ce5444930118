"""A plain-PyTorch peer for rnnkit's encoder–decoder: the PyTorch tutorial's translation recipe.

The recipe is the one of the PyTorch tutorial "NLP From Scratch: Translation with a Sequence to Sequence
Network and Attention" in its batched form (2023 and later), kept as written where it can be:

* ``EncoderRNN``: ``nn.Embedding`` → dropout → ``nn.GRU(batch_first=True)``, hidden 128;
* ``BahdanauAttention``: ``score = Va(tanh(Wa(query) + Ua(keys)))`` with the previous decoder hidden state as
  the query and the encoder outputs as the keys; the context is the softmax-weighted sum of the keys;
* ``AttnDecoderRNN``: embedding → dropout, GRU over ``[embedded; context]`` started from the encoder's final
  hidden state, an output ``nn.Linear`` and ``log_softmax``; teacher forcing (the reference token is always
  fed back) during training;
* ``nn.NLLLoss``, Adam with lr 0.001 (the tutorial's two Adam optimisers, one per module, are one Adam over
  both here: Adam is per parameter, so the updates are the same).

What is adapted, so that it is honest on batches of sentences of different lengths (the tutorial pads every
sentence to a fixed ``MAX_LENGTH`` with zeros and lets the padding into the encoder, the attention and the
loss):

* every batch is padded to its own longest sentence with a pad id of the peer's own: the source pad id is
  ``src_vocab`` and the target pad id is ``tgt_vocab`` (the embeddings have ``vocab + 1`` rows, the pad row
  being ``padding_idx``; the output layer still has ``tgt_vocab`` classes, so pad is never predicted);
  no id inside the caller's vocabularies is reserved, ``bos`` and ``eos`` are the caller's;
* the encoder GRU runs on a ``pack_padded_sequence``, so a sentence's outputs and final state (the decoder's
  initial state) are those of the sentence alone, and its padded outputs are zeros;
* the attention scores of padded source positions are set to ``-inf`` before the softmax, so their weights
  are exactly 0;
* the loss ignores padded target positions (``ignore_index``); the target of a sentence is its ids then
  ``eos``, and the decoder runs as many steps as the longest target of the batch (not ``MAX_LENGTH``);
* batches are drawn each epoch from a shuffle made by a seeded ``torch.Generator``, grouped by similar
  source lengths (less padding, so less wasted time under the budget), in shuffled order;
* training runs for a wall-clock budget (the clock is read after every batch) rather than a number of epochs,
  so it can be put side by side with rnnkit's own model given the same budget;
* greedy decoding is batched and stops each sentence at its own ``eos`` (or its own length limit).

Everything is ids: the caller tokenises. The peer sets no thread count; the caller does
(``torch.set_num_threads``) before training. Parameters live on the CPU.

    peer = train_peer(pairs, src_vocab, tgt_vocab, bos, eos, budget_s=600)
    hypotheses = translate_peer(peer, sources, max_len=lambda n: 2 * n + 10)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

LOG_EVERY_S = 30.0  # at most one progress line per this many seconds (plus the first epoch's and a last one)
BUCKET_BATCHES = 50  # batches of similar lengths are formed within shuffled chunks of this many batches


@dataclass(frozen=True)
class PeerConfig:
    """The tutorial's settings: hidden size, embedding dropout, Adam's learning rate and the batch size."""

    hidden: int = 128
    dropout: float = 0.1
    lr: float = 1e-3
    batch_size: int = 32


def pad_batch(seqs: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids (B, T), lengths (B,))``: ``seqs`` right-padded with ``pad`` to the longest, as int64."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    T = int(lengths.max()) if len(seqs) else 0
    ids = torch.full((len(seqs), T), pad, dtype=torch.long)
    for i, s in enumerate(seqs):
        if len(s):
            ids[i, :len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return ids, lengths


class EncoderRNN(nn.Module):
    """Embedding → dropout → GRU, the GRU run on the packed batch so padding never enters it."""

    def __init__(self, input_size: int, hidden_size: int, dropout_p: float = 0.1, pad: int | None = None):
        super().__init__()
        self.pad = input_size if pad is None else pad
        self.embedding = nn.Embedding(input_size + 1, hidden_size, padding_idx=self.pad)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, src: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src (B, T) padded ids, lengths (B,) ≥ 1 → outputs (B, T, H), zero past each length; hidden (1, B, H),
        each sentence's state after its own last token."""
        embedded = self.dropout(self.embedding(src))
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, hidden = self.gru(packed)
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=src.size(1))
        return output, hidden


class BahdanauAttention(nn.Module):
    """Additive attention ``Va(tanh(Wa q + Ua k))``; scores of masked (padded) keys are ``-inf``."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.Wa = nn.Linear(hidden_size, hidden_size)
        self.Ua = nn.Linear(hidden_size, hidden_size)
        self.Va = nn.Linear(hidden_size, 1)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor,
                projected_keys: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, 1, H), keys (B, T, H), mask (B, T) True at real positions → context (B, 1, H), weights
        (B, 1, T). ``projected_keys`` is ``Ua(keys)`` when the caller has it already (the same every step)."""
        uk = self.Ua(keys) if projected_keys is None else projected_keys
        scores = self.Va(torch.tanh(self.Wa(query) + uk))  # (B, T, 1)
        scores = scores.squeeze(2).unsqueeze(1).masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = F.softmax(scores, dim=-1)
        context = torch.bmm(weights, keys)
        return context, weights


class AttnDecoderRNN(nn.Module):
    """The tutorial's attention decoder: GRU over ``[embedded previous token; context]``, Linear, log_softmax."""

    def __init__(self, hidden_size: int, output_size: int, bos: int, dropout_p: float = 0.1,
                 pad: int | None = None):
        super().__init__()
        self.bos = bos
        self.pad = output_size if pad is None else pad
        self.embedding = nn.Embedding(output_size + 1, hidden_size, padding_idx=self.pad)
        self.attention = BahdanauAttention(hidden_size)
        self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)
        self.dropout = nn.Dropout(dropout_p)

    def forward_step(self, input: torch.Tensor, hidden: torch.Tensor, encoder_outputs: torch.Tensor,
                     mask: torch.Tensor, projected_keys: torch.Tensor | None = None,
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """input (B, 1) ids, hidden (1, B, H) → logits (B, 1, V), hidden (1, B, H), attention (B, 1, T)."""
        embedded = self.dropout(self.embedding(input))
        query = hidden.permute(1, 0, 2)
        context, attn_weights = self.attention(query, encoder_outputs, mask, projected_keys)
        input_gru = torch.cat((embedded, context), dim=2)
        output, hidden = self.gru(input_gru, hidden)
        return self.out(output), hidden, attn_weights

    def forward(self, encoder_outputs: torch.Tensor, encoder_hidden: torch.Tensor, mask: torch.Tensor,
                target_tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher forcing: starts from ``bos`` and feeds ``target_tensor[:, i]`` (B, S) after step i; returns
        log-probabilities (B, S, V), the last hidden state and the attention weights (B, S, T)."""
        batch_size, steps = target_tensor.shape
        decoder_input = torch.full((batch_size, 1), self.bos, dtype=torch.long, device=encoder_outputs.device)
        decoder_hidden = encoder_hidden
        projected_keys = self.attention.Ua(encoder_outputs)
        decoder_outputs, attentions = [], []
        for i in range(steps):
            decoder_output, decoder_hidden, attn_weights = self.forward_step(
                decoder_input, decoder_hidden, encoder_outputs, mask, projected_keys)
            decoder_outputs.append(decoder_output)
            attentions.append(attn_weights)
            decoder_input = target_tensor[:, i].unsqueeze(1)  # teacher forcing
        log_probs = F.log_softmax(torch.cat(decoder_outputs, dim=1), dim=-1)
        return log_probs, decoder_hidden, torch.cat(attentions, dim=1)


class Peer(nn.Module):
    """The trained encoder–decoder with its ids: ``bos``, ``eos``, the pad ids ``src_pad`` (= ``src_vocab``) and
    ``tgt_pad`` (= ``tgt_vocab``); ``history`` holds one dict per logged line, ``steps``/``epochs`` the totals."""

    def __init__(self, src_vocab: int, tgt_vocab: int, bos: int, eos: int, config: PeerConfig):
        super().__init__()
        self.src_vocab, self.tgt_vocab, self.bos, self.eos, self.config = src_vocab, tgt_vocab, bos, eos, config
        self.src_pad, self.tgt_pad = src_vocab, tgt_vocab
        self.encoder = EncoderRNN(src_vocab, config.hidden, config.dropout, pad=self.src_pad)
        self.decoder = AttnDecoderRNN(config.hidden, tgt_vocab, bos, config.dropout, pad=self.tgt_pad)
        self.history: list[dict] = []
        self.steps = 0
        self.epochs = 0.0

    def encode(self, sources: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoder outputs (B, T, H), final hidden (1, B, H) and the source mask (B, T) of a list of sources."""
        src, lengths = pad_batch(sources, self.src_pad)
        outputs, hidden = self.encoder(src, lengths)
        return outputs, hidden, src != self.src_pad

    def forward(self, sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]],
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher-forced pass over id lists (targets without bos/eos): log-probabilities (B, S, V), attention
        weights (B, S, T) and the padded targets (B, S) (each target's ids, ``eos``, then ``tgt_pad``)."""
        encoder_outputs, encoder_hidden, mask = self.encode(sources)
        target, _ = pad_batch([[*t, self.eos] for t in targets], self.tgt_pad)
        log_probs, _, attentions = self.decoder(encoder_outputs, encoder_hidden, mask, target)
        return log_probs, attentions, target


def _check_ids(pairs: Sequence[tuple[Sequence[int], Sequence[int]]], src_vocab: int, tgt_vocab: int,
               bos: int, eos: int) -> None:
    if not pairs:
        raise ValueError("train_peer needs at least one pair")
    for name, i in (("bos", bos), ("eos", eos)):
        if not 0 <= i < tgt_vocab:
            raise ValueError(f"{name} id {i} is outside the target vocabulary of {tgt_vocab}")
    if bos == eos:
        raise ValueError("bos and eos must be different ids")
    for k, (s, t) in enumerate(pairs):
        if not s:
            raise ValueError(f"pair {k} has an empty source (the encoder needs at least one token)")
        if min(s) < 0 or max(s) >= src_vocab:
            raise ValueError(f"pair {k}: source ids must lie in [0, {src_vocab})")
        if t and (min(t) < 0 or max(t) >= tgt_vocab):
            raise ValueError(f"pair {k}: target ids must lie in [0, {tgt_vocab})")


def _epoch_batches(lengths: list[int], batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """One epoch's batches of indices: a seeded shuffle, sorted by length within chunks of BUCKET_BATCHES
    batches, cut into batches, the batches themselves shuffled."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    chunk = batch_size * BUCKET_BATCHES
    batches = []
    for c in range(0, len(order), chunk):
        part = sorted(order[c:c + chunk], key=lambda i: lengths[i])
        batches += [part[b:b + batch_size] for b in range(0, len(part), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def train_peer(pairs: list[tuple[list[int], list[int]]], src_vocab: int, tgt_vocab: int, bos: int, eos: int,
               budget_s: float, seed: int = 0, config: PeerConfig = PeerConfig(),  # noqa: B008 - PeerConfig is frozen
               log: Callable[[str], object] | None = print) -> Peer:
    """Train the tutorial's model on ``pairs`` of (source ids, target ids without bos/eos) for ``budget_s``
    seconds of wall-clock (counted from the call; the clock is read after every batch), epoch after epoch.

    Initialisation, dropout and the shuffles come from ``seed``; the caller's global RNG state is left as it
    was. ``log`` (None for silence) gets the first epoch's line, a line at most every LOG_EVERY_S seconds and a
    last one. Returns the model in eval mode, with ``steps``, ``epochs`` and ``history`` filled in.
    """
    start = time.perf_counter()
    _check_ids(pairs, src_vocab, tgt_vocab, bos, eos)
    say = log or (lambda _line: None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        peer = Peer(src_vocab, tgt_vocab, bos, eos, config)
        optimizer = torch.optim.Adam(peer.parameters(), lr=config.lr)
        criterion = nn.NLLLoss(ignore_index=peer.tgt_pad)
        src_lengths = [len(s) for s, _ in pairs]
        peer.train()
        last_log, loss_sum, loss_n, epoch, done = start, 0.0, 0, 0, False
        while not done:
            batches = _epoch_batches(src_lengths, config.batch_size, generator)
            for b, batch in enumerate(batches):
                log_probs, _, target = peer([pairs[i][0] for i in batch], [pairs[i][1] for i in batch])
                loss = criterion(log_probs.reshape(-1, log_probs.size(-1)), target.reshape(-1))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                peer.steps += 1
                loss_sum, loss_n = loss_sum + loss.item(), loss_n + 1
                now = time.perf_counter()
                done = now - start >= budget_s
                epoch_end = b == len(batches) - 1
                peer.epochs = epoch + (b + 1) / len(batches)
                if done or now - last_log >= LOG_EVERY_S or (epoch == 0 and epoch_end):
                    record = {"time": now - start, "epoch": peer.epochs, "steps": peer.steps,
                              "loss": loss_sum / loss_n}
                    peer.history.append(record)
                    say(f"peer: epoch {record['epoch']:.2f}  step {peer.steps}  loss {record['loss']:.4f}  "
                        f"{record['time']:.0f}s")
                    last_log, loss_sum, loss_n = now, 0.0, 0
                if done:
                    break
            epoch += 1
    return peer.eval()


@torch.no_grad()
def translate_peer(peer: Peer, sources: list[list[int]], max_len: int | Callable[[int], int] = 50,
                   batch_size: int = 64) -> list[list[int]]:
    """Greedy decoding of ``sources`` (non-empty id lists), ``batch_size`` at a time (grouped by length; the
    order of the answer is that of ``sources``). Each sentence stops at its first ``eos`` or after
    ``max_len`` tokens (``max_len(len(source))`` when a callable); the ids are returned without ``eos``."""
    was_training = peer.training
    peer.eval()
    limits = [int(max_len(len(s))) if callable(max_len) else int(max_len) for s in sources]
    if any(not s for s in sources):
        raise ValueError("translate_peer: every source needs at least one token")
    results: list[list[int]] = [[] for _ in sources]
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    for c in range(0, len(order), batch_size):
        idx = order[c:c + batch_size]
        limit = torch.tensor([limits[i] for i in idx])
        steps = max(0, int(limit.max()))
        if steps == 0:
            continue
        encoder_outputs, hidden, mask = peer.encode([sources[i] for i in idx])
        projected_keys = peer.decoder.attention.Ua(encoder_outputs)
        decoder_input = torch.full((len(idx), 1), peer.bos, dtype=torch.long)
        finished = limit <= 0
        out = []
        for t in range(steps):
            logits, hidden, _ = peer.decoder.forward_step(decoder_input, hidden, encoder_outputs, mask,
                                                          projected_keys)
            token = logits[:, 0].argmax(dim=-1)
            out.append(token)
            finished |= (token == peer.eos) | (limit <= t + 1)
            if bool(finished.all()):
                break
            decoder_input = token.unsqueeze(1)
        tokens = torch.stack(out, dim=1).tolist()
        for row, i in enumerate(idx):
            seq = tokens[row][:max(0, limits[i])]
            results[i] = seq[:seq.index(peer.eos)] if peer.eos in seq else seq
    peer.train(was_training)
    return results


def mean_token_nll(peer: Peer, pairs: Sequence[tuple[Sequence[int], Sequence[int]]], batch_size: int = 64) -> float:
    """Teacher-forced negative log-likelihood per target token (eos included) of ``pairs``, in nats."""
    was_training = peer.training
    peer.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for c in range(0, len(pairs), batch_size):
            chunk = pairs[c:c + batch_size]
            log_probs, _, target = peer([s for s, _ in chunk], [t for _, t in chunk])
            total += F.nll_loss(log_probs.reshape(-1, log_probs.size(-1)), target.reshape(-1),
                                ignore_index=peer.tgt_pad, reduction="sum").item()
            count += int((target != peer.tgt_pad).sum())
    peer.train(was_training)
    return total / count if count else math.nan
