"""A recurrent language model: many-to-many for training, one-to-many for sampling."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterator

import torch
from torch import nn

from rnnkit.cells import cell_factory
from rnnkit.engine import Stepper
from rnnkit.generation import Sampler
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
    def generate(self, prime: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None,
                 generator: torch.Generator | None = None, stop_token: int | None = None) -> torch.Tensor:
        """Sample ``max_new_tokens`` ids after ``prime``: (T,) → (N,), or (B, T) → (B, N).

        ``temperature=0`` is greedy. With ``stop_token`` a sequence stops after emitting it (a batch stops
        when every row has; finished rows then repeat ``stop_token``).
        """
        single = prime.dim() == 1
        new = list(self.stream(prime.unsqueeze(0) if single else prime, max_new_tokens, temperature, top_k,
                               top_p, generator, stop_token))
        out = torch.stack(new, dim=1) if new else prime.new_zeros((1 if single else prime.shape[0], 0))
        return out[0] if single else out

    @torch.no_grad()
    def stream(self, prime: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, generator: torch.Generator | None = None,
               stop_token: int | None = None) -> Iterator[torch.Tensor]:
        """Yield the sampled ids (B,) one step at a time, as they are generated. ``prime`` is (B, T)."""
        sampler = Sampler(temperature, top_k, top_p, generator)
        if prime.dim() != 2 or prime.shape[1] < 1:
            raise ValueError(f"prime must be (B, T) ids with T >= 1, got shape {tuple(prime.shape)}")
        was_training = self.training
        self.eval()
        try:
            state = None
            if prime.shape[1] > 1:
                _, state = self.rnn(self.embed(prime[:, :-1]))
            token = prime[:, -1]
            done = torch.zeros(prime.shape[0], dtype=torch.bool, device=prime.device)
            # The stepper keeps the state and the fused weights between steps (and, with an embedding,
            # layer 1's input projection of every id): nothing is set up per token.
            stepper = Stepper(self.rnn, state, prime.shape[0], device=prime.device, dtype=self.head.W_ya.dtype,
                              embedding=self.embedding)
            W_ya, b_y = self.head.W_ya, self.head.b_y
            for _ in range(max_new_tokens):
                a_t = stepper.step(self.embed(token)) if self.embedding is None else stepper.step_ids(token)
                token = sampler.from_output(a_t, W_ya, b_y)                   # softmax(W_ya a<t> + b_y)
                if stop_token is not None:
                    token = torch.where(done, torch.full_like(token, stop_token), token)
                    done |= token == stop_token
                yield token
                if stop_token is not None and bool(done.all()):
                    return
        finally:
            self.train(was_training)
