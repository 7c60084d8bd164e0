"""histlib.widgets driven programmatically: set a control, check what changed and what did not.

No browser (tests/test_browser.py drives notebook 1 in one). The widgets are built on the tiny
Blobs data of tests/training/test_loop.py and a 1-epoch run trained here.
"""

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import histlib.widgets
from histlib.analysis import seed_band
from histlib.plots import class_colours, hypergraph_figure
from histlib.training import fit, initial_state
from histlib.widgets import G_SCALE, GRADIENT_LIMITS, LOSS_LIMITS, BatchExplorer, ClassPicker, QuickTrainer

from .conftest import blob_data, small_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 1-epoch tiny run: (config, data, FitResult)."""
    config = small_config(tmp_path_factory.mktemp("widgets"), epochs=1)
    data = blob_data()
    return config, data, fit(config, data, progress=False)


@pytest.fixture(scope="module")
def built_explorer(run):
    config, data, result = run
    states = {"at initialisation": initial_state(config, data.num_classes),
              "after training": (result.model, result.criterion)}
    return BatchExplorer(config, data.train, states, dpi=40)


@pytest.fixture
def explorer(built_explorer, run):
    """The module's explorer, reset to the recipe's settings on the first batch."""
    config = run[0]
    built_explorer.batch_index = 0
    built_explorer.set(tau=config.tau, alpha=config.alpha, lambda_s=config.lambda_s, batch_size=config.batch_size,
                       images_per_class=None, state="after training")
    assert not built_explorer.message.value
    return built_explorer


def snapshot(explorer):
    t = explorer.terms
    return {"distances": t.distances.clone(), "H": t.incidence.clone(), "G": t.propagation.clone(),
            "L_D": t.sample_distribution_loss.clone(), "L_CE": t.sample_hgnn_loss.clone(),
            "grad_D": explorer.gradients["distribution_loss"].clone(),
            "grad_CE": explorer.gradients["hgnn_loss"].clone(), "embeddings": explorer.embeddings,
            "png": explorer.hypergraph.value, "bars_png": explorer.sample_terms.value,
            "images": [a.copy() for a in explorer._views.image_data()], "clim": explorer.colour_limits,
            "ylim": explorer.bar_limits, "bars": explorer._views.bar_heights()}


def test_tau_changes_L_D_only_and_reuses_the_embeddings(explorer):
    before = snapshot(explorer)
    explorer.tau.value = 8.0  # the observer redraws
    after = snapshot(explorer)
    assert after["embeddings"] is before["embeddings"]  # no new forward pass
    assert not torch.allclose(after["L_D"], before["L_D"])
    for unchanged in ("distances", "H", "G", "L_CE", "grad_CE"):
        assert torch.equal(after[unchanged], before[unchanged]), unchanged
    assert after["bars_png"] != before["bars_png"] and after["clim"] == before["clim"]
    order = np.argsort(explorer.labels.numpy(), kind="stable")
    np.testing.assert_allclose(after["bars"][0], explorer.terms.sample_distribution_loss.numpy()[order], rtol=1e-6)


def test_alpha_changes_H_and_G_on_fixed_colour_scales(explorer):
    before = snapshot(explorer)
    explorer.alpha.value = 4.0
    after = snapshot(explorer)
    assert after["embeddings"] is before["embeddings"]
    assert not torch.allclose(after["H"], before["H"]) and not torch.allclose(after["G"], before["G"])
    assert torch.equal(after["distances"], before["distances"]) and torch.equal(after["L_D"], before["L_D"])
    assert after["png"] != before["png"]
    assert not np.allclose(after["images"][1], before["images"][1])  # H as drawn
    assert not np.allclose(after["images"][2], before["images"][2])  # G as drawn
    n = len(explorer.labels)
    assert after["clim"] == before["clim"] == ((0.0, 4.0), (0.0, 1.0), (0.0, G_SCALE / n))
    assert after["ylim"] == before["ylim"] == (LOSS_LIMITS, GRADIENT_LIMITS)


def test_lambda_s_scales_the_L_CE_gradient_bars_by_its_factor(explorer):
    before = snapshot(explorer)
    explorer.lambda_s.value = 2.5
    after = snapshot(explorer)
    torch.testing.assert_close(after["grad_CE"], 2.5 * before["grad_CE"])
    np.testing.assert_allclose(after["bars"][3], 2.5 * before["bars"][3], rtol=1e-5)
    assert torch.equal(after["grad_D"], before["grad_D"]) and torch.equal(after["L_CE"], before["L_CE"])
    assert after["bars_png"] != before["bars_png"] and after["ylim"] == before["ylim"]


def test_drawn_figure_equals_a_freshly_drawn_hypergraph_figure(explorer):
    explorer.set(alpha=2.0, tau=4.0)
    fresh = hypergraph_figure(explorer.terms, explorer.labels, g_max=explorer.g_max)
    expected = [image.get_array() for ax in fresh.axes for image in ax.get_images()]
    for drawn, wanted in zip(explorer._views.image_data(), expected, strict=True):
        np.testing.assert_array_equal(drawn, wanted)
    assert "tau=4, alpha=2, lambda_s=1" in explorer._views.hypergraph._suptitle.get_text()


def test_batch_size_and_sampler_draw_a_new_batch_and_refuse_impossible_ones(explorer):
    explorer.batch_size.value = 8
    assert len(explorer.labels) == len(explorer.terms.propagation) == 8
    explorer.images_per_class.value = 4
    assert sorted(np.bincount(explorer.labels.numpy())[np.bincount(explorer.labels.numpy()) > 0]) == [4, 4]
    assert explorer.colour_limits[2] == (0.0, G_SCALE / 8)
    png = explorer.hypergraph.value
    explorer.images_per_class.value = 16  # 8 is not a multiple of 16: a message, not a traceback
    assert "multiple of 16" in explorer.message.value
    assert explorer.hypergraph.layout.display == "none" and explorer.hypergraph.value == png
    explorer.set(batch_size=64, images_per_class=2)  # 32 classes needed, 8 exist
    assert "needs 32 classes" in explorer.message.value
    explorer.set(batch_size=16, images_per_class=None)
    assert not explorer.message.value and explorer.hypergraph.layout.display is None
    assert len(explorer.labels) == 16


def test_state_switch_changes_the_embeddings_of_the_same_images(explorer, run):
    config = run[0]
    trained_images, trained = explorer.images, explorer.embeddings
    explorer.state.value = "at initialisation"
    assert explorer.images is trained_images
    assert not torch.allclose(explorer.embeddings, trained)
    assert not torch.allclose(explorer.terms.distances, explorer.losses["after training"].compute_terms(
        trained, explorer.labels).distances)
    explorer.state.value = "after training"
    assert explorer.embeddings is trained  # cached
    # the caller's states are untouched: the loss keeps the run's settings, the model its mode
    criterion = run[2].criterion
    explorer.set(tau=2.0, alpha=0.5, lambda_s=3.0)
    assert (criterion.tau, criterion.alpha, criterion.lambda_s) == (config.tau, config.alpha, config.lambda_s)
    assert not run[2].model.training


def test_another_batch_and_slider_values_without_float_noise(explorer):
    labels, images = explorer.labels, explorer.images
    explorer.new_batch.click()
    assert explorer.batch_index == 1
    assert not torch.equal(explorer.images, images) or not torch.equal(explorer.labels, labels)
    explorer.tau.value = 31.999999999999996  # what a log slider can send
    assert explorer.settings["tau"] == 32.0
    assert "tau=32," in explorer._views.hypergraph._suptitle.get_text()
    assert explorer.tau.readout_format == ".3g" and explorer.alpha.readout_format == ".1f"
    assert all(not c.continuous_update for c in (explorer.tau, explorer.alpha, explorer.lambda_s))


def test_small_multiples_draw_the_same_view_on_the_same_scales(explorer):
    fig = explorer.small_multiples([{"alpha": 0.5}, {"alpha": 4.0}, {"state": "at initialisation"}])
    try:
        assert len(fig.axes) >= 12  # 3 rows of H, G, losses, gradients (+ colour bars)
        g_images = [ax.get_images()[0] for ax in fig.axes if ax.get_title().startswith("G ")]
        assert [image.get_clim() for image in g_images] == [(0.0, G_SCALE / 16)] * 3
        assert not np.allclose(g_images[0].get_array(), g_images[1].get_array())
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


# -- QuickTrainer -----------------------------------------------------------------------------


def write_table(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def trainer(run, tmp_path):
    config, data, result = run
    band = seed_band(write_table(tmp_path / "lambda_s.csv", [
        {"lambda_s": 1.0, "seed": s, "val_map@r": m, "epochs": 8} for s, m in ((1, 0.30), (2, 0.36))]),
        "lambda_s", config.lambda_s)
    return QuickTrainer(config, data, result.model, result.criterion, epochs_done=1, start_score=0.3, band=band,
                        steps=(1, 4, 1, 3), dpi=40)


def test_quick_trainer_fine_tunes_a_copy_and_plots_map_r(trainer, run):
    result = run[2]
    before = {k: v.clone() for k, v in [*result.model.state_dict().items(),
                                        *(("loss." + k, v) for k, v in result.criterion.state_dict().items())]}
    empty = trainer.figure.value
    trainer.alpha.value = 4.0
    trial = trainer.run()
    assert trainer.progress.value == trainer.progress.max == 3
    assert 0.0 < trial.score <= 1.0 and (trial.alpha, trial.steps) == (4.0, 3)
    assert set(trainer.references) == {3} and trainer.references[3].alpha == run[0].alpha
    assert trainer.figure.value != empty and "MAP@R" in trainer.status.value
    assert "spread" in trainer.status.value  # judged against the band
    after = {**result.model.state_dict(), **{"loss." + k: v for k, v in result.criterion.state_dict().items()}}
    for name, value in before.items():
        assert torch.equal(value, after[name]), f"the cached run's {name} changed"
    assert result.criterion.alpha == run[0].alpha
    again = trainer.run()  # the same batches and augmentations: the same score
    assert again.score == trial.score and len(trainer.tries) == 2


def test_quick_trainer_reuses_the_recipes_run_and_explains_a_missing_band(run):
    config, data, result = run
    trainer = QuickTrainer(config, data, result.model, result.criterion, epochs_done=1,
                           band=seed_band(Path("/nonexistent/lambda_s.csv"), "lambda_s", 1.0), steps=(1, 2, 1, 1),
                           dpi=40)
    assert "No committed sweep table" in trainer.band
    trial = trainer.run()  # the recipe's settings: one run, shown as the reference itself
    assert trial.score == trainer.references[1].score and "recipe's settings" in trainer.status.value
    trainer.lambda_s.value = 0.0
    trainer.run()
    assert "No seed band" in trainer.status.value


def test_quick_trainer_click_shows_failures_as_messages(trainer, monkeypatch):
    def diverge():
        raise FloatingPointError("non-finite loss nan at step 2")

    monkeypatch.setattr(trainer, "run", diverge)
    trainer.train.click()
    assert "diverged" in trainer.status.value and not trainer.train.disabled


# -- ClassPicker ------------------------------------------------------------------------------


def test_class_picker_keeps_colours_and_axes_and_explains_an_empty_selection():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 20)
    maps = {"start": rng.normal(size=(100, 2)), "end": rng.normal(size=(100, 2)) * 3}
    colours = class_colours(5)
    picker = ClassPicker(maps, labels, colours, class_names=list("abcde"), dpi=40)
    assert set(picker.drawn_colours) == {0, 1, 2}
    first, limits = picker.drawn_colours[1], picker.limits
    picker.classes.value = (1, 3)
    assert picker.drawn_colours[1] == first == tuple(np.round(colours[1], 6)) and set(picker.drawn_colours) == {1, 3}
    picker.stage.value = "start"
    assert picker.limits == limits and picker.drawn_colours[1] == first
    assert np.all(np.array(limits)[:, 0] <= np.concatenate(list(maps.values())).min(0))
    png = picker.image.value
    picker.classes.value = ()
    assert "No class selected" in picker.message.value and picker.image.layout.display == "none"
    assert picker.image.value == png
    assert "Ctrl" in picker.help.value and "Shift" in picker.help.value and "Cmd" in picker.help.value
    picker.classes.value = (4,)
    assert not picker.message.value and picker.image.value != png


# -- the committed notebooks ------------------------------------------------------------------


def test_the_names_the_notebooks_import_from_histlib_widgets_are_still_there():
    from histlib import analysis, plots

    imported = set()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for match in re.finditer(r"from histlib\.widgets import (\([^)]*\)|[^\n]*)", "".join(cell["source"])):
                imported |= {name.strip() for name in match.group(1).strip("()").split(",") if name.strip()}
    assert {"BatchExplorer", "QuickTrainer", "ClassPicker"} <= imported
    assert imported <= set(histlib.widgets.__all__)
    assert all(hasattr(histlib.widgets, name) for name in histlib.widgets.__all__)
    # what is not a widget has one home: the seed band in analysis, the static figures in plots
    assert not {"SeedBand", "seed_band", "committed_points_figure"} & set(vars(histlib.widgets))
    assert callable(analysis.seed_band) and callable(plots.committed_points_figure)


@pytest.mark.parametrize("name", ["01_hypergraph_construction", "06_embeddings_and_hyperedges"])
def test_committed_notebooks_hold_no_stale_widget_state(name):
    notebook = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    assert "widgets" not in notebook["metadata"]
    cells = notebook["cells"]
    widget_cells = [i for i, c in enumerate(cells) if c["cell_type"] == "code"
                    and re.search(r"^\w+\.widget\s*$", "".join(c["source"]), re.M)]
    assert widget_cells, "the notebook has no widget cell"
    for i in widget_cells:
        cell = cells[i]
        assert cell["outputs"] == [] and cell["execution_count"] is None
        assert "nbval-ignore-output" in cell["metadata"].get("tags", [])
        above = "".join(cells[i - 1]["source"]).lower()
        assert cells[i - 1]["cell_type"] == "markdown" and "run the notebook" in above
    sections = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
                and re.search(r"^## ", "".join(c["source"]), re.M)]
    summary = next(i for i in sections if "## Summary" in "".join(cells[i]["source"]))
    last_section = max(i for i in sections if i < summary)
    assert last_section < widget_cells[-1] < summary, "the widgets' section is not the one before the summary"
