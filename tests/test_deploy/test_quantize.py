"""Int8 models by static quantization behind an accuracy gate (hgnet_backbones.deploy.quantize,
tools/quantize.py): ONNX Runtime, and OpenVINO through NNCF."""
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('mmdeploy', reason='the deploy extra is not installed (HGNET_EXTRAS without deploy)')

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

from hgnet_backbones import HGNetV2  # noqa: E402
from hgnet_backbones.deploy.quantize import image_files, quantize_onnx  # noqa: E402
from hgnet_backbones.tiny_data import make_tiny_imagenet  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
TINY_CLS_CONFIG = str(REPO / 'configs/hgnetv2/hgnetv2-b0_1xb8-4e_tiny-in.py')


def _export(model: torch.nn.Module, x: torch.Tensor, path: Path) -> str:
    torch.onnx.export(model, (x, ), str(path), dynamo=False, opset_version=17, input_names=['input'],
                      dynamic_axes={'input': {0: 'batch'}})
    return str(path)


def _run(path: str, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(path, providers=['CPUExecutionProvider']).run(None, {'input': x})[-1]


@pytest.fixture(scope='module')
def stem_onnx(paddle_fixtures, tmp_path_factory):
    """The stem (convs, LABs, the 2x2 SAME max-pool) of the fixture's B0 in deploy mode as ONNX, and
    calibration inputs."""
    model = HGNetV2(arch='B0', init_cfg=dict(
        type='Pretrained', checkpoint=str(paddle_fixtures / 'PPHGNetV2_B0.pdparams')))
    model.init_weights()
    model.eval().switch_to_deploy()
    g = torch.Generator().manual_seed(0)
    feeds = [torch.randn(1, 3, 64, 64, generator=g) for _ in range(8)]
    path = _export(model.stem, feeds[0], tmp_path_factory.mktemp('onnx') / 'stem.onnx')
    return path, [dict(input=f.numpy()) for f in feeds]


def test_quantize_onnx_writes_an_int8_graph_with_finite_scales_close_to_float32(stem_onnx, tmp_path):
    path, feeds = stem_onnx
    out = quantize_onnx(path, str(tmp_path / 'stem_int8.onnx'), feeds)
    graph = onnx.load(out).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count('QuantizeLinear') >= 5 and 'Conv' in ops
    initializers = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    weights = [initializers[n.input[0]] for n in graph.node if n.op_type == 'DequantizeLinear'
               and initializers.get(n.input[0], np.zeros(0)).ndim == 4]
    assert weights and all(w.dtype == np.int8 for w in weights)  # every conv weight
    scales = [initializers[n.input[1]] for n in graph.node
              if n.op_type in ('QuantizeLinear', 'DequantizeLinear') and n.input[1] in initializers]
    # an infinite value in the graph (the stem pool padded with -inf once did) gives an infinite scale
    assert all(np.isfinite(s).all() and (s > 0).all() for s in scales)
    ref, test = _run(path, feeds[0]['input']), _run(out, feeds[0]['input'])
    assert float(np.abs(test - ref).max() / np.abs(ref).max()) < 0.05


def test_quantize_onnx_leaves_softmax_in_float(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Softmax(1))
    x = torch.randn(1, 3, 5, 5)
    out = quantize_onnx(_export(model, x, tmp_path / 'softmax.onnx'), str(tmp_path / 'int8.onnx'),
                        [dict(input=torch.randn(1, 3, 5, 5).numpy()) for _ in range(4)])
    graph = onnx.load(out).graph
    softmax = next(n for n in graph.node if n.op_type == 'Softmax')
    assert softmax.output[0] == graph.output[0].name  # no QuantizeLinear after it
    assert 'Conv' in [n.op_type for n in graph.node] and any(
        n.op_type == 'QuantizeLinear' for n in graph.node)


@pytest.mark.parametrize('kwargs,match', [(dict(method='KL'), 'method must be one of'),
                                          (dict(activations='int4'), 'activations must be'),
                                          (dict(calibration_inputs=[]), 'calibration_inputs is empty')])
def test_quantize_onnx_refuses_bad_arguments_naming_them(stem_onnx, tmp_path, kwargs, match):
    path, feeds = stem_onnx
    kwargs = dict(dict(calibration_inputs=feeds), **kwargs)
    with pytest.raises(ValueError, match=match):
        quantize_onnx(path, str(tmp_path / 'x.onnx'), **kwargs)
    assert not (tmp_path / 'x.onnx').exists()


def test_image_files_finds_images_at_any_depth_whatever_the_case(tmp_path):
    for name in ('a/x.JPEG', 'a/b/y.png', 'z.txt'):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b'')
    assert image_files(str(tmp_path)) == [str(tmp_path / 'a/b/y.png'), str(tmp_path / 'a/x.JPEG')]
    with pytest.raises(FileNotFoundError, match='no images'):
        image_files(str(tmp_path / 'a/b/none'))


