"""The documentation site builds with `mkdocs build --strict` (broken links, unknown
pages and unrendered references fail), and the API reference holds the public API."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    reference = (tmp_path / "reference" / "index.html").read_text()
    for name in ("melspectrogram", "AudioCNN", "gradcheck", "binary_cross_entropy", "save_backprop_html"):
        assert name in reference, name
    assert '<code class="language-pycon">' in reference or "pycon" in reference   # examples stay code
    for page in ("audio", "tutorials", "gallery", "concepts", "performance", "adding-an-op"):
        assert (tmp_path / page / "index.html").exists(), page
