"""A regular (non-editable) install of histlib finds its Debian package list inside the package.

The wheel is built and installed into a fresh virtualenv that borrows this environment's
packages (torch, numpy, Pillow, setuptools) through a ``.pth`` file instead of reinstalling them,
then a dataset is loaded from another directory, so nothing can come from the checkout.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from pathlib import Path
import histlib
from histlib.data import fonts
root = Path(sys.argv[1])
print(histlib.__file__)
print(fonts.PACKAGE_LIST, fonts.PACKAGE_LIST.is_file(), len(fonts.font_packages("glyphs")))
data = histlib.load_dataset("glyphs", root=root / "data", split="test", max_fonts=2)
print(len(data), data.num_classes, sorted(p.name for p in (root / "data" / "glyphs").iterdir()))
"""


@pytest.mark.slow
def test_a_regular_install_reads_the_package_list_from_the_package(tmp_path):
    pytest.importorskip("setuptools", reason="building the wheel without isolation needs setuptools")
    source = tmp_path / "source"  # a copy: an in-tree build would write build/ into the checkout
    shutil.copytree(ROOT / "histlib", source / "histlib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()
    borrowed = sysconfig.get_paths()["purelib"]  # this interpreter's site-packages (sys.prefix)
    assert Path(borrowed).is_relative_to(sys.prefix)
    (Path(site) / "borrowed-packages.pth").write_text(borrowed + "\n")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--ignore-installed", "--no-input", "--disable-pip-version-check", str(source)],
        capture_output=True, text=True, env=env, timeout=180,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run(
        [str(python), "-c", SCRIPT, str(elsewhere)], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=180,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    module, package_list, loaded = run.stdout.strip().splitlines()
    assert Path(module).is_relative_to(site)  # the installed copy, not the checkout
    listed, exists, count = package_list.rsplit(" ", 2)
    assert Path(listed).is_relative_to(site) and exists == "True" and int(count) > 0
    assert "glyphs-32px-" in loaded and int(loaded.split()[1]) > 0
