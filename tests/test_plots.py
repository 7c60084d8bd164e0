import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from histlib import HISTLoss  # noqa: E402
from histlib.analysis import term_gradients  # noqa: E402
from histlib.plots import (  # noqa: E402
    class_colours, convergence_figure, distribution_loss_vs_tau, embedding_map, grid_heatmaps, hgnn_grid_figure,
    hyperedge_map, hypergraph_figure, importance_figure, membership_figure, optimisation_history, retrieval_grid,
    sample_terms_figure, save_figure, sweep_figure, training_curves,
)


def test_class_colours_are_fixed_per_label_and_distinct():
    colours = class_colours(10)
    assert colours.shape == (10, 3) and len({tuple(c) for c in colours}) == 10
    np.testing.assert_array_equal(colours, class_colours(10))  # the same in every figure


def test_hypergraph_figure_uses_fixed_colour_scales_and_sorts_by_class(tmp_path):
    torch.manual_seed(0)
    labels = torch.tensor([2, 0, 2, 5, 0, 5])
    terms = HISTLoss(6, 8, hgnn_hidden=4).eval().compute_terms(torch.randn(6, 8), labels)
    fig = hypergraph_figure(terms, labels, g_max=0.5)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert [im.get_array().shape for im in images] == [(6, 3), (6, 3), (6, 6)]
    assert [im.get_clim() for im in images] == [(0.0, 4.0), (0.0, 1.0), (0.0, 0.5)]
    order = np.argsort(labels.numpy(), kind="stable")
    np.testing.assert_allclose(images[1].get_array(), terms.incidence.detach().numpy()[order])
    assert len(fig.axes[0].lines) == 2  # a white line between each pair of classes (3 classes)
    assert "L_D" in fig._suptitle.get_text()
    path = save_figure(fig, "hypergraph", tmp_path)
    assert path.endswith("hypergraph.png") and (tmp_path / "hypergraph.png").stat().st_size > 1000


def test_sample_terms_figure_shows_both_terms_and_their_gradients():
    torch.manual_seed(0)
    labels = torch.tensor([0, 0, 1, 1])
    loss = HISTLoss(2, 8, hgnn_hidden=4)
    x = torch.randn(4, 8)
    terms, gradients = loss.compute_terms(x, labels), term_gradients(loss, x, labels)
    fig = sample_terms_figure(terms, labels, gradients)
    heights = [bar.get_height() for bar in fig.axes[1].patches]
    np.testing.assert_allclose(heights[:4], gradients["distribution_loss"].numpy(), rtol=1e-6)


def test_distribution_loss_vs_tau_splits_right_and_wrong_samples():
    d = torch.tensor([[0.1, 1.0], [1.0, 0.2], [0.5, 0.3]])  # the last sample is nearer the other class
    fig = distribution_loss_vs_tau(d, torch.tensor([0, 1, 0]), taus=[1.0, 10.0, 100.0])
    lines = fig.axes[0].lines
    assert [line.get_label() for line in lines] == ["all samples (L_D)", "own class nearest (2)",
                                                    "another class nearer (1)"]
    wrong = lines[2].get_ydata()
    assert wrong[2] == pytest.approx(100 * 0.2, rel=1e-3)  # ~ tau * (own - nearest) for large tau
    assert lines[1].get_ydata()[2] < 1e-6


def test_training_curves_plot_step_terms_and_every_split_with_integer_epochs():
    history = [{"epoch": e, "train_loss": 3.0 / e, "val_recall@1": 0.1 * e, "test_recall@1": 0.09 * e,
                "test_map@r": 0.05 * e} for e in (1, 2, 3)]
    steps = [{"epoch": e, "step": s, "loss": 3.0, "distribution_loss": 2.0, "hgnn_loss": 1.0}
             for e in (1, 2, 3) for s in (1, 2, 3, 4)]
    fig = training_curves(history, steps, metrics=("recall@1", "map@r"))
    assert [len(ax.lines) for ax in fig.axes] == [6, 2, 1]  # 3 terms x (raw + smoothed); val + test; test
    np.testing.assert_allclose(fig.axes[1].lines[1].get_ydata(), [9.0, 18.0, 27.0])
    assert fig.axes[0].get_xlabel() == "epoch" and fig.axes[1].get_ylabel() == "R@1 (%)"
    assert all(float(t).is_integer() for t in fig.axes[1].get_xticks())


