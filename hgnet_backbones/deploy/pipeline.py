"""The deploy pipeline that verification (:mod:`.verify`), dataset evaluation (:mod:`.evaluate`) and
quantization (:mod:`.quantize`) share: export, the PyTorch reference, each backend model (mmdeploy's
end-to-end models, codebase data samples out, over plain ONNX Runtime sessions or TensorRT engines),
measured against the reference; TensorRT where the deploy config asks for it and it can run, else why
it was skipped."""
import os
from typing import Callable, Dict, Optional, Sequence

import torch
from mmdeploy.apis import build_task_processor
from mmdeploy.backend.base import BaseWrapper
from mmdeploy.utils import Backend, get_backend
from mmengine.model import revert_sync_batchnorm
from mmengine.runner import load_checkpoint

from ..apis.config import build_model, load_config
from ..compat.mmdeploy import backend_wrappers
from .export import ConfigLike, check_deploy_config, export_onnx, onnx_deploy_config
from .tensorrt import TensorRTWrapper, engine_beside


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


def _build_wrapper(backend, backend_files, device, input_names=None, output_names=None,
                   deploy_cfg=None, **kwargs):
    if backend == Backend.ONNXRUNTIME:
        return OnnxRuntimeWrapper(backend_files[0], output_names)
    if backend == Backend.TENSORRT:
        return TensorRTWrapper(backend_files[0], device, output_names)
    raise ValueError(f'no wrapper for backend {backend.value!r}')


def build_backend_model(deploy_cfg: ConfigLike, model_cfg: ConfigLike, backend_file: str,
                        device: str = 'cpu') -> torch.nn.Module:
    """mmdeploy's end-to-end model of the task (codebase data samples out) over ``backend_file``:
    an ONNX file for an ONNX Runtime config, an engine for a TensorRT one."""
    deploy_cfg, model_cfg = load_config(deploy_cfg), load_config(model_cfg)
    with backend_wrappers(_build_wrapper):
        return build_task_processor(model_cfg, deploy_cfg, device).build_backend_model([backend_file])


def build_pytorch_model(model_cfg: ConfigLike, checkpoint: Optional[str],
                        device: str = 'cpu') -> torch.nn.Module:
    """The PyTorch model as trained (BatchNorm not folded), in eval mode: the reference."""
    model = build_model(load_config(model_cfg))
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    return revert_sync_batchnorm(model).to(device).eval()


# measure(name, deploy config, model, PyTorch reference or None, device) -> what the report holds
Measure = Callable[[str, object, torch.nn.Module, Optional[torch.nn.Module], str], object]


def run_pipeline(deploy_cfg: ConfigLike, model_cfg: ConfigLike, checkpoint: Optional[str],
                 work_dir: str, measure: Measure, trace_image=None, onnx_file: Optional[str] = None,
                 device: str = 'cuda:0', measure_pytorch: bool = False,
                 onnx_models: Optional[Callable[[str, torch.nn.Module], Dict[str, str]]] = None
                 ) -> dict:
    """Deploy ``model_cfg`` + ``checkpoint`` and measure each deployed model against PyTorch.

    1. Export to ONNX in ``work_dir`` (traced with ``trace_image``), unless ``onnx_file`` is given.
    2. Build the PyTorch model on the CPU, the reference; with ``measure_pytorch``, measure it too
       (reference None), as ``pytorch``.
    3. Measure the ONNX Runtime model of each ONNX file (CPU): ``onnx_models(onnx_file, reference)``
       names them (default ``{'onnxruntime': onnx_file}``).
    4. For a TensorRT deploy config, build the engine beside the ONNX file and measure it on
       ``device`` (the reference moved there), as ``tensorrt``; where TensorRT or a GPU is missing,
       ``tensorrt`` says why it was skipped.

    Returns ``{'onnx': onnx_file, name: measured, ...}``; the TensorRT entry is
    ``{'engine': file, **measured}`` (``{'engine': file, 'results': measured}`` for a list).
    """
    deploy_cfg, model_cfg = load_config(deploy_cfg), load_config(model_cfg)
    check_deploy_config(deploy_cfg)
    os.makedirs(work_dir, exist_ok=True)
    if onnx_file is None:
        onnx_file = export_onnx(deploy_cfg, model_cfg, checkpoint, trace_image, work_dir)
    report = dict(onnx=onnx_file)
    reference = build_pytorch_model(model_cfg, checkpoint, 'cpu')
    onnx_cfg = onnx_deploy_config(deploy_cfg)
    if measure_pytorch:
        report['pytorch'] = measure('pytorch', onnx_cfg, reference, None, 'cpu')
    files = onnx_models(onnx_file, reference) if onnx_models else {'onnxruntime': onnx_file}
    for name, file in files.items():
        report[name] = measure(name, onnx_cfg, build_backend_model(onnx_cfg, model_cfg, file, 'cpu'),
                               reference, 'cpu')
    if get_backend(deploy_cfg) == Backend.TENSORRT:
        engine, reason = engine_beside(onnx_file, deploy_cfg, device)
        if reason is not None:
            report['tensorrt'] = dict(skipped=reason)
        else:
            measured = measure('tensorrt', deploy_cfg,
                               build_backend_model(deploy_cfg, model_cfg, engine, device),
                               reference.to(device), device)
            report['tensorrt'] = dict(engine=engine, **(
                measured if isinstance(measured, dict) else dict(results=measured)))
    return report
