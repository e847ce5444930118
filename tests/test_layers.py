"""rnnkit/layers.py: the time loop over a cell, deep, bidirectional, batch_first, initial state, lengths."""

import pytest
import torch

import rnnkit

F64 = torch.float64
T, B, X, H = 5, 3, 3, 4
LENGTHS = [5, 2, 4]

OPTIONS = {
    "plain": {},
    "deep": {"num_layers": 3},
    "bidirectional": {"bidirectional": True},
    "lengths": {"lengths": True},
    "batch_first": {"batch_first": True},
    "initial-state": {"state": True},
    "everything": {"num_layers": 3, "bidirectional": True, "lengths": True, "batch_first": True, "state": True},
}


def _run_both(layer, ref, x, state=None, lengths=None):
    """The layer's answer and the hand-written loop's, both time-major."""
    xin = x.transpose(0, 1) if layer.batch_first else x
    y, s = layer(xin, state, lengths=None if lengths is None else torch.tensor(lengths))
    if layer.batch_first:
        y = y.transpose(0, 1)
    y_ref, s_ref = ref.run_layer(layer, x, state, lengths)
    return (y, s), (y_ref, s_ref)


@pytest.mark.parametrize("option", OPTIONS)
def test_matches_hand_written_loop(cell_spec, engine, option, ref):
    opts = dict(OPTIONS[option])
    use_lengths, use_state = opts.pop("lengths", False), opts.pop("state", False)
    layer = ref.make_layer(cell_spec, X, H, engine=engine, **opts)
    x = torch.randn(T, B, X, dtype=F64)
    state = ref.random_state(layer, B) if use_state else None
    (y, s), (y_ref, s_ref) = _run_both(layer, ref, x, state, LENGTHS if use_lengths else None)
    D = layer.num_directions
    assert y.shape == (T, B, D * H)
    assert len(s) == len(layer.state_names)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    for part, part_ref in zip(s, s_ref):
        assert part.shape == (layer.num_layers * D, B, H)
        torch.testing.assert_close(part, part_ref, rtol=0, atol=1e-12)


def test_zero_initial_state_is_the_default(cell_spec, engine, ref):
    layer = ref.make_layer(cell_spec, X, H, num_layers=2, bidirectional=True, engine=engine)
    x = torch.randn(T, B, X, dtype=F64)
    y0, s0 = layer(x)
    y1, s1 = layer(x, layer.init_state(B, dtype=F64))
    torch.testing.assert_close(y0, y1, rtol=0, atol=0)
    for u, v in zip(s0, s1):
        torch.testing.assert_close(u, v, rtol=0, atol=0)


def _layer_function(layer):
    """``f(x, *state, *params)`` running ``layer`` with those parameters, for gradcheck."""
    names = [n for n, _ in layer.named_parameters()]
    n_state = len(layer.state_names)

    def f(x, lengths, *rest):
        state, params = tuple(rest[:n_state]), rest[n_state:]
        y, final = torch.func.functional_call(layer, dict(zip(names, params)), (x, state), {"lengths": lengths})
        return (y, *final)

    return f


def test_gradcheck(biased_cell_spec, engine, ref):
    # two layers, both directions, ragged lengths, an initial state: every path BPTT takes
    # (the forms without bias are covered by the cells' gradcheck and the 24-step finite differences below)
    layer = ref.make_layer(biased_cell_spec, 2, 2, num_layers=2, bidirectional=True, engine=engine)
    x = torch.randn(3, 2, 2, dtype=F64, requires_grad=True)
    state = [s.requires_grad_(True) for s in ref.random_state(layer, 2)]
    params = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    f = _layer_function(layer)
    lengths = torch.tensor([3, 2])
    # fast mode checks a random projection v·J·u of the whole Jacobian (input, state and every parameter),
    # which keeps 14 layer checks quick; the cells' gradchecks and the finite differences below are entrywise
    assert torch.autograd.gradcheck(lambda *a: f(a[0], lengths, *a[1:]), (x, *state, *params),
                                    eps=1e-6, atol=1e-7, fast_mode=True)


