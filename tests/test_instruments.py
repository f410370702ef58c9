"""The rendered instrument data set: MIDI written by hand, FluidSynth, the CLI."""
import os
import shutil
import struct

import numpy as np
import pytest
import soundfile

from autograd_lab import cli
from autograd_lab.audio import instruments
from autograd_lab.audio.instruments import INSTRUMENTS, InstrumentDataError, Note, midi_bytes

# .ci/run installs FluidSynth and the banks, so there these tests must run, not skip.
needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None and not os.environ.get("AUTOGRAD_LAB_REQUIRE_FLUIDSYNTH"),
    reason="FluidSynth is not installed (apt-get install fluidsynth timgm6mb-soundfont)")


def _read_variable_length(data, i):
    value = 0
    while True:
        byte = data[i]
        i += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, i


def _parse(data):
    """Our own minimal reader: (header fields, [(absolute tick, event bytes)])."""
    assert data[:4] == b"MThd"
    length, fmt, n_tracks, division = struct.unpack(">IHHH", data[4:14])
    assert data[14:18] == b"MTrk"
    (track_length,) = struct.unpack(">I", data[18:22])
    track, i, now, events = data[22:22 + track_length], 0, 0, []
    assert len(track) == track_length
    while i < len(track):
        delta, i = _read_variable_length(track, i)
        now += delta
        if track[i] == 0xFF:
            kind, size = track[i + 1], track[i + 2]
            events.append((now, bytes(track[i:i + 3 + size])))
            i += 3 + size
        else:
            size = 2 if track[i] & 0xF0 == 0xC0 else 3
            events.append((now, bytes(track[i:i + size])))
            i += size
    return (length, fmt, n_tracks, division), events


def test_midi_file_structure_and_timing():
    notes = [Note(60, 0.0, 0.5, 100), Note(64, 0.5, 0.25, 80), Note(67, 2.0, 10.0, 1)]
    header, events = _parse(midi_bytes({0: (40, notes), 3: (73, [Note(72, 0.25, 0.5, 64)])}))
    assert header == (6, 0, 1, 480)
    assert events[0] == (0, b"\xff\x51\x03\x07\xa1\x20")            # 500,000 us a beat
    assert (0, b"\xc0\x28") in events and (0, b"\xc3\x49") in events  # programs 40 and 73
    ticks = {e: t for t, e in events}
    assert ticks[b"\x90\x3c\x64"] == 0 and ticks[b"\x80\x3c\x00"] == 480       # 0.5 s at 120 bpm
    assert ticks[b"\x93\x48\x40"] == 240
    assert ticks[b"\x80\x43\x00"] == 960 * 12                                   # a long delta: 3 bytes
    # the note-off at 0.5 s comes before the next note-on at the same tick
    order = [e for _, e in events]
    assert order.index(b"\x80\x3c\x00") < order.index(b"\x90\x40\x50")
    assert events[-1][1] == b"\xff\x2f\x00"


def test_midi_refuses_the_percussion_channel_and_bad_programs():
    with pytest.raises(ValueError, match="channel 9"):
        midi_bytes({9: (0, [])})
    with pytest.raises(ValueError, match="program 128"):
        midi_bytes({0: (128, [])})


def test_melodies_stay_in_range_and_follow_the_seed():
    for name, (_, low, high) in INSTRUMENTS.items():
        rng = np.random.default_rng(3)
        for _ in range(50):
            melody = instruments.random_melody(rng, low, high)
            assert 2 <= len(melody) <= 5
            assert all(low <= n.pitch <= high and 1 <= n.velocity <= 127 for n in melody), name
    a = instruments.random_melody(np.random.default_rng(7), 40, 80)
    b = instruments.random_melody(np.random.default_rng(7), 40, 80)
    assert a == b


def test_missing_fluidsynth_and_soundfont_say_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(instruments.shutil, "which", lambda name: None)
    with pytest.raises(InstrumentDataError, match="apt-get install fluidsynth"):
        instruments.make_instruments(tmp_path / "x", per_class=1)
    monkeypatch.setitem(instruments.SOUNDFONTS, "nowhere", (str(tmp_path / "no.sf2"), "some-soundfont"))
    with pytest.raises(InstrumentDataError, match="apt-get install some-soundfont"):
        instruments.resolve_soundfont("nowhere")
    with pytest.raises(InstrumentDataError, match="does not exist"):
        instruments.resolve_soundfont(str(tmp_path / "missing.sf2"))


