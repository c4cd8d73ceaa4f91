"""Export to ONNX and TensorRT through mmdeploy 1.3.1, verified against the PyTorch model.

mmdeploy exports through its rewriters (``torch2onnx``) and wraps a backend in end-to-end models that
return the codebase's own data samples; this module keeps both and replaces what does not fit torch
>= 2.9 and TensorRT >= 10:

- torch >= 2.9 defaults ``torch.onnx.export`` to the dynamo exporter, which skips mmdeploy's
  TorchScript rewriters: the export runs with ``dynamo=False`` (see :func:`torch_onnx_for_mmdeploy`).
- mmdeploy's TensorRT rewriters emit its plugin ops (``TRTBatchedNMS``, ``GridPriorsTRT``,
  ``MMCVMultiLevelRoiAlign``), whose library is built for TensorRT 8.6 only, and bake TopK sizes at
  trace time. Every graph here is exported with mmdeploy's standard-op rewriters (those it uses for
  ONNX Runtime): NMS is ONNX ``NonMaxSuppression``, which TensorRT's ONNX parser turns into its NMS
  layer. So the graph ONNX Runtime verifies is the graph TensorRT builds.
- mmdeploy's TensorRT wrapper calls binding APIs removed in TensorRT 10, and its ONNX Runtime wrapper
  loads a custom-op library built for ONNX Runtime 1.15. :class:`TensorRTWrapper` (I/O by tensor
  name, ``execute_async_v3``) and :class:`OnnxRuntimeWrapper` (a plain session) replace them.
- mmdeploy's RoIAlign symbolic imports ``torch.onnx.symbolic_opset9._cast_Long``, gone from torch 2.x;
  it is put back while exporting.
- mmdeploy turns adaptive average pooling (UPerNet's pyramid pooling) into a plain average pool with
  the kernel of the export-time input, which is exact only where the map divides evenly and wrong for
  other sizes of a dynamic graph; :func:`adaptive_avg_pool2d__exact` pools PyTorch's own bins instead.
"""
import contextlib
import copy
import importlib.util
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import mmcv
import numpy as np
import onnx
import torch
from mmdeploy.apis import build_task_processor, torch2onnx
from mmdeploy.backend.base import BaseWrapper
from mmdeploy.codebase.base.backend_model import BaseBackendModel
from mmdeploy.core import FUNCTION_REWRITER
from mmdeploy.utils import (Backend, Task, get_backend, get_codebase_config, get_common_config,
                            get_input_shape, get_ir_config, get_model_inputs, get_task_type,
                            is_dynamic_shape, load_config)
from mmdeploy.utils.constants import TENSORRT_MAX_TOPK
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.runner import load_checkpoint
from torch.nn.modules.utils import _pair

from .apis import build_model

ConfigLike = Union[str, Config]
STANDARD_DOMAINS = ('', 'ai.onnx')

# What verification accepts, by engine precision. Classification: max|Δ|/max|ref| of the logits (from
# the exported softmax scores, centred).
# Detection: the share of detections paired one-to-one (same label, IoU >= 0.5) and the largest box
# (pixels) and score differences of the pairs; the share falls below 1 where mmdeploy's rewrites cut
# differently from mmdet: its pre-NMS top-k keeps anchors by their best class (mmdet: (anchor, class)
# pairs), which matters on large inputs, and its RPN runs one NMS over all levels (mmdet: per level).
# Segmentation: the share of pixels with the same label.
TOLERANCES = {
    'fp32': dict(logit_error=1e-4, matched=0.95, box_error=1e-2, score_error=1e-4,
                 pixel_agreement=0.999),
    'fp16': dict(logit_error=2e-2, matched=0.8, box_error=1.0, score_error=1e-2, pixel_agreement=0.99),
}


def _cast_long(g, input, non_blocking):
    return g.op('Cast', input, to_i=onnx.TensorProto.INT64)


