"""OpenVINO on the CPU (hgnet_backbones.deploy.openvino): ONNX conversion checked against PyTorch in
fp32 and bf16, and NNCF int8 with an accuracy gate."""
import os
import sys

import numpy as np
import pytest
import torch

pytest.importorskip('openvino', reason="openvino is not installed (the 'deploy' extra)")

import openvino as ov  # noqa: E402
import openvino.properties as props  # noqa: E402
import openvino.properties.hint as hints  # noqa: E402

from hgnet_backbones import HGNetV2  # noqa: E402
from hgnet_backbones.analysis import relative_error  # noqa: E402
from hgnet_backbones.deploy import openvino as hov  # noqa: E402
from hgnet_backbones.fileio import is_temporary  # noqa: E402


def _export(model: torch.nn.Module, x: torch.Tensor, path, output_names) -> str:
    torch.onnx.export(model, (x, ), str(path), dynamo=False, opset_version=17, input_names=['input'],
                      output_names=output_names, dynamic_axes={'input': {0: 'batch'}})
    return str(path)


@pytest.fixture(scope='module')
def b0(paddle_fixtures, tmp_path_factory):
    """The fixture's B0 (Paddle weights, all four stages out) as ONNX, an input (batch 2, 64x64) and
    PyTorch's outputs on it."""
    model = HGNetV2(arch='B0', out_indices=(0, 1, 2, 3), init_cfg=dict(
        type='Pretrained', checkpoint=str(paddle_fixtures / 'PPHGNetV2_B0.pdparams'))).eval()
    model.init_weights()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(x)
    path = _export(model, x[:1], tmp_path_factory.mktemp('onnx') / 'b0.onnx',
                   [f'stage{i}' for i in range(1, 5)])
    return path, x.numpy(), ref


def test_onnx_converted_to_openvino_ir_computes_what_pytorch_does_in_fp32(b0, tmp_path):
    onnx_file, x, ref = b0
    xml = hov.convert_onnx(onnx_file, str(tmp_path / 'b0.xml'))
    assert sorted(os.listdir(tmp_path)) == ['b0.bin', 'b0.xml']  # no temporary left
    compiled = hov.compile_model(xml, 'fp32', threads=1)
    assert compiled.get_property(hints.inference_precision) == ov.Type.f32
    assert compiled.get_property(props.inference_num_threads) == 1
    outs = hov.run(compiled, x)
    assert len(outs) == 4  # every stage, in the model's order, for the batch of 2 (dynamic axis)
    for out, r in zip(outs, ref):
        assert relative_error(torch.from_numpy(out), r) <= 1e-4


def test_input_shape_compiles_a_static_copy_and_leaves_the_model_dynamic(b0):
    onnx_file, x, ref = b0
    model = hov.read_model(onnx_file)
    compiled = hov.compile_model(model, 'fp32', threads=1, input_shape=x.shape)
    assert compiled.inputs[0].get_partial_shape().is_static  # the batch axis is fixed to 2
    for out, r in zip(hov.run(compiled, x), ref):
        assert relative_error(torch.from_numpy(out), r) <= 1e-4
    assert model.inputs[0].get_partial_shape().is_dynamic  # the caller's model is not reshaped
    two = hov.read_model(onnx_file)
    two.add_parameters([ov.opset13.parameter([1], ov.Type.f32, name='extra')])
    with pytest.raises(ValueError, match='one-input model; this one has 2 inputs'):
        hov.compile_model(two, input_shape=x.shape)


def test_bf16_is_computed_in_bf16_where_the_cpu_has_it_and_stays_close(b0):
    if not hov.cpu_has_bf16():
        pytest.skip('this CPU has no native bf16 (AVX-512 BF16 or AMX)')
    onnx_file, x, ref = b0
    compiled = hov.compile_model(onnx_file, 'bf16', threads=1)
    assert compiled.get_property(hints.inference_precision) == ov.Type.bf16
    errors = [relative_error(torch.from_numpy(o), r) for o, r in zip(hov.run(compiled, x), ref)]
    # bf16 keeps 8 significant bits (rounding 2^-9 ~ 2e-3 per value) and B0's ~40 layers each round
    # their inputs: the errors add up along the depth. PyTorch computing this model in bf16 is 0.02,
    # 0.05, 0.11, 0.12 off at stages 1-4 (max|Δ|/max|ref|), OpenVINO 0.02, 0.04, 0.07, 0.09 (measured
    # on a Zen 5 CPU); the bound allows no more than PyTorch's own bf16 does, with a margin
    assert max(errors) <= 0.15
    assert max(errors) > 1e-4, 'OpenVINO ran in fp32 although bf16 was asked for'


