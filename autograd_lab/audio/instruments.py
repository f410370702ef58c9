"""A data set of instruments, rendered from real instrument samples.

`make_instruments(out_dir)` writes short melodies of eight General-MIDI instruments
into one folder per class, ready for `autograd-lab train --data out_dir`. Each melody
is written as a Standard MIDI File (a few dozen bytes, written here, no MIDI library)
and rendered by FluidSynth with a SoundFont: a bank of recorded instrument samples.
Two banks record different instruments, so training on one bank and testing on the
other asks whether a model hears the instrument or the recording.

FluidSynth and the SoundFonts are Debian packages (`fluidsynth`, `timgm6mb-soundfont`,
`musescore-general-soundfont-small`); without them the functions here say exactly
what to install. The same seed gives the same melodies and the same files.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 22050

# class name -> (General-MIDI program, lowest note, highest note): ranges kept inside
# what each instrument really plays, so the bank's samples for it are used.
INSTRUMENTS = {
    "piano": (0, 45, 84),
    "marimba": (12, 48, 84),
    "organ": (19, 43, 79),
    "guitar": (24, 40, 76),
    "violin": (40, 55, 91),
    "trumpet": (56, 55, 82),
    "saxophone": (65, 49, 80),
    "flute": (73, 60, 93),
}

# Names a user may give to --soundfont instead of a path, and where Debian puts them.
SOUNDFONTS = {
    "timgm6mb": ("/usr/share/sounds/sf2/TimGM6mb.sf2", "timgm6mb-soundfont"),
    "musescore": ("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3", "musescore-general-soundfont-small"),
}
DEFAULT_SOUNDFONT = "timgm6mb"


class InstrumentDataError(RuntimeError):
    """FluidSynth or a SoundFont is missing, or rendering failed."""


@dataclass(frozen=True)
class Note:
    pitch: int          # MIDI note number
    start: float        # seconds
    duration: float     # seconds
    velocity: int       # 1..127


def random_melody(rng: np.random.Generator, low: int, high: int) -> list:
    """2-5 notes within [low, high], mostly steps and small leaps, random lengths and
    velocities, with short rests between some of them."""
    n_notes = int(rng.integers(2, 6))
    pitch = int(rng.integers(low, high + 1))
    t, notes = 0.0, []
    for _ in range(n_notes):
        duration = float(rng.uniform(0.25, 0.7))
        notes.append(Note(pitch, round(t, 4), round(duration, 4), int(rng.integers(50, 121))))
        t += duration + float(rng.choice([0.0, 0.0, 0.05, 0.15]))
        pitch = int(np.clip(pitch + rng.integers(-7, 8), low, high))
    return notes


# ---- Standard MIDI File, format 0 ------------------------------------------------------
_TICKS_PER_BEAT = 480
_TEMPO_US = 500_000                         # 120 beats per minute: one beat is 0.5 s
_TICKS_PER_SECOND = _TICKS_PER_BEAT * 1_000_000 / _TEMPO_US


def _variable_length(value: int) -> bytes:
    """MIDI's variable-length quantity: 7 bits a byte, high bit set on all but the last."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def midi_bytes(tracks) -> bytes:
    """A format-0 MIDI file from {channel: (program, notes)}: tempo, one program change
    per channel, then every note-on/off in time order."""
    events = []                  # (tick, order, bytes): note-offs sort before note-ons at a tick
    header_events = bytearray(b"\x00\xff\x51\x03" + _TEMPO_US.to_bytes(3, "big"))
    for channel, (program, notes) in sorted(tracks.items()):
        if not 0 <= program <= 127 or not 0 <= channel <= 15 or channel == 9:
            # channel 10 (index 9) plays percussion in General MIDI, whatever the program
            raise ValueError(f"midi_bytes: need a program in 0..127 on a melodic channel, "
                             f"got program {program} on channel {channel}")
        header_events += b"\x00" + bytes([0xC0 | channel, program])
        for note in notes:
            on = round(note.start * _TICKS_PER_SECOND)
            off = round((note.start + note.duration) * _TICKS_PER_SECOND)
            events.append((on, 1, bytes([0x90 | channel, note.pitch, note.velocity])))
            events.append((off, 0, bytes([0x80 | channel, note.pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    track, now = header_events, 0
    for tick, _, data in events:
        track += _variable_length(tick - now) + data
        now = tick
    track += b"\x00\xff\x2f\x00"                   # end of track
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, _TICKS_PER_BEAT)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


# ---- rendering ---------------------------------------------------------------------------
def find_fluidsynth() -> str:
    path = shutil.which("fluidsynth")
    if path is None:
        raise InstrumentDataError(
            "rendering instruments needs FluidSynth, which is not installed; on Debian/Ubuntu: "
            "sudo apt-get install fluidsynth timgm6mb-soundfont musescore-general-soundfont-small")
    return path


def resolve_soundfont(soundfont=None) -> str:
    """A SoundFont path from a path or one of the names in SOUNDFONTS."""
    name = DEFAULT_SOUNDFONT if soundfont is None else str(soundfont)
    if name.lower() in SOUNDFONTS:
        path, package = SOUNDFONTS[name.lower()]
        if not os.path.isfile(path):
            raise InstrumentDataError(f"the SoundFont {name!r} is not installed (expected {path}); "
                                      f"on Debian/Ubuntu: sudo apt-get install {package}")
        return path
    if not os.path.isfile(name):
        known = ", ".join(SOUNDFONTS)
        raise InstrumentDataError(f"SoundFont {name!r} does not exist: give a .sf2/.sf3 file or one of {known}")
    return name


def render_midi(midi_path, soundfont, sample_rate=SAMPLE_RATE, fluidsynth=None) -> np.ndarray:
    """Render a MIDI file with FluidSynth; returns mono float32 samples."""
    import soundfile

    fluidsynth = fluidsynth or find_fluidsynth()
    with tempfile.TemporaryDirectory(prefix="autograd_lab_render_") as tmp:
        raw = os.path.join(tmp, "stereo.wav")
        # -n/-i: no MIDI input, no shell; -F: render to a file as fast as possible.
        # Reverb and chorus off: they differ between builds, and the data set should
        # carry the bank's sound, not the renderer's effects.
        cmd = [fluidsynth, "-n", "-i", "-q", "-R", "0", "-C", "0", "-g", "0.6",
               "-r", str(int(sample_rate)), "-T", "wav", "-O", "s16", "-F", raw, soundfont, str(midi_path)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0 or not os.path.exists(raw):
            message = (done.stderr or done.stdout).strip().splitlines()
            raise InstrumentDataError(f"fluidsynth could not render {midi_path} with {soundfont}: "
                                      f"{message[-1] if message else 'exit code ' + str(done.returncode)}")
        samples, _ = soundfile.read(raw, dtype="float32", always_2d=True)
    return samples.mean(axis=1)


# Melodies are rendered one after another in one long MIDI file, each in its own slot
# with this much silence after its last note-off for the release to ring out: loading
# a bank costs seconds (tens of seconds for a compressed .sf3), so it is loaded once.
_RELEASE_SECONDS = 1.0


def make_instruments(out_dir, soundfont=None, per_class=40, seed=0, sample_rate=SAMPLE_RATE,
                     progress=True) -> dict:
    """Write `per_class` rendered melodies for each of the eight instruments.

    Layout: out_dir/<instrument>/<instrument>_<k>.wav (16-bit mono), plus
    out_dir/manifest.json with the bank, the seed and every melody's notes. Returns the
    manifest. The melodies depend only on `seed`, so two banks rendered with the same
    seed play the same notes: only the recordings differ.

    >>> from autograd_lab.audio.instruments import INSTRUMENTS
    >>> {name: program for name, (program, low, high) in INSTRUMENTS.items()}["violin"]
    40
    """
    import soundfile
    from tqdm.auto import tqdm

    if int(per_class) < 1:
        raise ValueError(f"make_instruments: per_class must be at least 1, got {per_class}")
    fluidsynth = find_fluidsynth()
    bank = resolve_soundfont(soundfont)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InstrumentDataError(f"--out {out_dir} exists and is not a folder")
    rng = np.random.default_rng(seed)
    manifest = {"soundfont": os.path.basename(bank), "seed": seed, "sample_rate": sample_rate,
                "per_class": int(per_class), "clips": {}}
    tracks, slots, t = {}, [], 0.5
    for channel, (name, (program, low, high)) in enumerate(INSTRUMENTS.items()):
        channel = channel if channel < 9 else channel + 1
        notes_of_channel = []
        for k in range(int(per_class)):
            melody = random_melody(rng, low, high)
            length = max(n.start + n.duration for n in melody) + _RELEASE_SECONDS
            notes_of_channel += [Note(n.pitch, round(t + n.start, 4), n.duration, n.velocity) for n in melody]
            relative = f"{name}/{name}_{k:03d}.wav"
            slots.append((relative, t, t + length))
            manifest["clips"][relative] = [[n.pitch, n.start, n.duration, n.velocity] for n in melody]
            t = round(t + length + 0.25, 4)
        tracks[channel] = (program, notes_of_channel)
    with tempfile.TemporaryDirectory(prefix="autograd_lab_midi_") as tmp:
        midi = os.path.join(tmp, "melodies.mid")
        with open(midi, "wb") as f:
            f.write(midi_bytes(tracks))
        if progress:
            print(f"rendering {len(slots)} melodies with {manifest['soundfont']} (FluidSynth) ...", flush=True)
        audio = render_midi(midi, bank, sample_rate, fluidsynth)
    for name in INSTRUMENTS:
        os.makedirs(os.path.join(out_dir, name), exist_ok=True)
    for relative, begin, end in tqdm(slots, desc="writing", unit="clip", disable=not progress, leave=False):
        clip = audio[int(round(begin * sample_rate)):int(round(end * sample_rate))]
        loud = np.flatnonzero(np.abs(clip) > 1e-4)     # trim the silent end of the release
        clip = clip[:loud[-1] + 1 + sample_rate // 20] if loud.size else clip
        soundfile.write(os.path.join(out_dir, relative), clip, sample_rate, subtype="PCM_16")
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest
