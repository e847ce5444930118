"""The encoder–decoder (many-to-many, ``T_x ≠ T_y``): translation, dates → ISO, any sequence to any sequence.

The encoder reads the source ``x<1> … x<T_x>``; the decoder writes the target ``y<1> … y<T_y>`` one token at a
time, each conditioned on the tokens before it, and ends by writing ``<EOS>``::

    h̄<j>  = BiRNN_enc(E_x x<j>)                            j = 1 … T_x, both directions: (D·H)
    s<0>  = tanh(W_b [a→<T_x>, a←<1>] + b_b)               the bridge (identity when the shapes agree)
    s<t>  = RNN_dec([E_y y<t-1>, f<t>], s<t-1>)             y<0> = <EOS>, the start symbol
    α<t,j> = softmax_j(score(q<t>, h̄<j>))                  over the source's valid steps only
    c<t>  = Σ_j α<t,j> h̄<j>                                the context
    h̃<t>  = tanh(W_c [c<t>, s<t>])                         the attentional hidden state
    P(y<t> | y<1…t-1>, x) = softmax(W_y h̃<t> + b_y)

Attention (``attention=``):

- ``"none"``: the notes' plain encoder–decoder: the decoder starts from the encoder's final state and
  ``h̃<t> = s<t>``; everything the decoder knows of the source passes through ``s<0>``.
- ``"additive"`` (Bahdanau et al. 2015): ``score = vᵀ tanh(W_q s<t-1> + W_k h̄<j>)``; the query is the state
  *before* the step and the context is fed into the cell, ``f<t> = c<t>``.
- ``"dot"`` and ``"general"`` (Luong et al. 2015): ``score = s<t>ᵀ h̄<j>`` or ``s<t>ᵀ W_a h̄<j>``; the query is
  the new state. With ``input_feeding`` the previous attentional state is fed back, ``f<t> = h̃<t-1>``, so the
  decoder knows what it attended to; without it ``f<t>`` is empty and the whole decoder runs as one sequence
  (faster; the attention is then computed for every step at once).

Training is teacher forced (the decoder reads the true ``y<t-1>``), optionally with scheduled sampling (with
probability ``p`` it reads its own most likely previous token instead, Bengio et al. 2015) and label smoothing.
The loss of a sentence is ``−Σ_t log P(y<t> | y<1…t-1>, x)`` over its target tokens and ``<EOS>``.

Decoding (all batched over sentences): :meth:`Seq2Seq.greedy`, :meth:`Seq2Seq.beam_search` (beam size, length
normalisation, each hypothesis ends at its own ``<EOS>``, a length limit relative to the source) and
:meth:`Seq2Seq.sample` (temperature). :meth:`Seq2Seq.log_prob` scores given targets.

Shapes: source (B, T_x) ids with ``source_lengths`` (B,); target (B, T_y) ids ending with ``<EOS>``, with
``target_lengths`` (B,); memory (B, T_x, D·H); attention weights (B, T_y, T_x).

Example::

    model = Seq2Seq(Seq2SeqConfig(source_vocab_size=40, target_vocab_size=14, eos_id=1))
    loss = model(src, src_lengths, tgt, tgt_lengths).mean()        # per-sentence −log P(y | x)
    out = model.beam_search(src, src_lengths, beam_size=5)          # list of Hypothesis
    out[0].tokens, out[0].log_prob, out[0].attention                 # ids, natural log, (T_y, T_x)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from rnnkit.cells import cell_factory
from rnnkit.layers import Recurrent
from rnnkit.models.pooling import valid_steps
from rnnkit.output import OutputLayer

ATTENTIONS = ("none", "additive", "dot", "general")


@dataclass
class Seq2SeqConfig:
    """Everything needed to rebuild a :class:`Seq2Seq` (JSON-able); saved as ``config.json["model"]``.

    ``eos_id`` is the target vocabulary's ``<EOS>``: it ends every target and is the decoder's first input.
    ``decoder_cell`` None means the encoder's cell. ``tie_embeddings`` uses the target embedding as the output
    weights (``W_y = E_y``; needs ``embedding_size == hidden_size``); ``share_embeddings`` uses one embedding
    for source and target (one shared vocabulary).
    """

    source_vocab_size: int
    target_vocab_size: int
    eos_id: int
    hidden_size: int = 256
    embedding_size: int = 256
    encoder_layers: int = 1
    decoder_layers: int = 1
    cell: str | None = "gru"
    decoder_cell: str | None = None
    bidirectional: bool = True
    attention: str = "general"
    input_feeding: bool = True
    dropout: float = 0.2
    tie_embeddings: bool = False
    share_embeddings: bool = False
    cell_options: dict = field(default_factory=dict)


@dataclass
class Memory:
    """The encoded source: ``values`` h̄ (B, T_x, D·H), ``keys`` (what scores read, precomputed), ``mask``
    (B, T_x) valid steps, ``state`` the decoder's initial state (one (L_dec, B, H) tensor per state name),
    ``lengths`` (B,)."""

    values: torch.Tensor
    keys: torch.Tensor | None
    mask: torch.Tensor
    state: tuple[torch.Tensor, ...]
    lengths: torch.Tensor

    def select(self, rows: torch.Tensor) -> Memory:
        """The memory of the sentences at ``rows`` (N,), in that order (a sentence may repeat: beams)."""
        r = lambda t: t.index_select(0, rows)
        return Memory(r(self.values), None if self.keys is None else r(self.keys), r(self.mask),
                      tuple(s.index_select(1, rows) for s in self.state), r(self.lengths))


@dataclass
class Hypothesis:
    """A decoded target: ``tokens`` (ids, without the final ``<EOS>``), ``log_prob`` (natural log of
    ``P(tokens, <EOS> | x)``; at the length limit ``<EOS>`` is forced), ``attention`` (T_y, T_x) the weights
    of each written token (``<EOS>`` included) or None."""

    tokens: list[int]
    log_prob: float
    attention: torch.Tensor | None


class Seq2Seq(nn.Module):
    """An RNN encoder–decoder with optional attention (see module doc)."""

    def __init__(self, config: Seq2SeqConfig | None = None, *, cell=None, engine: str = "auto", **kwargs):
        super().__init__()
        if config is None:
            config = Seq2SeqConfig(**kwargs)
        elif kwargs:
            raise TypeError("give a Seq2SeqConfig or keyword arguments, not both")
        c = config
        if c.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {', '.join(ATTENTIONS)}, got {c.attention!r}")
        if not 0 <= c.eos_id < c.target_vocab_size:
            raise ValueError(f"eos_id {c.eos_id} is not a target id (0 … {c.target_vocab_size - 1})")
        if not 0.0 <= float(c.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {c.dropout}")
        H, E = int(c.hidden_size), int(c.embedding_size)
        D = 2 if c.bidirectional else 1
        M = D * H
        if c.attention == "dot" and M != H:
            raise ValueError(f"dot attention compares s<t> (H = {H}) with h̄<j> (D·H = {M}); use a unidirectional "
                             "encoder or attention 'general'")
        if c.tie_embeddings and E != H:
            raise ValueError(f"tied embeddings need embedding_size == hidden_size, got {E} and {H}")
        if c.share_embeddings and c.source_vocab_size != c.target_vocab_size:
            raise ValueError("shared embeddings need one vocabulary: source_vocab_size == target_vocab_size")
        if cell is None and c.cell is None:
            raise ValueError("this model was built with a cell factory of the user's own: pass it again, cell=…")
        enc_factory = cell if cell is not None else cell_factory(c.cell)
        dec_factory = cell if cell is not None else cell_factory(c.decoder_cell or c.cell)
        self.config = c
        self.eos_id = int(c.eos_id)
        self.source_embedding = nn.Embedding(int(c.source_vocab_size), E)
        if not c.share_embeddings:              # shared: the property below returns the source's (saved once)
            self.target_embedding = nn.Embedding(int(c.target_vocab_size), E)
        self.encoder = Recurrent(enc_factory, E, H, num_layers=int(c.encoder_layers), bidirectional=D == 2,
                                 dropout=float(c.dropout), batch_first=True, engine=engine, **c.cell_options)
        self.attention = c.attention
        self.feeds_context = c.attention == "additive"
        self.feeds_output = c.attention in ("dot", "general") and bool(c.input_feeding)
        feed = M if self.feeds_context else H if self.feeds_output else 0
        self.decoder = Recurrent(dec_factory, E + feed, H, num_layers=int(c.decoder_layers),
                                 dropout=float(c.dropout), batch_first=True, engine=engine, **c.cell_options)
        enc_states, dec_states = self.encoder.state_names, self.decoder.state_names
        self.bridged = not (D == 1 and c.encoder_layers == c.decoder_layers and enc_states == dec_states)
        if self.bridged:                        # s<0> = tanh(W_b [a→<T_x>, a←<1>] + b_b), per state name
            self.bridge = nn.ModuleList(nn.Linear(M, int(c.decoder_layers) * H) for _ in dec_states)
        if c.attention == "additive":
            self.W_q = nn.Linear(H, H, bias=False)
            self.W_k = nn.Linear(M, H)
            self.v = nn.Linear(H, 1, bias=False)
        elif c.attention == "general":
            self.W_a = nn.Linear(M, H, bias=False)
        if c.attention != "none":
            self.W_c = nn.Linear(M + H, H)
        self.drop = nn.Dropout(float(c.dropout))
        if c.tie_embeddings:
            self.head = None
            self.b_y = nn.Parameter(torch.zeros(int(c.target_vocab_size)))
        else:
            self.head = OutputLayer(H, int(c.target_vocab_size))

    @property
    def target_embedding(self) -> nn.Embedding:
        """``E_y``: the target's embedding (the source's, with ``share_embeddings``)."""
        return self.source_embedding if self.config.share_embeddings else self._modules["target_embedding"]

    @classmethod
    def from_config(cls, config: Seq2SeqConfig | dict, cell=None, engine: str = "auto") -> Seq2Seq:
        config = Seq2SeqConfig(**config) if isinstance(config, dict) else config
        return cls(config, cell=cell, engine=engine)

    def config_dict(self) -> dict:
        return asdict(self.config)

    # --- the encoder --------------------------------------------------------------------------------

    def encode(self, source: torch.Tensor, lengths: torch.Tensor | None = None) -> Memory:
        """Read the source (B, T_x) ids into the decoder's :class:`Memory`."""
        if source.dim() != 2 or source.dtype.is_floating_point:
            raise ValueError(f"source must be (B, T_x) token ids, got shape {tuple(source.shape)}, {source.dtype}")
        B, S = source.shape
        lengths = (torch.full((B,), S, dtype=torch.long, device=source.device) if lengths is None
                   else lengths.to(source.device).long())
        mask = valid_steps(lengths, S)
        x = self.drop(self.source_embedding(source.masked_fill(~mask, 0)))
        H = self.encoder.hidden_size
        if not self.bridged:                    # the notes' encoder–decoder: s<0> is the encoder's final state
            values, state = self.encoder(x, lengths=lengths)
        else:
            full = bool((lengths == S).all())
            values = self.encoder(x)[0] if full else self.encoder.outputs(x, lengths)     # (B, S, D·H)
            last = (lengths - 1).view(B, 1, 1).expand(B, 1, H)
            ends = [values[:, :, :H].gather(1, last).squeeze(1)]                           # a→<T_x>
            if self.encoder.bidirectional:
                ends.append(values[:, 0, H:])                                              # a←<1>
            summary = torch.cat(ends, dim=1)
            L = self.decoder.num_layers
            state = tuple(torch.tanh(b(summary)).view(B, L, H).transpose(0, 1).contiguous() for b in self.bridge)
        keys = (self.W_k(values) if self.attention == "additive" else
                self.W_a(values) if self.attention == "general" else values if self.attention == "dot" else None)
        return Memory(values, keys, mask, state, lengths)

    # --- attention and one decoder step -------------------------------------------------------------

    def attend(self, query: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        """Context and weights for queries (B, H) or (B, T, H): ``c`` (B[, T], D·H), ``α`` (B[, T], T_x);
        the weights are zero on padded source steps and sum to one over the valid ones."""
        one = query.dim() == 2
        q = query.unsqueeze(1) if one else query                                           # (B, T, H)
        if self.attention == "additive":
            e = self.v(torch.tanh(self.W_q(q).unsqueeze(2) + memory.keys.unsqueeze(1))).squeeze(3)
        else:
            e = torch.bmm(q, memory.keys.transpose(1, 2))                                 # (B, T, T_x)
        e = e.masked_fill(~memory.mask.unsqueeze(1), float("-inf"))
        alpha = torch.softmax(e, dim=2)
        context = torch.bmm(alpha, memory.values)
        return (context.squeeze(1), alpha.squeeze(1)) if one else (context, alpha)

    def _combine(self, context: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.W_c(torch.cat([context, s], dim=-1)))                     # h̃ = tanh(W_c [c, s])

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """``W_y h̃ + b_y`` (…, V_y)."""
        if self.head is None:
            return F.linear(h, self.target_embedding.weight, self.b_y)
        return self.head(h)

    def step(self, x_t: torch.Tensor, state: list[tuple[torch.Tensor, ...]], feed: torch.Tensor | None,
             memory: Memory):
        """One decoder step from the embedded previous token ``x_t`` (B, E): returns ``h̃<t>`` (B, H), the new
        per-layer state (a list of per-cell tuples) and the attention weights (B, T_x) (None without attention).
        """
        alpha = None
        if self.feeds_context:
            context, alpha = self.attend(state[-1][0], memory)                            # query s<t-1>
            x_t = torch.cat([x_t, context], dim=1)
        elif self.feeds_output:
            x_t = torch.cat([x_t, feed], dim=1)
        new = []
        last = len(self.decoder.cells) - 1
        for l, cell in enumerate(self.decoder.cells):
            s_l = cell(x_t, state[l])
            new.append(s_l)
            x_t = s_l[0]
            if l < last and self.training and self.decoder.dropout > 0:
                x_t = F.dropout(x_t, self.decoder.dropout, training=True)
        s = x_t
        if self.attention in ("dot", "general"):
            context, alpha = self.attend(s, memory)                                       # query s<t>
        h = s if self.attention == "none" else self._combine(context, s)
        return h, new, alpha

    def initial(self, memory: Memory) -> tuple[list[tuple[torch.Tensor, ...]], torch.Tensor | None]:
        """The decoder's per-layer state s<0> and first fed vector (zeros, with input feeding)."""
        state = [tuple(s[l] for s in memory.state) for l in range(self.decoder.num_layers)]
        feed = memory.state[0].new_zeros(memory.state[0].shape[1], self.decoder.hidden_size) \
            if self.feeds_output else None
        return state, feed

    def start_tokens(self, B: int, device) -> torch.Tensor:
        return torch.full((B,), self.eos_id, dtype=torch.long, device=device)

    # --- training -----------------------------------------------------------------------------------

    def decode_teacher_forced(self, memory: Memory, target: torch.Tensor,
                              scheduled_sampling: float = 0.0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The attentional states ``h̃<t>`` (B, T_y, H) of every target step given the true previous tokens
        (dropout applied, ready for :meth:`logits`), and the attention weights (B, T_y, T_x) (None without
        attention). With ``scheduled_sampling = p`` (training) each step reads the model's own most likely
        previous token with probability ``p``."""
        B, T = target.shape
        y_in = torch.cat([self.start_tokens(B, target.device).unsqueeze(1), target[:, :-1]], dim=1)
        x_all = self.drop(self.target_embedding(y_in))
        if not (self.feeds_context or self.feeds_output or scheduled_sampling > 0):
            s = self.decoder(x_all, tuple(memory.state))[0]                                 # one sequence
            if self.attention == "none":
                return self.drop(s), None
            context, alpha = self.attend(s, memory)
            return self.drop(self._combine(context, s)), alpha
        state, feed = self.initial(memory)
        hs, alphas = [], []
        for t in range(T):
            x_t = x_all[:, t]
            if t > 0 and scheduled_sampling > 0 and self.training:
                own = self.logits(hs[-1].detach()).argmax(dim=1)
                use = torch.rand(B, device=target.device) < scheduled_sampling
                x_t = torch.where(use.unsqueeze(1), self.drop(self.target_embedding(own)), x_t)
            h, state, alpha = self.step(x_t, state, feed, memory)
            feed = h
            hs.append(self.drop(h))
            alphas.append(alpha)
        att = torch.stack(alphas, dim=1) if alphas[0] is not None else None
        return torch.stack(hs, dim=1), att

    def forward(self, source: torch.Tensor, source_lengths: torch.Tensor | None, target: torch.Tensor,
                target_lengths: torch.Tensor | None = None, label_smoothing: float = 0.0,
                scheduled_sampling: float = 0.0) -> torch.Tensor:
        """Each sentence's loss (B,): ``−Σ_t log P(y<t> | y<1…t-1>, x)`` over its ``target_lengths`` steps
        (with label smoothing, the smoothed cross-entropy). The output layer runs on the valid steps only."""
        B, T = target.shape
        target_lengths = (torch.full((B,), T, dtype=torch.long, device=target.device) if target_lengths is None
                          else target_lengths.to(target.device).long())
        valid = valid_steps(target_lengths, T)
        target = target.masked_fill(~valid, self.eos_id)
        h, _ = self.decode_teacher_forced(self.encode(source, source_lengths), target, scheduled_sampling)
        logits = self.logits(h[valid])                                                      # (N, V) valid steps
        losses = F.cross_entropy(logits.float(), target[valid], reduction="none",
                                 label_smoothing=float(label_smoothing))
        rows = torch.arange(B, device=target.device).unsqueeze(1).expand(B, T)[valid]
        return torch.zeros(B, dtype=losses.dtype, device=losses.device).index_add(0, rows, losses)

    @torch.no_grad()
    def log_prob(self, source: torch.Tensor, source_lengths: torch.Tensor | None, target: torch.Tensor,
                 target_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``log P(y | x)`` (B,) of given targets (each ending with ``<EOS>``), by the chain rule."""
        was = self.training
        self.eval()
        try:
            return -self(source, source_lengths, target, target_lengths)
        finally:
            self.train(was)

    # --- decoding -----------------------------------------------------------------------------------

    @staticmethod
    def length_limits(source_lengths: torch.Tensor, max_ratio: float = 2.0, max_extra: int = 10) -> torch.Tensor:
        """The most tokens (``<EOS>`` included) a target may have: ``⌈max_ratio · T_x⌉ + max_extra``."""
        return (source_lengths.double() * float(max_ratio)).ceil().long() + int(max_extra)

    def _decode_loop(self, source, source_lengths, choose, max_ratio, max_extra) -> list[Hypothesis]:
        """Greedy or sampling: ``choose(log_probs (B, V)) → ids (B,)`` at every step, batched."""
        memory = self.encode(source, source_lengths)
        B = source.shape[0]
        limits = self.length_limits(memory.lengths, max_ratio, max_extra)
        state, feed = self.initial(memory)
        y = self.start_tokens(B, source.device)
        done = torch.zeros(B, dtype=torch.bool, device=source.device)
        total = torch.zeros(B, dtype=torch.float64, device=source.device)
        tokens, alphas = [], []
        for t in range(int(limits.max())):
            h, state, alpha = self.step(self.target_embedding(y), state, feed, memory)
            feed = h
            logp = torch.log_softmax(self.logits(h).float(), dim=1)
            y = choose(logp)
            eos = torch.full_like(y, self.eos_id)
            y = torch.where(done | (t + 1 >= limits), eos, y)            # the limit ends it, as in beam search
            total += torch.where(done, 0.0, logp.gather(1, y.unsqueeze(1)).squeeze(1).double())
            tokens.append(y)
            alphas.append(alpha)
            done = done | (y == self.eos_id)
            if bool(done.all()):
                break
        return _hypotheses(torch.stack(tokens, dim=1), total, alphas, memory.lengths, self.eos_id)

    @torch.no_grad()
    def greedy(self, source: torch.Tensor, source_lengths: torch.Tensor | None = None, max_ratio: float = 2.0,
               max_extra: int = 10) -> list[Hypothesis]:
        """The most likely token at every step, for every sentence at once."""
        return self._eval_mode(lambda: self._decode_loop(source, source_lengths, lambda lp: lp.argmax(dim=1),
                                                         max_ratio, max_extra))

    @torch.no_grad()
    def sample(self, source: torch.Tensor, source_lengths: torch.Tensor | None = None, temperature: float = 1.0,
               generator: torch.Generator | None = None, max_ratio: float = 2.0,
               max_extra: int = 10) -> list[Hypothesis]:
        """A random target per sentence from ``softmax(z / temperature)`` at every step (``log_prob`` is under
        the model itself, temperature 1)."""
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")

        def choose(logp: torch.Tensor) -> torch.Tensor:
            p = torch.softmax(logp / float(temperature), dim=1)
            return torch.multinomial(p, 1, generator=generator).squeeze(1)

        return self._eval_mode(lambda: self._decode_loop(source, source_lengths, choose, max_ratio, max_extra))

    @torch.no_grad()
    def beam_search(self, source: torch.Tensor, source_lengths: torch.Tensor | None = None, beam_size: int = 5,
                    length_penalty: float = 1.0, max_ratio: float = 2.0, max_extra: int = 10,
                    n_best: int = 1) -> list[Hypothesis] | list[list[Hypothesis]]:
        """Beam search, batched over sentences and their ``beam_size`` hypotheses.

        Every hypothesis ends at its own ``<EOS>`` and then keeps its score; the search stops when all have
        ended (or reached the length limit). The best is the one with the highest ``log P / length^α``
        (``α = length_penalty``; 0 ranks by log-probability alone, which favours short outputs); the greedy
        path is followed alongside and counts as a candidate, so the answer never scores below greedy
        decoding's. With ``n_best > 1`` each sentence gets its ``n_best`` best distinct hypotheses, best
        first (fewer when fewer exist).
        """
        K = int(beam_size)
        if K < 1 or not 1 <= int(n_best) <= K:
            raise ValueError(f"beam_size must be ≥ 1 and n_best in 1 … beam_size, got {beam_size} and {n_best}")
        return self._eval_mode(lambda: self._beam(source, source_lengths, K, float(length_penalty), max_ratio,
                                                  max_extra, int(n_best)))

    def _beam(self, source, source_lengths, K, alpha_lp, max_ratio, max_extra, n_best):
        memory0 = self.encode(source, source_lengths)
        B, device = source.shape[0], source.device
        BK = B * K
        sentence = torch.arange(B, device=device)
        # Rows 0 … B·K−1 are the beams' hypotheses; rows B·K … B·K+B−1 follow each sentence's greedy path
        # alongside, so the answer is never worse under the model than greedy decoding (beam search alone
        # can prune the path greedy would have taken and end lower).
        memory = memory0.select(torch.cat([sentence.repeat_interleave(K), sentence]))
        N = BK + B
        limits = self.length_limits(memory.lengths, max_ratio, max_extra)                # (N,)
        state, feed = self.initial(memory)
        y = self.start_tokens(N, device)
        scores = torch.full((B, K), float("-inf"), dtype=torch.float64, device=device)
        scores[:, 0] = 0.0                                    # one live hypothesis to start: no duplicates
        greedy = torch.zeros(B, dtype=torch.float64, device=device)
        finished = torch.zeros(N, dtype=torch.bool, device=device)
        length = torch.zeros(N, dtype=torch.long, device=device)
        offsets = (sentence * K).unsqueeze(1)
        alongside = torch.arange(BK, N, device=device)
        tokens, parents, alphas = [], [], []
        eos = torch.full((N, K), self.eos_id, dtype=torch.long, device=device)
        for t in range(int(limits.max())):
            h, state, alpha = self.step(self.target_embedding(y), state, feed, memory)
            feed = h
            # Each row's K best next tokens are the only ones that can enter its sentence's K best, so the
            # output layer runs on live rows only and the search ranks K·K candidates per sentence, not K·V. An
            # ended hypothesis offers itself (<EOS>, +0) once; at the length limit <EOS> is the only way on.
            cand_lp = torch.full((N, K), float("-inf"), dtype=torch.float64, device=device)
            cand_tok = eos.clone()
            cand_lp[:, 0].masked_fill_(finished, 0.0)
            live = (~finished).nonzero().squeeze(1)
            if live.numel():
                logp = torch.log_softmax(self.logits(h[live]).float(), dim=1)             # (n_live, V)
                top_lp, top_tok = logp.topk(min(K, logp.shape[1]), dim=1)
                top_lp, k = top_lp.double(), top_lp.shape[1]
                at_limit = t + 1 >= limits[live]
                if bool(at_limit.any()):
                    top_lp[at_limit] = float("-inf")
                    top_lp[at_limit, 0] = logp[at_limit, self.eos_id].double()
                    top_tok[at_limit] = self.eos_id
                cand_lp[live, :k] = top_lp
                cand_tok[live, :k] = top_tok
            candidates = (scores.view(BK, 1) + cand_lp[:BK]).view(B, K * K)
            scores, best = candidates.topk(K, dim=1)
            greedy = greedy + cand_lp[BK:, 0]
            rows = torch.cat([(offsets + torch.div(best, K, rounding_mode="floor")).view(-1), alongside])
            y = torch.cat([cand_tok[:BK].view(B, K * K).gather(1, best).view(-1), cand_tok[BK:, 0]])
            state = [tuple(s[rows] for s in layer) for layer in state]
            feed = feed[rows] if feed is not None else None
            was_finished = finished[rows]
            length = length[rows] + (~was_finished).long()
            finished = was_finished | (y == self.eos_id)
            tokens.append(y)
            parents.append(rows)
            alphas.append(alpha[rows] if alpha is not None else None)
            if bool(finished.all()):
                break
        total = torch.cat([scores, greedy.unsqueeze(1)], dim=1)                          # (B, K + 1)
        row_of = torch.cat([offsets + torch.arange(K, device=device), alongside.unsqueeze(1)], dim=1)
        ranked = total / length[row_of].double().clamp(min=1) ** alpha_lp
        order = ranked.argsort(dim=1, descending=True)                                    # (B, K + 1)
        picked = row_of.gather(1, order).view(-1)
        rows = picked.clone()
        T = len(tokens)
        seq = torch.empty(rows.shape[0], T, dtype=torch.long, device=device)
        att = [None] * T
        for t in range(T - 1, -1, -1):                                                     # follow the parents
            seq[:, t] = tokens[t][rows]
            if alphas[t] is not None:
                att[t] = alphas[t][rows]
            rows = parents[t][rows]
        hyps = _hypotheses(seq, total.gather(1, order).view(-1), att if att[0] is not None else [None],
                           memory0.lengths.repeat_interleave(K + 1), self.eos_id)
        out = []
        for b in range(B):                    # the best first; the greedy path may repeat a beam's hypothesis
            seen, mine = set(), []
            for hyp in hyps[b * (K + 1):(b + 1) * (K + 1)]:
                if tuple(hyp.tokens) not in seen and len(mine) < n_best:
                    seen.add(tuple(hyp.tokens))
                    mine.append(hyp)
            out.append(mine)
        return [m[0] for m in out] if n_best == 1 else out

    def _eval_mode(self, run):
        was = self.training
        self.eval()
        try:
            return run()
        finally:
            self.train(was)


def _hypotheses(seq: torch.Tensor, log_probs: torch.Tensor, alphas: list, source_lengths: torch.Tensor,
                eos_id: int) -> list[Hypothesis]:
    """Cut each row of ``seq`` (N, T) at its first ``<EOS>``; the attention rows up to it (``<EOS>`` included)."""
    att = torch.stack(alphas, dim=1) if alphas and alphas[0] is not None else None        # (N, T, T_x)
    seq_l = seq.tolist()
    out = []
    for i, row in enumerate(seq_l):
        end = row.index(eos_id) if eos_id in row else len(row)
        a = None
        if att is not None:
            a = att[i, :min(end + 1, len(row)), :int(source_lengths[i])].float().cpu()
        out.append(Hypothesis(row[:end], float(log_probs[i]), a))
    return out


__all__ = ["ATTENTIONS", "Hypothesis", "Memory", "Seq2Seq", "Seq2SeqConfig"]