def test_bf16_on_a_cpu_without_it_is_refused_with_what_to_do(b0, monkeypatch):
    monkeypatch.setattr(hov, 'cpu_has_bf16', lambda: False)
    with pytest.raises(ValueError, match="native bf16.*use precision='fp32'"):
        hov.compile_model(b0[0], 'bf16')


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(precision='fp16'), ValueError, "precision must be one of \\('fp32', 'bf16'\\)"),
    (dict(threads=0), ValueError, 'threads must be at least 1'),
    (dict(model='missing.onnx'), FileNotFoundError, "no model file 'missing.onnx'"),
    (dict(model=__file__), ValueError, 'neither an ONNX'),
])
def test_compile_model_refuses_bad_arguments_naming_them(b0, kwargs, error, match):
    kwargs = dict(dict(model=b0[0]), **kwargs)
    with pytest.raises(error, match=match):
        hov.compile_model(**kwargs)


def test_missing_openvino_names_the_deploy_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, 'openvino', None)
    with pytest.raises(ImportError, match="'deploy' extra"):
        hov.read_model('model.onnx')


def test_top1_agreement_compares_with_labels_or_with_reference_outputs():
    outputs = [[np.array([[0., 2., 1.]])], [np.array([[3., 0., 1.]])]]
    assert hov.top1_agreement(outputs, [1, 1]) == 0.5
    assert hov.top1_agreement(outputs, [[np.array([[0., 5., 0.]])], [np.array([[1., 0., 0.]])]]) == 1.0


@pytest.fixture(scope='module')
def outlier_model(tmp_path_factory):
    """A small classifier whose first conv has one channel with 1000 times the others' range that
    nothing reads: per-tensor int8 activations of the second conv spend their 256 levels on it and
    flatten the channels the prediction depends on. ONNX file, calibration and validation inputs."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(), torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 1000)).eval()
    with torch.no_grad():
        model[0].weight[0] *= 1000
        model[0].bias[0] = 1000
        model[2].weight[:, 0] = 0
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randn(1, 3, 16, 16, generator=g).numpy() for _ in range(40)]
    path = _export(model, torch.from_numpy(inputs[0]), tmp_path_factory.mktemp('onnx') / 'outlier.onnx',
                   ['logits'])
    return path, inputs[:20], inputs[20:]


def _fake_quantize_count(model) -> int:
    return [op.get_type_name() for op in model.get_ordered_ops()].count('FakeQuantize')


def _agreement(model, reference, inputs) -> float:
    model, reference = hov.compile_model(model), hov.compile_model(reference)
    return hov.top1_agreement([hov.run(model, x) for x in inputs], [hov.run(reference, x) for x in inputs])


def test_accuracy_control_keeps_the_costly_layer_in_float_and_writes_a_model_within_the_bound(
        outlier_model, tmp_path):
    pytest.importorskip('nncf', reason="nncf is not installed (the 'deploy' extra)")
    onnx_file, calibration, validation = outlier_model
    plain = hov.quantize(onnx_file, calibration)
    assert _agreement(plain, onnx_file, validation) < 0.5  # what plain int8 does to this model
    xml = str(tmp_path / 'int8.xml')
    report = hov.quantize_with_accuracy_control(onnx_file, calibration, validation, hov.top1_agreement,
                                                max_drop=0.0, xml_file=xml, threads=1)
    written = hov.read_model(xml)
    # int8 but for the layer that cost the predictions
    assert 0 < _fake_quantize_count(written) < _fake_quantize_count(plain)
    assert _agreement(written, onnx_file, validation) == 1.0
    assert report == dict(xml_file=xml, float32_metric=1.0, int8_metric=1.0, drop=0.0, max_drop=0.0,
                          num_validation=20)


def test_accuracy_control_with_a_bound_that_cannot_hold_raises_naming_drop_and_bound_and_writes_nothing(
        outlier_model, tmp_path):
    pytest.importorskip('nncf', reason="nncf is not installed (the 'deploy' extra)")
    onnx_file, calibration, validation = outlier_model
    # agreement is at most 1: int8 cannot be better than float32 by 1
    with pytest.raises(hov.AccuracyBoundError, match=r'costs 0 of the metric on 20 validation inputs '
                       r'\(float32 1, int8 1\).*max_drop=-1; .*int8.xml was not written'):
        hov.quantize_with_accuracy_control(onnx_file, calibration, validation, hov.top1_agreement,
                                           max_drop=-1.0, xml_file=str(tmp_path / 'int8.xml'))
    assert os.listdir(tmp_path) == []  # neither the model nor a temporary


@pytest.mark.parametrize('kwargs,match', [
    (dict(calibration=[]), 'calibration is empty'),
    (dict(validation=[]), 'validation is empty'),
    (dict(targets=[0]), '1 targets for 20 validation inputs'),
])
def test_quantize_with_accuracy_control_refuses_bad_inputs_naming_them(outlier_model, tmp_path, kwargs,
                                                                         match):
    pytest.importorskip('nncf', reason="nncf is not installed (the 'deploy' extra)")
    onnx_file, calibration, validation = outlier_model
    kwargs = dict(dict(calibration=calibration, validation=validation), **kwargs)
    with pytest.raises(ValueError, match=match):
        hov.quantize_with_accuracy_control(onnx_file, metric=hov.top1_agreement, max_drop=0.01,
                                           xml_file=str(tmp_path / 'x.xml'), **kwargs)
    assert not any(is_temporary(n) or n.startswith('x.') for n in os.listdir(tmp_path))
