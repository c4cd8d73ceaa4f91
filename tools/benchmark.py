"""Speed and memory of HGNetV2 against timm's hgnetv2_b* in the same run: inference, training steps and
reduced-precision (int8, bf16) inference, written as a Markdown table, a CSV and a chart of PaddleClas's
ImageNet top-1 against the measured latency.

    python tools/benchmark.py                              # B0-B6 on the CPU
    python tools/benchmark.py --archs B0 B4 --device cuda  # fp32/fp16/bf16 on a GPU
    python tools/benchmark.py --archs B4 --quant-models CONFIG CHECKPOINT --quant-data data/tiny_imagenet
    python tools/benchmark.py --archs --train-archs --memory-archs --no-sizes \\
        --detectors RetinaNet-B4 RT-DETR-B4                # whole detectors, 640x640

Inference paths: timm eager (the baseline), ours eager, ours deploy (BN folded; on a CPU each conv runs
as one oneDNN primitive with its weights reordered once), + channels_last, + torch.compile (Inductor
with freezing; channels_last on a CPU), ONNX Runtime (CPU, or its CUDA provider on a GPU; its idle
threads don't spin, so they take no core from the next path timed), OpenVINO (CPU, fp32 and, where the
CPU has it, bf16, each pinned), TensorRT (GPU, fp32 and fp16, where `tensorrt` >= 10 and the deploy
extra are installed).

Training steps (forward, backward, SGD update; the loss is the mean square of the last stage map):
timm and ours in eager mode, channels_last, and (ours) torch.compile, for a classification input
(batch 8, 224x224, BatchNorm learning its statistics, as the mmpretrain configs train) and a detection
input (batch 2, 640x640, frozen BatchNorm statistics and stem, as the mmdet configs train).

Int8 and bf16 (``--quant-models``, a classifier trained on an ImageNet-format set such as the tiny
one): ONNX Runtime with static int8 quantization and OpenVINO with NNCF's, both calibrated on the set's
training images, and our deploy mode and OpenVINO in bfloat16 (where the CPU has native bf16), timed on
the backbone at 224x224 and compared with float32 on the set's validation images (top-1 agreement,
logits' relative error).

Whole detectors (``--detectors``, :data:`DETECTORS`: RetinaNet-B4, RT-DETR-B4, D-FINE-N, D-FINE-L,
the last two beside transformers' D-FINE with the same weights): the network up to
its raw head outputs at 640x640, batch 1: our eager and deploy models, ONNX Runtime, OpenVINO fp32,
bf16 (where the CPU has it) and int8 (NNCF, calibrated on scikit-image's photos); a path whose outputs
are further from our eager model's than its precision allows (:data:`OUTPUT_TOLERANCE`) is reported
as refused, with the error, and not timed.

Each path's output is checked against our eager model (training: and the gradients) before it is
timed. Timings interleave the paths (one call of each per round), so ratios stay fair on a shared
machine; the header records the CPU, its AVX-512 / VNNI / BF16 / AMX flags and the load average.
"""
import argparse
import copy
import csv
import importlib.util
import io
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.utils import ProgressBar

from hgnet_backbones.analysis import count_flops, count_params, relative_error
from hgnet_backbones.fileio import atomic_path, write_generated_markdown, write_text
from hgnet_backbones.weights.convert import to_timm_state_dict
from hgnet_backbones.weights.zoo import MODEL_ZOO


TOOLS = os.path.dirname(os.path.abspath(__file__))
DEPLOY_CONFIGS = Path(TOOLS).parent / 'configs' / 'deploy'
INFERENCE_PATHS = ('timm eager', 'ours eager', 'ours deploy', 'ours deploy channels_last',
                   'ours deploy compile', 'ours onnxruntime', 'ours openvino', 'ours openvino bf16',
                   'ours tensorrt')
TRAINING_PATHS = ('timm eager', 'timm channels_last', 'ours eager', 'ours channels_last',
                  'ours compile', 'ours compile channels_last')
QUANT_PATHS = ('timm eager', 'ours deploy', 'ours onnxruntime', 'ours onnxruntime int8',
               'ours openvino int8', 'ours deploy bf16', 'ours deploy compile bf16',
               'ours openvino bf16')
# the OpenVINO inference paths and the precision each computes in, pinned (never OpenVINO's choice)
OPENVINO_PATHS = {'ours openvino': 'fp32', 'ours openvino bf16': 'bf16'}
GPU_PRECISIONS = ('fp32', 'fp16', 'bf16')
# what one training step trains: the backbone as this project's mmpretrain configs train it (BN
# statistics learned), and as its mmdet configs do (frozen BN statistics and stem)
TRAINING_SETTINGS = {
    'classification': dict(batch=8, size=224, norm_eval=False, frozen_stages=-1),
    'detection': dict(batch=2, size=640, norm_eval=True, frozen_stages=0),
}
# Whole detectors (the network: backbone, neck, head, up to the raw head outputs; no post-processing),
# 640x640, batch 1: one row of data per detector, its config (weights: its initialisation, statistics
# randomised; 'query_axis': the axis of the outputs along which a DETR lists its selected queries,
# compared in any order: top-k picks among near-equal scores of untrained weights in an order rounding
# decides); 'reference': the D-FINE variant tools/dfine_reference.py builds in transformers, timed in
# the reference interpreter (--reference-transformers) beside ours, whose weights then come from it.
DETECTORS = {
    'RetinaNet-B4': dict(config='configs/retinanet/retinanet_hgnetv2-b4_fpn_1x_coco.py',
                         query_axis=None, reference=None),
    'RT-DETR-B4': dict(config='configs/rtdetr/rtdetr_hgnetv2-b4_4xb4-72e_coco.py', query_axis=-2,
                       reference=None),
    'D-FINE-N': dict(config='configs/dfine/dfine_hgnetv2-n_coco.py', query_axis=-2, reference='n'),
    'D-FINE-L': dict(config='configs/dfine/dfine_hgnetv2-l_coco.py', query_axis=-2, reference='l'),
}
REFERENCE_PATH = 'reference (transformers)'
# the detector paths and the precision each computes in
DETECTOR_PATHS = {'ours eager': 'fp32', 'ours deploy': 'fp32', 'ours onnxruntime': 'fp32',
                  'ours openvino': 'fp32', 'ours openvino bf16': 'bf16', 'ours openvino int8': 'int8'}