@pytest.mark.slow
@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_quantize_tool_writes_int8_that_keeps_the_top1_on_a_tiny_set(backend, tiny_classifier, tmp_path):
    import quantize as tool
    if backend == 'openvino':
        pytest.importorskip('nncf', reason="nncf is not installed (the 'deploy' extra)")
    # the session's tiny classifier (Paddle B0 backbone, seeded head) on a small set: 10 + 10 images
    config, checkpoint, data = TINY_CLS_CONFIG, str(tiny_classifier), tmp_path / 'data'
    make_tiny_imagenet(data, num_train=2, num_val=2)
    work = tmp_path / 'work'
    tool.main([str(REPO / f'configs/deploy/classification_{backend}_dynamic.py'), config, checkpoint,
               str(data / 'train'), str(data / 'val'), '--work-dir', str(work), '--min-agreement', '1'])
    report = json.loads((work / 'quantize_report.json').read_text())
    assert report['backend'] == backend and report['passed'] and report['error'] is None
    assert report['num_calibration_images'] == 10 and report['int8']['num_images'] == 10
    # the float32 export computes the PyTorch model's function
    assert report['fp32']['top1_agreement'] == 1.0 and report['fp32']['logit_error'] <= 1e-4
    # the bound, and the PyTorch model's top-1 on every image
    assert report['int8']['top1_agreement'] == 1.0
    assert 0 < report['int8']['logit_error'] < 1  # random weights: how close says nothing more
    int8 = Path(report['files']['int8'])
    assert int8 == work / ('end2end_int8.xml' if backend == 'openvino' else 'end2end_int8.onnx')
    if backend == 'openvino':
        from hgnet_backbones.deploy.openvino import is_int8
        assert is_int8(str(int8)) and report['gate']['int8_metric'] == 1.0
    else:
        assert any(n.op_type == 'QuantizeLinear' for n in onnx.load(str(int8)).graph.node)
        assert int8.stat().st_size < Path(report['files']['fp32']).stat().st_size / 2
        assert report['gate']['tries'][0] == dict(method='MinMax', num_excluded=0, top1_agreement=1.0)