@needs_fluidsynth
def test_cli_renders_eight_class_folders_deterministically(tmp_path, capsys):
    for run in ("a", "b"):
        assert cli.main(["data", "instruments", "--out", str(tmp_path / run), "--per-class", "2",
                         "--seed", "5", "--quiet"]) == 0
    assert "autograd-lab train --data" in capsys.readouterr().out
    folders = sorted(p.name for p in (tmp_path / "a").iterdir() if p.is_dir())
    assert folders == sorted(INSTRUMENTS)
    for name in INSTRUMENTS:
        for k in range(2):
            relative = os.path.join(name, f"{name}_{k:03d}.wav")
            y, sr = soundfile.read(tmp_path / "a" / relative)
            assert sr == 22050 and y.ndim == 1
            assert 0.3 < len(y) / sr < 6.0, relative                 # 2-5 notes and a release
            assert np.abs(y).max() > 0.01, relative                   # the instrument sounded
            assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes()


@needs_fluidsynth
def test_cli_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert cli.main(["data", "instruments", "--out", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert cli.main(["data", "instruments", "--out", str(tmp_path / "o"), "--soundfont", "nope.sf2"]) == 2
    assert "does not exist" in capsys.readouterr().err


def _descriptor_script():
    """docs/instrument_descriptors.py, the study of what tells the instruments apart."""
    import importlib.util
    path = os.path.join(os.path.dirname(__file__), "..", "docs", "instrument_descriptors.py")
    spec = importlib.util.spec_from_file_location("instrument_descriptors", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_harmonic_profile_reads_the_levels_of_a_tones_harmonics():
    librosa = pytest.importorskip("librosa")
    study = _descriptor_script()
    sr, f0 = 22050, 220.0
    amplitudes = np.array([1.0, 0.5, 0.25, 0.1, 0.05, 0.03])
    t = np.arange(sr) / sr
    y = sum(a * np.sin(2 * np.pi * f0 * (k + 1) * t) for k, a in enumerate(amplitudes))
    cqt = np.abs(librosa.cqt(y, sr=sr, hop_length=256, fmin=librosa.note_to_hz("C2"),
                             n_bins=7 * 36, bins_per_octave=36)) ** 2
    level = librosa.power_to_db(cqt, top_db=80.0)
    middle = np.arange(20, 60)                       # away from the edges of the clip
    assert np.all(study.fundamental_bins(level)[middle] == round(36 * np.log2(f0 / librosa.note_to_hz("C2"))))
    profile = study.harmonic_profile(level, middle).mean(0)
    expected = 20 * np.log10(amplitudes[[0, 1, 3]])   # harmonics 1, 2, 4 fall exactly on bins
    np.testing.assert_allclose(profile[[0, 1, 3]], expected, atol=1.0)
    assert profile[7] <= -40                           # harmonic 8 is not there
    assert len(study.descriptors(y, sr)) == len(study.DESCRIPTOR_NAMES)


@pytest.mark.skipif(not os.path.isfile(instruments.SOUNDFONTS["timgm6mb"][0]), reason="TimGM6mb is not installed")
def test_soundfont_zones_show_timgm6mbs_violin_is_a_looped_single_cycle():
    zones = _descriptor_script().soundfont_zones(instruments.SOUNDFONTS["timgm6mb"][0], {40, 56})
    violin_preset, violin = zones[40]
    assert violin_preset == "Violin" and len(violin) >= 5
    # each violin sample is a few periods of attack and a loop of about one period
    assert all(seconds < 0.05 and loop < 0.005 for *_, seconds, loop in violin)
    trumpet = zones[56][1]
    assert all(seconds > 0.5 for *_, seconds, loop in trumpet)     # the trumpet is really recorded
    assert min(low for _, low, *_ in violin) == 0 and max(high for _, _, high, *_ in violin) == 108