# the largest relative error (max|d| / max|ref| over all raw outputs) against our eager model a path
# may show and be timed: fp32 rounding; bf16's 8-bit mantissa; int8 with every layer quantized
OUTPUT_TOLERANCE = {'fp32': 1e-3, 'bf16': 0.1, 'int8': 0.25}
CPU_FLAGS = ('avx2', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'avx_vnni', 'amx_bf16', 'amx_int8')


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
    max_rel_err: float  # output against our eager model (float32) on the same input
    # median / timm eager's median (same arch, device, batch, precision); detectors: / ours eager's
    vs_timm: Optional[float] = None
    kind: str = 'inference'  # or 'training <setting>', 'int8/bf16'
    size: int = 224
    extra: Dict = field(default_factory=dict)


def machine() -> Dict:
    """The CPU (model name and the vector-extension flags that matter here), threads and versions."""
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key.strip() == 'model name':
                    cpu = value.strip()
                elif key.strip() == 'flags':
                    flags = set(value.split())
                    break
    except OSError:
        pass
    info = dict(cpu=cpu, cpu_flags=[f for f in CPU_FLAGS if f in flags], threads=torch.get_num_threads(),
                torch=torch.__version__, load_average=[round(x, 2) for x in os.getloadavg()])
    for package in ('onnxruntime', 'openvino'):
        try:
            info[package] = __import__(package).__version__
        except ImportError:
            pass
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name()
    return info


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX-512 BF16 or AMX)."""
    return bool({'avx512_bf16', 'amx_bf16'} & set(machine()['cpu_flags']))


def measure(fns: Dict[str, Callable[[], object]], warmup: int, repeats: int, cuda: bool = False
            ) -> Dict[str, List[float]]:
    """Wall times (ms) of ``repeats`` calls of each ``fn()``, after ``warmup`` calls of each.

    The calls are interleaved (one of each path per round), so a load that comes and goes on the
    machine weighs on every path alike and their ratios stay fair.
    """
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    times = {name: [] for name in fns}
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync()
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
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


def _channels_last(fn: Callable) -> Callable:
    return lambda t: fn(t.contiguous(memory_format=torch.channels_last))


def compiled(model: torch.nn.Module, channels_last: bool, cuda_graphs: bool = False) -> Callable:
    """``torch.compile`` of a copy of ``model`` with Inductor's freezing on (without autograd the
    weights become constants, folded and, on a CPU, prepacked for oneDNN once instead of reordered
    on every call), in channels_last where asked, replayed as CUDA graphs where ``cuda_graphs`` (mode
    'reduce-overhead': at batch 1 a GPU otherwise waits on the launch of each of hundreds of small
    kernels). Freezing is an Inductor setting of the process that applies to graphs compiled without
    autograd only: it is switched on here, for the benchmark."""
    import torch._inductor.config as inductor_config
    inductor_config.freezing = True
    model = copy.deepcopy(model)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    fn = torch.compile(model, dynamic=False, mode='reduce-overhead' if cuda_graphs else None)
    return _channels_last(fn) if channels_last else fn


def export_backbone_onnx(model: torch.nn.Module, example: torch.Tensor, path: str) -> str:
    """``model`` (on the CPU) to ONNX at ``path``, the batch axis dynamic."""
    with atomic_path(path) as tmp:
        torch.onnx.export(copy.deepcopy(model).cpu().float(), (example[:1].cpu().float(), ), tmp,
                          dynamo=False, opset_version=17, input_names=['input'],
                          output_names=['output'], dynamic_axes={'input': {0: 'batch'}})
    return path


def onnxruntime_fn(onnx_file: str, threads: int, device: str = 'cpu') -> Callable:
    """A call of ``onnx_file`` in ONNX Runtime: its CPU provider, or its CUDA provider on a GPU (input
    bound in place on the device, the output copied back)."""
    import numpy as np
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # idle ORT threads would otherwise spin on the cores the interleaved torch paths run on
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    if device == 'cpu':
        session = ort.InferenceSession(onnx_file, options, providers=['CPUExecutionProvider'])
        name = session.get_inputs()[0].name
        return lambda t: torch.from_numpy(session.run(None, {name: t.numpy()})[-1])
    index = torch.device(device).index or 0
    session = ort.InferenceSession(onnx_file, options, providers=[
        ('CUDAExecutionProvider', dict(device_id=index))])
    name, out_name = session.get_inputs()[0].name, session.get_outputs()[-1].name

    def run(t):
        t = t.contiguous()
        binding = session.io_binding()
        binding.bind_input(name, 'cuda', index, np.float32, tuple(t.shape), t.data_ptr())
        binding.bind_output(out_name, 'cuda', index)
        session.run_with_iobinding(binding)
        return torch.from_numpy(binding.copy_outputs_to_cpu()[0]).to(t.device)
    return run


def openvino_fn(model, precision: str, threads: int) -> Callable:
    """A call of ``model`` (an ONNX file or an OpenVINO model) compiled by OpenVINO for the CPU, in
    ``precision`` on ``threads`` threads (:mod:`hgnet_backbones.deploy.openvino`), once for each
    input shape it is called with (static shapes: the first call, the output check, compiles)."""
    from hgnet_backbones.deploy.openvino import compile_model, run
    compiled_models = {}

    def call(t: torch.Tensor) -> torch.Tensor:
        if t.shape not in compiled_models:
            compiled_models[t.shape] = compile_model(model, precision, threads, input_shape=t.shape)
        return torch.from_numpy(run(compiled_models[t.shape], t.numpy())[-1])

    return call


def onnxruntime_gpu_available() -> bool:
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return 'CUDAExecutionProvider' in ort.get_available_providers()


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
           example: torch.Tensor, work_dir: str) -> Dict[str, Callable]:
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
            fns['ours deploy channels_last'] = _channels_last(
                copy.deepcopy(fused).to(memory_format=torch.channels_last))
        if 'ours deploy compile' in wanted:
            fns['ours deploy compile'] = compiled(fused, channels_last=device == 'cpu',
                                                  cuda_graphs=device != 'cpu')
    source = fns.get('ours deploy', eager)
    onnx_file = os.path.join(work_dir, f'{arch}.onnx')
    if 'ours onnxruntime' in wanted and precision == 'fp32' and (
            device == 'cpu' or onnxruntime_gpu_available()):
        try:
            fns['ours onnxruntime'] = onnxruntime_fn(export_backbone_onnx(source, example, onnx_file),
                                                     threads, device)
        except ImportError:
            pass
    openvino_paths = [p for p, p_precision in OPENVINO_PATHS.items()
                      if p in wanted and (p_precision == 'fp32' or cpu_has_bf16())]
    openvino_installed = importlib.util.find_spec('openvino') is not None
    if openvino_paths and openvino_installed and device == 'cpu' and precision == 'fp32':
        if not os.path.exists(onnx_file):
            export_backbone_onnx(source, example, onnx_file)
        for name in openvino_paths:
            fns[name] = openvino_fn(onnx_file, OPENVINO_PATHS[name], threads)
    if 'ours tensorrt' in wanted and device != 'cpu' and precision in ('fp32', 'fp16'):
        try:
            from hgnet_backbones.deploy import tensorrt_unavailable_reason
            available = tensorrt_unavailable_reason(device) is None
        except ImportError:  # the deploy extra (mmdeploy) is not installed
            available = False
        if available:
            fns['ours tensorrt'] = tensorrt_fn(source, example, precision == 'fp16', work_dir)
    return {k: v for k, v in fns.items() if k in wanted}


def _autocast(device: str, precision: str):
    device = torch.device(device).type
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
            with tempfile.TemporaryDirectory() as work_dir:
                fns = _paths(arch, device, precision, paths, threads, example, work_dir)
                for batch in batches:
                    x = example[:batch]
                    if progress:
                        progress(f'{arch} {device} {precision} batch {batch}')
                    with torch.inference_mode(), _autocast(device, precision):
                        ref = _last(fns['ours eager'](x)) if 'ours eager' in fns else None
                        errors = {name: relative_error(_last(fn(x)), ref) if ref is not None
                                  else float('nan') for name, fn in fns.items()}
                        times = measure({name: (lambda fn=fn: fn(x)) for name, fn in fns.items()},
                                        warmup, repeats, cuda=x.is_cuda)
                    precision_of = {p: OPENVINO_PATHS.get(p, precision) for p in times}
                    results += _results(arch, device, precision_of, batch, size, paths, times, errors)
    return results


def _results(arch, device, precision, batch, size, paths, times, errors, kind='inference',
             extra=None) -> List[Result]:
    """One :class:`Result` per timed path, in the order of ``paths``, with its ratio to timm eager;
    ``precision`` one for all or one per path."""
    medians = {name: _quartiles(t) for name, t in times.items()}
    timm_median = medians.get('timm eager', (None, ))[0]
    rows = []
    for name in [p for p in paths if p in times]:
        median, iqr = medians[name]
        rows.append(Result(arch, device, name, precision if isinstance(precision, str) else
                           precision[name], batch, median, iqr, batch * 1e3 / median,
                           errors[name], median / timm_median if timm_median else None, kind, size,
                           dict((extra or {}).get(name, {}))))
    return rows


def _training_models(arch: str, setting: dict, device: str):
    """Our backbone and timm's (same weights) in training mode, frozen as ``setting`` says."""
    model = ours(arch, norm_eval=setting['norm_eval'], frozen_stages=setting['frozen_stages'])
    reference = timm_model(arch, model).to(device).train()
    model = model.to(device).train()
    if setting['norm_eval']:
        for m in reference.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
    if setting['frozen_stages'] >= 0:  # 0: the stem, as HGNetV2's frozen_stages
        reference.stem.eval()
        for p in reference.stem.parameters():
            p.requires_grad = False
    return model, reference


