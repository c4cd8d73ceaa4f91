import csv
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
TINY_CLS_CONFIG = str(REPO / 'configs/hgnetv2/hgnetv2-b0_1xb8-4e_tiny-in.py')


@pytest.mark.slow
def test_benchmark_runs_end_to_end_on_b0_and_writes_table_csv_chart(tmp_path, capsys):
    import benchmark as tool
    tool.main(['--archs', 'B0', '--batches', '1', '2', '--warmup', '1', '--repeats', '2',
               '--paths', 'timm eager', 'ours eager', 'ours deploy', 'ours deploy channels_last',
               'ours onnxruntime', '--train-archs', '--memory-archs', 'B0', '--memory-batch', '1',
               '--out-dir', str(tmp_path), '--write-table', str(tmp_path / 'docs_table.md')])
    rows = list(csv.DictReader(open(tmp_path / 'benchmark.csv')))
    paths = {r['path'] for r in rows}
    assert {'timm eager', 'ours eager', 'ours deploy', 'ours onnxruntime'} <= paths
    assert {int(r['batch']) for r in rows} == {1, 2} and {r['kind'] for r in rows} == {'inference'}
    for r in rows:
        assert float(r['median_ms']) > 0
        assert float(r['vs_timm']) == pytest.approx(float(r['median_ms']) / next(
            float(t['median_ms']) for t in rows if t['path'] == 'timm eager' and t['batch'] == r['batch']))
        if r['path'].startswith('ours'):
            assert float(r['max_rel_err']) <= 1e-3, r  # every path computes the same function
    table = (tmp_path / 'benchmark.md').read_text()
    assert '| B0 | cpu | fp32 | ours eager | 1 |' in table
    assert 'training step peak' in table
    cpu = tool.machine()
    assert f"Machine: {cpu['cpu']} (" in table and set(cpu['cpu_flags']) <= set(tool.CPU_FLAGS)
    assert (tmp_path / 'benchmark.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert 'benchmark.md' in capsys.readouterr().out
    # the same tables for the docs, under the command that wrote them
    docs_table = (tmp_path / 'docs_table.md').read_text()
    assert docs_table.startswith('<!-- Written by tools/benchmark.py --write-table; regenerate with\n'
                                 '  python tools/benchmark.py --archs B0 ')
    assert docs_table.endswith('\n\n' + table)


@pytest.mark.slow
def test_training_steps_check_outputs_and_gradients_against_ours_and_time_every_path():
    import benchmark as tool
    # B4 has no LAB, so timm's zero-padded stem pool computes what ours does: the gradients of the
    # two, named differently, must agree
    setting = dict(batch=2, size=64, norm_eval=True, frozen_stages=0)
    rows = tool.run_training(['B4'], settings={'small': setting}, repeats=2,
                             paths=['timm eager', 'timm channels_last', 'ours eager',
                                    'ours channels_last'])
    assert [r.path for r in rows] == ['timm eager', 'timm channels_last', 'ours eager',
                                      'ours channels_last']
    timm = rows[0].median_ms
    for r in rows:
        assert (r.kind, r.batch, r.size) == ('training small', 2, 64)
        assert r.median_ms > 0 and r.vs_timm == pytest.approx(r.median_ms / timm)
        assert r.max_rel_err <= 1e-4 and r.extra['grad_rel_err'] <= 1e-4, r


@pytest.mark.slow
def test_with_cp_lowers_training_step_peak_memory():
    from benchmark import train_step_peak_memory
    plain = train_step_peak_memory('B0', 2, with_cp=False)
    ckpt = train_step_peak_memory('B0', 2, with_cp=True)
    assert 0 < ckpt < plain


def test_model_sizes_builds_the_classifier_whatever_the_default_scope():
    from mmengine.registry import DefaultScope

    from benchmark import model_sizes
    # an mmseg or mmdet build earlier in the process leaves its scope as the default
    with DefaultScope.overwrite_default_scope('mmseg'):
        sizes = model_sizes('B0', size=64)
    assert round(sizes['backbone_params'] / 1e6, 2) == 1.85  # PaddleClas's count
    assert round(sizes['classifier_params'] / 1e6, 2) == 6.00
    assert sizes['classifier_flops'] > sizes['backbone_flops'] > 0


def test_openvino_rows_pin_their_precision_and_carry_their_output_check_against_ours_eager(monkeypatch):
    pytest.importorskip('openvino', reason="openvino is not installed (the 'deploy' extra)")
    import benchmark as tool
    paths = ['timm eager', 'ours eager', 'ours openvino', 'ours openvino bf16']

    def rows():
        return {r.path: r for r in tool.run_inference(['B0'], batches=[1], paths=paths, warmup=1,
                                                      repeats=2, size=64)}
    bf16 = tool.cpu_has_bf16()
    checked = rows()
    assert list(checked) == [p for p in paths if bf16 or 'bf16' not in p]
    for r in checked.values():
        assert r.median_ms > 0 and r.vs_timm == pytest.approx(r.median_ms / checked['timm eager'].median_ms)
    assert checked['ours openvino'].precision == 'fp32' and checked['ours openvino'].max_rel_err <= 1e-4
    if bf16:  # computed in bf16 (not fp32), as close as bf16 is (tests/test_deploy/test_openvino.py)
        assert checked['ours openvino bf16'].precision == 'bf16'
        assert 1e-4 < checked['ours openvino bf16'].max_rel_err < 0.1
    # the error in a row is that path's own output, measured against ours eager
    openvino_fn = tool.openvino_fn
    monkeypatch.setattr(tool, 'openvino_fn', lambda *args: (lambda t, fn=openvino_fn(*args): fn(t) * 1.5))
    assert all(0.4 < r.max_rel_err < 0.6 for p, r in rows().items() if 'openvino' in p)


def test_tensorrt_path_requests_an_engine_for_batches_up_to_the_largest_from_its_onnx(monkeypatch,
                                                                                    tmp_path):
    """What the TensorRT path asks of the deploy module: the engine request (fp16 flag, an optimisation
    profile from batch 1 to the largest) and an ONNX export whose batch axis is dynamic, run here in
    ONNX Runtime. TensorRT itself cannot be installed here (PITFALLS.md): its builder and runner are
    replaced, so nothing of TensorRT runs in this test."""
    import onnxruntime as ort
    import torch

    import benchmark

    from hgnet_backbones import deploy
    seen = {}

    def build(onnx_file, engine_file, deploy_cfg, device):
        seen.update(onnx=onnx_file, cfg=deploy_cfg, device=device)
        return engine_file

    class Runner:
        def __init__(self, engine_file, device, output_names):
            self.session = ort.InferenceSession(seen['onnx'], providers=['CPUExecutionProvider'])
            self.output_names = output_names

        def __call__(self, inputs):
            outs = self.session.run(self.output_names, {k: v.numpy() for k, v in inputs.items()})
            return dict(zip(self.output_names, map(torch.from_numpy, outs)))

    monkeypatch.setattr(deploy, 'build_tensorrt_engine', build)
    monkeypatch.setattr(deploy, 'TensorRTWrapper', Runner)
    model = benchmark.deploy(benchmark.ours('B0'))
    example = torch.randn(4, 3, 64, 64)
    fn = benchmark.tensorrt_fn(model, example, fp16=True, work_dir=str(tmp_path))
    backend = seen['cfg'].backend_config
    assert backend.common_config.fp16_mode is True
    assert backend.model_inputs[0].input_shapes.input == dict(
        min_shape=[1, 3, 64, 64], opt_shape=[1, 3, 64, 64], max_shape=[4, 3, 64, 64])
    with torch.no_grad():
        for batch in (1, 4):  # the ONNX batch axis is dynamic
            ref = model(example[:batch])[-1]
            assert float((fn(example[:batch]) - ref).abs().max() / ref.abs().max()) <= 1e-5


@pytest.mark.slow
def test_int8_and_bf16_paths_report_agreement_and_latency_against_timm(tiny_classifier, tmp_path):
    import benchmark as tool

    from hgnet_backbones.tiny_data import make_tiny_imagenet
    # the session's tiny classifier (Paddle B0 backbone, seeded head) on a small set: 10 + 10 images
    config, checkpoint, data = TINY_CLS_CONFIG, str(tiny_classifier), tmp_path / 'data'
    make_tiny_imagenet(data, num_train=2, num_val=2)
    paths = ['timm eager', 'ours deploy', 'ours onnxruntime', 'ours onnxruntime int8',
             'ours openvino int8', 'ours deploy bf16', 'ours openvino bf16']
    rows = {r.path: r for r in tool.run_quantized(config, checkpoint, str(data), str(tmp_path / 'work'),
                                                  paths=paths, warmup=1, repeats=2, size=64)}
    bf16 = tool.cpu_has_bf16()
    assert list(rows) == [p for p in paths if bf16 or 'bf16' not in p]
    precisions = {r.path: r.precision for r in rows.values()}
    assert precisions['ours onnxruntime int8'] == precisions['ours openvino int8'] == 'int8'
    for r in rows.values():
        assert (r.kind, r.batch, r.size) == ('int8/bf16', 1, 64)
        assert r.vs_timm == pytest.approx(r.median_ms / rows['timm eager'].median_ms)
    assert rows['ours deploy'].max_rel_err <= 1e-4 and rows['ours onnxruntime'].max_rel_err <= 1e-4
    # the float32 export agrees with PyTorch on every validation image; int8 is measured on them
    assert rows['ours onnxruntime'].extra['top1_agreement'] == 1.0
    assert rows['ours onnxruntime'].extra['logit_error'] <= 1e-4
    for int8 in ('ours onnxruntime int8', 'ours openvino int8'):
        assert rows[int8].extra['num_images'] == 10
        assert 0 < rows[int8].max_rel_err < 1
    if bf16:
        for path in ('ours deploy bf16', 'ours openvino bf16'):
            assert 0 < rows[path].max_rel_err < 0.1
            assert rows[path].extra['num_images'] == 10
            assert rows[path].extra['logit_error'] < 0.1


def test_detector_output_check_refuses_a_wrong_output_and_says_why():
    import torch

    import benchmark as tool
    g = torch.Generator().manual_seed(0)
    reference = [torch.randn(1, 9, 8, 8, generator=g), torch.randn(1, 4, 8, 8, generator=g)]
    close = [t + 1e-5 for t in reference]
    assert tool.output_check(reference, close, 1e-3)['refused'] is None
    assert tool.output_check(reference, close, 1e-3)['max_rel_err'] < 1e-4
    wrong = [reference[0], reference[1] * 1.5]  # one output of two off by half
    refused = tool.output_check(reference, wrong, 1e-3)
    assert 0.4 < refused['max_rel_err'] < 0.6 and 'more than 0.001' in refused['refused']
    assert 'nan' in tool.output_check(reference, [reference[0], reference[1] * float('nan')],
                                      0.25)['refused']
    assert 'shape' in tool.output_check(reference, [reference[0], reference[1][..., :4]],
                                        1e-3)['refused']
    assert '1 outputs' in tool.output_check(reference, reference[:1], 1e-3)['refused']


@pytest.mark.slow
def test_detector_rows_time_checked_paths_and_report_refused_ones_untimed(monkeypatch, tmp_path):
    import math

    import benchmark as tool
    pytest.importorskip('openvino', reason="openvino is not installed (the 'deploy' extra)")
    monkeypatch.setitem(tool.OUTPUT_TOLERANCE, 'int8', 0.0)  # no int8 output is that close
    paths = ['ours eager', 'ours deploy', 'ours onnxruntime', 'ours openvino', 'ours openvino int8']
    rows = {r.path: r for r in tool.run_detectors(['RetinaNet-B4'], str(tmp_path), paths, warmup=1,
                                                  repeats=2, size=128, calibration_images=2)}
    assert list(rows) == paths and all(r.kind == 'detector' and r.arch == 'RetinaNet-B4' for r in
                                       rows.values())
    for path in paths[:4]:
        assert rows[path].median_ms > 0 and rows[path].max_rel_err <= 1e-3 and not rows[path].extra
    assert rows['ours eager'].vs_timm == 1.0  # ratios to our eager model
    refused = rows['ours openvino int8']
    assert math.isnan(refused.median_ms) and 'more than 0' in refused.extra['refused']
    table = tool.markdown(list(rows.values()), {}, [], 'cmd')
    assert '| RetinaNet-B4 | 128² | ours openvino int8 | int8 | refused: outputs off by' in table


def test_detector_output_check_along_a_query_axis_takes_the_queries_in_any_order_only():
    import torch

    import benchmark as tool
    scores = torch.randn(1, 300, 80, generator=torch.Generator().manual_seed(0))
    swapped = scores[:, torch.cat([torch.tensor([1, 0]), torch.arange(2, 300)])]
    assert tool.output_check([scores], [swapped], 1e-3)['refused'] is not None
    assert tool.output_check([scores], [swapped], 1e-3, query_axis=-2)['refused'] is None
    other = swapped.clone()
    other[0, 5] = 3 * scores.abs().max()  # another query selected
    assert tool.output_check([scores], [other], 1e-3, query_axis=-2)['refused'] is not None
