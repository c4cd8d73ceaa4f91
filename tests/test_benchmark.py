import csv
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'tools'))


def test_benchmark_runs_end_to_end_on_b0_and_writes_table_csv_chart(tmp_path, capsys):
    import benchmark as tool
    tool.main(['--archs', 'B0', '--batches', '1', '2', '--warmup', '1', '--repeats', '2',
               '--paths', 'timm eager', 'ours eager', 'ours deploy', 'ours deploy channels_last',
               '--memory-archs', 'B0', '--memory-batch', '1', '--out-dir', str(tmp_path)])
    rows = list(csv.DictReader(open(tmp_path / 'benchmark.csv')))
    paths = {r['path'] for r in rows}
    assert {'timm eager', 'ours eager'} <= paths
    assert {int(r['batch']) for r in rows} == {1, 2}
    for r in rows:
        assert float(r['median_ms']) > 0
        assert float(r['vs_timm']) == pytest.approx(float(r['median_ms']) / next(
            float(t['median_ms']) for t in rows if t['path'] == 'timm eager' and t['batch'] == r['batch']))
        if r['path'].startswith('ours'):
            assert float(r['max_rel_err']) <= 1e-3, r  # every path computes the same function
    table = (tmp_path / 'benchmark.md').read_text()
    assert '| B0 | cpu | fp32 | ours eager | 1 |' in table
    assert 'training step peak' in table
    assert (tmp_path / 'benchmark.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert 'benchmark.md' in capsys.readouterr().out


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


def test_tensorrt_path_builds_an_engine_for_batches_up_to_the_largest(monkeypatch, tmp_path):
    """TensorRT itself needs a GPU; here the builder and runner are stand-ins that record what the
    benchmark asks of them and run the exported ONNX in ONNX Runtime."""
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