class TrainingStep:
    """One SGD step (momentum 0.9) of ``module`` on a fixed input: forward (``forward``, under
    autocast for fp16/bf16), the mean square of the last map, backward, update."""

    def __init__(self, module: torch.nn.Module, forward: Callable, x: torch.Tensor, precision: str):
        self.module, self.forward, self.x, self.precision = module, forward, x, precision
        self.optimizer = torch.optim.SGD([p for p in module.parameters() if p.requires_grad],
                                         lr=1e-3, momentum=0.9)

    def __call__(self, update: bool = True) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        with _autocast(self.x.device, self.precision):
            out = _last(self.forward(self.x))
        out.float().square().mean().backward()
        if update:
            self.optimizer.step()
        return out


def _training_steps(arch: str, setting: dict, device: str, precision: str, wanted: Sequence[str]
                    ) -> Dict[str, TrainingStep]:
    model, reference = _training_models(arch, setting, device)
    x = torch.randn(setting['batch'], 3, setting['size'], setting['size'],
                    generator=torch.Generator().manual_seed(0)).to(device)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    steps = {}
    for name in wanted:
        base = reference if name.startswith('timm') else model
        module = copy.deepcopy(base)
        channels_last = name.endswith('channels_last')
        if channels_last:
            module = module.to(memory_format=torch.channels_last)
        forward = module.forward_features if name.startswith('timm') else module
        if 'compile' in name:
            forward = torch.compile(forward)
        steps[name] = TrainingStep(module, forward, x_cl if channels_last else x, precision)
    return steps
def _gradient_error(step: TrainingStep, reference: Dict[str, torch.Tensor], timm: bool) -> float:
    """max|Δ|/max|ref| over every parameter's gradient, ``reference`` named as our backbone's."""
    grads = {n: p.grad for n, p in step.module.named_parameters() if p.grad is not None}
    if timm:
        reference = to_timm_state_dict(reference)
    if set(grads) != set(reference):
        raise RuntimeError(f'gradients of different parameters: {sorted(set(grads) ^ set(reference))}')
    return relative_error(torch.cat([grads[k].flatten() for k in reference]),
                          torch.cat([v.flatten() for v in reference.values()]))


