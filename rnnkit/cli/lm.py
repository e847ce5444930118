"""``rnnkit lm train | sample | score | eval``: language models at character and word level."""

from __future__ import annotations

from rnnkit.cli.args import (
    add_train_flags,
    add_use_flags,
    lazy_handler,
    nonnegative_float,
    nonnegative_int,
    positive_int,
    probability,
)
from rnnkit.tasks.lm import LM_DEFAULTS, LM_TRAIN_DEFAULTS


def register(tasks) -> None:
    lm = tasks.add_parser("lm", help="language models: train, sample, score, eval",
                          description="Character- and word-level recurrent language models.")
    verbs = lm.add_subparsers(dest="verb", metavar="VERB", required=True)

    train = verbs.add_parser("train", help="train a language model (default: on the embedded default corpus)",
                             description="Train a language model with truncated backpropagation through time. "
                             "With no --data, trains on the source code of Python's standard library.")
    add_train_flags(train, LM_TRAIN_DEFAULTS, LM_DEFAULTS)
    model = train.add_argument_group("language model")
    model.add_argument("--level", choices=("char", "word"), help="tokens are characters or words (default: char)")
    model.add_argument("--eos", choices=("none", "line", "document"),
                       help="model sentence ends: <EOS> at each line end or file end (default: none)")
    model.add_argument("--embedding", type=nonnegative_int, metavar="E",
                       help=f"embedding size; 0 feeds one-hot vectors (default: {LM_DEFAULTS['embedding']})")
    model.add_argument("--min-freq", type=positive_int, help="word level: rarer words become <UNK> (default: 1)")
    model.add_argument("--max-vocab", type=positive_int, help="word level: keep at most this many tokens")
    model.add_argument("--valid-fraction", type=float, default=None,
                       help="the last fraction of the data used for validation (default: 0.1)")
    model.add_argument("--encoding-errors", choices=("strict", "replace"), default="strict",
                       help="undecodable bytes: stop with an error, or replace them with U+FFFD")
    model.add_argument("--cache-dir", help="where token ids are cached (default: ~/.cache/rnnkit)")
    train.set_defaults(handler=lazy_handler("rnnkit.cli.lm_train", "train"))

    sample = verbs.add_parser("sample", help="sample novel text from a trained model",
                              description="Sample novel sequences, streamed as they are generated.")
    sample.add_argument("run", metavar="RUN", help="run directory written by 'rnnkit lm train'")
    sample.add_argument("--prime", default="", help="text the samples continue")
    sample.add_argument("--length", type=nonnegative_int, default=500, help="tokens per sample (default: 500)")
    sample.add_argument("--num", type=positive_int, default=1, help="number of samples (default: 1)")
    sample.add_argument("--temperature", type=nonnegative_float, default=1.0,
                        help="softmax temperature; lower is safer, 0 is greedy (default: 1.0)")
    sample.add_argument("--top-k", type=positive_int, help="sample only from the k most likely tokens")
    sample.add_argument("--top-p", type=probability, help="sample only from the smallest set with probability p")
    sample.add_argument("--greedy", action="store_true", help="always take the most likely token")
    sample.add_argument("--no-stop", action="store_true", help="do not stop at <EOS>")
    add_use_flags(sample)
    add_weights_flag(sample)
    sample.add_argument("--seed", type=int, default=None, help="random seed for reproducible samples")
    sample.set_defaults(handler=lazy_handler("rnnkit.cli.lm_use", "sample"))

    score = verbs.add_parser("score", help="log-probability and perplexity of given text",
                             description="Score text by the chain rule: log P(y<1>…y<T>) = Σ log P(y<t> | y<1…t-1>).")
    score.add_argument("run", metavar="RUN", help="run directory written by 'rnnkit lm train'")
    score.add_argument("text", nargs="+", metavar="TEXT", help="text(s) to score")
    score.add_argument("--json", action="store_true", help="print per-token probabilities and a JSON summary")
    add_use_flags(score)
    score.set_defaults(handler=lazy_handler("rnnkit.cli.lm_use", "score"))

    evaluate = verbs.add_parser("eval", help="loss, perplexity and bits per character on a file",
                                description="Evaluate a model on a text file.")
    evaluate.add_argument("run", metavar="RUN", help="run directory written by 'rnnkit lm train'")
    evaluate.add_argument("--data", nargs="+", required=True, metavar="FILE", help="text file(s) to evaluate on")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    evaluate.add_argument("--encoding-errors", choices=("strict", "replace"), default="strict",
                          help="undecodable bytes: error, or replace with U+FFFD")
    add_use_flags(evaluate)
    add_weights_flag(evaluate, " and report the change in loss against float32 (both through the stepper)")
    evaluate.set_defaults(handler=lazy_handler("rnnkit.cli.lm_use", "evaluate"))


def add_weights_flag(parser, extra: str = "") -> None:
    """``--weights``: the precision the generation stepper reads the weights in (rnnkit.engine.step.StepMatrix)."""
    parser.add_argument("--weights", choices=("float32", "bf16", "int8"), default="float32",
                        help="precision the generation stepper reads the LSTM/RNN weights in: bfloat16, or int8 "
                             f"with a scale per row{extra} (default: float32)")
