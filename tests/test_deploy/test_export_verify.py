"""Export through mmdeploy to ONNX, checked in ONNX Runtime against PyTorch (and TensorRT where present).

The models carry the Paddle fixture's B0 backbone weights; detection and segmentation heads are
randomly initialised. Test pipelines keep the image size (no resize), so the dynamic-shape graphs run
at two input sizes: the image and a crop of it.
"""
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config

pytest.importorskip('mmdeploy', reason='the deploy extra is not installed (HGNET_EXTRAS without deploy)')

import onnx  # noqa: E402

from hgnet_backbones.apis import build_model  # noqa: E402
from hgnet_backbones.deploy import custom_operators, deploy, operator_counts  # noqa: E402
from hgnet_backbones.compat.mmdeploy import mmdeploy_export  # noqa: E402
from hgnet_backbones.deploy.export import check_deploy_config  # noqa: E402
from hgnet_backbones.deploy.verify import TOLERANCES, passed  # noqa: E402
from hgnet_backbones.tiny_data import load_photo  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / 'configs/deploy'
DEPLOY_CONFIGS = sorted(DEPLOY.glob('*.py'))
CLASSIFIER = 'configs/hgnetv2/hgnetv2-b0_8xb128_in1k.py'

# Operators TensorRT's ONNX parser imports ("Y" rows of docs/operators.md of onnx/onnx-tensorrt at
# 96e781103cfc4adf4a6bb557e94bac8e693f6f4c, "ONNX-TensorRT 10.1 GA release", opsets 9-20):
# https://github.com/onnx/onnx-tensorrt/blob/96e781103cfc4adf4a6bb557e94bac8e693f6f4c/docs/operators.md
TENSORRT_ONNX_OPS = set("""
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Cast CastLike
Ceil Celu Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DeformConv
DepthToSpace DequantizeLinear Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather
GatherElements GatherND Gelu Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool Greater GreaterOrEqual
GridSample GroupNormalization GRU HardSigmoid HardSwish Hardmax Identity If ImageScaler
InstanceNormalization IsInf IsNaN LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax Loop LRN
LSTM LpNormalization LpPool MatMul Max MaxPool Mean MeanVarianceNormalization Min Mish Mod Mul Neg
NonMaxSuppression NonZero Not OneHot Or Pad ParametricSoftplus Pow PRelu QuantizeLinear RandomNormal
RandomNormalLike RandomUniform RandomUniformLike Range Reciprocal ReduceLogSum ReduceLogSumExp ReduceMax
ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize ReverseSequence RNN
RoiAlign Round ScaledTanh Scan Scatter ScatterElements ScatterND Selu Shape Shrink Sigmoid Sign Sin Sinh
Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu
Tile TopK Transpose Trilu Unsqueeze Upsample Where Xor
""".split())
# The same document's restrictions that an exported graph could break.
RESIZE_MODES = {'nearest', 'linear'}
RESIZE_COORDINATES = {'half_pixel', 'pytorch_half_pixel', 'tf_half_pixel_for_nn', 'asymmetric',
                      'align_corners'}


# the detectors' test pipeline here: the image at its own size
DETECTION_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale_factor=1.0, keep_ratio=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]


def _model_config(path: str, paddle_fixtures: Path, pipeline: list) -> Config:
    """``path`` with the fixture's backbone weights and a test pipeline that keeps the image size."""
    cfg = Config.fromfile(str(REPO / path))
    if cfg.model.backbone.get('init_cfg'):
        cfg.model.backbone.init_cfg = dict(
            type='Pretrained', checkpoint=str(paddle_fixtures / 'PPHGNetV2_B0.pdparams'))
    cfg.test_pipeline = pipeline
    cfg.test_dataloader.dataset.pipeline = pipeline
    return cfg


def _initialised(cfg: Config):
    """The model of ``cfg`` after ``init_weights`` (the backbone's weights, the rest seeded)."""
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    return model


