# %% [markdown]
# # 12. Music: constant-Q and chroma, and which instrument is playing
#
# Speech and environmental sounds are well served by a mel spectrogram. Music has its
# own structure: notes sit on a logarithmic grid (twelve semitones to the octave, each a
# factor 2^(1/12) in frequency), and a note played an octave higher is "the same" pitch
# class. Two front ends follow that structure: the **constant-Q transform** (CQT), whose
# bins are semitones, and the **chromagram**, which folds every octave onto the twelve
# pitch classes C, C#, ..., B. We look at both on melodies and chords rendered from real
# instrument samples, then train a classifier to tell eight instruments apart and ask
# the question that matters for music: does it hear the *instrument*, or the *recording*
# it learned from?
#
# It needs FluidSynth and two General-MIDI sample banks (on Debian/Ubuntu:
# `apt-get install fluidsynth timgm6mb-soundfont musescore-general-soundfont-small`).
#
#     python tutorials/12_music.py [--out DIR] [--quick]

# %%
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import saved, setup  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.ndimage import uniform_filter  # noqa: E402

import autograd_lab as al  # noqa: E402
from autograd_lab.audio import instruments  # noqa: E402
from autograd_lab.audio.classifier import AudioClassifier, Recipe  # noqa: E402
from autograd_lab.audio.descriptors import music_likeness  # noqa: E402
from autograd_lab.audio.survey import choose_features, survey  # noqa: E402
from autograd_lab.viz import plots  # noqa: E402

args = setup(__doc__)
work = tempfile.mkdtemp(prefix="tutorial12_")
sr = instruments.SAMPLE_RATE                     # 22,050 Hz


def render(notes_by_program, name):
    """Render {General-MIDI program: [Note, ...]} with the default bank (TimGM6mb)."""
    path = os.path.join(work, name + ".mid")
    tracks = {channel: (program, notes) for channel, (program, notes) in enumerate(notes_by_program.items())}
    with open(path, "wb") as f:
        f.write(instruments.midi_bytes(tracks))
    return instruments.render_midi(path, instruments.resolve_soundfont("timgm6mb"))


def note_name(midi):
    return f"{al.audio.NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


# %% [markdown]
# ## A melody: waveform, STFT, CQT, chroma
# Eight notes of a C-major tune on the piano (MIDI program 0), written as a MIDI file
# and rendered by FluidSynth from the bank's piano samples.

# %%
tune = [60, 62, 64, 67, 65, 64, 62, 72]                           # C4 D4 E4 G4 F4 E4 D4 C5
melody = [instruments.Note(p, 0.3 * k, 0.28, 100) for k, p in enumerate(tune)]
y = render({0: melody}, "melody")
y = y[: int(sr * (0.3 * len(tune) + 0.5))]
print(f"melody: {' '.join(note_name(p) for p in tune)}; {len(y)} samples at {sr} Hz = {len(y) / sr:.2f} s")

# %% [markdown]
# The STFT (tutorial 8) has bins every sr / n_fft = 10.8 Hz: far apart on the
# piano's low notes (C2 and C#2 are 4 Hz apart), needlessly fine on its high ones. The
# CQT uses one filter per semitone, from C1 (32.7 Hz) up, each as long as it must be to
# resolve its semitone (long at the bottom, short at the top): 84 bins are seven
# octaves. Each note shows as a line at its pitch and lines at its harmonics, 12, 19,
# 24, 28 semitones above (2x, 3x, 4x, 5x the fundamental). The chromagram sums the CQT
# over octaves into twelve pitch classes and scales each frame by its largest class.

# %%
hop = 512
D = al.audio.stft(y, n_fft=2048, hop_length=hop)
stft_db = al.audio.amplitude_to_db(np.abs(D), ref=np.max)
C = np.abs(al.audio.cqt(y, sr=sr, hop_length=hop))                 # (84, frames), C1 .. B7
cqt_db = al.audio.amplitude_to_db(C, ref=np.max)
chroma = al.audio.chroma_cqt(y=y, sr=sr, hop_length=hop)
print(f"STFT {D.shape}, CQT {C.shape} (C1 = {al.audio.cqt_frequencies(1)[0]:.1f} Hz, one bin per semitone), "
      f"chroma {chroma.shape}")
