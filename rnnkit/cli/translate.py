"""``rnnkit translate train | eval | predict``: encoder–decoder translation (flags only)."""

from __future__ import annotations

import argparse

from rnnkit.cli.args import (
    add_train_flags,
    add_use_flags,
    fraction,
    lazy_handler,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)

FORMATS = ("tsv", "csv", "jsonl", "text")
LEVELS = ("char", "word", "subword")


def _add_reading(parser: argparse.ArgumentParser, for_training: bool) -> None:
    group = parser.add_argument_group("reading the data" if for_training else
                                      "reading the data (default: as the run's training data was read)")
    group.add_argument("--format", choices=FORMATS, help="file format (default: from the extension: .tsv and "
                       ".txt are tsv, .csv, .jsonl; text = one source sentence per line, for predict)")
    group.add_argument("--source-column", metavar="N|NAME", help="csv/tsv: the source's column, a 1-based number "
                       "(no header row) or a header name (default: 1); jsonl: its key (default: source)")
    group.add_argument("--target-column", metavar="N|NAME", help="csv/tsv: the target's column (default: 2); "
                       "jsonl: its key (default: target)")


def _add_decoding(parser: argparse.ArgumentParser, beam_default: int) -> None:
    group = parser.add_argument_group("decoding")
    group.add_argument("--beam", type=positive_int, default=beam_default,
                       help=f"beam size; 1 is greedy (default: {beam_default})")
    group.add_argument("--length-penalty", type=nonnegative_float, default=1.0, metavar="ALPHA",
                       help="beam search ranks hypotheses by log P / length^ALPHA (default: 1.0; 0 = log P)")
    group.add_argument("--max-ratio", type=positive_float, default=2.0,
                       help="a translation has at most MAX_RATIO × source tokens + MAX_EXTRA tokens (default: 2)")
    group.add_argument("--max-extra", type=nonnegative_int, default=10, help="see --max-ratio (default: 10)")
    group.add_argument("--temperature", type=positive_float, help="sample each token from softmax(z / T) "
                       "instead of searching (with --seed)")
    group.add_argument("--seed", type=int, default=0, help="random seed for sampling (default: 0)")
    group.add_argument("--batch-size", type=positive_int, default=64, help="sentences per batch (default: 64)")


def register(tasks) -> None:
    translate = tasks.add_parser("translate", help="encoder-decoder (many-to-many, T_x != T_y): train, eval, "
                                 "predict", description="Sequence to sequence: translation, dates to ISO 8601, "
                                 "any text to any text, with attention and beam search.")
    verbs = translate.add_subparsers(dest="verb", metavar="VERB", required=True)

    from rnnkit.tasks.translate import DATA_DEFAULTS, MODEL_DEFAULTS, TRANSLATE_TRAIN_DEFAULTS

    d, o = MODEL_DEFAULTS, DATA_DEFAULTS
    train = verbs.add_parser("train", help="train an encoder-decoder",
                             description="Train an RNN encoder-decoder with attention on sentence pairs. Only "
                             "--data is needed: e.g. --data fra.txt --source-column 2 --target-column 1 trains "
                             "French to English on the Tatoeba pairs (English<TAB>French).")
    add_train_flags(train, TRANSLATE_TRAIN_DEFAULTS, d)
    _add_reading(train, True)
    train.add_argument("--valid-fraction", type=fraction, help="without --valid: the part of --data held out at "
                       f"random for validation (default: {o['valid_fraction']})")
    tokens = train.add_argument_group("tokens")
    tokens.add_argument("--level", choices=LEVELS, help="tokens of both sides: characters, words and punctuation, "
                        f"or sentencepiece subwords learned from the training data (default: {o['level']})")
    tokens.add_argument("--source-level", choices=LEVELS, help="the source's level (default: --level)")
    tokens.add_argument("--target-level", choices=LEVELS, help="the target's level (default: --level)")
    tokens.add_argument("--vocab-size", type=positive_int, metavar="N", help="subword: pieces per side, or in "
                        f"all with --shared-vocab (default: {o['vocab_size']}; fewer when the data has fewer)")
    tokens.add_argument("--shared-vocab", action="store_true", default=None, help="one vocabulary (and "
                        "embedding) for source and target")
    tokens.add_argument("--min-freq", type=positive_int, help="rarer tokens become <UNK> (default: 1)")
    model = train.add_argument_group("encoder-decoder")
    model.add_argument("--decoder-layers", type=positive_int, metavar="L", help="decoder layers (default: "
                       "--layers)")
    model.add_argument("--embedding", type=positive_int, metavar="E", help=f"embedding size (default: "
                       f"{d['embedding']})")
    model.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None,
                       help="a bidirectional encoder (default: yes)")
    model.add_argument("--attention", choices=("none", "additive", "dot", "general"),
                       help="none: the plain encoder-decoder; additive (Bahdanau); dot or general (Luong) "
                       f"(default: {d['attention']})")
    model.add_argument("--input-feeding", action=argparse.BooleanOptionalAction, default=None,
                       help="dot/general: feed the previous attentional state to the decoder (default: yes)")
    model.add_argument("--tie-embeddings", action="store_true", default=None, help="the output layer uses the "
                       "target embedding's weights (needs --embedding = --hidden)")
    model.add_argument("--label-smoothing", type=fraction, metavar="EPS", help="smooth the targets' one-hot "
                       f"distributions by EPS (default: {o['label_smoothing']})")
    model.add_argument("--scheduled-sampling", type=fraction, metavar="P", help="while training, feed the "
                       "decoder its own most likely previous token with probability P (default: 0)")
    train.set_defaults(handler=lazy_handler("rnnkit.cli.translate_use", "train"))

    evaluate = verbs.add_parser("eval", help="BLEU, chrF (sacrebleu) and exact match",
                                description="Translate the sources of a file of pairs and score them against "
                                "the targets: sacrebleu corpus BLEU and chrF on detokenised text, exact match.")
    evaluate.add_argument("run", metavar="RUN", help="run directory written by 'rnnkit translate train'")
    evaluate.add_argument("--data", nargs="+", required=True, metavar="FILE", help="file(s) of pairs")
    _add_reading(evaluate, False)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    evaluate.add_argument("--output", metavar="FILE", help="write source, reference and translation per line "
                          "(tsv)")
    _add_decoding(evaluate, 5)
    add_use_flags(evaluate)
    evaluate.set_defaults(handler=lazy_handler("rnnkit.cli.translate_use", "evaluate"))

    predict = verbs.add_parser("predict", help="translate sentences: one JSON line each",
                               description="Translate every source of FILE(s) (pairs, or plain text with one "
                               "sentence per line), or each line of standard input ('-' or no FILE). Writes one "
                               'JSON object per sentence: {"source", "translation", "log_prob"}.')
    predict.add_argument("run", metavar="RUN", help="run directory written by 'rnnkit translate train'")
    predict.add_argument("files", nargs="*", metavar="FILE", help="input file(s); '-' or none reads stdin")
    _add_reading(predict, False)
    predict.add_argument("--attention-png", metavar="DIR", help="also draw each sentence's attention weights "
                         "(source across, translation down) as DIR/attention-N.png")
    predict.add_argument("--n-best", type=positive_int, default=1, metavar="K", help="beam search: give the K "
                         "best translations (default: 1)")
    _add_decoding(predict, 5)
    add_use_flags(predict)
    predict.set_defaults(handler=lazy_handler("rnnkit.cli.translate_use", "predict"))