def test_training_curves_draw_the_chance_line_the_untrained_network_and_the_selected_epoch():
    history = [{"epoch": e, "val_map@r": 0.1 * e, "test_map@r": 0.05 * e} for e in (1, 2, 3)]
    steps = [{"epoch": e, "step": s, "loss": 5.0, "distribution_loss": 1.0, "hgnn_loss": 4.0}
             for e in (1, 2, 3) for s in (1, 2)]
    fig = training_curves(history, steps, metrics=("map@r",), chance_loss=np.log(63),
                          initial={"val_map@r": 0.02, "test_map@r": 0.01, "val_recall@1": 0.5}, selected_epoch=2)
    loss_panel, metric_panel = fig.axes
    chance = [line for line in loss_panel.lines if line.get_label() == "log C: chance value of L_CE"]
    assert len(chance) == 1 and chance[0].get_linestyle() == "--"
    np.testing.assert_allclose(chance[0].get_ydata(), [np.log(63)] * 2)
    assert "log C: chance value of L_CE" in [t.get_text() for t in loss_panel.get_legend().get_texts()]
    validation, test, selected = metric_panel.lines  # epoch 0 joined to epochs 1-3 in one line per split
    np.testing.assert_allclose(validation.get_xdata(), [0, 1, 2, 3])
    np.testing.assert_allclose(validation.get_ydata(), [2.0, 10.0, 20.0, 30.0])
    np.testing.assert_allclose(test.get_ydata(), [1.0, 5.0, 10.0, 15.0])
    np.testing.assert_allclose(selected.get_xdata(), [2, 2])
    assert metric_panel.get_xlim()[0] < 0 <= loss_panel.get_xlim()[0]
    assert metric_panel.get_xlabel() == "epoch (0: the untrained network)" and metric_panel.get_ylabel() == "MAP@R (%)"
    assert [t.get_text() for t in metric_panel.get_legend().get_texts()] == [
        "validation classes", "unseen test classes", "selected epoch (2)"]


def test_maps_keep_class_colours_and_draw_each_members_hyperedges():
    rng = np.random.default_rng(0)
    coords, labels = rng.normal(size=(30, 2)), np.repeat(np.arange(3), 10)
    colours = class_colours(3)
    fig = embedding_map(coords, labels, colours, ["a", "b", "c"])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b", "c"]
    np.testing.assert_allclose(fig.axes[0].collections[1].get_facecolor()[0][:3], colours[1])
    incidence = np.array([[1.0, 0.2], [0.01, 1.0]])  # member 0 is also in hyperedge 1; member 1 only its own
    fig = hyperedge_map(coords, labels, colours, coords[[0, 10]], labels[[0, 10]], incidence, np.array([0, 1]),
                        rng.normal(size=(2, 2)))
    solid = [line for line in fig.axes[0].lines if line.get_linestyle() == "-"]
    dashed = [line for line in fig.axes[0].lines if line.get_linestyle() == "--"]
    assert len(solid) == 2 and len(dashed) == 1  # two own hyperedges, one soft membership above 0.05
    assert fig.axes[0].get_legend() is not None


def test_retrieval_grid_marks_hits_and_misses_and_writes_similarities():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10)
    grid = retrieval_grid(rng.random((30, 8, 8)), labels, [0, 15], np.array([[1, 12], [16, 3]]),
                          similarities=np.array([[0.9, 0.8], [0.7, 0.6]]))
    axes = np.array(grid.axes).reshape(2, 3)
    frames = [[ax.spines["top"].get_edgecolor() for ax in row] for row in axes]
    green, red = matplotlib.colors.to_rgba("tab:green"), matplotlib.colors.to_rgba("tab:red")
    assert frames[0][1:] == [green, red] and frames[1][1:] == [green, red]
    assert axes[1, 2].get_xlabel() == "0.60"


