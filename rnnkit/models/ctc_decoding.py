"""Decoding CTC outputs: best path, prefix beam search (optionally within a word list), and word times.

A CTC model emits per-frame log-probabilities ``log ŷ<t>[c]`` over C symbols, symbol 0 being the blank. A frame
path π (one symbol per frame) collapses to a labelling ``l = B(π)`` by merging repeats, then removing blanks
(``a a - a b b -`` → ``a a b``), and a labelling's probability sums over all its paths::

    P(l | x) = Σ_{π : B(π) = l} Π_t ŷ<t>[π<t>]

* :func:`greedy_decode` collapses the most probable *path* (argmax per frame), which need not be the most
  probable *labelling*: two frames with ``ŷ[-] = 0.6, ŷ[a] = 0.4`` give the path ``- -`` (0.36), yet
  ``P(a) = 0.64``.
* :func:`prefix_beam_search` searches labellings (Hannun et al. 2014, "First-Pass Large Vocabulary Continuous
  Speech Recognition using Bi-Directional Recurrent DNNs"). Each prefix l keeps ``p_b`` and ``p_nb``, the
  probability of the frames so far being a path of l ending in a blank or in l's last symbol; at frame t,
  with ``p = p_b + p_nb`` and l's last symbol e::

      p_b(l)     += p · ŷ<t>[-]                   a blank: l stays
      p_nb(l)    += p_nb · ŷ<t>[e]                e repeated: merged, l stays
      p_nb(l+c)  += p · ŷ<t>[c]                   c ≠ e extends l
      p_nb(l+e)  += p_b · ŷ<t>[e]                 e again extends l only after a blank

  then keeps the ``beam_size`` most probable prefixes (all in log space, ``logaddexp`` for the sums). A
  prefix's ``log_prob`` is the sum over all its alignments, so with a beam wider than the number of
  prefixes (small cases) the search is exact: the first hypothesis is the most probable labelling.
  **Beam 1 against greedy**: with ``beam_size=1`` the result equals :func:`greedy_decode`'s whenever every
  frame's most probable symbol has probability q > 1/√2 ≈ 0.71 (and no ties). By induction over frames: the
  one prefix's share ``p_nb / p`` is at most 1 − q after a frame whose best symbol is the blank and at least
  1 − (1 − q)/q after one whose best symbol is the prefix's last symbol, which settles each "merge the repeat
  or start a new label" choice the way the best path does. Below that they can differ: with
  ``ŷ[a] = 0.6, 0.3, 0.6`` (blank the rest) the best path is ``a - a`` → ``a a``, but beam 1 keeps ``a``
  (0.348 against 0.252), because it weighs the merge with both of the prefix's alignments.
* **Word list** (:class:`Lexicon`, character units): a prefix may only add characters that keep its
  current word a prefix of a listed word (a trie walk), a space only after a whole word, and a hypothesis
  counts as complete only if its last word is whole. The probabilities are those of the unconstrained
  search; the list only removes prefixes. For word units every symbol already is a word of the vocabulary,
  so there is nothing to constrain: pass ``lexicon=None``.
* :func:`alignment_times` finds the Viterbi (single best) path of a given labelling (forced alignment over
  the blank-extended labels ``- l1 - l2 … lU -``) and reports each label's first and last frame in
  seconds; :func:`word_times` groups characters into words.

Shapes: log_probs (B, T, C) batch first (or (T, C) for one utterance), lengths (B,) frames per utterance.

Example::

    hyps = prefix_beam_search(log_probs, lengths, beam_size=8, top_k=10)          # (B, T, C) → B lists
    best = hyps[0][0].labels                                                         # utterance 0
    words = word_times(best, symbols, alignment_times(log_probs[0, :lengths[0]], best, frame_seconds=0.02))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from rnnkit.errors import RnnkitError
from rnnkit.models.ctc import min_frames

BLANK = 0  # the blank's symbol id, fixed by the model (CTCRecognizer, F.ctc_loss(blank=0))
NEG_INF = -np.inf


@dataclass(frozen=True)
class CTCHypothesis:
    """A labelling and ``log P(labels | x)``, summed over its alignments (all of them with a beam wider than
    the number of prefixes and no symbol pruning; otherwise those the search kept)."""

    labels: list[int]
    log_prob: float


def _as_array(log_probs) -> np.ndarray:
    """A float64 numpy copy of a torch tensor or array (the search adds up hundreds of log-probabilities)."""
    if hasattr(log_probs, "detach"):
        log_probs = log_probs.detach().cpu().double().numpy()
    return np.asarray(log_probs, dtype=np.float64)


def _frame_counts(lengths, B: int, T: int) -> list[int]:
    """``lengths`` as B ints in 0 … T (None: every utterance has all T frames)."""
    if lengths is None:
        return [T] * B
    counts = [int(n) for n in np.asarray(lengths.cpu() if hasattr(lengths, "cpu") else lengths).reshape(-1)]
    if len(counts) != B or any(n < 0 or n > T for n in counts):
        raise ValueError(f"lengths must be (B,) = ({B},) in 0 … T = {T}, got {counts}")
    return counts


def collapse(path: Sequence[int]) -> list[int]:
    """``B(π)``: merge repeated symbols of a frame path, then drop the blanks."""
    path = np.asarray(path, dtype=np.int64)
    first = np.ones(len(path), dtype=bool)
    first[1:] = path[1:] != path[:-1]  # the first frame of each run of equal symbols
    return path[first & (path != BLANK)].tolist()


def greedy_decode(log_probs, lengths=None) -> list[list[int]]:
    """Best-path decoding of log_probs (B, T, C): ``B(argmax_c log ŷ<t>[c])`` per utterance, its first
    ``lengths[b]`` frames only."""
    if log_probs.ndim != 3:
        raise ValueError(f"log_probs must be (B, T, C), got shape {tuple(log_probs.shape)}")
    B, T, _ = log_probs.shape
    best = log_probs.argmax(-1)  # (B, T)
    best = np.asarray(best.cpu() if hasattr(best, "cpu") else best)
    return [collapse(best[b, :n]) for b, n in enumerate(_frame_counts(lengths, B, T))]


class Lexicon:
    """A word list for character units, as a trie over symbol ids, built once and passed to the search.

    Args:
        words: the allowed words (strings of symbols; surrounding white space is stripped, empty ones skipped).
        symbols: the model's symbols, ``symbols[0]`` the blank, one character each for the letters.
        space: the symbol between words.

    A hypothesis is complete when it is empty or its last word is whole; one that ends with a space after a
    whole word is complete too (and a different labelling from the one without the space).

    Attributes:
        allowed: (N, C) booleans, ``allowed[n, c]``: may symbol c follow trie node n (the space only after a
            whole word; node 0 is the root, the start of a word).
        is_word: (N,) booleans, does node n end a whole word.
    """

    def __init__(self, words: Iterable[str], symbols: Sequence[str], space: str = " "):
        ids = {s: i for i, s in enumerate(symbols) if i != BLANK}
        if any(len(s) != 1 for s in ids):
            raise RnnkitError("a word list constrains character units; with word units every output already is a "
                              "vocabulary word, so pass lexicon=None")
        # Symbols without the space (every training transcript was one word): one word per utterance.
        self.space, self.num_symbols = ids.get(space), len(symbols)
        children: list[dict[int, int]] = [{}]
        ends = [False]
        for word in words:
            word = word.strip()
            if space in word:
                raise RnnkitError(f"the word list entry {word!r} contains the space symbol {space!r}: give one "
                                  "word per entry")
            node = 0
            for ch in word:
                if ch not in ids:
                    raise RnnkitError(f"the word {word!r} has the character {ch!r}, which is not one of the "
                                      "model's symbols: remove the word or use a model that has the character")
                if ids[ch] not in children[node]:
                    children[node][ids[ch]] = len(children)
                    children.append({})
                    ends.append(False)
                node = children[node][ids[ch]]
            ends[node] = ends[node] or node != 0
        if not any(ends):
            raise RnnkitError("the word list has no words: give at least one")
        self.children = children
        self.is_word = np.array(ends)
        self.allowed = np.zeros((len(children), self.num_symbols), dtype=bool)
        for node, kids in enumerate(children):
            self.allowed[node, list(kids)] = True
        if self.space is not None:
            self.allowed[:, self.space] = self.is_word

    def step(self, node: int, symbol: int) -> int:
        """The trie node after ``symbol`` (an allowed one) follows ``node``; a space returns to the root."""
        return 0 if self.space is not None and symbol == self.space else self.children[node][symbol]

    def complete(self, node: int) -> bool:
        """Does a prefix at ``node`` end with a whole word (or with a space, or is it empty)."""
        return node == 0 or bool(self.is_word[node])


def _kept_symbols(lp: np.ndarray, prune: float | None, top_k: int | None) -> np.ndarray:
    """(T, C) booleans: the symbols the search considers at each frame; a frame's best one always."""
    T, C = lp.shape
    keep = np.ones((T, C), dtype=bool)
    if top_k is not None:
        if int(top_k) != top_k or top_k < 1:
            raise ValueError(f"top_k must be a positive number of symbols per frame, got {top_k}")
        top_k = int(top_k)
        if top_k < C:
            kth = np.partition(lp, C - top_k, axis=1)[:, C - top_k, None]  # (T, 1) the k-th largest
            keep &= lp >= kth
    if prune is not None:
        if not prune <= 0:
            raise ValueError(f"prune is a log-probability threshold (<= 0, e.g. -8.0), got {prune}")
        keep &= lp >= prune
    return keep | (lp == lp.max(axis=1, keepdims=True))


