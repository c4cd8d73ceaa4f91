"""Speed and memory of HGNetV2 against timm's hgnetv2_b* in the same run, written as a Markdown table,
a CSV and a chart of PaddleClas's ImageNet top-1 against the measured latency.

    python tools/benchmark.py                              # B0-B6 on the CPU
    python tools/benchmark.py --archs B0 B4 --device cuda  # fp32/fp16/bf16 on a GPU

Paths: timm eager (the baseline), ours eager, ours deploy (BN folded), + channels_last, + torch.compile
(Inductor with freezing; channels_last on a CPU), ONNX Runtime (CPU; its idle threads don't spin, so
they take no core from the next path timed), TensorRT (GPU, fp32 and fp16, where `tensorrt` >= 10 and
the deploy extra are installed). Each path's output is checked against our eager model before it is timed.
"""
import argparse
import copy
import csv
import io
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.utils import ProgressBar

from hgnet_backbones.analysis import count_flops, count_params, relative_error
from hgnet_backbones.fileio import atomic_path, write_text
from hgnet_backbones.weights.convert import to_timm_state_dict
from hgnet_backbones.weights.zoo import MODEL_ZOO

TOOLS = os.path.dirname(os.path.abspath(__file__))
INFERENCE_PATHS = ('timm eager', 'ours eager', 'ours deploy', 'ours deploy channels_last',
                   'ours deploy compile', 'ours onnxruntime', 'ours tensorrt')
GPU_PRECISIONS = ('fp32', 'fp16', 'bf16')


@dataclass
class Result:
    arch: str
    device: str
    path: str
    precision: str
    batch: int
    median_ms: float
    iqr_ms: float
    images_per_s: float
    max_rel_err: float  # against our eager model on the same input
    vs_timm: Optional[float] = None  # median / timm eager's median (same arch, device, batch, precision)
    extra: Dict = field(default_factory=dict)


def measure(fns: Dict[str, Callable], x: torch.Tensor, warmup: int, repeats: int
            ) -> Dict[str, List[float]]:
    """Wall times (ms) of ``repeats`` calls of each ``fn(x)``, after ``warmup`` calls of each.

    The calls are interleaved (one of each path per round), so a load that comes and goes on the
    machine weighs on every path alike and their ratios stay fair.
    """
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    times = {name: [] for name in fns}
    with torch.inference_mode():
        for fn in fns.values():
            for _ in range(warmup):
                fn(x)
        sync()
        for _ in range(repeats):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn(x)
                sync()
                times[name].append((time.perf_counter() - start) * 1e3)
    return times


def _quartiles(times: Sequence[float]):
    if len(times) < 2:
        return times[0], 0.0
    q = statistics.quantiles(times, n=4)
    return statistics.median(times), q[2] - q[0]


def _last(out):
    return out[-1] if isinstance(out, (tuple, list)) else out


def ours(arch: str, **kwargs) -> torch.nn.Module:
    from hgnet_backbones.models import HGNetV2
    torch.manual_seed(0)
    model = HGNetV2(arch=arch, **kwargs)  # torch's default init: init_weights() would only log
    _randomise_norms(model)
    return model.eval()


