"""Audio: sound files, spectrogram and music features (librosa's names and defaults), datasets
and ready-made models for log-mel input."""
from .io import AUDIO_EXTENSIONS, AudioFileError, MissingAudioFileError, info, load, resample, save  # noqa: F401
from .models import AudioCNN, AudioMLP  # noqa: F401
from .features import (amplitude_to_db, fft_frequencies, get_window, hz_to_mel,  # noqa: F401
                       log_melspectrogram, mel_filters, mel_frequencies, mel_to_hz, melspectrogram,
                       mfcc, power_to_db, spectrogram, stft, stft_power)
from .music import (NOTE_NAMES, chroma_cqt, chroma_filters, chroma_stft, cq_to_chroma,  # noqa: F401
                    cqt, cqt_frequencies, cqt_magnitude, estimate_tuning, hz_to_midi, hz_to_octs,
                    onset_strength, piptrack, pitch_tuning)
from .prepare import (Augment, Clips, FeatureConfig, default_cache_dir, extract_clips,  # noqa: F401
                      extract_features, fix_length, normalize_input, normalize_loudness)
from . import datasets, instruments  # noqa: F401
from .datasets import FSDD, AudioFolder, DatasetError, SyntheticSounds  # noqa: F401
from .classifier import AudioClassifier, Recipe, train_classifier  # noqa: F401
from .descriptors import DescriptorConfig, Descriptors, extract_descriptors  # noqa: F401
from .descriptor_classifier import DescriptorClassifier, DescriptorMLP, train_descriptor_classifier  # noqa: F401