def run_training(archs: Sequence[str], device: str = 'cpu',
                 settings: Dict[str, dict] = TRAINING_SETTINGS, paths: Sequence[str] = TRAINING_PATHS,
                 precisions: Sequence[str] = ('fp32', ), warmup: int = 1, repeats: int = 5,
                 progress: Optional[Callable[[str], None]] = None) -> List[Result]:
    """Time one training step of each path (see :class:`TrainingStep`), interleaved, after checking
    each path's output and gradients (one step from the same weights and input) against our eager
    model's in float32."""
    results = []
    for arch in archs:
        for name, setting in settings.items():
            for precision in precisions:
                if progress:
                    progress(f'{arch} training {name} {precision}')
                steps = _training_steps(arch, setting, device, precision, paths)
                outs = {path: step(update=False).detach() for path, step in steps.items()}
                # every path against our eager model in float32, from the same weights and input
                if precision == 'fp32' and 'ours eager' in steps:
                    reference, reference_out = steps['ours eager'], outs['ours eager']
                else:
                    reference = _training_steps(arch, setting, device, 'fp32', ['ours eager'])
                    reference = reference['ours eager']
                    reference_out = reference(update=False).detach()
                grads = {n: p.grad for n, p in reference.module.named_parameters() if p.grad is not None}
                errors = {path: relative_error(out.float(), reference_out) for path, out in outs.items()}
                extra = {path: dict(grad_rel_err=_gradient_error(step, grads, path.startswith('timm')))
                         for path, step in steps.items()}
                times = measure(steps, warmup, repeats, cuda=torch.device(device).type == 'cuda')
                results += _results(arch, device, precision, setting['batch'], setting['size'], paths,
                                    times, errors, kind=f'training {name}', extra=extra)
    return results


class Bfloat16Backbone(torch.nn.Module):
    """An mmpretrain classifier whose backbone runs in deploy mode in bfloat16 (what 'ours deploy
    bf16' times), the preprocessing and the head in float32; ``test_step`` as the classifier's."""

    def __init__(self, classifier: torch.nn.Module):
        super().__init__()
        self.classifier = classifier
        self.backbone = deploy(classifier.backbone).to(torch.bfloat16)

    @torch.no_grad()
    def test_step(self, data: dict) -> list:
        data = self.classifier.data_preprocessor(data, False)
        feats = self.backbone(data['inputs'].to(torch.bfloat16))
        if self.classifier.with_neck:
            feats = self.classifier.neck(tuple(f.float() for f in feats))
        return self.classifier.head.predict(feats, data['data_samples'])


class OpenVINOClassifier(torch.nn.Module):
    """A classifier exported whole (softmax scores out) and compiled by OpenVINO (what 'ours openvino
    int8' and 'ours openvino bf16' are compared with), ``test_step`` as the PyTorch classifier's, whose
    data preprocessor it runs."""

    def __init__(self, classifier: torch.nn.Module, compiled_model):
        super().__init__()
        self.classifier, self.compiled_model = classifier, compiled_model

    @torch.no_grad()
    def test_step(self, data: dict) -> list:
        from hgnet_backbones.deploy.openvino import run
        data = self.classifier.data_preprocessor(data, False)
        scores = torch.from_numpy(run(self.compiled_model, data['inputs'].numpy())[-1])
        return [sample.set_pred_score(score).set_pred_label(score.argmax(0, keepdim=True))
                for sample, score in zip(data['data_samples'], scores)]


