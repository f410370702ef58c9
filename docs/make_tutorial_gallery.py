"""Run every tutorial in full, time them, and put their figures in the gallery.

    python docs/make_tutorial_gallery.py [--quick] [--only 12 ...]

Figures are copied to docs/gallery/tutorials/ (SVG drawings are skipped: each has a
PNG twin), and the "Tutorials" section of docs/gallery.md, between its two marker
comments, is rewritten with one entry per tutorial: its title, run time and images.
`--only NN` runs just those tutorials and replaces (or adds) just their entries.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
START, END = "<!-- tutorials:start -->", "<!-- tutorials:end -->"


def title_of(script):
    with open(script) as f:
        for line in f:
            if line.startswith("# # "):
                return line[4:].strip()
    return os.path.basename(script)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="run the tutorials with --quick")
    parser.add_argument("--only", action="append", default=None, metavar="NN",
                        help="run only tutorial NN (e.g. 12) and update only its entry; repeatable")
    args = parser.parse_args()
    target = os.path.join(DOCS, "gallery", "tutorials")
    os.makedirs(target, exist_ok=True)
    scripts = sorted(glob.glob(os.path.join(ROOT, "tutorials", "[0-9][0-9]_*.py")))
    if args.only:
        wanted = {f"{int(n):02d}" for n in args.only}
        scripts = [s for s in scripts if os.path.basename(s)[:2] in wanted]
        if len(scripts) != len(wanted):
            raise SystemExit(f"--only: no tutorial numbered {sorted(wanted)} in tutorials/")
    for old in glob.glob(os.path.join(target, "*.png")):
        if not args.only or os.path.basename(old)[:2] in wanted:
            os.unlink(old)
    sections, total = [], 0.0
    for script in scripts:
        out = tempfile.mkdtemp(prefix="tutorial-")
        start = time.perf_counter()
        subprocess.run([sys.executable, script, "--out", out] + (["--quick"] if args.quick else []),
                       check=True, cwd=ROOT, stdout=None if args.only else subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        total += seconds
        images = sorted(f for f in os.listdir(out) if f.endswith(".png"))
        for image in images:
            shutil.copy(os.path.join(out, image), os.path.join(target, image))
        shutil.rmtree(out)
        name = os.path.basename(script)
        print(f"{name}: {seconds:.0f} s, {len(images)} figures", flush=True)
        lines = [f"### {title_of(script)}", "",
                 f"`python tutorials/{name}` ({seconds:.0f} s)", ""]
        lines += [f"![{image}](gallery/tutorials/{image})" for image in images]
        sections.append("\n".join(lines))
    mode = "with --quick" if args.quick else "in full"
    header = (f"All {len(sections)} tutorials, run {mode} one after the other by "
              f"`python docs/make_tutorial_gallery.py`: {total:.0f} s in all on the 2-core "
              "development machine.")
    gallery = os.path.join(DOCS, "gallery.md")
    with open(gallery) as f:
        text = f.read()
    if args.only and START in text:         # keep the other entries, replace or add these
        old_block = text[text.index(START) + len(START):text.index(END)].strip()
        old_header, _, rest = old_block.partition("\n\n### ")
        entries = {e.split(".", 1)[0]: "### " + e.strip() for e in rest.split("\n\n### ") if e.strip()}
        for section in sections:
            entries[section[4:].split(".", 1)[0]] = section
        sections = [entries[k] for k in sorted(entries, key=int)]
        header = (f"All {len(sections)} tutorials, each run {mode} by `python docs/make_tutorial_gallery.py` "
                  "(`--only NN` for one), with its time on the 2-core development machine.")
    print(header)
    block = f"{START}\n{header}\n\n" + "\n\n".join(sections) + f"\n{END}"
    if START in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n## Tutorials\n\n" + block + "\n"
    with open(gallery, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