def _lae(a: float, b: float) -> float:
    """``log(e^a + e^b)`` of two floats (np.logaddexp costs a microsecond on scalars)."""
    if a < b:
        a, b = b, a
    return a if b == NEG_INF else a + math.log1p(math.exp(b - a))


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest finite scores, largest first (ties: lower index first)."""
    if len(scores) > 4096:  # many symbols (word units): partition first, sort only the n chosen
        chosen = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        best = chosen[np.lexsort((chosen, -scores[chosen]))]
    else:
        best = np.argsort(-scores, kind="stable")[:n]
    return best if len(best) == 0 or scores[best[-1]] > NEG_INF else best[scores[best] > NEG_INF]


def _search(lp: np.ndarray, beam_size: int, keep: np.ndarray, lexicon: Lexicon | None) -> list[CTCHypothesis]:
    """Prefix beam search over one utterance's log-probabilities (T, C); see the module doc.

    Prefixes live in a tree (prefix i is prefix ``parent[i]`` followed by ``symbol[i]``, 0 the empty one), so
    the beam is a list of ids and "is l + c already in the beam" is one dictionary look-up.
    """
    T, C = lp.shape
    masked = np.where(keep, lp, NEG_INF)  # a pruned symbol has probability 0 at its frame
    extends = keep.copy()
    extends[:, BLANK] = False  # (T, C) the symbols that may extend a prefix at frame t
    column = np.where(extends, np.cumsum(extends, axis=1) - 1, -1)  # (T, C) symbol c's column in ext, or -1
    cands = [row.nonzero()[0] for row in extends]  # T arrays (S_t,) of those symbols
    veto = None if lexicon is None else np.where(lexicon.allowed, 0.0, NEG_INF)  # (N, C) added to ext
    parent, symbol, child = [-1], [BLANK], {}  # the prefix tree; child[(i, c)] = id of prefix i + c
    beam = [0]  # (K,) prefix ids
    last = np.array([BLANK])  # (K,) each prefix's last symbol; the blank stands for none (empty prefix)
    nodes = np.array([0])  # (K,) trie node of each prefix's current word (0 without a lexicon)
    p_b, p_nb = np.array([0.0]), np.array([NEG_INF])  # (K,) log p_b, log p_nb
    never = np.full(beam_size * C, NEG_INF)  # p_b of a prefix that has just been extended
    for t in range(T):
        lp_t, col_t, cand = masked[t], column[t], cands[t]
        K, S = len(beam), len(cand)
        p = np.logaddexp(p_b, p_nb)  # (K,) log P(prefix | frames < t)
        stay_b = p + lp_t[BLANK]  # a blank: l stays
        lp_last = lp_t[last]
        stay_nb = p_nb + lp_last  # its last symbol repeated: l stays (−inf for the empty prefix)
        ext = p[:, None] + lp_t[cand]  # (K, S) l + c
        col_last = col_t[last]
        rep = np.flatnonzero(col_last >= 0)
        ext[rep, col_last[rep]] = p_b[rep] + lp_last[rep]  # l + e only from paths that end in a blank
        if veto is not None:
            ext += veto[nodes][:, cand]
        where = {prefix: k for k, prefix in enumerate(beam)}
        for j, prefix in enumerate(beam):  # l + c already in the beam: one prefix, probabilities added
            k, c = where.get(parent[prefix]), col_t[symbol[prefix]]
            if k is not None and c >= 0:
                stay_nb[j] = _lae(stay_nb[j], ext[k, c])
                ext[k, c] = NEG_INF
        flat_b = np.concatenate([stay_b, never[:K * S]])  # (K + K·S,) the stays, then every l + c
        flat_nb = np.concatenate([stay_nb, ext.ravel()])
        best = _top(np.logaddexp(flat_b, flat_nb), beam_size)
        new_beam, new_nodes = [], []
        for flat in best.tolist():
            if flat < K:
                new_beam.append(beam[flat])
                new_nodes.append(nodes[flat])
                continue
            k, c = divmod(flat - K, S)
            c = int(cand[c])
            prefix = child.get((beam[k], c))
            if prefix is None:
                prefix = child[(beam[k], c)] = len(parent)
                parent.append(beam[k])
                symbol.append(c)
            new_beam.append(prefix)
            new_nodes.append(lexicon.step(int(nodes[k]), c) if lexicon is not None else 0)
        beam, nodes, p_b, p_nb = new_beam, np.array(new_nodes, dtype=np.int64), flat_b[best], flat_nb[best]
        last = np.array([symbol[prefix] for prefix in beam], dtype=np.int64)
        if not beam:
            break
    hyps = []
    for prefix, total, node in zip(beam, np.logaddexp(p_b, p_nb).tolist(), nodes.tolist()):
        if lexicon is None or lexicon.complete(node):
            labels = []
            while prefix > 0:
                labels.append(symbol[prefix])
                prefix = parent[prefix]
            hyps.append(CTCHypothesis(labels[::-1], total))
    if not hyps:  # no complete word survived: the empty labelling, whose one path is all blanks
        hyps = [CTCHypothesis([], float(lp[:, BLANK].sum()))]
    return hyps


def prefix_beam_search(log_probs, lengths=None, beam_size: int = 8, prune: float | None = None,
                       top_k: int | None = None, lexicon: Lexicon | None = None):
    """CTC prefix beam search (see the module doc for the recursion and what beam 1 and a wide beam give).

    Args:
        log_probs: (T, C) one utterance or (B, T, C) a batch; a torch tensor or numpy array of log ŷ.
        lengths: (B,) frames per utterance for a batch (None: all T).
        beam_size: prefixes kept after each frame.
        prune: a log-probability threshold: at each frame the symbols below it are skipped (e.g. -8.0).
        top_k: at each frame only the k most probable symbols are considered. With either, a skipped symbol
            counts as probability 0 at that frame; a frame's most probable symbol is always kept.
        lexicon: a :class:`Lexicon` for character units (None: no constraint; word units need none).

    Returns:
        For (T, C), a list of :class:`CTCHypothesis`, most probable first (at most ``beam_size``; with a
        lexicon only complete ones, or the empty labelling if none survived); for (B, T, C), one such list
        per utterance.
    """
    lp = _as_array(log_probs)
    if lp.ndim not in (2, 3):
        raise ValueError(f"log_probs must be (T, C) or (B, T, C), got shape {lp.shape}")
    if int(beam_size) < 1:
        raise ValueError(f"beam_size must be a positive integer, got {beam_size}")
    if lexicon is not None and lexicon.num_symbols != lp.shape[-1]:
        raise ValueError(f"the lexicon was built for {lexicon.num_symbols} symbols, log_probs have "
                         f"{lp.shape[-1]}")

    def one(x):
        return _search(x, int(beam_size), _kept_symbols(x, prune, top_k), lexicon)

    if lp.ndim == 2:
        if lengths is not None:
            raise ValueError("lengths are for a batch (B, T, C); slice a single utterance's frames instead")
        return one(lp)
    B, T, _ = lp.shape
    return [one(lp[b, :n]) for b, n in enumerate(_frame_counts(lengths, B, T))]


def _viterbi_states(lp: np.ndarray, labels: list[int]) -> np.ndarray:
    """(T,) the best path's state per frame in the blank-extended labels z = ``- l1 - l2 … lU -`` (state s:
    label (s − 1) / 2 for odd s, a blank for even s)."""
    T = lp.shape[0]
    z = np.zeros(2 * len(labels) + 1, dtype=np.int64)
    z[1::2] = labels
    S = len(z)
    emit = lp[:, z]  # (T, S)
    skip = np.zeros(S, dtype=bool)
    skip[2:] = (z[2:] != BLANK) & (z[2:] != z[:-2])  # s − 2 → s jumps a blank between different labels
    delta = np.full(S, NEG_INF)  # best log-probability of a path of frames ≤ t ending in state s
    delta[:2] = emit[0, :2]
    back = np.zeros((T, S), dtype=np.int64)  # how many states the best path moved to reach s at t
    for t in range(1, T):
        from1 = np.concatenate([[NEG_INF], delta[:-1]])
        from2 = np.where(skip, np.concatenate([[NEG_INF, NEG_INF], delta[:-2]]), NEG_INF)
        moves = np.stack([delta, from1, from2])  # (3, S) stay, from s − 1, from s − 2
        back[t] = moves.argmax(0)
        delta = moves[back[t], np.arange(S)] + emit[t]
    s = S - 1 if S == 1 or delta[S - 1] >= delta[S - 2] else S - 2  # end on the last label or a blank after
    states = np.empty(T, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        states[t] = s
        s -= back[t, s]
    return states


def alignment_times(log_probs, labels: Sequence[int], frame_seconds: float) -> list[tuple[float, float]]:
    """Each label's ``(start, end)`` in seconds on the best (Viterbi) path of ``labels`` through log_probs
    (T, C) of one utterance: ``start = first frame · frame_seconds``, ``end = (last frame + 1) ·
    frame_seconds``."""
    lp = _as_array(log_probs)
    labels = [int(c) for c in labels]
    if lp.ndim != 2:
        raise ValueError(f"log_probs must be one utterance's (T, C), got shape {lp.shape}")
    if any(c <= BLANK or c >= lp.shape[1] for c in labels):
        raise ValueError(f"labels must be symbol ids in 1 … {lp.shape[1] - 1} (0 is the blank), got {labels}")
    if not labels:
        return []
    if min_frames(labels) > lp.shape[0]:
        raise RnnkitError(f"{len(labels)} labels need at least {min_frames(labels)} frames (one per label and a "
                          f"blank between equal neighbours), the utterance has {lp.shape[0]}")
    states = _viterbi_states(lp, labels)
    frames = np.arange(len(states))
    odd = states % 2 == 1
    index = (states[odd] - 1) // 2  # the label each emitting frame belongs to
    path = np.full(len(states), BLANK)
    path[odd] = np.asarray(labels)[index]
    if not np.isfinite(lp[frames, path].sum()):
        raise RnnkitError("the labels have probability 0 under these log-probabilities: no alignment exists")
    first = np.full(len(labels), len(states))
    last = np.full(len(labels), -1)
    np.minimum.at(first, index, frames[odd])
    np.maximum.at(last, index, frames[odd])
    return [(float(f * frame_seconds), float((e + 1) * frame_seconds)) for f, e in zip(first, last)]


def word_times(labels: Sequence[int], symbols: Sequence[str], times: Sequence[tuple[float, float]],
               space: str = " ", chars: bool | None = None) -> list[dict]:
    """``[{"word", "start", "end"}, …]`` from labels and their :func:`alignment_times`.

    Character units: the characters between ``space`` symbols form a word, from its first character's start to
    its last one's end. Word units: each label is a word. ``chars=None`` takes character units when every
    symbol but the blank is one character (so a word vocabulary made only of one-character words needs
    ``chars=False``).
    """
    if len(times) != len(labels):
        raise ValueError(f"{len(labels)} labels but {len(times)} times: give alignment_times(…, labels, …)")
    if chars is None:
        chars = all(len(s) == 1 for s in symbols[BLANK + 1:])
    if not chars:
        return [{"word": symbols[c], "start": s, "end": e} for c, (s, e) in zip(labels, times)]
    words: list[dict] = []
    spelled: list[str] = []  # the characters of the current word
    for c, (s, e) in zip(labels, times):
        if symbols[c] == space:
            spelled = []
            continue
        if not spelled:
            words.append({"word": "", "start": s, "end": e})
        spelled.append(symbols[c])
        words[-1]["word"], words[-1]["end"] = "".join(spelled), e
    return words