def run_quantized(config: str, checkpoint: str, data_root: str, work_dir: str,
                  paths: Sequence[str] = QUANT_PATHS, method: str = 'MinMax', warmup: int = 5,
                  repeats: int = 30, size: int = 224) -> List[Result]:
    """Int8 (ONNX Runtime and OpenVINO, static quantization) and bf16 paths of a classifier trained on
    the ImageNet-format set at ``data_root``: agreement with float32 on its ``val`` images (the whole
    classifier; int8 calibrated on its ``train`` images), and batch-1 latency of the backbone at
    ``size`` x ``size`` (int8 calibrated on the same training images, resized), beside timm's."""
    import torch.nn.functional as F

    from hgnet_backbones.apis.config import load_config
    from hgnet_backbones.deploy.quantize import (agreement, image_files, model_inputs, quantize,
                                                 quantize_onnx)
    from hgnet_backbones.deploy import build_pytorch_model, verify
    cfg = load_config(config)
    arch = cfg.model.backbone.arch
    deploy_cfg = str(DEPLOY_CONFIGS / 'classification_onnxruntime_dynamic.py')
    train, val = image_files(os.path.join(data_root, 'train')), image_files(os.path.join(data_root, 'val'))
    bf16 = cpu_has_bf16()
    paths = [p for p in paths if bf16 or 'bf16' not in p]
    report = quantize(deploy_cfg, cfg, checkpoint, train, val, work_dir, method, min_agreement=0)
    classifier = build_pytorch_model(cfg, checkpoint)
    threads = torch.get_num_threads()
    train_feeds = model_inputs(deploy_cfg, cfg, train, classifier.data_preprocessor)
    extra = {'ours onnxruntime': report['fp32'], 'ours onnxruntime int8': report['int8']}
    if bf16:
        extra['ours deploy bf16'] = extra['ours deploy compile bf16'] = agreement(
            verify(deploy_cfg, cfg, Bfloat16Backbone(classifier), classifier, val))
    if any('openvino' in p for p in paths):
        from hgnet_backbones.deploy.openvino import compile_model
        from hgnet_backbones.deploy.openvino import quantize as openvino_quantize
        whole = report['files']['fp32']  # the whole classifier, as ONNX Runtime's rows measure it
        whole_compiled = {}
        if 'ours openvino int8' in paths:
            whole_compiled['ours openvino int8'] = compile_model(
                openvino_quantize(whole, [f['input'] for f in train_feeds]), 'fp32', threads)
        if 'ours openvino bf16' in paths:
            whole_compiled['ours openvino bf16'] = compile_model(whole, 'bf16', threads)
        for name, compiled_model in whole_compiled.items():
            backend = OpenVINOClassifier(classifier, compiled_model)
            extra[name] = agreement(verify(deploy_cfg, cfg, backend, classifier, val))

    def resized(feed):
        return F.interpolate(torch.from_numpy(feed['input']), size=(size, size), mode='bilinear',
                             align_corners=False)

    calibration = [dict(input=resized(f).numpy()) for f in train_feeds]
    x = resized(model_inputs(deploy_cfg, cfg, val[:1], classifier.data_preprocessor)[0])
    backbone = copy.deepcopy(classifier.backbone).eval()
    fused = deploy(backbone)
    fns = {'timm eager': timm_model(arch, backbone).forward_features, 'ours deploy': fused}
    onnx_file = export_backbone_onnx(fused, x, os.path.join(work_dir, f'backbone_{size}.onnx'))
    fns['ours onnxruntime'] = onnxruntime_fn(onnx_file, threads)
    int8_file = quantize_onnx(onnx_file, os.path.join(work_dir, f'backbone_{size}_int8.onnx'),
                              calibration, method)
    fns['ours onnxruntime int8'] = onnxruntime_fn(int8_file, threads)
    if 'ours openvino int8' in paths:
        fns['ours openvino int8'] = openvino_fn(
            openvino_quantize(onnx_file, [f['input'] for f in calibration]), 'fp32', threads)
    if bf16:
        fused_bf16 = copy.deepcopy(fused).to(torch.bfloat16)
        fns['ours deploy bf16'] = lambda t: fused_bf16(t.to(torch.bfloat16))
        compiled_bf16 = compiled(fused_bf16, channels_last=True)
        fns['ours deploy compile bf16'] = lambda t: compiled_bf16(t.to(torch.bfloat16))
        if 'ours openvino bf16' in paths:
            fns['ours openvino bf16'] = openvino_fn(onnx_file, 'bf16', threads)
    fns = {k: v for k, v in fns.items() if k in paths}
    with torch.inference_mode():
        ref = _last(backbone(x))
        errors = {name: relative_error(_last(fn(x)).float(), ref) for name, fn in fns.items()}
        times = measure({name: (lambda fn=fn: fn(x)) for name, fn in fns.items()}, warmup, repeats)
    precision = {p: 'int8' if 'int8' in p else 'bf16' if 'bf16' in p else 'fp32' for p in paths}
    return _results(arch, 'cpu', precision, 1, size, paths, times, errors, kind='int8/bf16',
                    extra=extra)


class DetectorNetwork(torch.nn.Module):
    """An mmdet detector's network (``_forward``: backbone, neck, head), its outputs flattened to a
    tuple of tensors, as exported and compared."""

    def __init__(self, detector: torch.nn.Module):
        super().__init__()
        self.detector = detector

    def forward(self, x: torch.Tensor):
        def flat(out):
            if isinstance(out, torch.Tensor):
                return [out]
            if isinstance(out, dict):
                out = list(out.values())
            return [t for o in out for t in flat(o)] if isinstance(out, (list, tuple)) else []
        return tuple(flat(self.detector._forward(x)))


def output_check(reference: Sequence[torch.Tensor], outputs: Sequence[torch.Tensor],
                 tolerance: float, query_axis: Optional[int] = None) -> Dict:
    """``{'max_rel_err', 'refused'}``: how far ``outputs`` are from ``reference`` (the largest relative
    error of any output) and why the path is refused (not timed), or None where it may be; with
    ``query_axis``, each output's values are compared in any order along that axis (each column
    sorted), so the same queries listed in another order compare equal."""
    if len(outputs) != len(reference):
        return dict(max_rel_err=float('nan'), refused=f'{len(outputs)} outputs where PyTorch gives '
                    f'{len(reference)}')
    for i, (out, ref) in enumerate(zip(outputs, reference)):
        if tuple(out.shape) != tuple(ref.shape):
            return dict(max_rel_err=float('nan'), refused=f'output {i} has shape '
                        f'{tuple(out.shape)}, PyTorch\'s {tuple(ref.shape)}')
    if query_axis is not None:
        outputs, reference = ([t.float().sort(query_axis)[0] for t in ts] for ts in (outputs, reference))
    errors = [relative_error(out.float(), ref.float()) for out, ref in zip(outputs, reference)]
    error = max(errors, key=lambda e: (e != e, e))  # a NaN (e != e) is the largest
    if not error <= tolerance:  # NaN too
        return dict(max_rel_err=error, refused=f'outputs off by {error:.2g} relative to PyTorch\'s, '
                    f'more than {tolerance:g}')
    return dict(max_rel_err=error, refused=None)


def _photos(size: int, count: int) -> List[torch.Tensor]:
    """``count`` of scikit-image's photos, resized to ``size`` x ``size`` and normalised as the
    detectors' data preprocessors do (ImageNet mean and std): int8 calibration inputs."""
    import torch.nn.functional as F

    from hgnet_backbones.tiny_data.photos import PHOTOS, load_photo
    mean, std = torch.tensor([123.675, 116.28, 103.53]), torch.tensor([58.395, 57.12, 57.375])
    images = []
    for name in sorted(PHOTOS)[:count]:
        image = torch.from_numpy(load_photo(name)).float()
        image = ((image - mean) / std).permute(2, 0, 1)[None]
        images.append(F.interpolate(image, size=(size, size), mode='bilinear', align_corners=False))
    return images


def detector_network(name: str, size: int = 640) -> torch.nn.Module:
    """The eager network of detector ``name`` (:data:`DETECTORS`): its config's model, no pretrained
    weights, BN statistics and LAB values randomised so that the checks mean something."""
    from hgnet_backbones.apis.config import build_model, load_config
    config = Path(TOOLS).parent / DETECTORS[name]['config']
    cfg = load_config(str(config), {'model.backbone.init_cfg': None})
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    _randomise_norms(model)
    return DetectorNetwork(model).eval()  # all of it: export restores the mode it finds, recursively