def test_sweep_and_convergence_figures_show_mean_std_and_every_seed():
    rows = [{"point": p, "test_map@r": v} for p, v in (("a", 0.5), ("a", 0.7), ("b", 0.2), ("b", 0.4))]
    fig = sweep_figure([{"title": "t", "x": ["a", "b"], "rows": rows, "key": "point", "reference": "a"}])
    bars = fig.axes[0].containers[0]
    np.testing.assert_allclose(bars.lines[0].get_ydata(), [60.0, 30.0])
    assert len(fig.axes[0].collections) >= 2  # the seeds as dots
    curves = [{"fingerprint": f, "epoch": e, "val_map@r": 0.1 * e} for f in "xy" for e in (1, 2, 3)]
    assert len(convergence_figure(curves).axes[0].lines) == 2


def test_grid_heatmaps_put_each_cells_seed_mean_on_a_fixed_scale_with_a_colour_bar():
    rows = [{"alpha": a, "tau": t, "m": v} for a, t, v in
            ((1.0, 4.0, 0.2), (1.0, 4.0, 0.4), (2.0, 4.0, 0.9), (1.0, 32.0, 0.5), (2.0, 32.0, 0.6))]
    fig = grid_heatmaps(rows, "tau", "alpha", [{"metric": "m", "label": "m (%)", "vmin": 0, "vmax": 100, "scale": 100}])
    image = fig.axes[0].images[0]
    np.testing.assert_allclose(image.get_array(), [[30.0, 90.0], [50.0, 60.0]])  # rows tau 4, 32; columns alpha 1, 2
    assert image.get_clim() == (0, 100) and len(fig.axes) == 2  # the heatmap and its colour bar
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "30.00 +/- 14.14\n(n = 2)" in texts and "90.00\n(n = 1)" in texts
    assert fig.axes[0].get_xlabel() == "alpha" and fig.axes[0].get_ylabel() == "tau"


def test_membership_figure_plots_every_run_on_a_log_axis_with_the_threshold():
    rows = [{"point": p, "train_hgnn_loss_ratio": r, "train_hgnn_accuracy": a, "train_other_membership": m}
            for p, r, a, m in (("x", 1.0, 0.0, 14.0), ("x", 0.99, 0.01, 12.0), ("y", 0.1, 0.9, 0.05))]
    fig = membership_figure(rows)
    left = fig.axes[0]
    assert left.get_xscale() == "log" and len(left.collections) == 2  # one colour per point
    np.testing.assert_allclose(left.collections[1].get_offsets(), [[0.05, 0.1]])
    assert any(list(line.get_xdata()) == [1.0, 1.0] for line in left.lines)  # the threshold line


def test_hgnn_grid_figure_draws_the_three_quantities_on_fixed_scales():
    rows = [{"alpha": a, "tau": t, "train_hgnn_loss_ratio": 0.5, "train_hgnn_accuracy": 0.5, "test_map@r": 0.4}
            for a in (1.1, 16.0) for t in (4.0, 32.0)]
    fig = hgnn_grid_figure(rows)
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert [ax.images[0].get_clim() for ax in heatmaps] == [(0.0, 1.0), (0.0, 1.0), (35.0, 60.0)]
    assert heatmaps[2].images[0].get_array()[0, 0] == pytest.approx(40.0)


def test_optimisation_history_draws_each_losss_best_so_far_over_its_trials():
    rows = [{"loss": "hist", "trial": i, "state": s, "value": v} for i, (s, v) in
            enumerate((("COMPLETE", 0.5), ("PRUNED", 0.2), ("COMPLETE", 0.4), ("COMPLETE", 0.7), ("FAIL", None)))]
    rows += [{"loss": "proxy_anchor", "trial": 0, "state": "COMPLETE", "value": 0.6}]
    fig = optimisation_history({"study A": rows, "study B": rows[-1:]})
    ax = fig.axes[0]
    best = next(line for line in ax.lines if line.get_label().startswith("HIST"))
    np.testing.assert_allclose(best.get_ydata(), [50.0, 50.0, 70.0, 70.0])  # trials 0, 2, 3 (pruned: no best), to 4
    np.testing.assert_allclose(best.get_xdata(), [0, 2, 3, 4])
    assert best.get_label() == "HIST (best 70.0)" and best.get_color() == "tab:orange"
    assert ax.get_ylabel() == "validation MAP@R (%)" and ax.get_title() == "study A" and len(fig.axes) == 2
    assert fig.axes[1].get_shared_y_axes().joined(ax, fig.axes[1])  # one y range for the studies


