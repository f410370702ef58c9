"""The onnxruntime-web cache of `export --web`: fetched into a folder beside the cache and renamed
into place in one step, so two processes fetching at once (two test workers, two exports) never
see or leave a half-written or nested folder. npm is replaced by a script that writes the tarball."""
import os
import sys
import threading

import pytest

from autograd_lab.interop import web

FAKE_NPM = """#!{python}
import io, os, sys, tarfile, time
args = sys.argv[1:]
dest = args[args.index("--pack-destination") + 1]
time.sleep(float(os.environ.get("FAKE_NPM_SLEEP", "0")))
with tarfile.open(os.path.join(dest, "onnxruntime-web-x.tgz"), "w:gz") as tar:
    for name in {files!r} + ("LICENSE",):
        data = ("ours " + name).encode()
        info = tarfile.TarInfo("package/" + ("" if name == "LICENSE" else "dist/") + name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
other = os.environ.get("FAKE_NPM_OTHER_PROCESS_WINS")
if other:                    # another process finishes its fetch while this one is still unpacking
    os.makedirs(other)
    for name in {files!r}:
        with open(os.path.join(other, name), "w") as f:
            f.write("theirs " + name)
"""


@pytest.fixture
def fake_npm(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM.format(python=sys.executable, files=web.ORT_WEB_FILES))
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cache = tmp_path / "cache"
    return cache, cache / "npm" / f"onnxruntime-web-{web.ORT_WEB_VERSION}"


def _contents(folder):
    return {name: (folder / name).read_text() for name in sorted(os.listdir(folder))}


def test_a_fetch_puts_the_files_in_place_and_leaves_nothing_else(fake_npm):
    cache, folder = fake_npm
    assert web.onnxruntime_web(str(cache)) == str(folder)
    assert _contents(folder) == {name: f"ours {name}" for name in web.ORT_WEB_FILES + ("LICENSE",)}
    assert os.listdir(folder.parent) == [folder.name]          # no staging folder left behind


def test_losing_the_race_keeps_the_winners_folder(fake_npm, monkeypatch):
    cache, folder = fake_npm
    monkeypatch.setenv("FAKE_NPM_OTHER_PROCESS_WINS", str(folder))
    assert web.onnxruntime_web(str(cache)) == str(folder)
    assert _contents(folder) == {name: f"theirs {name}" for name in web.ORT_WEB_FILES}
    assert os.listdir(folder.parent) == [folder.name]


def test_an_incomplete_folder_from_an_interrupted_fetch_is_replaced(fake_npm):
    cache, folder = fake_npm
    folder.mkdir(parents=True)
    (folder / web.ORT_WEB_FILES[0]).write_text("half")
    assert web.onnxruntime_web(str(cache)) == str(folder)
    assert _contents(folder) == {name: f"ours {name}" for name in web.ORT_WEB_FILES + ("LICENSE",)}
    assert os.listdir(folder.parent) == [folder.name]


def test_fetches_at_the_same_time_all_end_with_one_complete_folder(fake_npm, monkeypatch):
    """Four fetches overlap: none may remove a folder another has just put in place, or move its
    staging folder inside the other's (what removing and then moving into place would do)."""
    cache, folder = fake_npm
    monkeypatch.setenv("FAKE_NPM_SLEEP", "0.3")
    results, errors = [], []

    def fetch():
        try:
            results.append(web.onnxruntime_web(str(cache)))
        except Exception as e:                                   # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and results == [str(folder)] * 4
    assert _contents(folder) == {name: f"ours {name}" for name in web.ORT_WEB_FILES + ("LICENSE",)}
    assert os.listdir(folder.parent) == [folder.name]