def run_reference(variant: str, x: torch.Tensor, work_dir: str, warmup: int, repeats: int,
                  reference_transformers: str) -> Dict:
    """transformers' D-FINE ``variant`` (tools/dfine_reference.py) run on ``x`` and timed in the
    reference interpreter, with this process's thread count: its state dict, logits, boxes and times."""
    if not os.path.isdir(os.path.join(reference_transformers, 'transformers')):
        raise FileNotFoundError(f'no transformers under {reference_transformers}: run tools/env.sh '
                                '(it installs tools/requirements-reference.txt there) or pass '
                                '--reference-transformers')
    inputs, out = (os.path.join(work_dir, f'reference-{variant}-{n}.pt') for n in ('in', 'out'))
    torch.save(x, inputs)
    env = dict(os.environ, PYTHONPATH=reference_transformers,
               OMP_NUM_THREADS=str(torch.get_num_threads()))
    subprocess.run([sys.executable, os.path.join(TOOLS, 'dfine_reference.py'), 'time', variant,
                    inputs, out, str(warmup), str(repeats)], env=env, check=True)
    return torch.load(out)


def run_detectors(names: Sequence[str], work_dir: str, paths: Sequence[str] = tuple(DETECTOR_PATHS),
                  warmup: int = 2, repeats: int = 10, size: int = 640,
                  calibration_images: int = 8,
                  reference_transformers: Optional[str] = None) -> List[Result]:
    """Whole-detector latency at ``size`` x ``size``, batch 1, on the CPU: our eager and deploy
    (backbone fused) networks, ONNX Runtime, OpenVINO fp32, bf16 (where the CPU has it) and int8
    (NNCF, calibrated on ``calibration_images`` photos). Each path's outputs are checked against our
    eager model first (:func:`output_check`, :data:`OUTPUT_TOLERANCE`); a path that fails is
    reported as refused, with why, and not timed. Ratios are to our eager model.

    A detector with a ``reference`` (D-FINE) takes its weights from transformers' model of that
    variant (:func:`run_reference`, in ``reference_transformers``, default
    ``<sys.prefix>/reference-transformers``), whose last layer's outputs are checked against ours and
    whose time is a row of its own (timed in its interpreter after ours, not interleaved)."""
    threads = torch.get_num_threads()
    bf16 = cpu_has_bf16()
    results = []
    os.makedirs(work_dir, exist_ok=True)
    for name in names:
        eager = detector_network(name, size)
        x = _photos(size, 1)[0]
        reference = None
        if DETECTORS[name]['reference'] is not None:
            from hgnet_backbones.weights.convert import convert_dfine_transformers
            reference = run_reference(
                DETECTORS[name]['reference'], x, work_dir, warmup, repeats,
                reference_transformers or os.path.join(sys.prefix, 'reference-transformers'))
            eager.detector.load_state_dict(convert_dfine_transformers(reference['state_dict']))
        fns = {'ours eager': eager}
        if 'ours deploy' in paths:
            fused = copy.deepcopy(eager)
            fused.detector.backbone.switch_to_deploy()
            fns['ours deploy'] = fused
        onnx_file = os.path.join(work_dir, f'{name}.onnx')
        with torch.no_grad(), atomic_path(onnx_file) as tmp:
            torch.onnx.export(fns.get('ours deploy', eager), (x, ), tmp, dynamo=False,
                              opset_version=17, input_names=['input'])
        if 'ours onnxruntime' in paths:
            import onnxruntime as ort
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.add_session_config_entry('session.intra_op.allow_spinning', '0')
            session = ort.InferenceSession(onnx_file, options, providers=['CPUExecutionProvider'])
            fns['ours onnxruntime'] = lambda t: [torch.from_numpy(o) for o in
                                                 session.run(None, {'input': t.numpy()})]
        if importlib.util.find_spec('openvino') is not None:
            from hgnet_backbones.deploy.openvino import compile_model, quantize, run

            def openvino(model, precision):
                compiled_model = compile_model(model, precision, threads)
                return lambda t: [torch.from_numpy(o) for o in run(compiled_model, t.numpy())]
            if 'ours openvino' in paths:
                fns['ours openvino'] = openvino(onnx_file, 'fp32')
            if 'ours openvino bf16' in paths and bf16:
                fns['ours openvino bf16'] = openvino(onnx_file, 'bf16')
            if 'ours openvino int8' in paths:
                calibration = [p.numpy() for p in _photos(size, calibration_images)]
                fns['ours openvino int8'] = openvino(quantize(onnx_file, calibration), 'fp32')
        with torch.inference_mode():
            expected = eager(x)
            checks = {p: output_check(expected, list(fn(x)), OUTPUT_TOLERANCE[DETECTOR_PATHS[p]],
                                      DETECTORS[name]['query_axis']) for p, fn in fns.items()}
            timed = {p: fn for p, fn in fns.items() if checks[p]['refused'] is None}
            times = measure({p: (lambda fn=fn: fn(x)) for p, fn in timed.items()}, warmup, repeats)
        eager_median = _quartiles(times['ours eager'])[0] if 'ours eager' in times else None
        for p in [p for p in paths if p in fns]:
            median, iqr = _quartiles(times[p]) if p in times else (float('nan'), float('nan'))
            results.append(Result(
                name, 'cpu', p, DETECTOR_PATHS[p], 1, median, iqr, 1e3 / median,
                checks[p]['max_rel_err'], median / eager_median if eager_median else None,
                'detector', size, {'refused': checks[p]['refused']} if checks[p]['refused'] else {}))
        if reference is not None:  # our outputs are every layer's (scores, boxes): its are the last
            check = output_check([reference['logits'], reference['pred_boxes']],
                                 [expected[0][-1], expected[1][-1]], OUTPUT_TOLERANCE['fp32'],
                                 DETECTORS[name]['query_axis'])
            median, iqr = (_quartiles(reference['times']) if check['refused'] is None
                           else (float('nan'), float('nan')))
            results.append(Result(
                name, 'cpu', REFERENCE_PATH, 'fp32', 1, median, iqr, 1e3 / median,
                check['max_rel_err'], median / eager_median if eager_median else None, 'detector',
                size, {'refused': check['refused']} if check['refused'] else {}))
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


