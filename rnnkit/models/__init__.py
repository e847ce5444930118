"""Ready models, one file per architecture type."""

from rnnkit.models.language_model import LanguageModel, LanguageModelConfig

__all__ = ["LanguageModel", "LanguageModelConfig"]