seconds = len(y) / sr
fig, axes = plt.subplots(4, 1, figsize=(10, 11), layout="constrained",
                         gridspec_kw={"height_ratios": [1, 2, 2, 1.3]})
axes[0].plot(np.arange(len(y)) / sr, y, lw=0.4)
axes[0].set_xlim(0, seconds); axes[0].set_ylabel("amplitude"); axes[0].set_title("waveform: piano melody")
freqs = al.audio.fft_frequencies(sr=sr, n_fft=2048)
shown = freqs <= 4000
axes[1].imshow(stft_db[shown], origin="lower", aspect="auto", cmap="magma", vmin=-80,
               extent=[0, seconds, 0, freqs[shown][-1]])
axes[1].set_ylabel("frequency (Hz)"); axes[1].set_title("STFT (dB), linear frequency up to 4 kHz")
axes[2].imshow(cqt_db, origin="lower", aspect="auto", cmap="magma", vmin=-80, extent=[0, seconds, -0.5, 83.5])
octaves = np.arange(0, 84, 12)
axes[2].set_yticks(octaves, [f"C{1 + k // 12}" for k in octaves])
axes[2].set_ylabel("note"); axes[2].set_title("constant-Q transform (dB): one bin per semitone; cyan: under each note's fundamental")
for k, p in enumerate(tune):                     # the fundamental of each note, drawn just below it
    axes[2].plot([0.3 * k + 0.02, 0.3 * k + 0.26], [p - 24 - 1] * 2, color="cyan", lw=2)
axes[3].imshow(chroma, origin="lower", aspect="auto", cmap="viridis", extent=[0, seconds, -0.5, 11.5])
axes[3].set_yticks(range(12), al.audio.NOTE_NAMES)
axes[3].set_title("chroma (CQT folded onto pitch classes)"); axes[3].set_xlabel("time (s)")
saved(plots.save(fig, os.path.join(args.out, "12_melody.png")))

# %% [markdown]
# ## Chords
# Four chords on the piano, one second each: C major (C E G), A minor (A C E), G7 (G B D F)
# and F major (F A C). A chord's chroma lights its notes, whatever their octave and
# order: this is what chord recognisers and cover-song detectors start from. The chroma
# from the STFT (`chroma_stft`, each FFT bin given to its nearest pitch class) is blurrier
# at low notes than the one from the CQT.

# %%
chords = {"C": [48, 60, 64, 67], "Am": [45, 57, 60, 64], "G7": [43, 59, 62, 65], "F": [41, 57, 60, 65]}
notes = [instruments.Note(p, 1.0 * k, 0.9, 90) for k, pitches in enumerate(chords.values()) for p in pitches]
y_chords = render({0: notes}, "chords")[: int(sr * (len(chords) + 0.3))]
chroma_c = al.audio.chroma_cqt(y=y_chords, sr=sr, hop_length=hop)
chroma_s = al.audio.chroma_stft(y=y_chords, sr=sr, hop_length=hop)
frame_seconds = hop / sr
fig, axes = plt.subplots(1, 3, figsize=(14, 4), layout="constrained", gridspec_kw={"width_ratios": [2, 2, 1.2]})
for ax, image, title in ((axes[0], chroma_s, "chroma_stft"), (axes[1], chroma_c, "chroma_cqt")):
    ax.imshow(image, origin="lower", aspect="auto", cmap="viridis",
              extent=[0, image.shape[1] * frame_seconds, -0.5, 11.5])
    ax.set_yticks(range(12), al.audio.NOTE_NAMES); ax.set_xlabel("time (s)")
    ax.set_title(title, pad=18)
    for k, name in enumerate(chords):
        ax.text(k + 0.45, 11.7, name, ha="center", va="bottom", fontsize=10)
found, means = {}, []
for k, (name, pitches) in enumerate(chords.items()):
    frames = slice(int((k + 0.1) / frame_seconds), int((k + 0.8) / frame_seconds))
    mean = chroma_c[:, frames].mean(axis=1)
    top = {al.audio.NOTE_NAMES[i] for i in np.argsort(mean)[-len(set(p % 12 for p in pitches)):]}
    found[name] = top
    means.append(mean)
    print(f"  {name:3s} notes {sorted({al.audio.NOTE_NAMES[p % 12] for p in pitches})}: "
          f"strongest chroma {sorted(top)}")
