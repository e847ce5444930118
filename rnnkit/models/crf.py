"""A linear-chain conditional random field over per-step tag scores: its loss and its Viterbi decoding.

For emission scores ``e<t>[k]`` (B, T, K) and a tag sequence ``y<1> … y<T>``, the sequence's score is::

    s(y) = π[y<1>] + Σ_t e<t>[y<t>] + Σ_{t>1} A[y<t-1>, y<t>] + ω[y<T>]

with learned start scores π (K,), transitions A (K, K) (``A[i, j]``: tag j right after tag i) and end scores
ω (K,). ``P(y | x) = exp s(y) / Z`` with the partition function ``Z = Σ_y' exp s(y')``, computed by the
forward algorithm::

    α<1>[k] = π[k] + e<1>[k]
    α<t>[k] = e<t>[k] + logsumexp_i (α<t-1>[i] + A[i, k])
    log Z   = logsumexp_k (α<T>[k] + ω[k])

The loss is ``−log P(y | x) = log Z − s(y)``; decoding is the Viterbi path ``argmax_y s(y)`` (the same recursion
with max, and back-pointers).

Constraints: transitions, starts and ends a tag scheme forbids (``I-X`` after ``O`` in IOB2 …; see
:func:`rnnkit.data.schemes.transitions`) get a score of ``FORBIDDEN`` added, so they have probability ~0 and
the Viterbi path never takes one.

Shapes: emissions (B, T, K); lengths (B,) in 1 … T, steps ``t ≥ lengths[b]`` are ignored; tags (B, T) ids.

Example::

    crf = CRF(5)
    loss = crf.nll(torch.randn(2, 7, 5), torch.randint(5, (2, 7)), torch.tensor([7, 4]))   # (2,)
    paths = crf.decode(torch.randn(2, 7, 5), torch.tensor([7, 4]))                          # lists of ids
"""

from __future__ import annotations

import torch
from torch import nn

FORBIDDEN = -10_000.0      # finite (a forbidden path keeps finite gradients); exp(-1e4) underflows to 0


def constraint_scores(num_tags: int, allowed=None, may_start=None, may_end=None):
    """(A (K, K), π (K,), ω (K,)) of 0 where allowed and ``FORBIDDEN`` where not (None: all allowed)."""
    K = int(num_tags)

    def scores(value, shape):
        ok = torch.ones(shape, dtype=torch.bool) if value is None else torch.as_tensor(value, dtype=torch.bool)
        if tuple(ok.shape) != shape:
            raise ValueError(f"a constraint mask must have shape {shape}, got {tuple(ok.shape)}")
        return torch.where(ok, 0.0, FORBIDDEN)

    return scores(allowed, (K, K)), scores(may_start, (K,)), scores(may_end, (K,))