def test_importance_figure_puts_every_study_on_one_zero_to_one_scale():
    def imp(value):
        return {"importance": value, "low": value - 0.05, "high": value + 0.05, "rho": -0.5}

    fig = importance_figure({"a": {"tau": imp(0.7), "alpha": imp(0.3)}, "b": {"alpha": imp(0.9), "tau": imp(0.1)}})
    widths = [[round(bar.get_width(), 6) for bar in ax.patches] for ax in fig.axes]
    assert widths == [[0.7, 0.3], [0.1, 0.9]]  # the first study's order in both panels
    assert all(ax.get_xlim() == (0, 1) for ax in fig.axes)
    assert all(ax.yaxis_inverted() for ax in fig.axes)  # the first parameter on top, in both panels


def test_committed_points_figure_shades_the_seed_band_and_names_missing_sweeps(tmp_path):
    from histlib.analysis import SeedBand
    from histlib.plots import committed_points_figure

    rows = [{"lambda_s": v, "seed": s, "val_map@r": m} for v, s, m in ((0.0, 1, 0.5), (1.0, 1, 0.6), (1.0, 2, 0.7))]
    band = SeedBand("val_map@r", (0.6, 0.7), 0.65, 0.05, "two seeds", "lambda_s.csv")
    fig = committed_points_figure({"lambda_s": rows}, [("lambda_s", "lambda_s", 1.0), ("tau", "tau", 32.0)], band)
    assert "not yet swept: tau" in fig._suptitle.get_text()
    ax = fig.axes[0]
    (span,) = [p for p in ax.patches if p.get_label() == "recipe's seed band"]
    np.testing.assert_allclose(sorted(span.get_path().transformed(span.get_patch_transform()).vertices[:, 1])[::3],
                               [60.0, 70.0])  # mean +/- std, in %
    recipe = next(line for line in ax.lines if line.get_linestyle() == ":")  # the recipe's point: lambda_s = 1.0
    assert recipe.get_xdata()[0] == 1
    # a sentence instead of a band shades nothing; no table at all says which is missing
    fig = committed_points_figure({"lambda_s": rows}, [("lambda_s", "lambda_s", 1.0)], "no band")
    assert fig.axes[0].get_ylabel() == "MAP@R on validation classes (%)"
    assert not [p for p in fig.axes[0].patches if p.get_label() == "recipe's seed band"]
    fig = committed_points_figure({"lambda_s": rows}, [("tau", "tau", 32.0)], band)
    assert "No committed sweep table with val_map@r (tau)" in fig.axes[0].texts[0].get_text()
    matplotlib.pyplot.close("all")


def test_batch_settings_figure_draws_each_row_on_the_same_fixed_scales():
    from histlib.plots import batch_settings_figure

    torch.manual_seed(0)
    labels = torch.tensor([2, 0, 2, 5, 0, 5])
    embeddings = torch.randn(6, 8)
    loss = HISTLoss(6, 8, hgnn_hidden=4).eval()
    rows = []
    for alpha in (0.5, 4.0):
        loss.alpha = alpha
        with torch.no_grad():
            terms = loss.compute_terms(embeddings, labels)
        rows.append({"name": f"alpha={alpha}", "labels": labels, "terms": terms,
                     "gradients": term_gradients(loss, embeddings, labels)})
    fig = batch_settings_figure(rows, g_scale=3.0, loss_limits=(1e-3, 2e3), gradient_limits=(1e-6, 1e1))
    g_images = [ax.get_images()[0] for ax in fig.axes if ax.get_title().startswith("G ")]
    assert [image.get_clim() for image in g_images] == [(0.0, 0.5)] * 2  # 3 / N
    assert not np.allclose(g_images[0].get_array(), g_images[1].get_array())
    bars = [ax for ax in fig.axes if ax.get_yscale() == "log"]
    assert [ax.get_ylim() for ax in bars] == [(1e-3, 2e3), (1e-6, 1e1)] * 2
    assert not any(ax.yaxis.get_minor_locator()() for ax in bars)  # fixed_log_axis: no minor ticks
    matplotlib.pyplot.close(fig)


