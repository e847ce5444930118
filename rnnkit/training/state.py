"""Optimizer and random-number-generator state as safetensors and JSON (no pickle)."""

from __future__ import annotations

import base64
import random

import numpy as np
import torch

from rnnkit.errors import RnnkitError


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``optimizer.state_dict()`` into tensors (``state.<param>.<key>``) and a JSON-able rest."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, per_param in sd["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], rest: dict) -> None:
    """Inverse of :func:`optimizer_to_tensors`, loaded into ``optimizer``."""
    state: dict[int, dict] = {}
    try:
        for name, value in tensors.items():
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
        for name, value in rest.get("scalars", {}).items():
            index, key = name.split(".", 1)
            state.setdefault(int(index), {})[key] = value
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for index, per_param in state.items():  # load_state_dict does not check shapes; a step would fail
            for key, value in per_param.items():
                if (isinstance(value, torch.Tensor) and value.dim() > 0
                        and tuple(value.shape) != tuple(params[index].shape)):
                    raise ValueError(f"state {key!r} of parameter {index} has shape {tuple(value.shape)}, "
                                     f"the parameter {tuple(params[index].shape)}")
        optimizer.load_state_dict({"state": state, "param_groups": rest["param_groups"]})
    except (KeyError, ValueError, RuntimeError, TypeError, IndexError, AttributeError) as e:
        raise RnnkitError(f"the optimizer state does not match the model or optimizer ({e}); "
                          "resume with the same --optimizer as the original run") from None


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _unb64(s: str) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(base64.b64decode(s), dtype=np.uint8).copy())


def capture_rng() -> dict:
    """Every RNG state a training step may draw from, as JSON."""
    state = {"torch": _b64(torch.get_rng_state()), "numpy": None, "python": None}
    np_state = np.random.get_state()
    state["numpy"] = [np_state[0], np_state[1].tolist(), *np_state[2:]]
    py = random.getstate()
    state["python"] = [py[0], list(py[1]), py[2]]
    if torch.cuda.is_available():
        state["cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(_unb64(state["torch"]))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_unb64(s) for s in state["cuda"]])