def _randomise_norms(model: torch.nn.Module) -> None:
    """Non-trivial BN statistics and LAB values, so that checks between paths mean something."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.2)
        elif type(m).__name__ == 'LearnableAffineBlock':
            m.scale.data.fill_(float(torch.rand(1, generator=g)) + 0.5)
            m.bias.data.fill_(float(torch.randn(1, generator=g)) * 0.3)


def timm_model(arch: str, ours_model: torch.nn.Module) -> torch.nn.Module:
    """timm's ``hgnetv2_<arch>`` carrying our model's weights (names mapped back)."""
    import timm
    model = timm.create_model(f'hgnetv2_{arch.lower()}', pretrained=False).eval()
    missing, unexpected = model.load_state_dict(to_timm_state_dict(ours_model.state_dict()),
                                                strict=False)
    if unexpected or any(not k.startswith('head.') for k in missing):
        raise RuntimeError(f'timm hgnetv2_{arch.lower()} does not match: {missing} {unexpected}')
    return model


def deploy(model: torch.nn.Module) -> torch.nn.Module:
    model = copy.deepcopy(model)
    model.switch_to_deploy()
    return model


def compiled(model: torch.nn.Module, channels_last: bool) -> Callable:
    """``torch.compile`` of a copy of ``model`` with Inductor's freezing on (without autograd the
    weights become constants, folded and, on a CPU, prepacked for oneDNN once instead of reordered
    on every call), in channels_last where asked. Freezing is an Inductor setting of the process:
    it is switched on here, for the benchmark."""
    import torch._inductor.config as inductor_config
    inductor_config.freezing = True
    model = copy.deepcopy(model)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    fn = torch.compile(model, dynamic=False)
    if not channels_last:
        return fn
    return lambda t: fn(t.contiguous(memory_format=torch.channels_last))


def onnxruntime_fn(model: torch.nn.Module, x: torch.Tensor, threads: int) -> Callable:
    import onnxruntime as ort
    buffer = io.BytesIO()
    torch.onnx.export(model, (x, ), buffer, dynamo=False, opset_version=17,
                      input_names=['input'], dynamic_axes={'input': {0: 'batch'}})
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # idle ORT threads would otherwise spin on the cores the interleaved torch paths run on
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    session = ort.InferenceSession(buffer.getvalue(), options, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    return lambda t: torch.from_numpy(session.run(None, {name: t.numpy()})[-1])


def tensorrt_fn(model: torch.nn.Module, example: torch.Tensor, fp16: bool, work_dir: str) -> Callable:
    """A TensorRT engine of ``model`` (ONNX with a dynamic batch of 1 to ``len(example)``), built and
    run by :mod:`hgnet_backbones.deploy` (TensorRT >= 10 Python API); ``fp16`` sets the FP16 builder
    flag (inputs and outputs stay float32)."""
    from hgnet_backbones.deploy import TensorRTWrapper, build_tensorrt_engine
    onnx_file = os.path.join(work_dir, 'backbone.onnx')
    torch.onnx.export(model, (example[:1], ), onnx_file, dynamo=False, opset_version=17,
                      input_names=['input'], output_names=['output'],
                      dynamic_axes={'input': {0: 'batch'}, 'output': {0: 'batch'}})
    shape = list(example.shape[1:])
    deploy_cfg = Config(dict(backend_config=dict(
        type='tensorrt', common_config=dict(fp16_mode=fp16, max_workspace_size=1 << 30),
        model_inputs=[dict(input_shapes=dict(input=dict(
            min_shape=[1, *shape], opt_shape=[1, *shape], max_shape=[len(example), *shape])))])))
    engine = build_tensorrt_engine(onnx_file, os.path.join(work_dir, 'backbone.engine'), deploy_cfg,
                                   device=str(example.device))
    wrapper = TensorRTWrapper(engine, device=str(example.device), output_names=['output'])
    return lambda t: wrapper({'input': t})['output']


def _paths(arch: str, device: str, precision: str, wanted: Sequence[str], threads: int,
           example: torch.Tensor) -> Dict[str, Callable]:
    """Callables for each wanted inference path (those available here); ``example`` holds the
    largest batch."""
    eager = ours(arch).to(device)
    fns = {'ours eager': eager}
    if 'timm eager' in wanted:
        fns['timm eager'] = timm_model(arch, eager).to(device).forward_features
    needs_deploy = [p for p in wanted if 'deploy' in p]
    if needs_deploy and hasattr(eager, 'switch_to_deploy'):
        fused = deploy(eager)
        fns['ours deploy'] = fused
        if 'ours deploy channels_last' in wanted:
            fused_cl = copy.deepcopy(fused).to(memory_format=torch.channels_last)
            fns['ours deploy channels_last'] = \
                lambda t: fused_cl(t.contiguous(memory_format=torch.channels_last))
        if 'ours deploy compile' in wanted:
            fns['ours deploy compile'] = compiled(fused, channels_last=device == 'cpu')
    if 'ours onnxruntime' in wanted and device == 'cpu' and precision == 'fp32':
        try:
            source = fns.get('ours deploy', eager)
            fns['ours onnxruntime'] = onnxruntime_fn(source, example[:1], threads)
        except ImportError:
            pass
    if 'ours tensorrt' in wanted and device != 'cpu' and precision in ('fp32', 'fp16'):
        try:
            from hgnet_backbones.deploy import tensorrt_unavailable_reason
            available = tensorrt_unavailable_reason(device) is None
        except ImportError:  # the deploy extra (mmdeploy) is not installed
            available = False
        if available:
            fns['ours tensorrt'] = tensorrt_fn(fns.get('ours deploy', eager), example,
                                               precision == 'fp16', tempfile.mkdtemp())
    return {k: v for k, v in fns.items() if k in wanted}


def _autocast(device: str, precision: str):
    if precision == 'fp32':
        return torch.autocast(device, enabled=False)
    return torch.autocast(device, dtype={'fp16': torch.float16, 'bf16': torch.bfloat16}[precision])


def run_inference(archs: Sequence[str], device: str = 'cpu', batches: Sequence[int] = (1, 8),
                  paths: Sequence[str] = INFERENCE_PATHS, precisions: Sequence[str] = ('fp32', ),
                  warmup: int = 5, repeats: int = 30, size: int = 224,
                  progress: Optional[Callable[[str], None]] = None) -> List[Result]:
    """Latency (batch 1) and throughput (larger batches) of each path, with timm's ratio."""
    threads = torch.get_num_threads()
    results = []
    for arch in archs:
        for precision in precisions:
            example = torch.randn(max(batches), 3, size, size, device=device)
            fns = _paths(arch, device, precision, paths, threads, example)
            for batch in batches:
                x = example[:batch]
                if progress:
                    progress(f'{arch} {device} {precision} batch {batch}')
                with torch.inference_mode(), _autocast(device, precision):
                    ref = _last(fns['ours eager'](x)) if 'ours eager' in fns else None
                    errors = {name: relative_error(_last(fn(x)), ref) if ref is not None
                              else float('nan') for name, fn in fns.items()}
                with _autocast(device, precision):
                    times = measure(fns, x, warmup, repeats)
                medians = {name: _quartiles(t) for name, t in times.items()}
                timm_median = medians.get('timm eager', (None, ))[0]
                for name in [p for p in paths if p in fns]:
                    median, iqr = medians[name]
                    results.append(Result(arch, device, name, precision, batch, median, iqr,
                                          batch * 1e3 / median, errors[name],
                                          median / timm_median if timm_median else None))
    return results