def test_fine_tuning_figure_draws_each_try_next_to_the_recipes_over_the_band():
    from histlib.analysis import SeedBand
    from histlib.plots import fine_tuning_figure

    band = SeedBand("val_map@r", (0.3, 0.36), 0.33, 0.04, "two seeds", "lambda_s.csv")
    tries = [{"label": "alpha=4\n3 steps", "score": 0.31, "reference": 0.30},
             {"label": "recipe\n3 steps", "score": 0.30, "reference": 0.30}]
    fig = fine_tuning_figure(tries, band, start_score=0.29, total=5)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["alpha=4\n3 steps", "recipe\n3 steps"]
    assert "(the last 2 of 5)" in ax.get_title()
    np.testing.assert_allclose(ax.collections[1].get_offsets()[0], [0, 31.0])  # the first try, in %
    fig = fine_tuning_figure([], "No seed band given.", empty_note="press the button")
    assert {t.get_text() for t in fig.axes[0].texts} == {"press the button", "No seed band given."}
    matplotlib.pyplot.close("all")


# -- the figures' conventions: distinct class colours, colour bars, one scale for G, log axes -------------


def test_class_colours_keep_the_classes_shown_together_apart():
    from histlib.plots import colour_differences

    for n, bound in ((12, 15.0), (40, 9.0), (80, 7.0)):  # perceptual differences; 2 is just noticeable
        differences = colour_differences(class_colours(n)) + np.eye(n) * 1e9
        assert differences.min() > bound, n
    np.testing.assert_array_equal(class_colours(80)[:12], class_colours(12))  # one sequence for every split
    shown = np.sort(np.random.default_rng(1).choice(80, 12, replace=False))  # notebook 6's twelve test classes
    colours = class_colours(80, first=shown)
    np.testing.assert_array_equal(colours[shown], class_colours(12))  # the twelve get the most distinct colours
    assert len({tuple(c) for c in colours}) == 80
    no_grey = np.ptp(colours, axis=1) > 0.05  # grey marks unselected points and the background, never a class
    assert no_grey.all()
    with pytest.raises(ValueError, match="distinct labels"):
        class_colours(5, first=[1, 1])


def test_embedding_stages_figure_colours_each_class_shown_apart_and_zooms_the_collapsed_stage():
    from histlib.plots import colour_differences, embedding_stages_figure

    rng = np.random.default_rng(0)
    shown = np.sort(rng.choice(80, 12, replace=False))
    labels = np.repeat(shown, 10)
    trained = rng.normal(size=(120, 2)) * 0.3 + 4 * rng.normal(size=(12, 2)).repeat(10, axis=0)
    untrained = 0.05 * rng.normal(size=(120, 2)) + 1.0  # collapsed into a small part of the map
    names = [f"class {c}" for c in range(80)]
    fig = embedding_stages_figure({"initialisation": untrained, "selected": trained}, labels,
                                  class_colours(80, first=shown), names, own_axes=["initialisation"])
    start, end = fig.axes
    drawn = np.array([collection.get_facecolor()[0][:3] for collection in end.collections])
    assert len(drawn) == 12 and (colour_differences(drawn) + np.eye(12) * 1e9).min() > 15
    assert "zoomed in" in start.get_title() and "zoomed" not in end.get_title()
    width = np.diff(start.get_xlim())[0]
    assert width < 0.1 * np.diff(end.get_xlim())[0]  # its own, much narrower frame
    assert start.get_xlim()[0] <= untrained[:, 0].min() and untrained[:, 0].max() <= start.get_xlim()[1]
    assert [t.get_text() for t in end.get_legend().get_texts()] == [names[c] for c in shown]
    assert {t.get_text() for t in end.texts} == {names[c] for c in shown}  # each class named on the map
    matplotlib.pyplot.close(fig)