def test_backward_twice_through_a_retained_graph(biased_cell_spec, engine, ref):
    # gradcheck, double-loss training and diagnostics call backward more than once on one graph
    layer = ref.make_layer(biased_cell_spec, X, H, bidirectional=True, engine=engine)
    x = torch.randn(T, B, X, dtype=F64, requires_grad=True)
    y, _ = layer(x, lengths=torch.tensor(LENGTHS))
    (g1,) = torch.autograd.grad(y.sum(), x, retain_graph=True)
    (g2,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)


def test_bptt_matches_finite_differences_over_24_steps(cell_spec, engine, ref):
    steps = 24
    layer = ref.make_layer(cell_spec, 2, 3, engine=engine)
    if getattr(layer.cells[0], "nonlinearity", "tanh") == "relu":
        with torch.no_grad():  # near-identity recurrence (Le et al. 2015) keeps relu units alive for 24 steps
            W_a = layer.cells[0].W_a
            W_a[:, :3] = 0.9 * torch.eye(3, dtype=F64) + 0.05 * W_a[:, :3].abs()
            W_a[:, 3:] = W_a[:, 3:].abs()
    x = torch.randn(steps, 2, 2, dtype=F64)
    if getattr(layer.cells[0], "nonlinearity", "tanh") == "relu":
        x = x.abs()  # with the above, every pre-activation stays positive: no unit dies, no kink is crossed
    x.requires_grad_(True)
    w_out = torch.randn(steps, 2, 3, dtype=F64)
    w_state = [torch.randn(1, 2, 3, dtype=F64) for _ in layer.state_names]

    def loss():
        y, s = layer(x)
        return (w_out * y).sum() + sum((w * part).sum() for w, part in zip(w_state, s))

    loss().backward()
    gen = torch.Generator().manual_seed(1)
    checked = 0
    per_tensor = 1 if len(list(layer.parameters())) >= 4 else 3  # several parameter entries in all
    for name, p in layer.named_parameters():
        flat = p.detach().view(-1)
        for i in torch.randperm(flat.numel(), generator=gen)[:per_tensor].tolist():
            index = torch.unravel_index(torch.tensor(i), p.shape)
            numeric = ref.central_difference(loss, p.data, tuple(int(j) for j in index))
            assert p.grad[index].item() == pytest.approx(numeric, rel=1e-6, abs=1e-8), name
            checked += 1
    # the first step's input reaches the loss through all 24 steps; check early, middle and last inputs
    for index in [(0, 0, 0), (0, 1, 1), (1, 1, 0), (steps // 2, 0, 1), (steps - 1, 1, 0)]:
        numeric = ref.central_difference(loss, x.data, index)
        assert x.grad[index].item() == pytest.approx(numeric, rel=1e-6, abs=1e-8), index
        checked += 1
    assert checked >= 8
    assert x.grad[0].abs().sum() > 0


def test_padding_is_invisible(cell_spec, engine, ref):
    lengths = [5, 2, 4]
    layer = ref.make_layer(cell_spec, X, H, num_layers=2, bidirectional=True, engine=engine)
    state = ref.random_state(layer, B)
    x = torch.randn(T, B, X, dtype=F64)
    for b, n in enumerate(lengths):
        x[n:, b] = 1e3 * torch.randn(T - n, X, dtype=F64)  # garbage past the end must not matter
    x.requires_grad_(True)
    y, s = layer(x, state, lengths=torch.tensor(lengths))
    for b, n in enumerate(lengths):
        alone_state = tuple(part[:, b:b + 1] for part in state)
        y_alone, s_alone = layer(x[:n, b:b + 1].detach(), alone_state)
        torch.testing.assert_close(y[:n, b:b + 1], y_alone, rtol=0, atol=1e-12)
        assert not y[n:, b].any(), "outputs past a sequence's end must be zero"
        for part, part_alone in zip(s, s_alone):
            torch.testing.assert_close(part[:, b:b + 1], part_alone, rtol=0, atol=1e-12)
    (y.sum() + sum(part.sum() for part in s)).backward()
    for b, n in enumerate(lengths):
        assert not x.grad[n:, b].any(), "padded positions must get zero gradient"
        assert x.grad[:n, b].abs().sum() > 0


def test_backward_direction_starts_at_its_own_last_step(cell_spec, engine, ref):
    layer = ref.make_layer(cell_spec, X, H, bidirectional=True, engine=engine)
    x = torch.randn(T, B, X, dtype=F64)
    y, _ = layer(x, lengths=torch.tensor(LENGTHS))
    backward_cell = layer.cells[1]
    for b, n in enumerate(LENGTHS):
        zero = tuple(torch.zeros(1, H, dtype=F64) for _ in layer.state_names)
        first = ref.step(backward_cell, x[n - 1, b:b + 1], zero)[0]  # a←<T_x> from a←<T_x + 1> = 0
        torch.testing.assert_close(y[n - 1, b:b + 1, H:], first, rtol=0, atol=1e-12)


@pytest.mark.parametrize("batch_first", [False, True])
def test_carried_state_equals_one_long_call(cell_spec, engine, batch_first, ref):
    layer = ref.make_layer(cell_spec, X, H, num_layers=3, batch_first=batch_first, engine=engine)
    x = torch.randn(B, 7, X, dtype=F64) if batch_first else torch.randn(7, B, X, dtype=F64)
    state = ref.random_state(layer, B)
    y, s = layer(x, state)
    first, second = (x[:, :3], x[:, 3:]) if batch_first else (x[:3], x[3:])
    y1, s1 = layer(first, state)
    y2, s2 = layer(second, s1)
    torch.testing.assert_close(torch.cat([y1, y2], dim=1 if batch_first else 0), y, rtol=0, atol=1e-12)
    for u, v in zip(s2, s):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-12)


def test_step_equals_forward(cell_spec, ref):
    layer = ref.make_layer(cell_spec, X, H, num_layers=2)
    x = torch.randn(T, B, X, dtype=F64)
    y, s = layer(x)
    state = None
    for t in range(T):
        top, state = layer.step(x[t], state)
        torch.testing.assert_close(top, y[t], rtol=0, atol=1e-12)
    for u, v in zip(state, s):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-12)


