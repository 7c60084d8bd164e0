import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from histlib import HISTLoss  # noqa: E402
from histlib.plots import embedding_map, hypergraph_figure, retrieval_grid, save_figure, training_curves  # noqa: E402


def test_hypergraph_figure_shows_distances_h_and_g_sorted_by_class(tmp_path):
    torch.manual_seed(0)
    labels = torch.tensor([2, 0, 2, 5, 0, 5])
    terms = HISTLoss(6, 8, hgnn_hidden=4).eval().compute_terms(torch.randn(6, 8), labels)
    fig = hypergraph_figure(terms, labels)
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert [im.shape for im in images] == [(6, 3), (6, 3), (6, 6)]
    order = np.argsort(labels.numpy(), kind="stable")
    np.testing.assert_allclose(images[1], terms.incidence.detach().numpy()[order])
    assert "L_D" in fig._suptitle.get_text()
    path = save_figure(fig, "hypergraph", tmp_path)
    assert path.endswith("hypergraph.png") and (tmp_path / "hypergraph.png").stat().st_size > 1000


def test_training_curves_plot_every_split_present():
    history = [{"epoch": e, "train_loss": 3.0 / e, "val_recall@1": 0.1 * e, "test_recall@1": 0.09 * e,
                "test_map@r": 0.05 * e} for e in (1, 2, 3)]
    fig = training_curves(history, metrics=("recall@1", "map@r"))
    assert [len(ax.lines) for ax in fig.axes] == [1, 2, 1]
    np.testing.assert_allclose(fig.axes[1].lines[1].get_ydata(), [9.0, 18.0, 27.0])


def test_embedding_map_with_hyperedges_and_retrieval_grid_marks():
    rng = np.random.default_rng(0)
    coords, labels = rng.normal(size=(30, 2)), np.repeat(np.arange(3), 10)
    incidence = np.array([[1.0, 0.2], [0.3, 1.0]])
    fig = embedding_map(coords, labels, ["a", "b", "c"], hyperedges=(np.array([0, 10]), incidence, np.array([0, 1])))
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b", "c"]
    assert len(fig.axes[0].lines) == 4  # each member to each hyperedge centre
    grid = retrieval_grid(rng.random((30, 8, 8)), labels, [0, 15], np.array([[1, 12], [16, 3]]))
    frames = [[ax.spines["top"].get_edgecolor() for ax in row] for row in np.array(grid.axes).reshape(2, 3)]
    green, red = matplotlib.colors.to_rgba("tab:green"), matplotlib.colors.to_rgba("tab:red")
    assert frames[0][1:] == [green, red] and frames[1][1:] == [green, red]
