"""``rnnkit diagnose gates | activations``: what the gates and the hidden units of a trained language model do.

Both verbs read a text with the run's model one step at a time (:func:`rnnkit.diagnostics.gates.trace`; the
fast engines hide the gates), starting from the token a sample starts from, like ``rnnkit lm sample``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit.cli.args import add_use_flags, positive_int
from rnnkit.errors import RnnkitError


def register(verbs) -> None:
    gates_verb = verbs.add_parser(
        "gates", help="how often each gate unit of a language model is saturated, on a text",
        description="Run a trained language model over a text and measure, for every gate unit (LSTM: Γu input, "
        "Γf forget, Γo output; GRU: Γu update, Γr reset; simple GRU: Γu), the fraction of steps it is "
        "left-saturated (Γ < 0.1) and right-saturated (Γ > 0.9), as in Karpathy, Johnson & Fei-Fei (2015), "
        "'Visualizing and understanding recurrent networks'. Writes DIR/gates.png (one panel per gate, one "
        "colour per layer) and DIR/gates.json (both fractions per unit, and their means).")
    _add_common(gates_verb, max_chars=20000)
    gates_verb.set_defaults(handler=gates)

    acts = verbs.add_parser(
        "activations", help="colour a text by what hidden units do; find units that track a pattern",
        description="Colour each character (or word) of a text by a hidden unit's activation after reading it, "
        "a<t> (or tanh(c<t>) of an LSTM's memory cell): blue negative, white 0, red positive. Writes "
        "DIR/activations.html, a standalone page (no network) with a unit picker, and DIR/activations.json. "
        "--find ranks the units of the layer by Pearson correlation with a pattern.")
    _add_common(acts, max_chars=3000)
    which = acts.add_mutually_exclusive_group(required=True)
    which.add_argument("--unit", type=_units, metavar="N[,N…]", help="the unit(s) to show, numbered 0 … H−1")
    which.add_argument("--top", type=positive_int, metavar="K",
                       help="show the K units whose activation varies most over the text; with --find, the K "
                       "units best correlated with the pattern")
    acts.add_argument("--layer", type=positive_int, metavar="L", help="layer 1 … L (default: the top layer)")
    acts.add_argument("--state", choices=("a", "c"), default="a",
                      help="a: the activation a<t>; c: tanh(c<t>), an LSTM's memory cell (default: a)")
    acts.add_argument("--find", metavar="PATTERN",
                      help="rank units by |Pearson r| with a pattern: 'quotes' (1 inside double quotes), "
                      "'line-position' (characters since the last newline), 'bracket-depth' (nesting of ()[]{}), "
                      "or 'regex:EXPR' (1 on the characters EXPR matches)")
    acts.set_defaults(handler=activations)


def _add_common(parser: argparse.ArgumentParser, max_chars: int) -> None:
    parser.add_argument("run", metavar="RUN", help="run directory written by 'rnnkit lm train'")
    parser.add_argument("--text", required=True, metavar="FILE", help="the UTF-8 text the model reads")
    parser.add_argument("--max-chars", type=positive_int, default=max_chars, metavar="N",
                        help=f"read only the first N characters of the text (default: {max_chars:,})")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write the results in")
    parser.add_argument("--encoding-errors", choices=("strict", "replace"), default="strict",
                        help="undecodable bytes: error, or replace with U+FFFD")
    add_use_flags(parser)


def _units(text: str) -> list[int]:
    try:
        units = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected unit numbers such as 7 or 3,17,42, got {text!r}") from None
    if not units or min(units) < 0:
        raise argparse.ArgumentTypeError(f"expected unit numbers 0 … H−1 such as 7 or 3,17,42, got {text!r}")
    return list(dict.fromkeys(units))


def _load(args):
    """(model, vocab, config) of the run: safetensors and JSON only."""
    from rnnkit.cli.lm_use import load_lm

    return load_lm(args.run, args.checkpoint, args.device)


def _read(args, model, vocab, config, with_gates: bool):
    """(ids, pieces, traces): the text as token ids and as the text of each token, and the model's trace
    (one per layer) over it."""
    from rnnkit.cli.lm_use import encode_text, token_piece
    from rnnkit.data.text import read_text
    from rnnkit.diagnostics.gates import trace_language_model
    from rnnkit.tasks.lm import start_token

    text = read_text(args.text, errors=args.encoding_errors)[:args.max_chars]
    try:
        ids = encode_text(vocab, text, config["data"].get("eos", "none"))
    except RnnkitError as e:
        raise RnnkitError(f"{args.text}: {e}") from None
    if not ids:
        raise RnnkitError(f"{args.text}: no tokens to read; give a text with something in it")
    pieces = [token_piece(vocab, ids[t - 1:t], tid) for t, tid in enumerate(ids)]   # token_piece reads one back
    traces = trace_language_model(model, ids, [start_token(vocab)], with_gates=with_gates)
    return ids, pieces, traces


def _describe(model, vocab) -> str:
    c = model.config
    return f"{c.cell} {c.num_layers}×{c.hidden_size}, {vocab.level} level"


def gates(args) -> int:
    from rnnkit.diagnostics.gates import LEFT, RIGHT, gate_label, gate_names, gate_statistics, plot_gate_saturation
    from rnnkit.fileio import atomic_write_json

    model, vocab, config = _load(args)
    cell_type = type(model.rnn.cells[0])
    if not gate_names(model.rnn.cells[0]):
        raise RnnkitError(f"{args.run}: its cell is {model.config.cell!r}, which has no gates "
                          "(a<t> = g(W_a [a<t-1>, x<t>] + b_a)); gate statistics need a simple-gru, gru, lstm or "
                          "peephole-lstm run (try 'rnnkit diagnose activations' for its units)")
    ids, _, traces = _read(args, model, vocab, config, with_gates=True)
    stats = gate_statistics(traces)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    unit = "characters" if vocab.level == "char" else "tokens"
    report = {
        "run": str(args.run), "text": str(args.text), "tokens": len(ids), "level": vocab.level,
        "cell": model.config.cell, "num_layers": model.config.num_layers, "hidden_size": model.config.hidden_size,
        "thresholds": {"left": LEFT, "right": RIGHT},
        "layers": [{"layer": l + 1, "gates": per_gate} for l, per_gate in enumerate(stats)],
        "summary": {name: {"mean_left": sum(s[name]["mean_left"] for s in stats) / len(stats),
                           "mean_right": sum(s[name]["mean_right"] for s in stats) / len(stats)}
                    for name in stats[0]},
    }
    print(f"{'layer':<7}{'gate':<26}{'left-saturated':>16}{'right-saturated':>17}   (mean over units)")
    for l, per_gate in enumerate(stats):
        for name, s in per_gate.items():
            print(f"{l + 1:<7}{gate_label(cell_type, name):<26}{s['mean_left']:>16.3f}{s['mean_right']:>17.3f}")
    title = (f"Gate saturation of {Path(args.run).name} ({_describe(model, vocab)}) over {len(ids):,} {unit} "
             f"of {Path(args.text).name}")
    wrote = []
    if plot_gate_saturation(stats, out / "gates.png", cell_type, title):
        wrote.append(out / "gates.png")
    else:
        print("rnnkit: warning: matplotlib is not installed, so gates.png is not drawn (pip install matplotlib)",
              file=sys.stderr)
    atomic_write_json(out / "gates.json", report)
    wrote.append(out / "gates.json")
    print("wrote " + ", ".join(map(str, wrote)))
    return 0


def activations(args) -> int:
    from rnnkit.diagnostics.activations import (
        check_pattern,
        correlations,
        page_data,
        pattern_signal,
        rank_units,
        top_variance_units,
        unit_activations,
        write_activation_page,
    )
    from rnnkit.fileio import atomic_write_json

    if args.find is not None:
        try:
            check_pattern(args.find)
        except ValueError as e:
            raise RnnkitError(str(e)) from None
    model, vocab, config = _load(args)
    L, H = model.config.num_layers, model.config.hidden_size
    layer = L if args.layer is None else args.layer
    if layer > L:
        raise RnnkitError(f"--layer {layer} is out of range: {args.run} has {L} layer{'s' if L > 1 else ''} "
                          f"(1 … {L})")
    if args.state == "c" and "c" not in model.rnn.cells[layer - 1].state_names:
        raise RnnkitError(f"--state c: the {model.config.cell} cell of {args.run} keeps no memory cell c<t> apart "
                          "from a<t>; use --state a (c<t> is an LSTM's)")
    if args.unit is not None and max(args.unit) >= H:
        raise RnnkitError(f"--unit {max(args.unit)} is out of range: layer {layer} has {H} units (0 … {H - 1})")
    ids, pieces, traces = _read(args, model, vocab, config, with_gates=False)
    values = unit_activations(traces[layer - 1], args.state).cpu()            # (T, H)
    ranking = None
    if args.find is not None:
        try:
            r = correlations(values, pattern_signal(pieces, args.find))
        except ValueError:
            raise RnnkitError(f"--find {args.find}: the pattern has the same value on all {len(ids):,} tokens of "
                              f"{args.text}, so no unit can correlate with it; give a text where it varies "
                              "(or a pattern that occurs in it)") from None
        order = rank_units(r)
        ranking = [{"unit": u, "r": round(float(r[u]), 4)} for u in order]
        print(f"units of layer {layer} by |Pearson r| with {args.find}:")
        print(f"{'rank':>6}{'unit':>7}{'r':>9}")
        for k, e in enumerate(ranking[:10]):
            print(f"{k + 1:>6}{e['unit']:>7}{e['r']:>9.3f}")
    if args.unit is not None:
        units = args.unit
    else:
        k = min(args.top, H)
        units = [e["unit"] for e in ranking[:k]] if ranking else top_variance_units(values, k)
    state_label = "a<t>" if args.state == "a" else "tanh(c<t>)"
    unit_word = "characters" if vocab.level == "char" else "tokens"
    meta = {"title": f"Activation map: {state_label} of layer {layer} of {Path(args.run).name} "
                     f"({_describe(model, vocab)})",
            "subtitle": f"{len(ids):,} {unit_word} of {Path(args.text).name}; units "
                        f"{', '.join(map(str, units))}" + (f"; pattern {args.find}" if args.find else ""),
            "run": str(args.run), "text": str(args.text), "layer": layer, "hidden": H, "state": args.state,
            "state_label": state_label, "pattern": args.find}
    data = page_data(pieces, values, units, meta, ranking)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_activation_page(out / "activations.html", data)
    atomic_write_json(out / "activations.json", data)
    print(f"wrote {out / 'activations.html'}, {out / 'activations.json'}")
    return 0