def model_sizes(arch: str, size: int = 224) -> Dict:
    """Parameters and FLOPs (one multiply-add = one FLOP) of the backbone and the full classifier."""
    from mmengine.registry import DefaultScope
    from mmpretrain.models import ImageClassifier
    backbone = ours(arch)
    # mmpretrain's registries, whatever default scope an earlier mmdet/mmseg build left
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = ImageClassifier(
            backbone=dict(type='HGNetV2', arch=arch), neck=dict(type='GlobalAveragePooling'),
            head=dict(type='HGNetV2ClsHead', arch=arch, num_classes=1000)).eval()
    shape = (1, 3, size, size)
    return dict(backbone_params=count_params(backbone), backbone_flops=count_flops(backbone, shape),
                classifier_params=count_params(classifier),
                classifier_flops=count_flops(classifier, shape))


def _hwm_and_rss():
    status = open('/proc/self/status').read().split('\n')
    read = {line.split(':')[0]: int(line.split()[1]) * 1024 for line in status if line[:5] in
            ('VmHWM', 'VmRSS')}
    return read['VmHWM'], read['VmRSS']


def train_step_peak_memory(arch: str, batch: int, with_cp: bool, device: str = 'cpu',
                           size: int = 224) -> int:
    """Peak memory (bytes) one training step (forward, backward, SGD update) adds on top of the live
    model, gradients and input.

    On CUDA: ``max_memory_allocated``. On the CPU, measured in a fresh process through the kernel's
    peak-RSS counter (reset with ``/proc/self/clear_refs``) after a warm-up step and ``malloc_trim``.
    """
    if device != 'cpu':
        return _train_step_peak(arch, batch, with_cp, device, size)
    code = (f'import json, sys; sys.path.insert(0, {TOOLS!r}); from benchmark import _train_step_peak; '
            f'print(json.dumps(_train_step_peak({arch!r}, {batch}, {with_cp}, "cpu", {size})))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads())))
    return int(json.loads(out.stdout.strip().splitlines()[-1]))


def _train_step_peak(arch: str, batch: int, with_cp: bool, device: str, size: int) -> int:
    torch.manual_seed(0)
    model = ours(arch, with_cp=with_cp).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(batch, 3, size, size, device=device)

    def step():
        optimizer.zero_grad(set_to_none=False)
        loss = sum(o.float().square().mean() for o in model(x))
        loss.backward()
        optimizer.step()

    step()  # gradients and momentum now exist: they are part of the baseline
    if device != 'cpu':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    import ctypes
    ctypes.CDLL('libc.so.6').malloc_trim(0)
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # reset the peak-RSS counter
    base = _hwm_and_rss()[1]
    step()
    return _hwm_and_rss()[0] - base


def write_table(results: List[Result], sizes: Dict[str, Dict], memory: List[Dict], out_dir: str,
                command: str) -> Dict[str, str]:
    """Write ``benchmark.md``, ``benchmark.csv`` and ``benchmark.png`` to ``out_dir`` (atomically)."""
    os.makedirs(out_dir, exist_ok=True)
    files = {'md': os.path.join(out_dir, 'benchmark.md'), 'csv': os.path.join(out_dir, 'benchmark.csv'),
             'png': os.path.join(out_dir, 'benchmark.png')}
    write_text(files['md'], markdown(results, sizes, memory, command))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[k for k in asdict(results[0]) if k != 'extra'])
    writer.writeheader()
    for r in results:
        row = asdict(r)
        row.pop('extra')
        writer.writerow(row)
    write_text(files['csv'], buffer.getvalue())
    chart(results, files['png'])
    return files


