"""The audio front end of the speech recogniser: WAV input/output, resampling, features, augmentation."""

from rnnkit.audio.augment import AugmentConfig, Augmenter, add_noise, apply_gain, spec_augment, speed_perturb
from rnnkit.audio.features import FrontEnd, FrontEndConfig, Normalizer
from rnnkit.audio.io import read_wav, resample, write_wav

__all__ = [
    "AugmentConfig", "Augmenter", "FrontEnd", "FrontEndConfig", "Normalizer", "add_noise", "apply_gain",
    "read_wav", "resample", "spec_augment", "speed_perturb", "write_wav",
]