def _export_classifier(kind: str, path) -> tuple:
    """A small classifier with a badly quantizable activation, as ONNX, and 40 inputs: 'inner', one
    channel of the first conv's output with 1000 times the others' range that nothing reads
    (per-tensor int8 spends its levels on it); 'input', the same in a channel of the graph input,
    which no node can keep from being quantized but the first conv."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(), torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 1000)).eval()
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randn(1, 3, 16, 16, generator=g) for _ in range(40)]
    with torch.no_grad():
        if kind == 'inner':
            model[0].weight[0] *= 1000
            model[0].bias[0] = 1000
            model[2].weight[:, 0] = 0
        else:
            model[0].weight[:, 0] = 0
            for x in inputs:
                x[:, 0] *= 1000
    return _export(model, inputs[0], path), [dict(input=x.numpy()) for x in inputs]


def test_onnx_runtime_gate_keeps_the_costly_nodes_in_float_until_the_agreement_holds(tmp_path):
    from hgnet_backbones.deploy.quantize import quantize_onnx_with_agreement
    path, feeds = _export_classifier('inner', tmp_path / 'inner.onnx')
    out = tmp_path / 'int8.onnx'
    report = quantize_onnx_with_agreement(path, str(out), feeds[:20], feeds[20:], min_agreement=1.0)
    # no calibration method saves it: the outlier channel is a sixteenth of the values
    assert [t['top1_agreement'] for t in report['tries'][:3]] == [0.0, 0.0, 0.0]
    assert report['top1_agreement'] == 1.0 and report['out_file'] == str(out)
    assert 0 < len(report['excluded_nodes']) < 9  # the prepared graph's 9 nodes
    graph = onnx.load(str(out)).graph
    assert any(n.op_type == 'QuantizeLinear' for n in graph.node)
    x = feeds[20:]
    assert [int(np.argmax(_run(str(out), f['input']))) for f in x] == \
        [int(np.argmax(_run(path, f['input']))) for f in x]


def test_onnx_runtime_gate_that_cannot_hold_names_agreement_and_bound_and_writes_nothing(tmp_path):
    from hgnet_backbones.deploy.openvino import AccuracyBoundError
    from hgnet_backbones.deploy.quantize import quantize_onnx_with_agreement
    path, feeds = _export_classifier('input', tmp_path / 'input.onnx')
    with pytest.raises(AccuracyBoundError, match=r'agreement with float32 is at most 0\.\d+ on 20 '
                       r'validation inputs .* below min_agreement=1; .*int8.onnx was not written') as e:
        quantize_onnx_with_agreement(path, str(tmp_path / 'int8.onnx'), feeds[:20], feeds[20:], 1.0)
    assert e.value.result['out_file'] is None and e.value.result['top1_agreement'] < 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ['input.onnx']


def test_onnx_runtime_gate_refuses_histogram_calibration_on_inputs_of_several_shapes(tmp_path):
    from hgnet_backbones.deploy.openvino import AccuracyBoundError
    from hgnet_backbones.deploy.quantize import quantize_onnx_with_metric, refused_method
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 1))
    path = str(tmp_path / 'conv.onnx')
    torch.onnx.export(model, (torch.randn(1, 3, 8, 8), ), path, dynamo=False, opset_version=17,
                      input_names=['input'], dynamic_axes={'input': {2: 'h', 3: 'w'}})
    g = torch.Generator().manual_seed(0)
    feeds = [dict(input=torch.randn(1, 3, 8 + i, 8, generator=g).numpy()) for i in range(4)]
    assert refused_method('MinMax', feeds) is None
    assert 'same shape' in refused_method('Entropy', feeds)
    assert refused_method('Entropy', feeds[:1]) is None

    def closeness(outputs, targets):  # higher is better: minus the largest error, in % of the range
        return -100 * max(float(np.abs(o[0] - t[0]).max() / np.abs(t[0]).max())
                          for o, t in zip(outputs, targets))
    out = tmp_path / 'int8.onnx'
    with pytest.raises(AccuracyBoundError, match=r'int8 costs at least [\d.]+ of the metric on 4 '
                       r'validation inputs .*more than max_drop=-1000; .*int8.onnx was not written'):
        quantize_onnx_with_metric(path, str(out), feeds, feeds, closeness, max_drop=-1000,
                                  method='Percentile')
    assert not out.exists()
    report = quantize_onnx_with_metric(path, str(out), feeds, feeds, closeness, max_drop=10,
                                       method='Percentile')
    assert [t['method'] for t in report['tries']] == ['Percentile', 'MinMax']
    assert 'same shape' in report['tries'][0]['refused'] and report['method'] == 'MinMax'
    assert report['float32_metric'] == 0 and 0 < report['drop'] <= 10 and out.is_file()


TINY_DET_CONFIG = str(REPO / 'configs/retinanet/retinanet_hgnetv2-b0_fpn_1xb4-8e_tiny-coco.py')
TINY_SEG_CONFIG = str(REPO / 'configs/upernet/upernet_hgnetv2-b0_1xb4-300iter_tiny-ade20k-128x128.py')


def _quantize_tool(task: str, backend: str, config: str, checkpoint: str, calibration, root,
                   work, max_drop: float) -> dict:
    import quantize as tool
    if backend == 'openvino':
        pytest.importorskip('openvino', reason="openvino is not installed (the 'deploy' extra)")
        pytest.importorskip('nncf', reason="nncf is not installed (the 'deploy' extra)")
    tool.main([str(REPO / f'configs/deploy/{task}_{backend}_dynamic.py'), config, checkpoint,
               str(calibration), str(root), '--work-dir', str(work), '--max-drop', str(max_drop),
               '--max-calibration-images', '8'])
    return json.loads((work / 'quantize_report.json').read_text())


@pytest.mark.slow
@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_quantize_tool_writes_a_tiny_detectors_int8_within_a_map_drop_it_meets(
        backend, tiny_run, tmp_path):
    root, work = tiny_run['work_dir'] / 'tiny_coco', tmp_path / 'work'
    report = _quantize_tool('detection', backend, TINY_DET_CONFIG, tiny_run['checkpoint'],
                            root / 'train', root, work, max_drop=2)
    gate = report['gate']
    assert report['passed'] and report['metric'] == 'coco/bbox_mAP'
    assert report['num_validation'] == 24 and report['num_calibration_images'] == 8
    # points: the float32 export is the trained detector (mAP >= 0.04, as in test_evaluate)
    assert gate['float32_metric'] >= 4 and report['pytorch_metric'] >= 4
    assert gate['float32_metric'] - gate['int8_metric'] == pytest.approx(gate['drop'])
    assert gate['drop'] <= 2
    int8 = Path(report['files']['int8'])
    assert int8 == work / ('end2end_int8.xml' if backend == 'openvino' else 'end2end_int8.onnx')
    if backend == 'openvino':
        from hgnet_backbones.deploy.openvino import is_int8
        assert is_int8(str(int8))
    else:
        assert any(n.op_type == 'QuantizeLinear' for n in onnx.load(str(int8)).graph.node)


@pytest.mark.slow
@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_quantize_tool_fails_clearly_and_writes_nothing_where_the_map_bound_cannot_hold(
        backend, tiny_run, tmp_path, capsys):
    root, work = tiny_run['work_dir'] / 'tiny_coco', tmp_path / 'work'
    with pytest.raises(SystemExit) as exit_:  # int8 50 points of mAP above float32: never
        _quantize_tool('detection', backend, TINY_DET_CONFIG, tiny_run['checkpoint'],
                       root / 'train', root, work, max_drop=-50)
    assert exit_.value.code == 1
    error = capsys.readouterr().err
    assert re.search(r'int8 costs (at least )?-?[\d.]+ of the metric on 24 validation inputs .*'
                     r'more than max_drop=-50; .*end2end_int8\.(onnx|xml) was not written', error)
    report = json.loads((work / 'quantize_report.json').read_text())
    assert not report['passed'] and report['error'] in error and 'int8' not in report['files']
    assert not list(work.glob('end2end_int8*'))


@pytest.mark.slow
def test_quantize_tool_writes_a_tiny_segmentors_int8_within_a_miou_drop_it_meets(
        tiny_seg_run, tmp_path):
    root, seg_work, _ = tiny_seg_run
    work = tmp_path / 'work'
    report = _quantize_tool('segmentation', 'onnxruntime', TINY_SEG_CONFIG,
                            str(seg_work / 'iter_300.pth'), root / 'images/training', root, work,
                            max_drop=2)
    gate = report['gate']
    assert report['passed'] and report['metric'] == 'mIoU' and report['num_validation'] == 16
    assert gate['float32_metric'] >= 25 and abs(report['pytorch_metric'] - gate['float32_metric']) < 0.5
    assert gate['drop'] <= 2 and (work / 'end2end_int8.onnx').is_file()


def test_use_test_root_points_the_test_set_and_its_coco_annotations_at_the_folder(tmp_path):
    from hgnet_backbones.apis import load_config
    from hgnet_backbones.deploy.quantize import use_test_root
    cfg = load_config(TINY_DET_CONFIG)
    moved = use_test_root(cfg, str(tmp_path))
    assert moved.test_dataloader.dataset.data_root == f'{tmp_path}/'
    assert moved.test_evaluator.ann_file == f'{tmp_path}/annotations/instances_val.json'
    assert cfg.test_dataloader.dataset.data_root == 'data/tiny_coco/'  # a copy
    seg = use_test_root(load_config(TINY_SEG_CONFIG), str(tmp_path))
    assert seg.test_dataloader.dataset.data_root == f'{tmp_path}/' and 'ann_file' not in seg.test_evaluator
    with pytest.raises(FileNotFoundError, match='no validation set at'):
        use_test_root(cfg, str(tmp_path / 'none'))


def test_quantize_refuses_a_detector_without_a_metric_drop_bound(tmp_path):
    from hgnet_backbones.deploy.quantize import quantize
    with pytest.raises(ValueError, match='give max_drop'):
        quantize(str(REPO / 'configs/deploy/detection_onnxruntime_dynamic.py'), TINY_DET_CONFIG, None,
                 ['a.jpg'], str(tmp_path), str(tmp_path / 'work'))
    assert not (tmp_path / 'work').exists()