def markdown(results: List[Result], sizes: Dict[str, Dict], memory: List[Dict], command: str) -> str:
    lines = [f'Command: `{command}`', '',
             f'Machine: {torch.get_num_threads()} threads, torch {torch.__version__}'
             + (f', {torch.cuda.get_device_name()}' if torch.cuda.is_available() else ''), '']
    if sizes:
        lines += ['| arch | top-1 (PaddleClas) | backbone params (M) | backbone GFLOPs | '
                  'classifier params (M) | classifier GFLOPs |', '|---|---|---|---|---|---|']
        for arch, s in sizes.items():
            lines.append(f"| {arch} | {MODEL_ZOO[arch]['top1']} | {s['backbone_params'] / 1e6:.2f} | "
                         f"{s['backbone_flops'] / 1e9:.2f} | {s['classifier_params'] / 1e6:.2f} | "
                         f"{s['classifier_flops'] / 1e9:.2f} |")
        lines.append('')
    lines += ['| arch | device | precision | path | batch | median ms (IQR) | images/s | '
              'vs timm eager | max rel err vs ours eager |', '|---|---|---|---|---|---|---|---|---|']
    for r in results:
        ratio = f'{r.vs_timm:.2f}' if r.vs_timm is not None else '-'
        lines.append(f'| {r.arch} | {r.device} | {r.precision} | {r.path} | {r.batch} | '
                     f'{r.median_ms:.2f} ({r.iqr_ms:.2f}) | {r.images_per_s:.1f} | {ratio} | '
                     f'{r.max_rel_err:.1e} |')
    if memory:
        lines += ['', '| arch | device | batch | training step peak, no with_cp (MB) | with_cp (MB) | '
                  'ratio |', '|---|---|---|---|---|---|']
        for m in memory:
            lines.append(f"| {m['arch']} | {m['device']} | {m['batch']} | {m['plain'] / 2**20:.0f} | "
                         f"{m['with_cp'] / 2**20:.0f} | {m['with_cp'] / m['plain']:.2f} |")
    return '\n'.join(lines) + '\n'