def test_hyperedge_map_names_every_hyperedge_in_its_own_distinct_colour():
    from histlib.plots import colour_differences

    rng = np.random.default_rng(0)
    edges = np.arange(20)
    colours = class_colours(30, first=edges)
    names = [f"c{c}" for c in range(30)]
    fig = hyperedge_map(rng.normal(size=(50, 2)), np.zeros(50, int), colours, rng.normal(size=(2, 2)),
                        np.array([0, 1]), rng.random((2, 20)), edges, rng.normal(size=(20, 2)), class_names=names)
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == sorted(names[c] for c in edges)
    stars = ax.collections[-1].get_facecolor()[:, :3]
    assert len(stars) == 20 and (colour_differences(stars) + np.eye(20) * 1e9).min() > 9
    matplotlib.pyplot.close(fig)


def test_distribution_loss_vs_tau_puts_the_log_spaced_taus_on_a_log_axis():
    d = torch.tensor([[0.1, 1.0], [1.0, 0.2], [0.5, 0.3]])
    taus = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    fig = distribution_loss_vs_tau(d, torch.tensor([0, 1, 0]), taus=taus, trained_tau=32)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and list(ax.get_xticks()) == taus
    assert ax.get_xlabel() == "tau (log scale)"
    (marker,) = [line for line in ax.lines if line.get_label().startswith("tau the model was trained with")]
    assert list(marker.get_xdata()) == [32, 32]
    matplotlib.pyplot.close(fig)


def _batch(n_classes=20, seed=0):
    torch.manual_seed(seed)
    labels = torch.cat([torch.arange(n_classes), torch.tensor([0, 0, 3, 7])])  # 3 classes with 2+ samples
    loss = HISTLoss(n_classes, 8, hgnn_hidden=4).eval()
    embeddings = torch.randn(len(labels), 8)
    return loss, embeddings, labels


def test_alpha_figure_gives_the_H_row_and_the_G_row_each_a_labelled_colour_bar():
    from histlib.plots import G_SCALE, hypergraph_alpha_figure

    loss, embeddings, labels = _batch()
    with torch.no_grad():
        distances = loss.compute_terms(embeddings, labels).distances
    fig = hypergraph_alpha_figure(distances, labels, (0.0, 1.1, 4.0))
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in heatmaps[:3]] == ["H, alpha = 0", "H, alpha = 1.1", "H, alpha = 4"]
    h_images, g_images = [ax.images[0] for ax in heatmaps[:3]], [ax.images[0] for ax in heatmaps[3:]]
    assert all(image.colorbar is not None for image in h_images[-1:] + g_images[-1:])
    bars = [ax for ax in fig.axes if not ax.images and ax.get_ylabel()]
    labels_drawn = [ax.get_ylabel() for ax in bars]
    assert labels_drawn[0] == "H, fixed scale 0 to 1" and labels_drawn[1].startswith("G, fixed scale 0 to 3/N")
    assert all(image.get_clim() == (0.0, 1.0) for image in h_images)
    assert all(image.get_clim() == (0.0, G_SCALE / len(labels)) for image in g_images)
    matplotlib.pyplot.close(fig)


