"""TensorRT >= 10 through its Python API: engines built from the standard-op ONNX that ONNX Runtime
verifies, and run on torch CUDA tensors. mmdeploy 1.3.1's TensorRT wrapper calls binding APIs that
TensorRT 10 removed, so :class:`TensorRTWrapper` replaces it (row ``backend-wrappers`` of
:data:`hgnet_backbones.compat.ADAPTATIONS`)."""
import importlib.util
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from mmdeploy.backend.base import BaseWrapper
from mmdeploy.utils import get_common_config, get_model_inputs

from ..apis.config import load_config
from ..fileio import write_bytes
from .export import ConfigLike


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
    deploy_cfg = load_config(deploy_cfg)
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
    write_bytes(engine_file, bytes(serialized))
    return engine_file


def engine_beside(onnx_file: str, deploy_cfg: ConfigLike,
                  device: str) -> Tuple[Optional[str], Optional[str]]:
    """``(engine file, None)``: the engine of ``onnx_file`` built beside it (``.engine``) where
    TensorRT and a GPU are present; else ``(None, why not)``."""
    reason = tensorrt_unavailable_reason(device)
    if reason is not None:
        return None, reason
    engine = osp.splitext(onnx_file)[0] + '.engine'
    return build_tensorrt_engine(onnx_file, engine, deploy_cfg, device), None


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