EXTRA_FIELDS = ('grad_rel_err', 'top1_agreement', 'logit_error', 'num_images')


def write_table(results: List[Result], sizes: Dict[str, Dict], memory: List[Dict], out_dir: str,
                command: str) -> Dict[str, str]:
    """Write ``benchmark.md``, ``benchmark.csv`` and ``benchmark.png`` to ``out_dir`` (atomically)."""
    os.makedirs(out_dir, exist_ok=True)
    files = {'md': os.path.join(out_dir, 'benchmark.md'), 'csv': os.path.join(out_dir, 'benchmark.csv'),
             'png': os.path.join(out_dir, 'benchmark.png')}
    write_text(files['md'], markdown(results, sizes, memory, command))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(Result) if f.name != 'extra']
                            + list(EXTRA_FIELDS))
    writer.writeheader()
    for r in results:
        row = asdict(r)
        extra = row.pop('extra')
        writer.writerow({**row, **{k: extra.get(k, '') for k in EXTRA_FIELDS}})
    write_text(files['csv'], buffer.getvalue())
    chart(results, files['png'])
    return files


def _ratio(r: Result) -> str:
    return f'{r.vs_timm:.2f}' if r.vs_timm is not None else '-'


def markdown(results: List[Result], sizes: Dict[str, Dict], memory: List[Dict], command: str) -> str:
    info = machine()
    lines = [f'Command: `{command}`', '',
             f"Machine: {info['cpu']} ({', '.join(info['cpu_flags']) or 'no AVX2'}), "
             f"{info['threads']} thread{'s' if info['threads'] != 1 else ''}, load average "
             f"{info['load_average']} at the end; "
             f"torch {info['torch']}"
             + ''.join(f', {p} {info[p]}' for p in ('onnxruntime', 'openvino') if p in info)
             + (f", {info['gpu']}" if 'gpu' in info else ''), '']
    if sizes:
        lines += ['| arch | top-1 (PaddleClas) | backbone params (M) | backbone GFLOPs | '
                  'classifier params (M) | classifier GFLOPs |', '|---|---|---|---|---|---|']
        for arch, s in sizes.items():
            lines.append(f"| {arch} | {MODEL_ZOO[arch]['top1']} | {s['backbone_params'] / 1e6:.2f} | "
                         f"{s['backbone_flops'] / 1e9:.2f} | {s['classifier_params'] / 1e6:.2f} | "
                         f"{s['classifier_flops'] / 1e9:.2f} |")
        lines.append('')
    inference = [r for r in results if r.kind == 'inference']
    if inference:
        lines += ['Inference:', '',
                  '| arch | device | precision | path | batch | median ms (IQR) | images/s | '
                  'vs timm eager | max rel err vs ours eager |', '|---|---|---|---|---|---|---|---|---|']
        for r in inference:
            lines.append(f'| {r.arch} | {r.device} | {r.precision} | {r.path} | {r.batch} | '
                         f'{r.median_ms:.2f} ({r.iqr_ms:.2f}) | {r.images_per_s:.1f} | {_ratio(r)} | '
                         f'{r.max_rel_err:.1e} |')
        lines.append('')
    training = [r for r in results if r.kind.startswith('training')]
    if training:
        lines += ['Training step (forward, backward, SGD update):', '',
                  '| arch | setting | device | precision | path | batch x size | median ms (IQR) | '
                  'images/s | vs timm eager | output rel err | gradient rel err (vs ours eager fp32) |',
                  '|---|---|---|---|---|---|---|---|---|---|---|']
        for r in training:
            grad = r.extra.get('grad_rel_err')
            lines.append(f"| {r.arch} | {r.kind.split(' ', 1)[1]} | {r.device} | {r.precision} | "
                         f'{r.path} | {r.batch} x {r.size}² | {r.median_ms:.1f} ({r.iqr_ms:.1f}) | '
                         f'{r.images_per_s:.2f} | {_ratio(r)} | {r.max_rel_err:.1e} | '
                         + (f'{grad:.1e} |' if grad is not None else '- |'))
        lines.append('')
    quantized = [r for r in results if r.kind == 'int8/bf16']
    if quantized:
        lines += ['Int8 and bf16 (latency: the backbone, batch 1; agreement: the whole classifier on '
                  'the validation images, against float32 PyTorch):', '',
                  '| arch | path | precision | median ms (IQR) | vs timm eager (fp32) | backbone '
                  'output rel err | top-1 agreement | logits rel err |', '|---|---|---|---|---|---|---|---|']
        for r in quantized:
            agree = r.extra.get('top1_agreement')
            lines.append(f'| {r.arch} | {r.path} | {r.precision} | {r.median_ms:.2f} ({r.iqr_ms:.2f}) | '
                         f'{_ratio(r)} | {r.max_rel_err:.1e} | '
                         + (f"{agree:.3f} ({r.extra['num_images']} images) | "
                            f"{r.extra['logit_error']:.1e} |" if agree is not None else '- | - |'))
        lines.append('')
    detectors = [r for r in results if r.kind == 'detector']
    if detectors:
        lines += ['Whole detectors (the network up to the raw head outputs, no post-processing; CPU, '
                  'batch 1; each path\'s outputs checked against our eager model before it is timed):',
                  '', '| detector | size | path | precision | median ms (IQR) | vs ours eager | '
                  'max rel err vs ours eager |', '|---|---|---|---|---|---|---|']
        for r in detectors:
            timing = (f"refused: {r.extra['refused']} | - " if 'refused' in r.extra else
                      f'{r.median_ms:.1f} ({r.iqr_ms:.1f}) | {_ratio(r)} ')
            lines.append(f'| {r.arch} | {r.size}² | {r.path} | {r.precision} | {timing}| '
                         f'{r.max_rel_err:.1e} |')
        lines.append('')
    if memory:
        lines += ['| arch | device | batch | training step peak, no with_cp (MB) | with_cp (MB) | '
                  'ratio |', '|---|---|---|---|---|---|']
        for m in memory:
            lines.append(f"| {m['arch']} | {m['device']} | {m['batch']} | {m['plain'] / 2**20:.0f} | "
                         f"{m['with_cp'] / 2**20:.0f} | {m['with_cp'] / m['plain']:.2f} |")
    return '\n'.join(lines).rstrip('\n') + '\n'