def test_every_figure_of_G_uses_the_same_fixed_scale_named_in_its_colour_bar():
    from histlib.plots import G_SCALE, batch_settings_figure, hypergraph_alpha_figure

    loss, embeddings, labels = _batch()
    n = len(labels)
    with torch.no_grad():
        terms = loss.compute_terms(embeddings, labels)
    row = {"name": "x", "labels": labels, "terms": terms, "gradients": term_gradients(loss, embeddings, labels)}
    figures = [hypergraph_figure(terms, labels), hypergraph_alpha_figure(terms.distances, labels, (1.1,)),
               batch_settings_figure([row], G_SCALE, (1e-3, 1e3), (1e-6, 1e1))]
    for fig in figures:
        g_images = [ax.images[0] for ax in fig.axes if ax.images and ax.get_title().startswith("G")]
        assert [image.get_clim() for image in g_images] == [(0.0, G_SCALE / n)]
        assert g_images[0].colorbar.ax.get_ylabel().startswith(f"G, fixed scale 0 to 3/N = {G_SCALE / n:.2g}")
    h_images = [ax.images[0] for ax in figures[2].axes if ax.images and ax.get_title() == "H"]
    assert h_images[0].colorbar is not None  # the explorer's H has its colour bar too
    matplotlib.pyplot.close("all")


def test_heatmaps_of_many_classes_outline_only_the_classes_with_two_or_more_samples():
    from matplotlib.patches import Rectangle

    loss, embeddings, labels = _batch(n_classes=20)
    with torch.no_grad():
        terms = loss.compute_terms(embeddings, labels)
    fig = hypergraph_figure(terms, labels)
    d_panel, h_panel, g_panel = [ax for ax in fig.axes if ax.images]
    for ax in (d_panel, h_panel, g_panel):
        assert not ax.lines  # no line between each of the 20 classes
        assert len([p for p in ax.patches if isinstance(p, Rectangle)]) == 3  # classes 0 (3 samples), 3 and 7
    sizes = sorted((p.get_width(), p.get_height()) for p in g_panel.patches)
    assert sizes == [(2, 2), (2, 2), (3, 3)]  # G: each class's diagonal block
    assert sorted(p.get_height() for p in h_panel.patches) == [2, 2, 3]  # H: the class's rows in its own column
    matplotlib.pyplot.close(fig)


def test_the_selected_epochs_figure_has_one_bar_per_checked_table_coloured_by_the_rule():
    from histlib.plots import selected_epochs_figure

    report = [{"table": "tau.csv", "runs": 15, "at_last": 14, "share_at_last": 14 / 15, "most_epochs": 8, "plateaued": False},
              {"table": "frozen_tau.csv", "runs": 12, "at_last": 0, "share_at_last": 0.0, "most_epochs": 30,
               "plateaued": True},
              {"table": "notebook_own.csv", "runs": 10, "at_last": 10, "share_at_last": 1.0, "most_epochs": 10,
               "plateaued": "fixed budget"}]
    fig = selected_epochs_figure(report, 0.2)
    ax = fig.axes[0]
    bars = ax.patches
    assert len(bars) == 2 and [t.get_text() for t in ax.get_yticklabels()] == ["tau", "frozen_tau"]
    assert bars[0].get_width() == pytest.approx(14 / 15) and ax.get_xlim() == (0, 1)
    assert matplotlib.colors.to_hex(bars[0].get_facecolor()) != matplotlib.colors.to_hex(bars[1].get_facecolor())
    assert ax.get_xlabel() and ax.get_title()
    matplotlib.pyplot.close(fig)


def test_the_predictions_figure_marks_each_setting_held_or_failed_at_its_predictor_and_outcome():
    from histlib.plots import predictions_figure

    rows = [{"predictor": 0.8, "predictor_min": 0.6, "predictor_max": 1.0, "predicted": "learns",
             "observed": "learns", "observed_ratio": 0.2},
            {"predictor": 2.0, "predictor_min": 1.5, "predictor_max": 3.0, "predicted": "does not learn",
             "observed": "learns", "observed_ratio": 0.3}]
    fig = predictions_figure(rows, threshold=1.0, learned_below=0.5)
    ax = fig.axes[0]
    points = [line for line in ax.lines if len(line.get_xdata()) == 1 and line.get_marker() in ("o", "X")]
    assert [(line.get_xdata()[0], line.get_ydata()[0], line.get_marker()) for line in points] == [
        (0.8, 0.2, "o"), (2.0, 0.3, "X")]
    assert ax.get_xscale() == "log" and ax.get_ylim() == (0, 1.05) and ax.get_xlabel() and ax.get_ylabel()
    matplotlib.pyplot.close(fig)