axes[2].imshow(np.stack(means, axis=1), origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=1)
for k, (name, pitches) in enumerate(chords.items()):          # a dot on each note the chord plays
    played = sorted({p % 12 for p in pitches})
    axes[2].scatter([k] * len(played), played, s=18, color="red", zorder=3)
axes[2].set_xticks(range(len(chords)), list(chords)); axes[2].set_yticks(range(12), al.audio.NOTE_NAMES)
axes[2].set_title("mean chroma_cqt per chord\n(red: the chord's notes)", fontsize=10)
saved(plots.save(fig, os.path.join(args.out, "12_chords.png")))

# %% [markdown]
# ## Which instrument is playing?
# `autograd-lab data instruments` writes short melodies of eight General-MIDI instruments
# (piano, marimba, organ, guitar, violin, trumpet, saxophone, flute), rendered from a
# sample bank; here it is called from Python, once with TimGM6mb (to train on) and once
# with MuseScore's bank (other recordings of the same instruments, other melodies). We
# train what `autograd-lab train --data FOLDER` trains, with its choices: fold 0 of a
# stratified 5-fold split held out as the test set, and the model picked from the data.
# Its clips hold steady pitched notes, so it is music, and for music the command line
# does not train a CNN on spectrogram images but describes each clip by what a listener
# would name (`al.audio.DescriptorConfig`): its timbre (MFCC means and spreads), the
# levels of its harmonics 1-16 relative to the loudest, read at the detected fundamental
# so that they do not move with the note played, and its envelope (attack, decay). A
# forest of extremely randomised trees learns the instruments from those 75 numbers.

