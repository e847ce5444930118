"""Ready models, one file per architecture type."""

from rnnkit.models.classifier import Classifier, ClassifierConfig
from rnnkit.models.ctc import CTCRecognizer, CTCRecognizerConfig
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.models.piano_roll import PianoRollConfig, PianoRollModel
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.models.tagger import Tagger, TaggerConfig

__all__ = ["CTCRecognizer", "CTCRecognizerConfig", "Classifier", "ClassifierConfig",
           "LanguageModel", "LanguageModelConfig", "PianoRollConfig",
           "PianoRollModel", "Seq2Seq", "Seq2SeqConfig", "Tagger", "TaggerConfig"]
