import pytest

from histlib.training.config import FROM_BENCHMARK, RECIPES, STAND_INS, TrainConfig, get_config, parse_overrides

# Specification section 2, value for value.
SPEC = {
    "cub": dict(tau=32.0, alpha=1.1, epochs=40, lr=1.2e-4, lr_ds=1e-1, hgnn_lr_factor=5.0,
                weight_decay=5e-5, lr_step=5, freeze_bn=True),
    "cars": dict(tau=32.0, alpha=0.9, epochs=50, lr=1e-4, lr_ds=1e-1, hgnn_lr_factor=10.0,
                 weight_decay=1e-4, lr_step=10, freeze_bn=True),
    "sop": dict(tau=16.0, alpha=2.0, epochs=60, lr=1e-4, lr_ds=1e-2, hgnn_lr_factor=10.0,
                weight_decay=1e-4, lr_step=10, freeze_bn=False),
}
COMMON = dict(batch_size=32, images_per_class=None, warmup_epochs=1, lr_gamma=0.5, seed=1,
              backbone="resnet50", pretrained=True, embedding_size=512, lambda_s=1.0,
              hgnn_hidden=512, hgnn_layers=2, loss="hist", image_size=224)


@pytest.mark.parametrize("name", ["cub", "cars", "sop"])
def test_recipes_match_the_specification_table(name):
    config = RECIPES[name]
    assert config.dataset == name
    for key, value in {**COMMON, **SPEC[name]}.items():
        assert getattr(config, key) == value, key


def test_each_stand_in_has_its_benchmarks_loss_settings_and_recall_columns():
    for benchmark, stand_in in STAND_INS.items():
        for name in FROM_BENCHMARK:  # tau, alpha, eval_ks: one source, the benchmark's recipe
            assert getattr(RECIPES[stand_in], name) == getattr(RECIPES[benchmark], name), (stand_in, name)
            assert getattr(RECIPES[f"{stand_in}_frozen"], name) == getattr(RECIPES[benchmark], name)
    assert RECIPES["kanji"].eval_ks == (1, 10, 100, 1000) and (RECIPES["typefaces"].tau, RECIPES["typefaces"].alpha) == (32.0, 0.9)


def test_honest_selection_is_the_default():
    assert all(config.selection == "val" for config in RECIPES.values())
    assert RECIPES["sop"].eval_ks == (1, 10, 100, 1000) and RECIPES["cub"].eval_ks == (1, 2, 4, 8)


def test_small_mode_is_small():
    config = RECIPES["glyphs"]
    assert config.backbone == "small_cnn" and config.image_size == 32 and not config.pretrained


def test_overrides_and_unknown_keys():
    assert get_config("cars", epochs=3, loss="proxy_anchor").epochs == 3
    with pytest.raises(KeyError, match="unknown config key 'epoch'.*did you mean 'epochs'"):
        get_config("cars", epoch=3)
    with pytest.raises(KeyError, match="unknown recipe 'imagenet'"):
        get_config("imagenet")
    with pytest.raises(ValueError, match="selection must be one of"):
        get_config("cub", selection="best")
    with pytest.raises(ValueError, match="selection_metric"):
        TrainConfig(eval_ks=(1, 10), selection_metric="recall@2")


def test_parse_overrides_reads_types():
    parsed = parse_overrides(["epochs=3", "lr=2e-4", "pretrained=false", "freeze_bn=true",
                              "eval_ks=1,10,100", "images_per_class=none", "backbone=timm:resnet18"])
    assert parsed == {"epochs": 3, "lr": 2e-4, "pretrained": False, "freeze_bn": True,
                      "eval_ks": (1, 10, 100), "images_per_class": None, "backbone": "timm:resnet18"}
    assert parse_overrides(["pretrained=/weights/resnet50.pth"]) == {"pretrained": "/weights/resnet50.pth"}
    with pytest.raises(ValueError, match="cannot read epochs='three' as int"):
        parse_overrides(["epochs=three"])
    with pytest.raises(KeyError, match="unknown config key 'epoch'"):
        parse_overrides(["epoch=3"])
    with pytest.raises(ValueError, match="not KEY=VALUE"):
        parse_overrides(["epochs"])


def test_the_controls_default_to_the_paper_and_leave_existing_run_identities_alone():
    from histlib.training import config_fingerprint
    from histlib.training.runs import config_identity

    config = get_config("glyphs")
    assert (config.hgnn_propagation, config.hgnn_batchnorm, config.incidence_variances, config.hgnn_gradient) == (
        "hypergraph", True, "learned", "full")
    identity = config_identity(config)
    assert not {"hgnn_propagation", "hgnn_batchnorm", "incidence_variances", "hgnn_gradient"} & set(identity)
    assert config_fingerprint(get_config("glyphs", hgnn_batchnorm=False)) != config_fingerprint(config)


@pytest.mark.parametrize("key, value", [("hgnn_propagation", "clique"), ("incidence_variances", 1.0),
                                        ("hgnn_gradient", "none"), ("hgnn_batchnorm", "yes")])
def test_bad_control_settings_name_the_field(key, value):
    with pytest.raises(ValueError, match=key):
        get_config("glyphs", **{key: value})