# %%
per_class, epochs = (6, 4) if args.quick else (50, 30)
start = time.perf_counter()
bank_a, bank_b = os.path.join(work, "timgm6mb"), os.path.join(work, "musescore")
instruments.make_instruments(bank_a, "timgm6mb", per_class=per_class, seed=1, progress=False)
instruments.make_instruments(bank_b, "musescore", per_class=max(per_class // 2, 3), seed=2, progress=False)
folder, other = al.audio.AudioFolder(bank_a), al.audio.AudioFolder(bank_b)
print(f"{len(folder)} melodies from TimGM6mb, {len(other)} from MuseScore's bank, "
      f"rendered in {time.perf_counter() - start:.0f} s")
train_idx, test_idx = folder.kfold(5, seed=0)[0]
music, why = music_likeness(folder.subset(train_idx))
print(f"music-like: {music} ({why})")
described = al.audio.train_descriptor_classifier(folder.subset(train_idx), folder.subset(test_idx),
                                                 out=os.path.join(work, "descriptors"), progress=False,
                                                 log=print, write_files=False)
model = AudioClassifier.load(os.path.join(work, "descriptors", "model.safetensors"))
found_b = model.extract(other, progress=False)
y_b = np.asarray([model.classes.index(other.classes[c]) for c in found_b.y])
d_within, d_across = described["test"]["accuracy"], model.evaluate_clips(found_b, y_b)
print(f"descriptor model, trained in {described['seconds']:.0f} s: held-out melodies of the same bank "
      f"{d_within:.3f} ({described['test']['n']} clips); MuseScore's bank {d_across['accuracy']:.3f} "
      f"({d_across['n']} clips)")

# %% [markdown]
# What the trees see: the harmonic profile of each instrument, averaged over its clips, in
# both banks. Where the two lines agree (the organ's strong even harmonics, the trumpet's
# flat start, the violin's steady fall), what is learnt from one bank holds in the other;
# where they do not (how far the trumpet's upper harmonics reach, the piano's levels; over
# 50 melodies per class TimGM6mb's saxophone is as bright as a trumpet and MuseScore's
# mellow, docs/audio.md), no model trained on one bank can know the other's instrument.

# %%
found_a = model.extract(folder, progress=False)
h = model.config.groups()["harmonics"]
harmonics = np.arange(1, model.config.n_harmonics + 1)
fig, axes = plt.subplots(2, 4, figsize=(14, 5.5), layout="constrained", sharey=True)
for ax, name in zip(axes.ravel(), model.classes):
    for found, dataset, label, style in ((found_a, folder, "TimGM6mb", "-o"), (found_b, other, "MuseScore", "--s")):
        rows = found.X[found.y == dataset.classes.index(name)]
        ax.plot(harmonics, rows[:, h][:, :len(harmonics)].mean(0), style, ms=3, label=label)
    ax.set_title(name)
    ax.set_xlabel("harmonic")
    ax.set_ylim(-62, 3)
for ax in axes[:, 0]:
    ax.set_ylabel("dB below the loudest")
axes[0, 0].legend(fontsize=8)
fig.suptitle("harmonic profile at the detected fundamental, mean per instrument and bank")
saved(plots.save(fig, os.path.join(args.out, "12_harmonics.png")))

# %% [markdown]
# ## For comparison: a CNN on the constant-Q spectrogram
# The command line trains a CNN for speech and sound events (`--model cnn` asks for it on
# music too). Here it gets the constant-Q front end (`--front-end cqt`): the log-CQT of
# each melody, 84 semitones by 23-ms frames, so a note played higher is the same pattern
# moved up, and global average pooling over frequency and time cares little where it sits.

# %%
config, reasons = choose_features(survey(folder), {"front_end": "cqt"})
metrics = al.audio.train_classifier(folder.subset(train_idx), folder.subset(test_idx), config=config,
                                    epochs=epochs, recipe=Recipe(), out=os.path.join(work, "run"),
                                    progress=False, log=lambda *_: None, write_files=False)
classifier = AudioClassifier.load(os.path.join(work, "run", "model.safetensors"))
within = metrics["test"]["accuracy"]
clips = al.audio.extract_clips(other, config, progress=False)
y_other = np.asarray([classifier.classes.index(other.classes[c]) for c in clips.y])
across = classifier.evaluate_clips(clips, y_other)
print(f"CNN on the CQT, {epochs} epochs in {metrics['seconds']:.0f} s (best epoch {metrics['best_epoch']}): "
      f"same bank {within:.3f}, MuseScore's bank {across['accuracy']:.3f}")

# %% [markdown]
# ## The confusion matrices
# The held-out melodies come from the same sample bank as the training melodies: the
# same recording of each instrument, other notes. The real test is the other bank:
# MuseScore's General-MIDI bank recorded other pianos, violins and saxophones, with
# other microphones, in other rooms.

# %%
fig, axes = plt.subplots(1, 3, figsize=(19, 5.8), layout="constrained")
plots.confusion_matrix(np.asarray(described["test"]["confusion"]), model.classes, ax=axes[0],
                       title=f"descriptors, same bank (TimGM6mb): {d_within:.2f}")
plots.confusion_matrix(np.asarray(d_across["confusion"]), model.classes, ax=axes[1],
                       title=f"descriptors, other bank (MuseScore): {d_across['accuracy']:.2f}")
plots.confusion_matrix(np.asarray(across["confusion"]), classifier.classes, ax=axes[2],
                       title=f"CNN on the CQT, other bank (MuseScore): {across['accuracy']:.2f}")
saved(plots.save(fig, os.path.join(args.out, "12_confusion.png")))

# %% [markdown]
# ## What does the classifier listen to?
# The trees' evidence is a few numbers per clip; the CNN's is a picture, and gradient
# saliency (tutorial 10) shows where in it: the score of the predicted class, differentiated with
# respect to the input, the log-CQT, for one melody of three instruments from the *other*
# bank. Where is it large: on the attacks of the notes, along their harmonics, or in
# the high bins where the two banks differ most?

# %%
picks = [classifier.classes.index(name) for name in ("marimba", "violin", "saxophone")]
fig, axes = plt.subplots(2, 3, figsize=(14, 6), layout="constrained")
seconds = config.n_frames * config.hop_length / config.sr
for column, k in enumerate(picks):
    i = int(np.flatnonzero(clips.y == other.classes.index(classifier.classes[k]))[0])
    window = clips.centre([i])
    x = al.tensor(classifier.scale(window), requires_grad=True)
    classifier.model.eval()
    scores = classifier.model(x)
    winner = int(np.argmax(scores.data))
    scores[0, winner].backward()
    # the raw gradient speckles from bin to bin (max pooling passes it to one input of four);
    # its local mean over 3 x 3 bins shows where the evidence lies
    saliency = uniform_filter(np.abs(x.grad[0, 0]), size=3)
    cqt_input = config.front_end == "cqt"
    rows = [-0.5, config.n_bands - 0.5] if cqt_input else [0, config.n_bands]
    axes[0, column].imshow(window[0, 0], origin="lower", aspect="auto", cmap="magma", extent=[0, seconds, *rows])
    axes[0, column].set_title(f"{classifier.classes[k]} (MuseScore): predicted {classifier.classes[winner]}")
    axes[1, column].imshow(saliency, origin="lower", aspect="auto", cmap="hot", extent=[0, seconds, *rows])
    axes[1, column].set_title("|d score / d input|, mean over 3 x 3 bins")
    for ax in axes[:, column]:
        ax.set_xlabel("time (s)")
        if cqt_input:                # bin k is k semitones above C1 (with 12 bins per octave)
            octaves = np.arange(0, config.n_bands, config.bins_per_octave)
            ax.set_yticks(octaves, [f"C{1 + i // config.bins_per_octave}" for i in octaves])
            ax.set_ylabel("note (CQT bin)")
        else:
            ax.set_ylabel("mel band")
saved(plots.save(fig, os.path.join(args.out, "12_saliency.png")))

# %% [markdown]
# In the full run (docs/gallery.md) the marimba's score is most sensitive along its
# attacks, the moments that tell a struck bar from a blown or bowed note. The violin,
# heard as a flute, is another story: its score reacts most in the lowest two octaves,
# C1 to C3, where MuseScore's violin samples carry a rumble below any note being played
# (see the spectrogram above it): averaged over 20 melodies, those two octaves lie 48 dB
# below each clip's loudest bin in MuseScore's violins and 71 dB below in TimGM6mb's. The
# network weighs a trait of one recording, not of violins. It is not the only one: a
# network that never sees those bands still hears these violins as trumpets and flutes
# (docs/audio.md).

# %% [markdown]
# ## The cross-bank experiment, measured
# With 50 melodies per instrument and bank, `autograd-lab train --data BANK` (fold 0 of 5
# held out: *within*) and `autograd-lab evaluate --data OTHER --split all` (*across*);
# table, commands and every variant tried in docs/audio.md:
#
# | trained on | model | within | across |
# |---|---|---|---|
# | TimGM6mb | CNN on log-mel (the default before music was told apart) | 0.988 | 0.613 (MuseScore) |
# | MuseScore | CNN on log-mel | 0.912 | 0.632 (TimGM6mb) |
# | TimGM6mb | descriptors + 1000 extremely randomised trees (the default for music now) | 1.000 | 0.79 (MuseScore) |
# | MuseScore | descriptors + trees | 1.000 | 0.85 (TimGM6mb) |
#
# (The descriptor rows: the mean over three training seeds.) The CNN is nearly perfect on
# new melodies from the bank it learned from and about 0.6 on the other (chance is
# 0.125): it learns these *recordings* as much as the instruments, and nothing tried on
# its input (stronger colouring, filtering, reverberation, the constant-Q input with or
# without transpositions, coarser bands) moved that. Describing each clip by its harmonic
# profile at the fundamental, its timbre and envelope, and letting many randomised trees
# vote, carries over much better, but not all the way: MuseScore's trumpets are heard as
# saxophones and its saxophones as trumpets, because the two banks disagree about how
# bright a saxophone is (the harmonic profiles above), and TimGM6mb's violin is a static
# loop without vibrato or bow noise. Each bank holds one recording per instrument, so the
# training data shows one violin; more recordings of each instrument (several banks,
# players, rooms) are what the rest would take. This run's figures (quick: a few melodies,
# far from converged; the other bank's test set has half as many melodies per instrument):

# %%
mode = "quick: few melodies and epochs, far from converged" if args.quick else "full run"
print(f"this run ({mode}): descriptors within {d_within:.3f}, across {d_across['accuracy']:.3f}; "
      f"CNN on the CQT within {within:.3f}, across {across['accuracy']:.3f}")
