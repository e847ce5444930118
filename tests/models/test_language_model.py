import math

import pytest
import torch

from rnnkit.models import LanguageModel


@pytest.fixture
def lm():
    torch.manual_seed(0)
    return LanguageModel(vocab_size=11, hidden_size=8, num_layers=2, cell="lstm", embedding_size=5).eval()


def test_forward_shapes_and_state(lm):
    logits, (a, c) = lm(torch.randint(11, (3, 7)))
    assert logits.shape == (3, 7, 11)
    assert a.shape == c.shape == (2, 3, 8)


def test_log_prob_is_sum_of_per_step_log_softmax(lm):
    ids = torch.tensor([1, 4, 2, 9, 0, 3])
    expected = 0.0
    state = None
    for t in range(len(ids) - 1):  # feed one token at a time and read the next token's probability
        logits, state = lm(ids[t].view(1, 1), state)
        expected += torch.log_softmax(logits[0, 0], -1)[ids[t + 1]].item()
    assert lm.log_prob(ids).item() == pytest.approx(expected, abs=1e-5)


def test_log_prob_with_context_scores_every_token(lm):
    ids, context = torch.tensor([3, 5, 7]), torch.tensor([1])
    full = lm.token_log_probs(torch.cat([context, ids]))
    assert torch.allclose(lm.token_log_probs(ids, context=context), full)
    assert lm.log_prob(ids, context=context).item() == pytest.approx(full.sum().item(), abs=1e-6)


def test_probabilities_sum_to_one_over_next_token(lm):
    prefix = torch.tensor([2, 6])
    total = sum(math.exp(lm.log_prob(torch.cat([prefix, torch.tensor([v])])).item()
                         - lm.log_prob(prefix).item()) for v in range(11))
    assert total == pytest.approx(1.0, abs=1e-5)


def test_generate_is_deterministic_under_a_seed(lm):
    prime = torch.tensor([1, 2])
    a = lm.generate(prime, 20, generator=torch.Generator().manual_seed(7))
    b = lm.generate(prime, 20, generator=torch.Generator().manual_seed(7))
    c = lm.generate(prime, 20, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and a.shape == (20,)
    assert not torch.equal(a, c)


def test_greedy_generation_follows_argmax(lm):
    prime = torch.tensor([4])
    out = lm.generate(prime, 6, temperature=0)
    seq = prime.tolist()
    for _ in range(6):
        logits, _ = lm(torch.tensor([seq]))
        seq.append(int(logits[0, -1].argmax()))
    assert out.tolist() == seq[1:]


def test_low_temperature_equals_greedy(lm):
    prime = torch.tensor([3, 1])
    greedy = lm.generate(prime, 15, temperature=0)
    cold = lm.generate(prime, 15, temperature=1e-4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(greedy, cold)


def test_stop_token_ends_generation():
    torch.manual_seed(0)
    lm = LanguageModel(5, 4, cell="gru").eval()
    with torch.no_grad():
        lm.head.b_y.copy_(torch.tensor([0.0, 0.0, 50.0, 0.0, 0.0]))  # token 2 is near certain
    out = lm.generate(torch.tensor([0]), 10, stop_token=2, generator=torch.Generator().manual_seed(0))
    assert out.tolist() == [2]


def test_batched_generation_shape(lm):
    out = lm.generate(torch.randint(11, (4, 3)), 5, generator=torch.Generator().manual_seed(0))
    assert out.shape == (4, 5)


@pytest.mark.parametrize("cell", ["rnn", "simple-gru", "gru", "lstm", "peephole-lstm"])
def test_every_cell_trains_one_step(cell):
    torch.manual_seed(0)
    lm = LanguageModel(7, 6, num_layers=2, cell=cell, dropout=0.1)
    ids = torch.randint(7, (2, 9))
    logits, _ = lm(ids[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 7), ids[:, 1:].reshape(-1))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in lm.parameters())


def test_one_hot_inputs_match_an_embedding_of_size_v():
    torch.manual_seed(0)
    one_hot = LanguageModel(6, 4, one_hot=True).eval()
    embedded = LanguageModel(6, 4, embedding_size=6).eval()
    embedded.load_state_dict({**one_hot.state_dict(), "embedding.weight": torch.eye(6)})
    ids = torch.randint(6, (2, 5))
    assert torch.allclose(one_hot(ids)[0], embedded(ids)[0], atol=1e-6)