def chart(results: List[Result], path: str) -> None:
    """ImageNet top-1 (PaddleClas's SSLD stage-2 numbers) against measured batch-1 latency."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    groups = {}
    for r in results:
        if r.batch == 1 and r.arch in MODEL_ZOO:
            groups.setdefault((r.device, r.precision, r.path), []).append(r)
    for (device, precision, name), rows in sorted(groups.items()):
        rows.sort(key=lambda r: MODEL_ZOO[r.arch]['top1'])
        ax.plot([r.median_ms for r in rows], [MODEL_ZOO[r.arch]['top1'] for r in rows], marker='o',
                label=f'{name} ({device}, {precision})')
        for r in rows:
            ax.annotate(r.arch, (r.median_ms, MODEL_ZOO[r.arch]['top1']), fontsize=7,
                        xytext=(3, 3), textcoords='offset points')
    ax.set_xlabel('latency, batch 1, 224x224 (ms, measured)')
    ax.set_ylabel('ImageNet top-1 (%, PaddleClas SSLD)')
    ax.set_title('PP-HGNetV2 accuracy vs latency')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format='png')
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--archs', nargs='+', default=['B0', 'B1', 'B2', 'B3', 'B4', 'B5', 'B6'])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batches', nargs='+', type=int, default=[1, 8],
                        help='1 gives latency; larger batches give throughput')
    parser.add_argument('--paths', nargs='+', default=list(INFERENCE_PATHS), choices=INFERENCE_PATHS)
    parser.add_argument('--precisions', nargs='+', choices=GPU_PRECISIONS,
                        help='default: fp32 on the CPU, all three on a GPU')
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--repeats', type=int, default=30)
    parser.add_argument('--memory-archs', nargs='*', default=['B0', 'B4'],
                        help='training-step peak memory with and without with_cp')
    parser.add_argument('--memory-batch', type=int, default=8)
    parser.add_argument('--no-sizes', action='store_true', help='skip the params/FLOPs table')
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    args = parser.parse_args(argv)
    precisions = args.precisions or (['fp32'] if args.device == 'cpu' else list(GPU_PRECISIONS))

    steps = len(args.archs) * len(precisions) * len(args.batches) \
        + 2 * len(args.memory_archs) + (0 if args.no_sizes else len(args.archs))
    bar = ProgressBar(steps)
    sizes = {}
    if not args.no_sizes:
        for arch in args.archs:
            sizes[arch] = model_sizes(arch)
            bar.update()
    results = run_inference(args.archs, args.device, args.batches, args.paths, precisions,
                            args.warmup, args.repeats, progress=lambda _: bar.update())
    memory = []
    for arch in args.memory_archs:
        row = dict(arch=arch, device=args.device, batch=args.memory_batch)
        for key, with_cp in (('plain', False), ('with_cp', True)):
            row[key] = train_step_peak_memory(arch, args.memory_batch, with_cp, args.device)
            bar.update()
        memory.append(row)
    command = 'python tools/benchmark.py ' + shlex.join(argv if argv is not None else sys.argv[1:])
    files = write_table(results, sizes, memory, args.out_dir, command)
    print()
    print(open(files['md']).read())
    print('wrote', ', '.join(files.values()))


if __name__ == '__main__':
    main()
