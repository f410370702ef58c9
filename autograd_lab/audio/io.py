"""Reading sound files and changing their sample rate.

Decoding is libsndfile's, through `soundfile` (WAV in every PCM width and float,
FLAC, Ogg Vorbis, MP3, AIFF, ...). What we add: one error type that names the file
and says what is wrong with it, a check for truncated WAV files (libsndfile reads
them silently, short), down-mixing, and polyphase resampling (scipy's
`resample_poly`, a Kaiser-windowed FIR filter applied at the rational rate ratio).
"""
from __future__ import annotations

import os
import re
from fractions import Fraction

import numpy as np

#: File extensions that `load` and the datasets accept (what libsndfile decodes).
AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au")


class AudioFileError(ValueError):
    """A sound file that cannot be used: missing, empty, truncated, not audio, or silent-empty."""


class MissingAudioFileError(AudioFileError, FileNotFoundError):
    """The path does not exist (also a FileNotFoundError)."""


# libsndfile's log says "data : 16000 (should be 7978)" when a WAV's data chunk
# claims more bytes than the file holds.
_SHORT_DATA_CHUNK = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


class _QuietDecoder:
    """Silence what decoders print straight to the process's stderr (mpg123's "Note: Illegal
    Audio-MPEG-Header ..." lines) while a file is opened and read: the error we raise says
    what went wrong, once, with the file's name."""

    def __enter__(self):
        import sys
        try:
            sys.stderr.flush()
            self.saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        except OSError:                       # no usable fd 2 (embedded interpreters): leave it be
            self.saved = None
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            os.dup2(self.saved, 2)
            os.close(self.saved)
        return False


def info(path):
    """(sample rate, channels, frames, format description) of a sound file, without reading it."""
    import soundfile as sf
    path = _check_path(path)
    try:
        with _QuietDecoder(), sf.SoundFile(path) as f:
            return f.samplerate, f.channels, f.frames, f"{f.format_info}, {f.subtype_info}"
    except sf.LibsndfileError as exc:
        raise AudioFileError(f"{path}: not a readable sound file ({_reason(exc)})") from None


def load(path, sr=None, mono=True, dtype=np.float32):
    """Read a sound file -> (samples, sample rate).

    Samples are float32 in [-1, 1] (PCM is scaled by libsndfile; float files are
    returned as stored). `mono=True` averages the channels, giving shape (n,);
    otherwise the shape is (channels, n), as in librosa. `sr` resamples to that
    rate; None keeps the file's rate.

    >>> import autograd_lab as al, numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> al.audio.save(path, np.full(800, 0.5, np.float32), 8000)
    >>> y, sr = al.audio.load(path, sr=16000)
    >>> y.shape, sr, y.dtype
    ((1600,), 16000, dtype('float32'))
    """
    import soundfile as sf
    path = _check_path(path)
    with _QuietDecoder():
        try:
            f = sf.SoundFile(path)
        except sf.LibsndfileError as exc:
            raise AudioFileError(f"{path}: not a readable sound file ({_reason(exc)})") from None
        with f:
            log, rate = f.extra_info, f.samplerate
            try:
                samples = f.read(dtype="float32", always_2d=True)     # (frames, channels)
            except (sf.LibsndfileError, RuntimeError) as exc:       # the decoder failed mid-stream
                raise AudioFileError(f"{path}: the audio data is corrupt or truncated "
                                     f"({_reason(exc)})") from None
    short = _SHORT_DATA_CHUNK.search(log)
    if short and int(short.group(2)) < int(short.group(1)):
        raise AudioFileError(f"{path}: truncated: the header announces {short.group(1)} bytes of "
                             f"audio but the file holds {short.group(2)}")
    if samples.shape[0] == 0:
        raise AudioFileError(f"{path}: contains no audio samples (zero length)")
    if not np.all(np.isfinite(samples)):
        raise AudioFileError(f"{path}: contains NaN or infinite samples")
    y = samples.mean(axis=1) if mono else samples.T
    if sr is not None and sr != rate:
        y = resample(y, rate, sr)
        rate = sr
    return np.ascontiguousarray(y, dtype=dtype), int(rate)


def save(path, y, sr, subtype=None):
    """Write samples ((n,) or (channels, n)) to a file; the format follows the extension.

    `subtype` as in soundfile ("PCM_16", "PCM_24", "FLOAT", "VORBIS", ...); None is the
    format's default.
    """
    import soundfile as sf
    y = np.asarray(y)
    sf.write(os.fspath(path), y.T if y.ndim == 2 else y, int(sr), subtype=subtype)


def resample(y, orig_sr, target_sr, axis=-1):
    """Change the sample rate with a polyphase FIR filter (anti-aliased).

    The ratio target/orig is reduced to a fraction up/down; the signal is upsampled by
    `up`, low-pass filtered (Kaiser window, beta 5) and downsampled by `down` in one pass.
    The output has ceil(n * target / orig) samples.

    >>> import autograd_lab as al, numpy as np
    >>> al.audio.resample(np.ones(8000, np.float32), 8000, 22050).shape
    (22050,)
    """
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"resample: sample rates must be positive, got {orig_sr} -> {target_sr}")
    y = np.asarray(y)
    if orig_sr == target_sr:
        return y
    from scipy.signal import resample_poly           # only here: importing scipy.signal takes ~1 s
    ratio = Fraction(int(target_sr), int(orig_sr)) if float(orig_sr).is_integer() and \
        float(target_sr).is_integer() else Fraction(target_sr / orig_sr).limit_denominator(10_000)
    out = resample_poly(y, ratio.numerator, ratio.denominator, axis=axis)
    return out.astype(y.dtype if y.dtype.kind == "f" else np.float32, copy=False)


def _check_path(path) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise MissingAudioFileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise AudioFileError(f"{path}: is a folder, not a sound file")
    if os.path.getsize(path) == 0:
        raise AudioFileError(f"{path}: the file is empty (0 bytes)")
    return path


def _reason(exc) -> str:
    text = str(getattr(exc, "error_string", "") or exc)
    if "Format not recognised" in text or "unknown format" in text.lower():
        return "format not recognised: not audio, or a format libsndfile does not know"
    if "malformed" in text:
        return "the file is malformed or truncated"
    if "does not exist" in text:
        # libsndfile's words when a decoder (mpg123 for .mp3) gives up on a file that does exist
        return "the decoder could not parse it: corrupt, or not the format its extension says"
    return text