# --- dropout between layers --------------------------------------------------------------------------------

def test_dropout_between_layers_only(monkeypatch, engine, ref):
    """Dropout acts on each layer's output except the last, in training only."""
    spec = (rnnkit.LSTMCell, {"bias": True})
    layer = ref.make_layer(spec, X, H, num_layers=3, bidirectional=True, dropout=0.5, engine=engine)
    x = torch.randn(T, B, X, dtype=F64)
    masks = []
    real_dropout = torch.nn.functional.dropout

    def recording_dropout(input, p=0.5, training=True, inplace=False):
        assert p == 0.5 and training
        mask = (torch.rand_like(input) > p).to(input.dtype) / (1 - p)
        masks.append(mask)
        return input * mask

    monkeypatch.setattr(torch.nn.functional, "dropout", recording_dropout)
    layer.train()
    y_train, s_train = layer(x, lengths=torch.tensor(LENGTHS))
    assert [m.shape for m in masks] == [(T, B, 2 * H)] * 2  # after layers 1 and 2, not after the top one
    y_ref, s_ref = ref.run_layer(layer, x, lengths=LENGTHS, dropout_masks=masks)
    torch.testing.assert_close(y_train, y_ref, rtol=0, atol=1e-12)
    for u, v in zip(s_train, s_ref):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-12)
    monkeypatch.setattr(torch.nn.functional, "dropout", real_dropout)

    masks.clear()
    layer.eval()
    y_eval, _ = layer(x, lengths=torch.tensor(LENGTHS))
    y_plain, _ = ref.run_layer(layer, x, lengths=LENGTHS)
    torch.testing.assert_close(y_eval, y_plain, rtol=0, atol=1e-12)
    assert not torch.allclose(y_eval, y_train)


def test_dropout_is_random_in_training_and_off_in_eval(engine, ref):
    layer = ref.make_layer((rnnkit.GRUCell, {"bias": True}), X, H, num_layers=2, dropout=0.5, engine=engine)
    x = torch.randn(T, B, X, dtype=F64)
    layer.train()
    torch.manual_seed(1)
    y1, _ = layer(x)
    torch.manual_seed(1)
    y1_again, _ = layer(x)
    y2, _ = layer(x)
    torch.testing.assert_close(y1, y1_again, rtol=0, atol=0)
    assert not torch.allclose(y1, y2)
    layer.eval()
    torch.testing.assert_close(layer(x)[0], ref.run_layer(layer, x)[0], rtol=0, atol=1e-12)


