"""A recurrent language model: many-to-many for training, one-to-many for sampling."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterator

import torch
from torch import nn

from rnnkit.cells import cell_factory
from rnnkit.engine import Stepper
from rnnkit.engine.step import OutputDraw
from rnnkit.generation import Sampler, batch_primes
from rnnkit.layers import Recurrent
from rnnkit.output import OutputLayer


@dataclass
class LanguageModelConfig:
    """Everything needed to rebuild a :class:`LanguageModel`; saved as ``config.json["model"]``."""

    vocab_size: int
    hidden_size: int
    num_layers: int = 1
    cell: str = "lstm"
    embedding_size: int | None = None
    dropout: float = 0.0
    one_hot: bool = False
    cell_options: dict = field(default_factory=dict)


class LanguageModel(nn.Module):
    """``P(y<t> | y<1>, …, y<t-1>)`` with a recurrent network: ``ŷ<t> = softmax(W_ya a<t> + b_y)``.

    Inputs are token ids. By default each id is looked up in an embedding of size ``embedding_size``
    (``None``: the hidden size); ``one_hot=True`` feeds the one-hot vector of the notes instead
    (``x<t>`` has V components; the same function as an embedding of size V, computed per batch).
    ``dropout`` acts between recurrent layers and before the output layer.

    Shapes: ids (B, T) → logits (B, T, V); state as in :class:`rnnkit.Recurrent` (L, B, H) per name.

    Example::

        lm = LanguageModel(vocab_size=65, hidden_size=128, num_layers=2)
        logits, state = lm(torch.randint(65, (4, 10)))       # (4, 10, 65)
        new_ids = lm.generate(torch.tensor([1, 2, 3]), max_new_tokens=20)
    """

    def __init__(self, vocab_size: int, hidden_size: int, num_layers: int = 1, cell: str = "lstm",
                 embedding_size: int | None = None, dropout: float = 0.0, one_hot: bool = False,
                 cell_options: dict | None = None, engine: str = "auto"):
        super().__init__()
        self.config = LanguageModelConfig(vocab_size, hidden_size, num_layers, cell, embedding_size, dropout,
                                          one_hot, dict(cell_options or {}))
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be positive, got {vocab_size}")
        if one_hot:
            self.embedding = None
            input_size = vocab_size
        else:
            input_size = embedding_size or hidden_size
            self.embedding = nn.Embedding(vocab_size, input_size)
        self.rnn = Recurrent(cell_factory(cell), input_size, hidden_size, num_layers=num_layers,
                             dropout=dropout, batch_first=True, engine=engine, **self.config.cell_options)
        self.drop = nn.Dropout(dropout)
        self.head = OutputLayer(hidden_size, vocab_size)

    @classmethod
    def from_config(cls, config: LanguageModelConfig | dict) -> LanguageModel:
        return cls(**(asdict(config) if isinstance(config, LanguageModelConfig) else config))

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """``x<t>`` for each id: (...,) → (..., X)."""
        if self.embedding is None:
            return nn.functional.one_hot(ids, self.vocab_size).to(self.head.W_ya.dtype)
        return self.embedding(ids)

    def forward(self, ids: torch.Tensor, state=None):
        """Logits ``z<t>`` for the next token after each position: (B, T) → (B, T, V), and the final state."""
        outputs, state = self.rnn(self.embed(ids), state)
        return self.head(self.drop(outputs)), state

    def init_state(self, batch_size: int, device=None):
        return self.rnn.init_state(batch_size, device=device)

    @torch.no_grad()
    def log_prob(self, ids: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Sequence log-probability by the chain rule, ``log P(y<1>…y<T>) = Σ_t log P(y<t> | y<1…t-1>)``.

        Without ``context`` the first token is given (it has nothing to be predicted from) and the sum runs
        over ``t = 2 … T``; with ``context`` (ids seen before, e.g. ``[<EOS>]`` for a sentence start) every
        token of ``ids`` is scored. Shapes: ids (T,) → scalar, or (B, T) → (B,).
        """
        return self.token_log_probs(ids, context).sum(dim=-1)

    @torch.no_grad()
    def token_log_probs(self, ids: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """``log P(y<t> | y<1…t-1>)`` for each scored token: (T,) → (T - 1,) or (T,) with ``context``."""
        single = ids.dim() == 1
        ids = ids.unsqueeze(0) if single else ids
        if context is not None:
            context = context.unsqueeze(0) if context.dim() == 1 else context
            ids = torch.cat([context.expand(ids.shape[0], -1), ids], dim=1)
            skip = context.shape[1]
        else:
            skip = 1
        logits, _ = self(ids[:, :-1])
        log_p = torch.log_softmax(logits.float(), dim=-1)
        picked = log_p.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)[:, skip - 1:]
        return picked[0] if single else picked

    @torch.no_grad()
    def generate(self, prime, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None,
                 generator: torch.Generator | None = None, stop_token: int | None = None,
                 weights: str = "float32") -> torch.Tensor:
        """Sample ``max_new_tokens`` ids after ``prime``: (T,) → (N,); (B, T), or a list of B primes of
        different lengths (each fed through its own length), → (B, N). The B rows are one batch through the
        stepper and are drawn independently, each as a single draw would be.

        ``temperature=0`` is greedy. With ``stop_token`` a sequence stops after emitting it (a batch stops
        when every row has; finished rows then repeat ``stop_token``). ``weights="bf16"`` or ``"int8"`` steps
        from reduced-precision weights (:class:`rnnkit.engine.step.StepMatrix`).
        """
        single = isinstance(prime, torch.Tensor) and prime.dim() == 1
        primes = prime.unsqueeze(0) if single else prime
        new = list(self.stream(primes, max_new_tokens, temperature, top_k, top_p, generator, stop_token, weights))
        if new:
            out = torch.stack(new, dim=1)
        else:
            out = torch.zeros((1 if single else len(primes), 0), dtype=torch.long, device=self.head.W_ya.device)
        return out[0] if single else out

    @torch.no_grad()
    def stream(self, prime, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, generator: torch.Generator | None = None,
               stop_token: int | None = None, weights: str = "float32") -> Iterator[torch.Tensor]:
        """Yield the sampled ids (B,) one step at a time, as they are generated. ``prime`` is (B, T) ids or a
        list of B (T_b,) primes (see :func:`rnnkit.generation.batch_primes`)."""
        sampler = Sampler(temperature, top_k, top_p, generator)
        if isinstance(prime, torch.Tensor) and prime.dim() != 2:
            raise ValueError(f"prime must be (B, T) ids with T >= 1, or a list of (T,) primes, got shape "
                             f"{tuple(prime.shape)}")
        ids, lengths = batch_primes(prime, device=self.head.W_ya.device)
        B = ids.shape[0]
        if int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size:
            raise ValueError(f"prime ids must lie in [0, {self.vocab_size}), got {int(ids.min())}…{int(ids.max())}")
        was_training = self.training
        self.eval()
        try:
            state = self.prime_state(ids, lengths)
            token = ids.gather(1, (lengths - 1).unsqueeze(1))[:, 0]               # each prime's last id
            done = torch.zeros(B, dtype=torch.bool, device=ids.device)
            # The stepper keeps the state and the fused weights between steps (and, with an embedding,
            # layer 1's input projection of every id): nothing is set up per token.
            stepper = Stepper(self.rnn, state, B, device=ids.device, dtype=self.head.W_ya.dtype,
                              embedding=self.embedding, weights=weights)
            draw = OutputDraw(self.head.W_ya, self.head.b_y, sampler)           # softmax(W_ya a<t> + b_y)
            for _ in range(max_new_tokens):
                a_t = stepper.step(self.embed(token)) if self.embedding is None else stepper.step_ids(token)
                token = draw(a_t)
                if stop_token is not None:
                    token = torch.where(done, torch.full_like(token, stop_token), token)
                    done |= token == stop_token
                yield token
                if stop_token is not None and bool(done.all()):
                    return
        finally:
            self.train(was_training)

    def prime_state(self, ids: torch.Tensor, lengths: torch.Tensor):
        """The state after reading every prime but its last id (which the first step reads): ids (B, T),
        lengths (B,) → one (L, B, H) tensor per state name, or None (zeros) when every prime is one id.
        A prime of one id starts from zeros; the others are read through their own lengths."""
        if ids.shape[1] == 1:
            return None
        read = lengths - 1                                                     # ids read before the first step
        if bool((read == read[0]).all()):
            return self.rnn(self.embed(ids[:, :-1]))[1]
        _, state = self.rnn(self.embed(ids[:, :-1]), lengths=read.clamp(min=1))
        empty = (read == 0).view(1, -1, 1)                                     # one-id primes: a<0> = 0
        return tuple(s.masked_fill(empty, 0.0) for s in state)