def chart(results: List[Result], path: str) -> None:
    """ImageNet top-1 (PaddleClas's SSLD stage-2 numbers) against measured batch-1 latency."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    groups = {}
    for r in results:
        if r.kind == 'inference' and r.batch == 1 and r.arch in MODEL_ZOO:
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
    parser.add_argument('--archs', nargs='*', default=['B0', 'B1', 'B2', 'B3', 'B4', 'B5', 'B6'],
                        help='inference (none: skip it)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batches', nargs='+', type=int, default=[1, 8],
                        help='1 gives latency; larger batches give throughput')
    parser.add_argument('--paths', nargs='+', default=list(INFERENCE_PATHS), choices=INFERENCE_PATHS)
    parser.add_argument('--precisions', nargs='+', choices=GPU_PRECISIONS,
                        help='inference and training; default: fp32 on the CPU, all three on a GPU')
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--repeats', type=int, default=30)
    parser.add_argument('--train-archs', nargs='*', default=['B0', 'B4'],
                        help='training steps (none: skip them)')
    parser.add_argument('--train-settings', nargs='+', default=list(TRAINING_SETTINGS),
                        choices=TRAINING_SETTINGS)
    parser.add_argument('--train-paths', nargs='+', default=list(TRAINING_PATHS),
                        choices=TRAINING_PATHS)
    parser.add_argument('--train-warmup', type=int, default=1)
    parser.add_argument('--train-repeats', type=int, default=5)
    parser.add_argument('--quant-models', nargs='*', default=[], metavar='CONFIG CHECKPOINT',
                        help='classifiers (config and checkpoint pairs) trained on --quant-data, '
                        'for the int8/bf16 paths')
    parser.add_argument('--quant-data', default='data/tiny_imagenet',
                        help='ImageNet-format set (train/ calibrates, val/ measures agreement)')
    parser.add_argument('--quant-method', default='MinMax',
                        choices=['MinMax', 'Percentile', 'Entropy'])
    parser.add_argument('--detectors', nargs='*', default=[], choices=list(DETECTORS),
                        help='whole detectors at 640x640, batch 1 (default: none)')
    parser.add_argument('--detector-paths', nargs='+', default=list(DETECTOR_PATHS),
                        choices=list(DETECTOR_PATHS))
    parser.add_argument('--reference-transformers', metavar='DIR',
                        help="where the D-FINE rows' reference transformers is (default: "
                        '<sys.prefix>/reference-transformers, where tools/env.sh installs it)')
    parser.add_argument('--memory-archs', nargs='*', default=['B0', 'B4'],
                        help='training-step peak memory with and without with_cp')
    parser.add_argument('--memory-batch', type=int, default=8)
    parser.add_argument('--no-sizes', action='store_true', help='skip the params/FLOPs table')
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    parser.add_argument('--write-table', metavar='FILE',
                        help='also write the Markdown tables to FILE, headed by a comment naming this '
                        'command (the docs include docs/_generated/benchmark_*.md)')
    args = parser.parse_args(argv)
    if len(args.quant_models) % 2:
        parser.error('--quant-models takes CONFIG CHECKPOINT pairs')
    precisions = args.precisions or (['fp32'] if args.device == 'cpu' else list(GPU_PRECISIONS))

    steps = len(args.archs) * len(precisions) * len(args.batches) \
        + len(args.train_archs) * len(args.train_settings) * len(precisions) \
        + len(args.quant_models) // 2 + len(args.detectors) + 2 * len(args.memory_archs) \
        + (0 if args.no_sizes else len(args.archs))
    bar = ProgressBar(steps)
    sizes = {}
    if not args.no_sizes:
        for arch in args.archs:
            sizes[arch] = model_sizes(arch)
            bar.update()
    results = run_inference(args.archs, args.device, args.batches, args.paths, precisions,
                            args.warmup, args.repeats, progress=lambda _: bar.update())
    results += run_training(args.train_archs, args.device,
                            {k: TRAINING_SETTINGS[k] for k in args.train_settings}, args.train_paths,
                            precisions, args.train_warmup, args.train_repeats,
                            progress=lambda _: bar.update())
    for config, checkpoint in zip(args.quant_models[::2], args.quant_models[1::2]):
        work_dir = os.path.join(args.out_dir, 'int8_' + Path(checkpoint).parent.name)
        results += run_quantized(config, checkpoint, args.quant_data, work_dir,
                                 method=args.quant_method, warmup=args.warmup, repeats=args.repeats)
        bar.update()
    for name in args.detectors:
        results += run_detectors([name], os.path.join(args.out_dir, 'detectors'),
                                 args.detector_paths, args.warmup, args.repeats,
                                 reference_transformers=args.reference_transformers)
        bar.update()
    memory = []
    for arch in args.memory_archs:
        row = dict(arch=arch, device=args.device, batch=args.memory_batch)
        for key, with_cp in (('plain', False), ('with_cp', True)):
            row[key] = train_step_peak_memory(arch, args.memory_batch, with_cp, args.device)
            bar.update()
        memory.append(row)
    command = 'python tools/benchmark.py ' + shlex.join(argv if argv is not None else sys.argv[1:])
    files = write_table(results, sizes, memory, args.out_dir, command)
    table = open(files['md']).read()
    if args.write_table:
        write_generated_markdown(args.write_table, command, table)
    print()
    print(table)
    print('wrote', ', '.join(files.values()))


if __name__ == '__main__':
    main()
