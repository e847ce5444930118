import pytest
import torch

from rnnkit.training.config import OPTIMIZERS, TrainConfig
from rnnkit.training.optim import build_optimizer

EXPECTED = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
            "rmsprop": torch.optim.RMSprop}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_gets_the_configured_settings(name):
    params = [torch.nn.Parameter(torch.zeros(3))]
    opt = build_optimizer(params, TrainConfig(optimizer=name, lr=0.25, weight_decay=0.125, momentum=0.5, beta2=0.9))
    assert type(opt) is EXPECTED[name]
    group = opt.param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (0.25, 0.125)
    if name in ("adam", "adamw"):
        assert tuple(group["betas"]) == (0.9, 0.9)
    if name == "sgd":
        assert group["momentum"] == 0.5


def test_beta2_sets_how_fast_adam_forgets_the_squared_gradients():
    # After one step on gradient g from zero state, exp_avg_sq = (1 - beta2) g².
    for beta2 in (0.99, 0.999):
        p = torch.nn.Parameter(torch.zeros(2))
        opt = build_optimizer([p], TrainConfig(optimizer="adam", beta2=beta2))
        p.grad = torch.tensor([2.0, -3.0])
        opt.step()
        assert torch.allclose(opt.state[p]["exp_avg_sq"], (1 - beta2) * torch.tensor([4.0, 9.0]))


@pytest.mark.parametrize("beta2", [1.0, -0.1, 1.5])
def test_beta2_out_of_range_is_refused(beta2):
    with pytest.raises(ValueError, match="beta2"):
        TrainConfig(beta2=beta2).validate()
