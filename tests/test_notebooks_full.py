"""The notebooks' full profile, exercised on the published layouts: no GPU and no benchmark data exist
here, so the training notebooks and notebook 05 run against the CUB / Cars / SOP fixtures of the data
tests, with the published recipes shrunk through the overrides a user would pass (``HISTLIB_SET``):
two steps at 16 px with a randomly initialised ResNet-50. They must run to the end, train, evaluate
and print their tables; whether the shrunken runs learn is not the question.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .data.fixtures import make_cars_official, make_cub, make_sop

pytestmark = pytest.mark.slow  # real servers, browsers or whole notebooks: minutes

REPO = Path(__file__).resolve().parents[1]
SHRUNK = ("epochs=1 warmup_epochs=0 image_size=16 pretrained=false max_steps_per_epoch=2 batch_size=8 "
          "eval_batch_size=256 num_workers=0")


@pytest.fixture(scope="module")
def published_layouts(tmp_path_factory):
    """All three benchmarks in their published layouts: every class present (the splits are
    checked against the published class ranges), two images per class for CUB and Cars, one for SOP."""
    root = tmp_path_factory.mktemp("benchmarks")
    make_cub(root, {c: ["RGB", "L"] for c in range(1, 201)}, resource_fork=False)
    make_cars_official(root, {c: 2 for c in range(1, 197)})
    make_sop(root, with_files=tuple(range(1, 22635)))
    # The fixtures' images are flat grey; SOP's recipe trains BatchNorm, and a batch of identical
    # images has zero variance there, so give every image random pixels (as photos would).
    rng = np.random.default_rng(0)
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() == ".jpg":
            with Image.open(path) as image:
                size, mode = image.size, image.mode
            pixels = rng.integers(0, 256, (size[1], size[0], len(mode)), dtype=np.uint8)
            Image.fromarray(pixels.squeeze(-1) if mode == "L" else pixels, mode).save(path, "JPEG")
    return root


def test_training_notebooks_and_05_run_in_the_full_profile(published_layouts, tmp_path):
    notebooks = [REPO / "notebooks" / name for name in
                 ("02_train_cub.ipynb", "03_train_cars.ipynb", "04_train_sop.ipynb", "05_evaluation.ipynb")]
    env = {**os.environ, "HISTLIB_DATA": str(published_layouts), "HISTLIB_RUNS": str(tmp_path / "runs"),
           "HISTLIB_FIGURES": str(tmp_path / "figures"), "HISTLIB_PROFILE": "full", "TQDM_DISABLE": "1"}
    out = tmp_path / "executed"
    completed = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "run_notebooks.py"), "--profile", "full", "--overrides", SHRUNK,
         "--out", str(out), *map(str, notebooks)], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    for benchmark, name in (("cub", "02_train_cub"), ("cars", "03_train_cars"), ("sop", "04_train_sop")):
        results = json.loads((tmp_path / "runs" / "full" / benchmark / "results.json").read_text())
        assert results["config"]["dataset"] == benchmark and results["config"]["backbone"] == "resnet50"
        assert results["config"]["image_size"] == 16 and results["config"]["pretrained"] is False
        text = _outputs(out / f"{name}.ipynb")
        assert "HIST (epoch 1 of 1, chosen on validation classes)" in text
        assert "smoke test" in text  # the check cell says it does not judge a shrunken recipe
    evaluation = _outputs(out / "05_evaluation.ipynb")
    for benchmark in ("CUB (full profile) on cub", "CARS (full profile) on cars", "SOP (full profile) on sop"):
        assert benchmark in evaluation
    assert "not found: only our runs are shown" in evaluation  # no released checkpoint in the fixtures
    assert (tmp_path / "figures" / "02_cub_curves.png").is_file()


def _outputs(path: Path) -> str:
    """All text outputs of an executed notebook."""
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                     for cell in cells if cell["cell_type"] == "code" for o in cell["outputs"])
