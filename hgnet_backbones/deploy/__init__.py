"""Export to ONNX, OpenVINO and TensorRT through mmdeploy 1.3.1 (:mod:`.export`, :mod:`.openvino`,
:mod:`.tensorrt`), and the one pipeline (:mod:`.pipeline`) by which the exported models are verified
against the PyTorch model (:mod:`.verify`), evaluated on a test set (:mod:`.evaluate`) and quantized
behind an accuracy gate (:mod:`.quantize`)."""
from ..extras import needs_extra

with needs_extra('deploy'):
    from .export import custom_operators, export_onnx, operator_counts
    from .pipeline import build_backend_model, build_pytorch_model, run_pipeline
    from .tensorrt import TensorRTWrapper, build_tensorrt_engine, tensorrt_unavailable_reason
    from .verify import TOLERANCES, deploy, verify

__all__ = ['TOLERANCES', 'TensorRTWrapper', 'build_backend_model', 'build_pytorch_model',
           'build_tensorrt_engine', 'custom_operators', 'deploy', 'export_onnx', 'operator_counts',
           'run_pipeline', 'tensorrt_unavailable_reason', 'verify']
