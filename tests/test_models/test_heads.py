import pytest
import torch

from hgnet_backbones.models.heads import HGNetV2ClsHead
from hgnet_backbones.models.hgnetv2 import LearnableAffineBlock


@pytest.mark.parametrize('arch,in_channels,use_lab', [('B0', 1024, True), ('B2', 1536, True),
                                                      ('B4', 2048, False)])
def test_arch_gives_in_channels_and_lab(arch, in_channels, use_lab):
    head = HGNetV2ClsHead(num_classes=10, arch=arch)
    assert head.last_conv.in_channels == in_channels
    assert (head.lab is not None) == use_lab
    assert isinstance(head.lab, LearnableAffineBlock) == use_lab


def test_explicit_arguments_override_arch():
    head = HGNetV2ClsHead(num_classes=10, arch='B0', in_channels=64, use_lab=False)
    assert head.last_conv.in_channels == 64 and head.lab is None


def test_structure_is_pool_conv_relu_lab_fc():
    torch.manual_seed(0)
    head = HGNetV2ClsHead(num_classes=5, in_channels=8, hidden_channels=16, use_lab=True).eval()
    with torch.no_grad():
        head.lab.scale.fill_(-0.5)
        head.lab.bias.fill_(0.25)
    x = torch.randn(2, 8, 3, 4)
    pooled = x.mean((2, 3))
    hidden = torch.relu(pooled @ head.last_conv.weight[:, :, 0, 0].t()) * -0.5 + 0.25
    expected = hidden @ head.fc.weight.t() + head.fc.bias
    torch.testing.assert_close(head((x, )), expected)
    # already pooled by a neck (N, C): the same result
    torch.testing.assert_close(head((pooled, )), expected)


def test_without_hidden_conv_is_pool_then_fc():
    head = HGNetV2ClsHead(num_classes=3, in_channels=8, hidden_channels=None)
    assert not hasattr(head, 'last_conv')
    x = torch.randn(2, 8, 2, 2)
    torch.testing.assert_close(head((x, )), x.mean((2, 3)) @ head.fc.weight.t() + head.fc.bias)


def test_loss_and_predict_work_with_mmpretrain_samples():
    from mmpretrain.structures import DataSample
    head = HGNetV2ClsHead(num_classes=4, in_channels=8, hidden_channels=16, topk=(1, ))
    feats = (torch.randn(2, 8, 2, 2), )
    samples = [DataSample().set_gt_label(1), DataSample().set_gt_label(3)]
    losses = head.loss(feats, samples)
    assert torch.isfinite(losses['loss'])
    preds = head.predict(feats)
    assert preds[0].pred_score.shape == (4, )


@pytest.mark.parametrize('kwargs,match', [(dict(num_classes=0, in_channels=8), 'num_classes'),
                                          (dict(num_classes=3), 'needs in_channels or arch')])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HGNetV2ClsHead(**kwargs)