@contextlib.contextmanager
def torch_onnx_for_mmdeploy():
    """Meanwhile, ``torch.onnx.export`` defaults to the TorchScript exporter (``dynamo=False``), and
    ``torch.onnx.symbolic_opset9._cast_Long``, which mmdeploy's RoIAlign symbolic imports and torch
    2.x dropped, is back."""
    export = torch.onnx.export
    opset9 = torch.onnx.symbolic_opset9
    had_cast_long = hasattr(opset9, '_cast_Long')

    def export_torchscript(*args, **kwargs):
        kwargs.setdefault('dynamo', False)
        return export(*args, **kwargs)

    torch.onnx.export = export_torchscript
    if not had_cast_long:
        opset9._cast_Long = _cast_long
    try:
        yield
    finally:
        torch.onnx.export = export
        if not had_cast_long:
            del opset9._cast_Long


@FUNCTION_REWRITER.register_rewriter('torch.nn.functional.adaptive_avg_pool2d',
                                     backend=Backend.ONNXRUNTIME.value)
def adaptive_avg_pool2d__exact(input: torch.Tensor, output_size) -> torch.Tensor:
    """``adaptive_avg_pool2d`` as PyTorch computes it for any input size, from slices and means:
    output row ``i`` of ``o`` averages input rows ``floor(i*n/o)`` to ``ceil((i+1)*n/o)``, likewise
    for columns (a bin is a rectangle, so rows then columns). Registered for the ONNX Runtime backend,
    which every export here uses, so it takes precedence over mmdeploy's default rewriter."""
    ctx = FUNCTION_REWRITER.get_context()
    out_h, out_w = _pair(output_size)
    if out_h == out_w == 1:
        return ctx.origin_func(input, output_size)
    x = input
    for dim, out in ((-2, out_h), (-1, out_w)):
        n = x.shape[dim]
        bins = [x.narrow(dim, i * n // out, ((i + 1) * n + out - 1) // out - i * n // out)
                for i in range(out)]
        x = torch.cat([b.mean(dim, keepdim=True) for b in bins], dim)
    return x


def onnx_deploy_config(deploy_cfg: Config) -> Config:
    """``deploy_cfg`` with the ONNX Runtime backend: what the graph is exported and verified with."""
    cfg = copy.deepcopy(deploy_cfg)
    cfg.backend_config = dict(type=Backend.ONNXRUNTIME.value)
    return cfg


def precision(deploy_cfg: Config) -> str:
    """'fp16' for a TensorRT config with ``fp16_mode``, else 'fp32'."""
    if get_backend(deploy_cfg) == Backend.TENSORRT and get_common_config(deploy_cfg).get('fp16_mode'):
        return 'fp16'
    return 'fp32'


def check_deploy_config(deploy_cfg: Config) -> None:
    """Refuse what this module cannot deploy, naming the value: backends other than ONNX Runtime and
    TensorRT, and for TensorRT a detection ``pre_top_k`` above its TopK limit."""
    backend = get_backend(deploy_cfg)
    if backend not in (Backend.ONNXRUNTIME, Backend.TENSORRT):
        raise ValueError(f"backend_config.type is {backend.value!r}; this tool deploys to "
                         f"'{Backend.ONNXRUNTIME.value}' and '{Backend.TENSORRT.value}'")
    post = get_codebase_config(deploy_cfg).get('post_processing', {})
    if backend == Backend.TENSORRT and post.get('pre_top_k', -1) > TENSORRT_MAX_TOPK:
        raise ValueError(f"codebase_config.post_processing.pre_top_k={post['pre_top_k']} exceeds "
                         f"TensorRT's TopK limit of {TENSORRT_MAX_TOPK}")


def export_onnx(deploy_cfg: ConfigLike, model_cfg: ConfigLike, checkpoint: Optional[str], image,
                work_dir: str) -> str:
    """Export with mmdeploy's ``torch2onnx`` (on the CPU) to ``work_dir/<onnx_config.save_file>``,
    written to a temporary name first. Raises if the graph holds ops outside the ONNX domain."""
    deploy_cfg, model_cfg = load_config(deploy_cfg, model_cfg)
    save_file = get_ir_config(deploy_cfg).get('save_file', 'end2end.onnx')
    tmp_name = f'.{osp.splitext(save_file)[0]}.tmp-{os.getpid()}.onnx'
    path, tmp = osp.join(work_dir, save_file), osp.join(work_dir, tmp_name)
    try:
        with torch_onnx_for_mmdeploy():
            torch2onnx(image, work_dir, tmp_name, onnx_deploy_config(deploy_cfg), model_cfg,
                       checkpoint, device='cpu')
        custom = custom_operators(tmp)
        if custom:
            raise RuntimeError(f'the exported graph holds non-standard ops {custom}')
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return path


def operator_counts(onnx_file: str) -> Dict[str, int]:
    """``{op_type: count}`` of the graph's nodes, ``domain::op_type`` outside the ONNX domain."""
    counts: Dict[str, int] = {}
    for node in onnx.load(onnx_file, load_external_data=False).graph.node:
        name = node.op_type if node.domain in STANDARD_DOMAINS else f'{node.domain}::{node.op_type}'
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def custom_operators(onnx_file: str) -> List[str]:
    """Ops of the graph outside the ONNX domain (mmdeploy's ``mmdeploy::*``, ``mmcv::*``, ...)."""
    return [name for name in operator_counts(onnx_file) if '::' in name]


def tensorrt_unavailable_reason(device: str) -> Optional[str]:
    """Why a TensorRT engine cannot be built and run here, or None when it can."""
    if importlib.util.find_spec('tensorrt') is None:
        return "the 'tensorrt' package (TensorRT >= 10) is not installed"
    import tensorrt as trt
    if int(trt.__version__.split('.')[0]) < 10:
        return f'TensorRT {trt.__version__} is installed; 10 or newer is needed'
    if not torch.cuda.is_available():
        return 'no CUDA device is available'
    if torch.device(device).type != 'cuda':
        return f'device is {device!r}; TensorRT needs a CUDA device (--device cuda:0)'
    return None


def build_tensorrt_engine(onnx_file: str, engine_file: str, deploy_cfg: ConfigLike,
                          device: str = 'cuda:0') -> str:
    """Build a serialized engine from ``onnx_file`` with the TensorRT >= 10 Python API, with the
    optimisation profile of ``backend_config.model_inputs`` and its ``common_config`` (workspace,
    ``fp16_mode``); written to a temporary name first."""
    import tensorrt as trt
    deploy_cfg = load_config(deploy_cfg)[0]
    common = get_common_config(deploy_cfg)
    model_inputs = get_model_inputs(deploy_cfg)
    if len(model_inputs) != 1:
        raise ValueError(f'backend_config.model_inputs must hold one profile, got {len(model_inputs)}')
    logger = trt.Logger(trt.Logger.WARNING)
    with torch.cuda.device(torch.device(device)):
        builder = trt.Builder(logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(onnx_file):
            errors = '; '.join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise RuntimeError(f"TensorRT's ONNX parser refused {onnx_file}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE,
                                     int(common.get('max_workspace_size', 1 << 30)))
        if common.get('fp16_mode'):
            if not hasattr(trt.BuilderFlag, 'FP16'):
                raise ValueError(f'fp16_mode needs TensorRT 10 (its FP16 builder flag); TensorRT '
                                 f'{trt.__version__} builds only strongly typed networks')
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        for name, shapes in model_inputs[0]['input_shapes'].items():
            profile.set_shape(name, shapes['min_shape'], shapes['opt_shape'], shapes['max_shape'])
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f'TensorRT could not build an engine from {onnx_file}')
    _write_atomic(engine_file, bytes(serialized))
    return engine_file


def _write_atomic(path: str, data: bytes) -> None:
    tmp = osp.join(osp.dirname(osp.abspath(path)), f'.{osp.basename(path)}.tmp-{os.getpid()}')
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


class OnnxRuntimeWrapper(BaseWrapper):
    """Runs an ONNX file in an ONNX Runtime CPU session (no custom-op library)."""

    def __init__(self, onnx_file: str, output_names: Optional[Sequence[str]] = None):
        import onnxruntime as ort
        self.session = ort.InferenceSession(onnx_file, providers=['CPUExecutionProvider'])
        super().__init__(output_names or [o.name for o in self.session.get_outputs()])

    def forward(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        feeds = {name: tensor.detach().cpu().numpy() for name, tensor in inputs.items()}
        outputs = self.session.run(list(self.output_names), feeds)
        return {name: torch.from_numpy(out) for name, out in zip(self.output_names, outputs)}


def _torch_dtype(trt_dtype) -> torch.dtype:
    import tensorrt as trt
    return {trt.float32: torch.float32, trt.float16: torch.float16, trt.bfloat16: torch.bfloat16,
            trt.int64: torch.int64, trt.int32: torch.int32, trt.int8: torch.int8,
            trt.uint8: torch.uint8, trt.bool: torch.bool}[trt_dtype]


def _output_allocator(device: torch.device):
    """A TensorRT output allocator that hands out torch CUDA buffers and records output shapes, for
    outputs whose shape is known only after running (the detections NMS keeps)."""
    import tensorrt as trt

    class TorchOutputAllocator(trt.IOutputAllocator):

        def __init__(self):
            trt.IOutputAllocator.__init__(self)
            self.buffers: Dict[str, torch.Tensor] = {}
            self.shapes: Dict[str, tuple] = {}

        def reallocate_output(self, tensor_name, memory, size, alignment):
            buffer = self.buffers.get(tensor_name)
            if buffer is None or buffer.numel() < size:
                buffer = torch.empty(max(int(size), 1), dtype=torch.uint8, device=device)
                self.buffers[tensor_name] = buffer
            return buffer.data_ptr()

        def reallocate_output_async(self, tensor_name, memory, size, alignment, stream):
            return self.reallocate_output(tensor_name, memory, size, alignment)

        def notify_shape(self, tensor_name, shape):
            self.shapes[tensor_name] = tuple(shape)

        def output(self, name: str, dtype: torch.dtype) -> torch.Tensor:
            shape = self.shapes[name]
            count = int(np.prod(shape))
            nbytes = count * torch.empty(0, dtype=dtype).element_size()
            return self.buffers[name][:nbytes].view(dtype).reshape(shape).clone()

    return TorchOutputAllocator()


class TensorRTWrapper(BaseWrapper):
    """Runs a serialized TensorRT >= 10 engine on torch CUDA tensors: I/O by tensor name,
    ``execute_async_v3`` on torch's current stream, outputs allocated through TensorRT's output
    allocator callback (detection outputs have data-dependent shapes)."""

    def __init__(self, engine_file: str, device: str = 'cuda:0',
                 output_names: Optional[Sequence[str]] = None):
        import tensorrt as trt
        self.device = torch.device(device)
        with open(engine_file, 'rb') as f:
            engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(f.read())
        if engine is None:
            raise RuntimeError(f'TensorRT could not deserialize {engine_file}')
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.input_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in self.input_names]
        super().__init__(output_names or outputs)
        self.engine = engine
        self.context = engine.create_execution_context()
        self.allocator = _output_allocator(self.device)
        for name in outputs:
            self.context.set_output_allocator(name, self.allocator)

    def forward(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        with torch.cuda.device(self.device):
            stream = torch.cuda.current_stream(self.device)
            bound = []  # keep the input tensors alive until the run ends
            for name in self.input_names:
                tensor = inputs[name].to(self.device, _torch_dtype(self.engine.get_tensor_dtype(name)))
                tensor = tensor.contiguous()
                bound.append(tensor)
                if not self.context.set_input_shape(name, tuple(tensor.shape)):
                    raise ValueError(f'input {name!r} of shape {tuple(tensor.shape)} is outside the '
                                     "engine's optimisation profile")
                self.context.set_tensor_address(name, tensor.data_ptr())
            if not self.context.execute_async_v3(stream.cuda_stream):
                raise RuntimeError('TensorRT execute_async_v3 failed')
            stream.synchronize()
            return {name: self.allocator.output(name, _torch_dtype(self.engine.get_tensor_dtype(name)))
                    for name in self.output_names}


@contextlib.contextmanager
def _stock_backend_wrappers():
    """Have mmdeploy's end-to-end backend models use the wrappers above."""

    def build_wrapper(backend, backend_files, device, input_names=None, output_names=None,
                      deploy_cfg=None, **kwargs):
        if backend == Backend.ONNXRUNTIME:
            return OnnxRuntimeWrapper(backend_files[0], output_names)
        if backend == Backend.TENSORRT:
            return TensorRTWrapper(backend_files[0], device, output_names)
        raise ValueError(f'no wrapper for backend {backend.value!r}')

    original = BaseBackendModel.__dict__['_build_wrapper']
    BaseBackendModel._build_wrapper = staticmethod(build_wrapper)
    try:
        yield
    finally:
        BaseBackendModel._build_wrapper = original


def build_backend_model(deploy_cfg: ConfigLike, model_cfg: ConfigLike, backend_file: str,
                        device: str = 'cpu') -> torch.nn.Module:
    """mmdeploy's end-to-end model of the task (codebase data samples out) over ``backend_file``:
    an ONNX file for an ONNX Runtime config, an engine for a TensorRT one."""
    deploy_cfg, model_cfg = load_config(deploy_cfg, model_cfg)
    with _stock_backend_wrappers():
        return build_task_processor(model_cfg, deploy_cfg, device).build_backend_model([backend_file])


def build_pytorch_model(model_cfg: ConfigLike, checkpoint: Optional[str],
                        device: str = 'cpu') -> torch.nn.Module:
    """The PyTorch model as trained (BatchNorm not folded), in eval mode: the reference."""
    model_cfg = load_config(model_cfg)[0]
    model = build_model(model_cfg)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    return revert_sync_batchnorm(model).to(device).eval()


def _centered_logits(scores: torch.Tensor) -> torch.Tensor:
    """The logits behind softmax ``scores`` (what mmdeploy's classifiers output), up to a constant."""
    log = scores.double().cpu().clamp_min(torch.finfo(torch.float32).tiny).log()
    return log - log.mean()


def _compare_classification(ref, test) -> dict:
    a, b = _centered_logits(ref.pred_score), _centered_logits(test.pred_score)
    return dict(logit_error=float((a - b).abs().max() / a.abs().max()),
                same_top1=bool(ref.pred_label.item() == test.pred_label.item()))


def _clip_to(boxes: torch.Tensor, shape) -> torch.Tensor:
    height, width = shape[:2]
    return torch.stack([boxes[:, 0].clamp(0, width), boxes[:, 1].clamp(0, height),
                        boxes[:, 2].clamp(0, width), boxes[:, 3].clamp(0, height)], 1)


def _compare_detection(ref, test) -> dict:
    from mmdet.structures.bbox import bbox_overlaps
    a, b = ref.pred_instances, test.pred_instances
    # compared within the image: dynamic-shape graphs clip boxes to the padded input, mmdet to the
    # image (or to the pipeline's padding)
    a_boxes, b_boxes = (_clip_to(x.bboxes.double().cpu(), ref.ori_shape) for x in (a, b))
    a_labels, b_labels = a.labels.cpu(), b.labels.cpu().to(a.labels.dtype)
    ious = bbox_overlaps(a_boxes, b_boxes) if len(a) and len(b) else torch.zeros(len(a), len(b))
    ious[a_labels[:, None] != b_labels[None, :]] = 0
    used, box_error, score_error = set(), 0.0, 0.0
    for i in torch.argsort(a.scores.cpu(), descending=True).tolist():
        free = [j for j in torch.argsort(ious[i], descending=True).tolist() if j not in used]
        if not free or ious[i, free[0]] < 0.5:
            continue
        j = free[0]
        used.add(j)
        box_error = max(box_error, float((a_boxes[i] - b_boxes[j]).abs().max()))
        score_error = max(score_error, float((a.scores[i] - b.scores[j]).abs()))
    union = len(a) + len(b) - len(used)
    return dict(num_reference=len(a), num_backend=len(b),
                matched=len(used) / union if union else 1.0,
                box_error=box_error, score_error=score_error)


def _compare_segmentation(ref, test) -> dict:
    a, b = ref.pred_sem_seg.data.cpu(), test.pred_sem_seg.data.cpu()
    if a.shape != b.shape:
        raise ValueError(f'label maps differ in shape: PyTorch {tuple(a.shape)}, '
                         f'backend {tuple(b.shape)}')
    return dict(pixel_agreement=float((a == b.to(a.dtype)).double().mean()))


_COMPARE = {
    Task.CLASSIFICATION: _compare_classification,
    Task.OBJECT_DETECTION: _compare_detection,
    Task.SEGMENTATION: _compare_segmentation,
}


def passed(metrics: dict, tolerances: dict) -> bool:
    """Whether ``metrics`` (of one task) are within ``tolerances`` (one row of :data:`TOLERANCES`)."""
    at_least = ('matched', 'pixel_agreement')
    return all(v >= tolerances[k] if k in at_least else v <= tolerances[k]
               for k, v in metrics.items() if k in tolerances)


@torch.no_grad()
def verify(deploy_cfg: ConfigLike, model_cfg: ConfigLike, backend_model: torch.nn.Module,
           pytorch_model: torch.nn.Module, images: Sequence, device: str = 'cpu') -> List[dict]:
    """Run both models on each image through the config's test pipeline (resized to
    ``onnx_config.input_shape`` for static configs) and compare their predictions; one dict of
    metrics per image, with ``input_shape`` and ``passed``."""
    deploy_cfg, model_cfg = load_config(deploy_cfg, model_cfg)
    task = get_task_type(deploy_cfg)
    if task not in _COMPARE:
        raise ValueError(f'no comparison for task {task.value!r}; expected one of '
                         f'{[t.value for t in _COMPARE]}')
    processor = build_task_processor(model_cfg, deploy_cfg, device)
    tolerances = TOLERANCES[precision(deploy_cfg)]
    results = []
    for image in images:
        data = processor.create_input(image, get_input_shape(deploy_cfg))[0]
        if task == Task.SEGMENTATION:
            # compare the graph's label maps at its own size: to reach the image's size mmdeploy
            # resizes labels (nearest), mmseg resizes logits (bilinear)
            for sample in data['data_samples']:
                sample.set_metainfo(dict(ori_shape=sample.img_shape))
        ref = pytorch_model.test_step(copy.deepcopy(data))[0]
        test = backend_model.test_step(copy.deepcopy(data))[0]
        metrics = _COMPARE[task](ref, test)
        results.append(dict(input_shape=list(data['inputs'][0].shape[-2:]), **metrics,
                            passed=passed(metrics, tolerances)))
    return results


def second_size(image: np.ndarray) -> np.ndarray:
    """A crop of ``image`` (three quarters of its height and width) to check a second input size."""
    h, w = image.shape[:2]
    return np.ascontiguousarray(image[:max(1, h * 3 // 4), :max(1, w * 3 // 4)])


def deploy(deploy_cfg: ConfigLike, model_cfg: ConfigLike, checkpoint: Optional[str], image: str,
           work_dir: str, device: str = 'cpu') -> dict:
    """Export ``model_cfg`` + ``checkpoint`` to ONNX, verify it in ONNX Runtime against PyTorch and,
    for a TensorRT config where TensorRT and a GPU are present, build the engine and verify it too.

    Dynamic configs are verified on ``image`` and on a crop of it (a second input size). Returns the
    report, also written to ``work_dir/deploy_report.json``: the ONNX file and its op counts, per-image
    metrics for each backend (see :data:`TOLERANCES`), and why TensorRT was skipped if it was.
    """
    if not osp.isfile(image):
        raise FileNotFoundError(f'image {image!r} does not exist')
    deploy_cfg, model_cfg = load_config(deploy_cfg, model_cfg)
    check_deploy_config(deploy_cfg)
    os.makedirs(work_dir, exist_ok=True)
    onnx_file = export_onnx(deploy_cfg, model_cfg, checkpoint, image, work_dir)
    report = dict(onnx=onnx_file, operators=operator_counts(onnx_file), precision=precision(deploy_cfg))
    images = [image]
    if is_dynamic_shape(deploy_cfg):
        images.append(second_size(mmcv.imread(image)))
    pytorch_model = build_pytorch_model(model_cfg, checkpoint, 'cpu')
    onnx_cfg = onnx_deploy_config(deploy_cfg)
    report['onnxruntime'] = verify(onnx_cfg, model_cfg,
                                   build_backend_model(onnx_cfg, model_cfg, onnx_file, 'cpu'),
                                   pytorch_model, images, 'cpu')
    if get_backend(deploy_cfg) == Backend.TENSORRT:
        reason = tensorrt_unavailable_reason(device)
        if reason is not None:
            report['tensorrt'] = dict(skipped=reason)
        else:
            engine = build_tensorrt_engine(onnx_file, osp.splitext(onnx_file)[0] + '.engine',
                                           deploy_cfg, device)
            report['tensorrt'] = dict(engine=engine, results=verify(
                deploy_cfg, model_cfg, build_backend_model(deploy_cfg, model_cfg, engine, device),
                pytorch_model.to(device), images, device))
    _write_atomic(osp.join(work_dir, 'deploy_report.json'),
                  json.dumps(report, indent=2).encode())
    return report