def test_single_layer_dropout_has_no_effect(ref):
    # nothing lies between layers when there is one: training output equals the plain loop
    layer = ref.make_layer((rnnkit.RNNCell, {"bias": True}), X, H, dropout=0.9).train()
    x = torch.randn(T, B, X, dtype=F64)
    torch.testing.assert_close(layer(x)[0], ref.run_layer(layer, x)[0], rtol=0, atol=1e-12)


# --- a user-written cell -----------------------------------------------------------------------------------

class LeakyCell(torch.nn.Module):
    """A tiny cell following the contract, with two state tensors: a<t> = tanh(U x + V a), m<t> = m + a<t>."""

    state_names = ("a", "m")

    def __init__(self, input_size, hidden_size, leak=0.5, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.leak = input_size, hidden_size, leak
        self.U = torch.nn.Parameter(torch.randn(hidden_size, input_size, dtype=dtype) / 2)
        self.V = torch.nn.Parameter(torch.randn(hidden_size, hidden_size, dtype=dtype) / 2)

    def init_state(self, batch_size, device=None, dtype=None):
        return tuple(torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype or self.U.dtype)
                     for _ in self.state_names)

    def forward(self, x_t, state):
        a_prev, m_prev = state
        a = self.leak * a_prev + (1 - self.leak) * torch.tanh(x_t @ self.U.T + a_prev @ self.V.T)
        return (a, m_prev + a)


def _leaky_step(cell, x, state):
    a_prev, m_prev = state
    a = cell.leak * a_prev + (1 - cell.leak) * torch.tanh(x @ cell.U.T + a_prev @ cell.V.T)
    return (a, m_prev + a)


def test_user_written_cell(engine, ref):
    layer = rnnkit.Recurrent(LeakyCell, X, H, num_layers=2, bidirectional=True, engine=engine, leak=0.25,
                             dtype=F64)
    assert layer.state_names == ("a", "m")
    assert all(cell.leak == 0.25 for cell in layer.cells)
    assert [cell.input_size for cell in layer.cells] == [X, X, 2 * H, 2 * H]
    x = torch.randn(T, B, X, dtype=F64, requires_grad=True)
    y, (a, m) = layer(x, lengths=torch.tensor(LENGTHS))
    y_ref, (a_ref, m_ref) = ref.run_layer(layer, x.detach(), lengths=LENGTHS, step_fn=_leaky_step)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(a, a_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(m, m_ref, rtol=0, atol=1e-12)
    (y.sum() + m.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())
    f = _layer_function(layer)
    small = torch.randn(3, 2, X, dtype=F64, requires_grad=True)
    state = [torch.randn(4, 2, H, dtype=F64, requires_grad=True) for _ in range(2)]
    params = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    assert torch.autograd.gradcheck(lambda *a: f(a[0], torch.tensor([2, 3]), *a[1:]), (small, *state, *params),
                                    fast_mode=True)


# --- layer classes and options ------------------------------------------------------------------------------

@pytest.mark.parametrize("layer_class, cell_class", [
    (rnnkit.RNN, rnnkit.RNNCell), (rnnkit.SimpleGRU, rnnkit.SimpleGRUCell), (rnnkit.GRU, rnnkit.GRUCell),
    (rnnkit.LSTM, rnnkit.LSTMCell),
])
def test_layer_classes_build_their_cells(layer_class, cell_class):
    layer = layer_class(X, H, num_layers=2, bidirectional=True, bias=False)
    assert len(layer.cells) == 4
    assert all(type(cell) is cell_class and not cell.bias for cell in layer.cells)
    assert [cell.input_size for cell in layer.cells] == [X, X, 2 * H, 2 * H]
    y, s = layer(torch.randn(T, B, X))
    assert y.shape == (T, B, 2 * H) and s[0].shape == (4, B, H)


def test_cell_options_reach_every_cell():
    assert all(c.peephole for c in rnnkit.LSTM(2, 3, num_layers=2, peephole=True).cells)
    assert all(c.reset_after for c in rnnkit.GRU(2, 3, num_layers=2, reset_after=True).cells)
    assert all(c.nonlinearity == "relu" for c in rnnkit.RNN(2, 3, num_layers=2, nonlinearity="relu").cells)
    assert all(torch.equal(c.b_f, torch.ones(3)) for c in rnnkit.LSTM(2, 3, num_layers=2, forget_bias=1.0).cells)


def test_lstm_state_order_is_a_then_c(ref):
    layer = ref.make_layer((rnnkit.LSTMCell, {"bias": True}), X, H)
    x = torch.randn(T, B, X, dtype=F64)
    y, (a, c) = layer(x)
    torch.testing.assert_close(a[0], y[-1], rtol=0, atol=0)  # a<T_x> is the last output
    assert not torch.allclose(a, c)


def test_single_tensor_state_accepted_for_one_state_cells(ref):
    layer = ref.make_layer((rnnkit.GRUCell, {"bias": True}), X, H)
    x = torch.randn(T, B, X, dtype=F64)
    a0 = torch.randn(1, B, H, dtype=F64)
    torch.testing.assert_close(layer(x, a0)[0], layer(x, (a0,))[0], rtol=0, atol=0)


# --- errors a user can make ---------------------------------------------------------------------------------

def test_wrong_input_shapes():
    layer = rnnkit.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"\(T, B, X\) with X = 3.*\(5, 2\)"):
        layer(torch.randn(5, 2))
    with pytest.raises(ValueError, match=r"X = 3.*\(5, 2, 7\)"):
        layer(torch.randn(5, 2, 7))
    with pytest.raises(ValueError, match=r"\(B, T, X\)"):
        rnnkit.GRU(3, 4, batch_first=True)(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match="T = 0"):
        layer(torch.randn(0, 2, 3))


