"""The recurrent layers of a trained run and inputs to drive them: real batches where the task's data can be read
without its labels (language models: text; classifiers: their data files), a synthetic input otherwise.

:func:`run_layers` returns, for a RUN of any task, one :class:`LayerInput` per recurrent layer of its model:
the layer, a name (``"encoder"``, ``"rnn"``, …) and the input sequence ``x<1> … x<T>`` (B, T, X) that
:func:`rnnkit.diagnostics.state_gradient_norms` differentiates through. Real inputs are what the layer reads in
the model (the embedded tokens, the standardised features); the synthetic one is ``N(0, 1)`` per component, for
the layers whose inputs only the task's own pipeline builds (decoders, speech, music).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnkit.errors import RnnkitError
from rnnkit.fileio import read_json
from rnnkit.layers import Recurrent

TASKS = ("lm", "classify", "tag", "translate", "music", "speech")


@dataclass
class LayerInput:
    name: str             # the layer's attribute path in the model, e.g. "rnn" or "encoder.rnn"
    layer: Recurrent
    x: torch.Tensor       # (B, T, X)
    source: str           # where x came from, in words


def run_task(run: str | Path) -> str:
    """The task that trained RUN, from its config.json (a clear error if RUN is not a run directory)."""
    run = Path(run)
    path = run / "config.json"
    if not run.is_dir() or not path.exists():
        raise RnnkitError(f"{run}: not a run directory (no config.json); give a directory written by "
                          "'rnnkit TASK train'")
    task = read_json(path, "run configuration").get("task")
    if task not in TASKS:
        raise RnnkitError(f"{path}: unknown task {task!r}; this rnnkit knows {', '.join(TASKS)}")
    return task


def load_run_model(run: str | Path) -> tuple[str, torch.nn.Module]:
    """(task, the run's model in eval mode, float32 on the CPU), loaded without pickle."""
    task = run_task(run)
    if task == "lm":
        from rnnkit.cli.lm_use import load_lm

        return task, load_lm(str(run))[0]
    return task, importlib.import_module(f"rnnkit.tasks.{task}").load_run(run).model


def recurrent_layers(model: torch.nn.Module) -> list[tuple[str, Recurrent]]:
    """Every :class:`Recurrent` in ``model``, outermost only, with its attribute path."""
    found = []
    for name, module in model.named_modules():
        if isinstance(module, Recurrent) and not any(name.startswith(f"{n}.") for n, _ in found):
            found.append((name, module))
    return found


def run_layers(run: str | Path, data: list[str] | None, length: int, batch: int, seed: int) -> list[LayerInput]:
    """One :class:`LayerInput` per recurrent layer of RUN's model: ``batch`` sequences of ``length`` steps,
    read from ``data`` (or the run's own training files) for language models and classifiers, synthetic
    otherwise. Windows are drawn with a generator of their own (``seed``), never the global one."""
    task, model = load_run_model(run)
    layers = recurrent_layers(model)
    if not layers:
        raise RnnkitError(f"{run}: its model has no recurrent layer to diagnose")
    generator = torch.Generator().manual_seed(seed)
    real = None
    if task == "lm":
        real = _lm_inputs(run, model, data, length, batch, generator)
    elif task == "classify":
        real = _classify_inputs(run, model, data, length, batch, generator)
    out = []
    for k, (name, layer) in enumerate(layers):
        if k == 0 and real is not None:
            out.append(LayerInput(name, layer, real[0], real[1]))
        else:
            x = torch.randn(batch, length, layer.input_size, generator=generator)
            out.append(LayerInput(name, layer, x, "synthetic N(0, 1) inputs"))
    return out


@torch.no_grad()
def _lm_inputs(run, model, data, length: int, batch: int, generator):
    from rnnkit.cli.lm_use import encode_text
    from rnnkit.data import Vocab, default_corpus
    from rnnkit.data.text import read_text

    config = read_json(Path(run) / "config.json", "run configuration")
    vocab = Vocab.load(Path(run) / "vocab.json")
    files = data or config.get("data", {}).get("files")
    text = read_text(files) if files else default_corpus()
    ids = encode_text(vocab, text, config.get("data", {}).get("eos", "none"))
    if len(ids) < length:
        raise RnnkitError(f"{', '.join(map(str, files or ['the default corpus']))}: {len(ids)} tokens, fewer than "
                          f"--length {length}; give a longer text or a smaller --length")
    starts = torch.randint(0, len(ids) - length + 1, (batch,), generator=generator)
    windows = torch.stack([torch.tensor(ids[s:s + length]) for s in starts.tolist()])
    where = ", ".join(map(str, files)) if files else "the default corpus"
    return model.embed(windows), f"{batch} windows of {length} tokens of {where}"


@torch.no_grad()
def _classify_inputs(run, model, data, length: int, batch: int, generator):
    from rnnkit.tasks.classify import load_run as load_classifier
    from rnnkit.tasks.classify import read_for

    loaded = load_classifier(run)
    files = data or loaded.config.get("data", {}).get("files")
    if not files:
        raise RnnkitError(f"{run}: give --data FILE, the examples to read (the run names no training files)")

    class _Flags:       # read_for takes the reading flags of the command line: none given here
        format = text_column = label_column = labels_file = None

    examples = read_for(loaded, files, _Flags(), require_labels=False).examples
    encoded = loaded.encoder.encode(examples, ", ".join(map(str, files)), labelled=False).sequences
    long_enough = [s for s in encoded if len(s) >= length]
    if not long_enough:
        longest = max(len(s) for s in encoded)
        raise RnnkitError(f"{', '.join(map(str, files))}: no example has --length {length} steps (the longest has "
                          f"{longest}); give a smaller --length")
    picks = torch.randint(0, len(long_enough), (batch,), generator=generator).tolist()
    seqs = torch.stack([torch.as_tensor(long_enough[i][:length]) for i in picks])
    x = model.inputs(seqs, torch.full((batch,), length))
    return x, f"{batch} examples of {', '.join(map(str, files))} with at least {length} steps, first {length}"