class CRF(nn.Module):
    """Linear-chain CRF with ``num_tags`` = K tags and optional forbidden transitions (see module doc).

    Args:
        num_tags: K.
        allowed, may_start, may_end: (K, K), (K,), (K,) booleans, or None for "all allowed".
    """

    def __init__(self, num_tags: int, allowed=None, may_start=None, may_end=None):
        super().__init__()
        K = int(num_tags)
        self.num_tags = K
        self.transitions = nn.Parameter(torch.zeros(K, K))        # A[i, j]
        self.start = nn.Parameter(torch.zeros(K))                 # π
        self.end = nn.Parameter(torch.zeros(K))                   # ω
        nn.init.uniform_(self.transitions, -0.1, 0.1)

        A_mask, start_mask, end_mask = constraint_scores(K, allowed, may_start, may_end)
        self.register_buffer("transition_mask", A_mask, persistent=False)
        self.register_buffer("start_mask", start_mask, persistent=False)
        self.register_buffer("end_mask", end_mask, persistent=False)

    def _scores(self, dtype):
        return ((self.transitions + self.transition_mask).to(dtype), (self.start + self.start_mask).to(dtype),
                (self.end + self.end_mask).to(dtype))

    def _check(self, emissions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if emissions.dim() != 3 or emissions.shape[2] != self.num_tags:
            raise ValueError(f"emissions must be (B, T, K = {self.num_tags}), got shape {tuple(emissions.shape)}")
        B, T, _ = emissions.shape
        if lengths is None:
            return torch.full((B,), T, dtype=torch.long, device=emissions.device)
        lengths = torch.as_tensor(lengths, device=emissions.device).long()
        if lengths.shape != (B,) or (B and (int(lengths.min()) < 1 or int(lengths.max()) > T)):
            raise ValueError(f"lengths must be (B,) = ({B},) in 1 … T = {T}")
        return lengths

    def log_partition(self, emissions: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``log Z`` (B,) by the forward algorithm."""
        lengths = self._check(emissions, lengths)
        A, start, end = self._scores(emissions.dtype)
        alpha = start + emissions[:, 0]                                            # (B, K)
        for t in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha.unsqueeze(2) + A, dim=1) + emissions[:, t]   # (B, K)
            alpha = torch.where((t < lengths).unsqueeze(1), step, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    def score(self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``s(y)`` (B,) of the tag sequences ``tags`` (B, T)."""
        lengths = self._check(emissions, lengths)
        A, start, end = self._scores(emissions.dtype)
        B, T, _ = emissions.shape
        valid = torch.arange(T, device=emissions.device) < lengths.unsqueeze(1)     # (B, T)
        tags = tags.masked_fill(~valid, 0)
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)                   # e<t>[y<t>]  (B, T)
        s = start[tags[:, 0]] + (emit * valid).sum(1)
        if T > 1:
            trans = A[tags[:, :-1], tags[:, 1:]]                                   # A[y<t-1>, y<t>]  (B, T-1)
            s = s + (trans * valid[:, 1:]).sum(1)
        last = tags.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)
        return s + end[last]

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``−log P(y | x) = log Z − s(y)`` (B,); float32 at least (bfloat16 emissions under autocast, from
        ``--precision bf16``, would round the forward algorithm's sums to 3 digits)."""
        if emissions.dtype in (torch.bfloat16, torch.float16):
            emissions = emissions.float()
        return self.log_partition(emissions, lengths) - self.score(emissions, tags, lengths)

    def forward(self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor | None = None):
        """:meth:`nll`."""
        return self.nll(emissions, tags, lengths)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, lengths: torch.Tensor | None = None) -> list[list[int]]:
        """The Viterbi path ``argmax_y s(y)`` of every sequence (a list of ``lengths[b]`` tag ids each)."""
        lengths = self._check(emissions, lengths)
        return viterbi(emissions, lengths, *self._scores(emissions.dtype))


@torch.no_grad()
def viterbi(emissions: torch.Tensor, lengths: torch.Tensor, A: torch.Tensor, start: torch.Tensor,
            end: torch.Tensor) -> list[list[int]]:
    """``argmax_y π[y<1>] + Σ_t e<t>[y<t>] + Σ_t A[y<t-1>, y<t>] + ω[y<T>]`` of every sequence, by dynamic
    programming with back-pointers: a list of ``lengths[b]`` tag ids each."""
    B, T, K = emissions.shape
    delta = start + emissions[:, 0]                                                # (B, K)
    pointers = []
    stay = torch.arange(K, device=emissions.device).expand(B, K)
    for t in range(1, T):
        best, arg = (delta.unsqueeze(2) + A).max(dim=1)                            # over the previous tag i
        live = (t < lengths).unsqueeze(1)
        delta = torch.where(live, best + emissions[:, t], delta)
        # past a sequence's end the pointer says "stay": the back-trace passes through unchanged to its end
        pointers.append(torch.where(live, arg, stay))
    last = (delta + end).argmax(dim=1)                                             # (B,)
    path = [last]
    for arg in reversed(pointers):
        last = arg.gather(1, last.unsqueeze(1)).squeeze(1)
        path.append(last)
    ids = torch.stack(path[::-1], dim=1).cpu()                                     # (B, T)
    return [ids[b, : int(n)].tolist() for b, n in enumerate(lengths.cpu())]
