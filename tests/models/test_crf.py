"""The CRF: partition function and Viterbi path against enumeration of every tag sequence; gradcheck;
constrained decoding."""

from __future__ import annotations

import itertools

import torch

from rnnkit.models.crf import CRF


def _crf(K, seed, **masks):
    torch.manual_seed(seed)
    crf = CRF(K, **masks).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


def test_partition_and_viterbi_equal_brute_force():
    for K, T, seed in [(2, 1, 0), (3, 4, 1), (4, 3, 2)]:
        crf = _crf(K, seed)
        e = torch.randn(3, T + 2, K, dtype=torch.double)
        lengths = torch.tensor([T + 2, T, 1])
        log_z, paths = crf.log_partition(e, lengths), crf.decode(e, lengths)
        for b, n in enumerate(lengths.tolist()):
            seqs = list(itertools.product(range(K), repeat=n))
            scores = torch.stack([crf.score(e[b:b + 1, :n], torch.tensor([y])) for y in seqs]).squeeze(1)
            assert torch.allclose(log_z[b], torch.logsumexp(scores, 0), atol=1e-10)
            assert paths[b] == list(seqs[int(scores.argmax())])


def test_nll_gradient_passes_gradcheck():
    crf = _crf(3, 3)
    e = torch.randn(2, 4, 3, dtype=torch.double, requires_grad=True)
    tags, lengths = torch.tensor([[0, 2, 1, 1], [1, 0, 0, 0]]), torch.tensor([4, 2])
    params = tuple(p.detach().clone().requires_grad_() for p in (crf.transitions, crf.start, crf.end))

    def nll(e, A, s, w):           # the loss as a function of the emissions and of every CRF parameter
        return torch.func.functional_call(crf, {"transitions": A, "start": s, "end": w}, (e, tags, lengths))

    assert torch.autograd.gradcheck(nll, (e, *params))


def test_constrained_decoding_never_takes_a_forbidden_step():
    allowed = [[True, True, False], [True, True, True], [True, True, True]]    # tag 2 never right after tag 0
    crf = _crf(3, 4, allowed=allowed, may_start=[True, True, False])
    for seed in range(20):
        torch.manual_seed(seed)
        e = torch.randn(4, 6, 3, dtype=torch.double) * 5
        e[..., 2] += 3                                    # emissions that want tag 2 everywhere
        for path in crf.decode(e, torch.tensor([6, 5, 2, 1])):
            assert path[0] != 2 and all(not (a == 0 and b == 2) for a, b in zip(path, path[1:]))