def test_wrong_state_shapes():
    layer = rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True)
    x = torch.randn(5, 2, 3)
    good = torch.zeros(4, 2, 4)
    with pytest.raises(ValueError, match=r"\(4, 2, 4\).*\(2, 2, 4\)"):
        layer(x, (torch.zeros(2, 2, 4), good))  # forgot the directions
    with pytest.raises(ValueError, match=r"2 tensor\(s\)"):
        layer(x, good)  # an LSTM needs (a, c)
    with pytest.raises(ValueError, match=r"\(1, 2, 4\)"):
        rnnkit.RNN(3, 4)(x, torch.zeros(1, 3, 4))  # wrong batch size


@pytest.mark.parametrize("lengths, message", [
    ([0, 3], r"1 … T = 5.*min 0"),
    ([6, 3], r"1 … T = 5.*max 6"),
    ([5, 3, 2], r"\(B,\) = \(2,\)"),
    ([5.0, 3.0], "integer"),
])
def test_bad_lengths(lengths, message):
    with pytest.raises(ValueError, match=message):
        rnnkit.GRU(3, 4)(torch.randn(5, 2, 3), lengths=torch.tensor(lengths))


@pytest.mark.parametrize("options, message", [
    ({"num_layers": 0}, "num_layers.*0"),
    ({"dropout": 1.0}, r"dropout.*\[0, 1\).*1.0"),
    ({"dropout": -0.1}, "dropout"),
    ({"engine": "cuda"}, "engine.*'cuda'"),
])
def test_bad_layer_options(options, message):
    with pytest.raises(ValueError, match=message):
        rnnkit.LSTM(3, 4, **options)


def test_step_refuses_bidirectional():
    with pytest.raises(ValueError, match="unidirectional"):
        rnnkit.RNN(3, 4, bidirectional=True).step(torch.randn(2, 3))


@pytest.mark.parametrize("cell", ["rnn", "simple-gru", "gru", "lstm", "peephole-lstm"])
def test_outputs_equal_the_masked_loop(cell):
    """Recurrent.outputs (unmasked runs, the backward direction over each sequence reversed in its length)
    equals forward with lengths, values and gradients."""
    from rnnkit.cells import cell_factory
    from rnnkit.layers import Recurrent

    torch.manual_seed(0)
    layer = Recurrent(cell_factory(cell), 3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    x = torch.randn(4, 6, 3, dtype=torch.double, requires_grad=True)
    lengths = torch.tensor([6, 2, 1, 4])
    want, _ = layer(x, lengths=lengths)
    got = layer.outputs(x, lengths)
    assert torch.allclose(got, want, atol=1e-12)
    w = torch.randn_like(want)
    g1 = torch.autograd.grad((want * w).sum(), [x, *layer.parameters()])
    g2 = torch.autograd.grad((got * w).sum(), [x, *layer.parameters()])
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(g1, g2))
