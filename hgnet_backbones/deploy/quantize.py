"""Int8 ONNX Runtime models by static quantization (``onnxruntime.quantization``), calibrated on real
images, and how far their predictions are from the float32 model's.

Static quantization fixes every activation's int8 scale from the ranges seen on the calibration images,
so the images must look like those the model will see (the same preprocessing, the same kind of
scenes); weights get one scale per output channel. The graph is QDQ (QuantizeLinear/DequantizeLinear
pairs around each quantized op), which ONNX Runtime's CPU provider fuses into int8 kernels (VNNI where
the CPU has it).
"""
import json
import os.path as osp
import tempfile
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import onnx
import torch
from mmdeploy.apis import build_task_processor
from mmdeploy.utils import Task, get_input_shape, get_task_type

from ..apis.config import load_config
from ..apis.inference import IMAGE_SUFFIXES, list_images
from ..fileio import atomic_path, write_text
from .export import ConfigLike, onnx_deploy_config
from .pipeline import run_pipeline
from .verify import verify

CALIBRATION_METHODS = ('MinMax', 'Percentile', 'Entropy')
# QDQ with per-channel weight scales needs opset 13 (the axis of QuantizeLinear/DequantizeLinear)
QDQ_OPSET = 13


def quantize_onnx(onnx_file: str, out_file: str, calibration_inputs: Iterable[Dict[str, np.ndarray]],
                  method: str = 'MinMax', per_channel: bool = True,
                  activations: str = 'uint8') -> str:
    """Write ``onnx_file`` quantized to int8 to ``out_file`` (atomically) and return its path.

    Args:
        onnx_file (str): A float32 ONNX model.
        out_file (str): Where the int8 model goes.
        calibration_inputs (Iterable[dict]): Feeds ``{input name: array}`` the activation ranges are
            measured on, preprocessed exactly as at inference.
        method (str): How a range is read from the calibration activations: 'MinMax' (the extremes),
            'Percentile' (99.999th) or 'Entropy'. Defaults to 'MinMax'.
        per_channel (bool): One weight scale per output channel. Defaults to True.
        activations (str): 'uint8' (asymmetric; ONNX Runtime's fastest x86 kernels take unsigned
            activations with signed weights) or 'int8'. Defaults to 'uint8'.
    """
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry
    from onnxruntime.quantization.shape_inference import quant_pre_process
    if method not in CALIBRATION_METHODS:
        raise ValueError(f'method must be one of {CALIBRATION_METHODS}, got {method!r}')
    if activations not in ('uint8', 'int8'):
        raise ValueError(f"activations must be 'uint8' or 'int8', got {activations!r}")
    feeds = list(calibration_inputs)
    if not feeds:
        raise ValueError('calibration_inputs is empty: static quantization needs at least one input '
                         '(a few dozen images like those the model will see)')

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter(feeds)

        def get_next(self):
            return next(self.feeds, None)

    model = onnx.load(onnx_file)
    if _opset(model) < QDQ_OPSET:
        model = onnx.version_converter.convert_version(model, QDQ_OPSET)
    with tempfile.TemporaryDirectory() as folder, atomic_path(out_file) as tmp:
        prepared = osp.join(folder, 'prepared.onnx')
        # shape inference and ONNX Runtime's graph optimisations first, as its docs advise
        quant_pre_process(model, prepared)
        quantize_static(
            prepared, tmp, Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
            activation_type=QuantType.QUInt8 if activations == 'uint8' else QuantType.QInt8,
            weight_type=QuantType.QInt8, calibrate_method=getattr(CalibrationMethod, method),
            # ONNX Runtime's default set, but Softmax: 8-bit probabilities would lose every small one
            op_types_to_quantize=sorted((set(QDQRegistry) | set(QLinearOpsRegistry)) - {'Softmax'}))
    return out_file


def _opset(model: onnx.ModelProto) -> int:
    return next(o.version for o in model.opset_import if o.domain in ('', 'ai.onnx'))


