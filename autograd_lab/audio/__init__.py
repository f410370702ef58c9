"""Audio: ready-made models for log-mel spectrogram input (file I/O and features to come)."""
from .models import AudioCNN, AudioMLP  # noqa: F401