def _save(cfg: Config, model, folder: Path, name: str):
    cfg_file, checkpoint = folder / f'{name}.py', folder / f'{name}.pth'
    cfg.dump(str(cfg_file))
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    return str(cfg_file), str(checkpoint)


@pytest.fixture(scope='module')
def image(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp('image') / 'cat.png'
    mmcv.imwrite(mmcv.imresize(load_photo('cat')[..., ::-1], (160, 128)), str(path))
    return str(path)


@pytest.fixture(scope='module')
def classifier(paddle_fixtures, tmp_path_factory):
    cfg = _model_config(CLASSIFIER, paddle_fixtures,
                        [dict(type='LoadImageFromFile'), dict(type='PackInputs')])
    cfg_file = tmp_path_factory.mktemp('classifier') / 'classifier.py'
    cfg.dump(str(cfg_file))
    return str(cfg_file), str(paddle_fixtures / 'PPHGNetV2_B0.pdparams')  # a full classifier


@pytest.fixture(scope='module')
def retinanet(paddle_fixtures, tmp_path_factory):
    cfg = _model_config('configs/retinanet/retinanet_hgnetv2-b0_fpn_1x_coco.py', paddle_fixtures,
                        DETECTION_PIPELINE)
    model = _initialised(cfg)
    with torch.no_grad():  # spread the class scores so that a few dozen pass score_thr=0.05
        torch.nn.init.normal_(model.bbox_head.retina_cls.weight, std=0.2)
        model.bbox_head.retina_cls.bias.fill_(-5.2)
    return _save(cfg, model, tmp_path_factory.mktemp('retinanet'), 'retinanet')


@pytest.fixture(scope='module')
def rtdetr(paddle_fixtures, tmp_path_factory):
    cfg = _model_config('configs/rtdetr/rtdetr_hgnetv2-b0_1xb4-6e_tiny-coco.py', paddle_fixtures,
                        DETECTION_PIPELINE)
    model = _initialised(cfg)
    with torch.no_grad():  # spread the class scores of the queries
        for branch in model.bbox_head.cls_branches:
            torch.nn.init.normal_(branch.weight, std=0.2)
    return _save(cfg, model, tmp_path_factory.mktemp('rtdetr'), 'rtdetr')


@pytest.fixture(scope='module')
def dfine(tmp_path_factory):
    cfg = Config.fromfile(str(REPO / 'configs/dfine/dfine_hgnetv2-n_1xb4-6e_tiny-coco.py'))
    cfg.test_pipeline = cfg.test_dataloader.dataset.pipeline = DETECTION_PIPELINE
    # the crop (96x120, padded to 96x128) gives 6x8 + 3x4 = 60 tokens to select the queries from
    cfg.model.num_queries = 50
    cfg.model.decoder.eval_idx = -2  # inference stops a layer short of the last
    model = _initialised(cfg)
    head = model.bbox_head
    with torch.no_grad():  # spread the class scores, and make FDR and the LQE move them
        for branch in head.cls_branches:
            torch.nn.init.normal_(branch.weight, std=0.2)
        for branch in head.reg_branches:
            torch.nn.init.normal_(branch[-1].weight, std=0.05)
        for lqe in head.lqe_layers:
            torch.nn.init.normal_(lqe.reg_conf.layers[-1].weight, std=0.5)
    return _save(cfg, model, tmp_path_factory.mktemp('dfine'), 'dfine')


@pytest.fixture(scope='module')
def upernet(paddle_fixtures, tmp_path_factory):
    cfg = _model_config('configs/upernet/upernet_hgnetv2-b0_4xb4-160k_ade20k-512x512.py',
                        paddle_fixtures,
                        [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')])
    model = _initialised(cfg)
    return _save(cfg, model, tmp_path_factory.mktemp('upernet'), 'upernet')


def _check_graph(onnx_file: str):
    counts = operator_counts(onnx_file)
    assert not custom_operators(onnx_file)
    assert set(counts) <= TENSORRT_ONNX_OPS, sorted(set(counts) - TENSORRT_ONNX_OPS)
    graph = onnx.load(onnx_file).graph
    constants = {i.name for i in graph.initializer} | {
        o for n in graph.node if n.op_type == 'Constant' for o in n.output}
    for node in graph.node:
        if node.op_type == 'Slice' and len(node.input) > 3 and node.input[3]:
            assert node.input[3] in constants, f'{node.name}: Slice axes must be an initializer'
        if node.op_type == 'Resize':
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            assert attrs.get('mode', b'nearest').decode() in RESIZE_MODES, node.name
            assert attrs.get('coordinate_transformation_mode', b'half_pixel').decode() in \
                RESIZE_COORDINATES, node.name
    return counts


def _check_two_sizes(results):
    assert len(results) == 2
    assert results[0]['input_shape'] != results[1]['input_shape']


@pytest.mark.slow
def test_classifier_onnx_matches_pytorch_at_two_sizes(classifier, image, tmp_path):
    report = deploy(str(DEPLOY / 'classification_onnxruntime_dynamic.py'), *classifier, image,
                    str(tmp_path), device='cpu')
    counts = _check_graph(report['onnx'])
    assert 'BatchNormalization' not in counts and counts['Softmax'] == 1
    _check_two_sizes(report['onnxruntime'])
    for result in report['onnxruntime']:
        assert result['logit_error'] <= 1e-4 and result['same_top1'], result
    assert (tmp_path / 'deploy_report.json').is_file()


@pytest.mark.slow
def test_retinanet_onnx_keeps_the_same_detections_at_two_sizes(retinanet, image, tmp_path):
    report = deploy(str(DEPLOY / 'detection_onnxruntime_dynamic.py'), *retinanet, image,
                    str(tmp_path), device='cpu')
    counts = _check_graph(report['onnx'])
    assert counts['NonMaxSuppression'] == 1 and 'BatchNormalization' not in counts
    _check_two_sizes(report['onnxruntime'])
    for result in report['onnxruntime']:
        # fewer than max_per_img=100 kept: the comparison is not decided by a cut among equals
        assert 0 < result['num_reference'] < 100, result
        assert result['num_backend'] == result['num_reference'] and result['matched'] == 1.0, result
        assert result['box_error'] <= 1e-3 and result['score_error'] <= 1e-5, result


@pytest.mark.slow
def test_rtdetr_onnx_keeps_the_same_detections_at_two_sizes(rtdetr, image, tmp_path):
    report = deploy(str(DEPLOY / 'detection_onnxruntime_dynamic.py'), *rtdetr, image,
                    str(tmp_path), device='cpu')
    counts = _check_graph(report['onnx'])
    # the deformable attention samples with GatherElements (no grid_sample, no custom op)
    assert counts['GatherElements'] > 0 and 'GridSample' not in counts
    assert 'NonMaxSuppression' not in counts and 'BatchNormalization' not in counts
    _check_two_sizes(report['onnxruntime'])
    for result in report['onnxruntime']:
        # max_per_img=100 of the 100 queries x 3 classes, no score threshold, as mmdet's DETR heads
        assert result['num_reference'] == result['num_backend'] == 100, result
        # boxes are relative to the padded input: at the second size (96x120, padded to 96x128) one
        # box lies wholly in the padding and clips to zero width, pairing with nothing on either side
        assert result['matched'] >= 99 / 101, result
        assert result['box_error'] <= 1e-3 and result['score_error'] <= 1e-5, result


@pytest.mark.slow
def test_dfine_onnx_keeps_the_same_detections_at_two_sizes(dfine, image, tmp_path):
    report = deploy(str(DEPLOY / 'detection_onnxruntime_dynamic.py'), *dfine, image,
                    str(tmp_path), device='cpu')
    counts = _check_graph(report['onnx'])
    # D-FINE's attention samples with GatherElements too: 4 corners x 2 levels x 2 layers run
    assert counts['GatherElements'] >= 16 and 'GridSample' not in counts
    assert 'NonMaxSuppression' not in counts and 'BatchNormalization' not in counts
    _check_two_sizes(report['onnxruntime'])
    for result in report['onnxruntime']:
        # max_per_img=100 of the 50 queries x 3 classes
        assert result['num_reference'] == result['num_backend'] == 100, result
        assert result['matched'] == 1.0, result
        assert result['box_error'] <= 1e-3 and result['score_error'] <= 1e-5, result


@pytest.mark.slow
def test_upernet_onnx_labels_agree_at_two_sizes(upernet, image, tmp_path):
    report = deploy(str(DEPLOY / 'segmentation_onnxruntime_dynamic.py'), *upernet, image,
                    str(tmp_path), device='cpu')
    counts = _check_graph(report['onnx'])
    assert counts['ArgMax'] == 1 and 'BatchNormalization' not in counts
    _check_two_sizes(report['onnxruntime'])
    # at the second size (96x120) stage 4 is 3x4, which the pyramid pools to 2, 3 and 6 bins
    for result in report['onnxruntime']:
        assert result['pixel_agreement'] >= 0.999, result


# the fixture of each task's model
OPENVINO_CASES = {'classifier': 'classification', 'dfine': 'detection', 'retinanet': 'detection',
                  'rtdetr': 'detection', 'upernet': 'segmentation'}


@pytest.mark.parametrize('model', [pytest.param(m, marks=pytest.mark.slow) if m == 'dfine' else m
                                   for m in sorted(OPENVINO_CASES)])
def test_openvino_ir_gives_pytorchs_predictions_at_two_sizes_in_fp32(model, request, image, tmp_path):
    pytest.importorskip('openvino', reason="openvino is not installed (the 'deploy' extra)")
    report = deploy(str(DEPLOY / f'{OPENVINO_CASES[model]}_openvino_dynamic.py'),
                    *request.getfixturevalue(model), image, str(tmp_path), device='cpu')
    xml = Path(report['openvino']['xml'])
    assert xml == tmp_path / 'end2end.xml' and xml.with_suffix('.bin').is_file()
    results = report['openvino']['results']
    _check_two_sizes(results)
    for result in results:
        if model == 'classifier':
            assert result['logit_error'] <= 1e-4 and result['same_top1'], result
        elif model == 'retinanet':
            assert 0 < result['num_reference'] < 100, result
            assert result['matched'] == 1.0 and result['score_error'] <= 1e-4, result
        elif model == 'dfine':
            assert result['num_backend'] == 100 and result['matched'] == 1.0, result
            assert result['box_error'] <= 1e-3 and result['score_error'] <= 1e-5, result
        elif model == 'rtdetr':  # one box clips to zero width at the second size, as in ONNX Runtime
            assert result['num_backend'] == 100 and result['matched'] >= 99 / 101, result
        else:
            assert result['pixel_agreement'] >= 0.999, result
        assert result['passed'], result


def test_openvino_bf16_classifier_keeps_the_top1_and_is_computed_in_bf16(classifier, image, tmp_path):
    pytest.importorskip('openvino', reason="openvino is not installed (the 'deploy' extra)")
    from hgnet_backbones.deploy.openvino import cpu_has_bf16
    if not cpu_has_bf16():
        pytest.skip('this CPU has no native bf16 (AVX-512 BF16 or AMX)')
    report = deploy(str(DEPLOY / 'classification_openvino-bf16_dynamic.py'), *classifier, image,
                    str(tmp_path), device='cpu')
    assert report['precision'] == 'bf16'
    for result in report['openvino']['results']:
        # bf16 keeps 8 significant bits: a float32 run would be ~1e-6 off (the ONNX Runtime rows)
        assert 1e-4 < result['logit_error'] <= TOLERANCES['bf16']['logit_error'], result
        assert result['same_top1'] and result['passed'], result


# TensorRT profiles fix the input sizes: the classifier's 224 crop, detection >= 320, segmentation 512
TENSORRT_CASES = {
    'classification_tensorrt_dynamic-224x224-224x224.py': (
        'classifier', Config.fromfile(str(REPO / CLASSIFIER)).test_pipeline),
    'detection_tensorrt_dynamic-320x320-1344x1344.py': ('retinanet', [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(480, 384), keep_ratio=True),
        dict(type='PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
    ]),
    'segmentation_tensorrt_static-512x512.py': ('upernet', [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(512, 512), keep_ratio=False),
        dict(type='PackSegInputs'),
    ]),
}


@pytest.mark.parametrize('deploy_cfg', sorted(TENSORRT_CASES))
def test_tensorrt_engine_matches_pytorch(deploy_cfg, request, image, tmp_path):
    from hgnet_backbones.deploy import tensorrt_unavailable_reason
    reason = tensorrt_unavailable_reason('cuda:0')
    if reason is not None:
        pytest.skip(f'TensorRT engine test needs TensorRT >= 10 and a GPU: {reason}')
    model, pipeline = TENSORRT_CASES[deploy_cfg]
    model_cfg, checkpoint = request.getfixturevalue(model)
    cfg = Config.fromfile(model_cfg)
    cfg.test_pipeline = cfg.test_dataloader.dataset.pipeline = pipeline
    cfg.dump(str(tmp_path / 'model.py'))
    report = deploy(str(DEPLOY / deploy_cfg), str(tmp_path / 'model.py'), checkpoint,
                    image, str(tmp_path), device='cuda:0')
    _check_graph(report['onnx'])
    assert Path(report['tensorrt']['engine']).is_file()
    results = report['onnxruntime'] + report['tensorrt']['results']
    assert results and all(result['passed'] for result in results), results


def test_adaptive_avg_pool_export_is_exact_at_sizes_other_than_traced(tmp_path):
    import onnxruntime as ort
    from mmdeploy.apis.onnx import export

    class Pool(torch.nn.Module):
        def forward(self, x):
            return torch.cat([torch.nn.functional.adaptive_avg_pool2d(x, s).flatten(1)
                              for s in (2, 3, 6)], 1)

    deploy_cfg = Config.fromfile(str(DEPLOY / 'segmentation_onnxruntime_dynamic.py'))
    with mmdeploy_export():
        export(Pool(), torch.randn(1, 2, 12, 12), str(tmp_path / 'pool'), backend='onnxruntime',
               input_names=['input'], output_names=['output'],
               dynamic_axes={'input': {2: 'height', 3: 'width'}},
               context_info=dict(deploy_cfg=deploy_cfg))
    session = ort.InferenceSession(str(tmp_path / 'pool.onnx'), providers=['CPUExecutionProvider'])
    for shape in [(1, 2, 12, 12), (1, 2, 7, 10), (1, 2, 4, 3)]:
        x = torch.randn(*shape)
        ours = session.run(None, {'input': x.numpy()})[0]
        np.testing.assert_allclose(ours, Pool()(x).numpy(), rtol=1e-5, atol=1e-6, err_msg=str(shape))


def test_deformable_attention_rewrite_samples_as_grid_sample_does():
    from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch
    from hgnet_backbones.compat.mmdeploy import multi_scale_deformable_attn__gather
    torch.manual_seed(0)
    shapes = torch.tensor([[10, 12], [5, 6], [3, 3]])
    value = torch.randn(2, int(shapes.prod(1).sum()), 4, 8, dtype=torch.float64)
    # locations beyond the maps too, where grid_sample reads zeros
    locations = torch.rand(2, 7, 4, 3, 4, 2, dtype=torch.float64) * 1.4 - 0.2
    weights = torch.rand(2, 7, 4, 3, 4, dtype=torch.float64).softmax(-1)
    ref = multi_scale_deformable_attn_pytorch(value, shapes, locations, weights)
    ours = multi_scale_deformable_attn__gather(value, shapes, locations, weights)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)  # measured 3e-16 of max |ref|


def test_dfine_sampling_rewrite_samples_as_grid_sample_does():
    from hgnet_backbones.compat.mmdeploy import sample_levels__gather
    from hgnet_backbones.models.dfine.attention import sample_levels
    torch.manual_seed(0)
    shapes, num_points = torch.tensor([[10, 12], [5, 6], [3, 3]]), [3, 6, 2]
    maps = torch.randn(6, 8, int(shapes.prod(1).sum()), dtype=torch.float64)
    # locations beyond the maps too, where grid_sample reads zeros
    locations = torch.rand(6, 7, sum(num_points), 2, dtype=torch.float64) * 1.4 - 0.2
    ref = sample_levels(maps, shapes, locations, num_points)
    ours = sample_levels__gather(maps, shapes, locations, num_points)
    assert ref.shape == (6, 8, 7, 11)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize('path', DEPLOY_CONFIGS, ids=[p.name for p in DEPLOY_CONFIGS])
def test_deploy_configs_are_complete_and_deployable(path):
    cfg = Config.fromfile(str(path))
    check_deploy_config(cfg)
    task = path.name.split('_')[0]
    assert cfg.codebase_config.type == {'classification': 'mmpretrain', 'detection': 'mmdet',
                                        'segmentation': 'mmseg'}[task]
    assert cfg.onnx_config.input_names == ['input']
    assert ('_dynamic' in path.name) == bool(cfg.onnx_config.get('dynamic_axes'))
    backend = cfg.backend_config.type
    assert path.name.split('_')[1].split('-')[0] == backend
    if backend == 'tensorrt':
        assert cfg.backend_config.common_config.fp16_mode == ('-fp16' in path.name)
        (profile, ) = cfg.backend_config.model_inputs
        shapes = profile.input_shapes.input
        assert all(a <= b <= c for a, b, c in zip(shapes.min_shape, shapes.opt_shape,
                                                  shapes.max_shape))
        sizes = path.stem.split('_')[-1].split('-')[1:]  # mmdeploy naming: min and max HxW
        assert sizes == [f'{s[2]}x{s[3]}' for s in (shapes.min_shape, shapes.max_shape)][:len(sizes)]
    if backend == 'openvino':
        assert cfg.backend_config.precision == ('bf16' if '-bf16' in path.name else 'fp32')
    if '_static-' in path.name:
        height, width = path.stem.split('-')[-1].split('x')
        assert cfg.onnx_config.input_shape == [int(width), int(height)]


@pytest.mark.parametrize('change,match', [
    (dict(backend_config=dict(type='ncnn')), "backend_config.type is 'ncnn'"),
    (dict(codebase_config=dict(post_processing=dict(pre_top_k=5000))), 'pre_top_k=5000 exceeds'),
    (dict(backend_config=dict(type='openvino', precision='int8')),
     "backend_config.precision is 'int8'.*tools/quantize.py"),
])
def test_check_deploy_config_names_what_cannot_be_deployed(change, match):
    cfg = Config.fromfile(str(DEPLOY / 'detection_tensorrt_dynamic-320x320-1344x1344.py'))
    cfg.merge_from_dict(change)
    with pytest.raises(ValueError, match=match):
        check_deploy_config(cfg)


def test_deploy_names_a_missing_image(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.jpg'):
        deploy(str(DEPLOY / 'classification_onnxruntime_dynamic.py'), str(REPO / CLASSIFIER), None,
               str(tmp_path / 'missing.jpg'), str(tmp_path))


@pytest.mark.parametrize('precision', sorted(TOLERANCES))
def test_verification_fails_a_classifier_whose_top1_changed_however_close_its_logits(precision):
    close = dict(logit_error=0.0)
    assert passed(dict(close, same_top1=True), TOLERANCES[precision])
    assert not passed(dict(close, same_top1=False), TOLERANCES[precision])