def model_inputs(deploy_cfg: ConfigLike, model_cfg: ConfigLike, images: Sequence,
                 data_preprocessor: torch.nn.Module) -> List[Dict[str, np.ndarray]]:
    """The exported graph's feed for each image (a path or an array), as mmdeploy prepares it: the
    model config's test pipeline (at ``onnx_config.input_shape`` for a static config), then the
    model's ``data_preprocessor``."""
    deploy_cfg, model_cfg = load_config(deploy_cfg), load_config(model_cfg)
    processor = build_task_processor(model_cfg, deploy_cfg, 'cpu')
    name = deploy_cfg.onnx_config.input_names[0]
    shape = get_input_shape(deploy_cfg)
    with torch.no_grad():
        return [{name: processor.create_input(image, shape, data_preprocessor)[1].numpy()}
                for image in images]


def image_files(folder: str) -> List[str]:
    """The image files under ``folder`` (any depth), sorted."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'no images ({", ".join(IMAGE_SUFFIXES)}) under {folder!r}: '
                                'not a folder')
    return list_images(folder, recursive=True)


def agreement(results: Sequence[dict]) -> dict:
    """Summary of :func:`~hgnet_backbones.deploy.verify.verify`'s per-image classification results:
    the share of images whose top-1 class is the reference's, and the largest relative logit error."""
    return dict(num_images=len(results),
                top1_agreement=float(np.mean([r['same_top1'] for r in results])),
                logit_error=float(max(r['logit_error'] for r in results)))


def quantize(deploy_cfg: ConfigLike, model_cfg: ConfigLike, checkpoint: Optional[str],
             calibration_images: Sequence[str], val_images: Sequence[str], work_dir: str,
             method: str = 'MinMax', min_agreement: float = 0.99) -> dict:
    """Export a classifier with mmdeploy (``work_dir/end2end.onnx``), quantize it to int8 calibrated
    on ``calibration_images`` (``work_dir/end2end_int8.onnx``), and compare both ONNX Runtime models
    with the PyTorch model on ``val_images``.

    Returns the report, also written to ``work_dir/quantize_report.json``: for each of 'fp32' and
    'int8', the top-1 agreement with PyTorch and the largest relative logit error
    (``max|Δ|/max|ref|`` of the logits, recovered from the exported softmax), and ``passed``: whether
    int8's top-1 agreement is at least ``min_agreement``.
    """
    deploy_cfg, model_cfg = load_config(deploy_cfg), load_config(model_cfg)
    if get_task_type(deploy_cfg) != Task.CLASSIFICATION:
        raise ValueError(f'quantize compares classifiers; the deploy config is for '
                         f'{get_task_type(deploy_cfg).value!r} (quantize_onnx quantizes any graph)')
    if not calibration_images or not val_images:
        raise ValueError('quantize needs calibration images and validation images')
    if not 0 <= min_agreement <= 1:
        raise ValueError(f'min_agreement is a share of images, in 0..1; got {min_agreement!r}')
    deploy_cfg = onnx_deploy_config(deploy_cfg)
    files = {}

    def fp32_and_int8(fp32_file, reference):
        feeds = model_inputs(deploy_cfg, model_cfg, calibration_images, reference.data_preprocessor)
        files.update(fp32=fp32_file, int8=quantize_onnx(
            fp32_file, osp.splitext(fp32_file)[0] + '_int8.onnx', feeds, method))
        return files

    def measure(name, backend_cfg, backend_model, reference, device):
        return agreement(verify(backend_cfg, model_cfg, backend_model, reference, val_images, device))

    run = run_pipeline(deploy_cfg, model_cfg, checkpoint, work_dir, measure,
                       trace_image=calibration_images[0], device='cpu', onnx_models=fp32_and_int8)
    report = dict(files=files, method=method, num_calibration_images=len(calibration_images),
                  fp32=run['fp32'], int8=run['int8'])
    report['passed'] = report['int8']['top1_agreement'] >= min_agreement
    write_text(osp.join(work_dir, 'quantize_report.json'), json.dumps(report, indent=2))
    return report
