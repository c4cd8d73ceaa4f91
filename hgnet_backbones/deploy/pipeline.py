"""The deploy pipeline that verification (:mod:`.verify`), dataset evaluation (:mod:`.evaluate`) and
quantization (:mod:`.quantize`) share: export, the PyTorch reference, each backend model (mmdeploy's
end-to-end models, codebase data samples out, over plain ONNX Runtime sessions, OpenVINO compiled models
or TensorRT engines), measured against the reference; OpenVINO or TensorRT where the deploy config asks
for it (TensorRT where it can run, else why it was skipped)."""
import os
import os.path as osp
from typing import Callable, Dict, Optional, Sequence

import torch
from mmdeploy.apis import build_task_processor
from mmdeploy.backend.base import BaseWrapper
from mmdeploy.utils import Backend, get_backend
from mmengine.model import revert_sync_batchnorm
from mmengine.runner import load_checkpoint

from ..apis.config import build_model, load_config
from ..compat.mmdeploy import backend_wrappers
from .export import ConfigLike, check_deploy_config, export_onnx, onnx_deploy_config, precision
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


class OpenVINOWrapper(BaseWrapper):
    """Runs an OpenVINO IR (``.xml``, float32 or NNCF int8) or ONNX file on the CPU through the
    current OpenVINO API (:mod:`.openvino`), computing in ``precision`` ('fp32' or 'bf16', pinned) on
    ``threads`` threads (None: OpenVINO's choice)."""

    def __init__(self, model_file: str, output_names: Optional[Sequence[str]] = None,
                 precision: str = 'fp32', threads: Optional[int] = None):
        from .openvino import compile_model
        self.compiled_model = compile_model(model_file, precision, threads)
        super().__init__(output_names or [o.get_any_name() for o in self.compiled_model.outputs])

    def forward(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        from .openvino import run
        feeds = {name: tensor.detach().cpu().numpy() for name, tensor in inputs.items()}
        outputs = run(self.compiled_model, feeds)
        return {name: torch.from_numpy(out) for name, out in zip(self.output_names, outputs)}


def _build_wrapper(backend, backend_files, device, input_names=None, output_names=None,
                   deploy_cfg=None, **kwargs):
    if backend == Backend.ONNXRUNTIME:
        return OnnxRuntimeWrapper(backend_files[0], output_names)
    if backend == Backend.OPENVINO:
        return OpenVINOWrapper(backend_files[0], output_names, precision(deploy_cfg),
                               deploy_cfg.backend_config.get('threads'))
    if backend == Backend.TENSORRT:
        return TensorRTWrapper(backend_files[0], device, output_names)
    raise ValueError(f'no wrapper for backend {backend.value!r}')


# the files each backend runs, by suffix
BACKEND_FILES = {Backend.ONNXRUNTIME: ('.onnx', ), Backend.OPENVINO: ('.xml', '.onnx'),
                 Backend.TENSORRT: ('.engine', )}


def build_backend_model(deploy_cfg: ConfigLike, model_cfg: ConfigLike, backend_file: str,
                        device: str = 'cpu') -> torch.nn.Module:
    """mmdeploy's end-to-end model of the task (codebase data samples out) over ``backend_file``:
    an ONNX file for an ONNX Runtime config, an OpenVINO IR ``.xml`` (or an ONNX file, converted when
    loaded) for an OpenVINO one, an engine for a TensorRT one."""
    deploy_cfg, model_cfg = load_config(deploy_cfg), load_config(model_cfg)
    backend = get_backend(deploy_cfg)
    suffixes = BACKEND_FILES.get(backend, ())
    if suffixes and not backend_file.endswith(suffixes):
        raise ValueError(f'{backend_file!r} is not a {backend.value} model file ({", ".join(suffixes)})'
                         f': give one, or the deploy config of the backend it is for')
    if not osp.isfile(backend_file):
        raise FileNotFoundError(f'no {backend.value} model file {backend_file!r}')
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


def _with_file(key: str, file: str, measured) -> dict:
    return {key: file, **(measured if isinstance(measured, dict) else dict(results=measured))}


def run_pipeline(deploy_cfg: ConfigLike, model_cfg: ConfigLike, checkpoint: Optional[str],
                 work_dir: str, measure: Measure, trace_image=None, onnx_file: Optional[str] = None,
                 device: str = 'cuda:0', measure_pytorch: bool = False,
                 openvino_file: Optional[str] = None) -> dict:
    """Deploy ``model_cfg`` + ``checkpoint`` and measure each deployed model against PyTorch.

    1. Export to ONNX in ``work_dir`` (traced with ``trace_image``), unless ``onnx_file`` is given.
    2. Build the PyTorch model on the CPU, the reference; with ``measure_pytorch``, measure it too
       (reference None), as ``pytorch``.
    3. Measure the ONNX Runtime model of the ONNX file (CPU), as ``onnxruntime``.
    4. For an OpenVINO deploy config, convert the ONNX file to OpenVINO IR beside it (``.xml`` and
       ``.bin``), or take ``openvino_file`` (an IR made before, an int8 one of tools/quantize.py say),
       and measure it on the CPU at the config's precision, as ``openvino``.
    5. For a TensorRT deploy config, build the engine beside the ONNX file and measure it on
       ``device`` (the reference moved there), as ``tensorrt``; where TensorRT or a GPU is missing,
       ``tensorrt`` says why it was skipped.

    Returns ``{'onnx': onnx_file, name: measured, ...}``; the OpenVINO entry is
    ``{'xml': file, **measured}``, the TensorRT one ``{'engine': file, **measured}``
    (``{..., 'results': measured}`` for a list).
    """
    deploy_cfg, model_cfg = load_config(deploy_cfg), load_config(model_cfg)
    check_deploy_config(deploy_cfg)
    if openvino_file is not None and get_backend(deploy_cfg) != Backend.OPENVINO:
        raise ValueError(f'an OpenVINO model ({openvino_file!r}) is measured with an OpenVINO deploy '
                         f"config; this one's backend is {get_backend(deploy_cfg).value!r}")
    os.makedirs(work_dir, exist_ok=True)
    if onnx_file is None:
        onnx_file = export_onnx(deploy_cfg, model_cfg, checkpoint, trace_image, work_dir)
    report = dict(onnx=onnx_file)
    reference = build_pytorch_model(model_cfg, checkpoint, 'cpu')
    onnx_cfg = onnx_deploy_config(deploy_cfg)
    if measure_pytorch:
        report['pytorch'] = measure('pytorch', onnx_cfg, reference, None, 'cpu')
    report['onnxruntime'] = measure('onnxruntime', onnx_cfg,
                                    build_backend_model(onnx_cfg, model_cfg, onnx_file, 'cpu'),
                                    reference, 'cpu')
    if get_backend(deploy_cfg) == Backend.OPENVINO:
        from .openvino import convert_onnx
        xml = openvino_file or convert_onnx(onnx_file, osp.splitext(onnx_file)[0] + '.xml')
        report['openvino'] = _with_file('xml', xml, measure(
            'openvino', deploy_cfg, build_backend_model(deploy_cfg, model_cfg, xml, 'cpu'), reference,
            'cpu'))
    if get_backend(deploy_cfg) == Backend.TENSORRT:
        engine, reason = engine_beside(onnx_file, deploy_cfg, device)
        if reason is not None:
            report['tensorrt'] = dict(skipped=reason)
        else:
            measured = measure('tensorrt', deploy_cfg,
                               build_backend_model(deploy_cfg, model_cfg, engine, device),
                               reference.to(device), device)
            report['tensorrt'] = _with_file('engine', engine, measured)
    return report
