"""OpenVINO on the CPU, for any ONNX graph: conversion (``openvino.convert_model``), compilation with a
pinned precision and thread count, inference on NumPy inputs, and int8 by NNCF's post-training
quantization, with an accuracy gate.

- Precision is pinned, never left to OpenVINO: on a CPU with BF16 it may otherwise run a float32 model
  in bf16 (``INFERENCE_PRECISION_HINT``).
- Int8 is calibrated on real inputs, preprocessed exactly as at inference: static quantization fixes
  each activation's scale from the ranges it sees there. With accuracy control, NNCF keeps the layers
  whose quantization costs the most of the caller's metric in floating point until the drop is within
  the bound; the model is written only if the drop measured here afterwards is within it too (NNCF
  returns its last attempt when it cannot reach the bound).

The current API only (OpenVINO >= 2024: no ``openvino.runtime``, no Model Optimizer); it knows nothing
of mmdeploy or of the model family.
"""
import importlib
import os
import os.path as osp
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from ..fileio import atomic_path

PRECISIONS = ('fp32', 'bf16')
# what a model's inputs may be: one array (a one-input model) or {input name: array}
Inputs = Union[np.ndarray, Dict[str, np.ndarray]]
# the caller's metric: (outputs of each validation input, their targets) -> a score, higher is better
Metric = Callable[[List[List[np.ndarray]], List[Any]], float]


class AccuracyBoundError(RuntimeError):
    """The int8 model's metric drop is larger than the bound the caller accepts; ``result`` holds
    what was measured (the same keys as the result of a quantization that met the bound)."""

    def __init__(self, message: str, result: Optional[Dict[str, Any]] = None):
        super().__init__(message)
        self.result = result or {}


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise ImportError(f"{name} is not installed: OpenVINO deployment needs the 'deploy' extra "
                          "(pip install 'hgnet_backbones[deploy]')") from e


def read_model(model):
    """An ``openvino.Model`` from an ``.onnx`` file (converted), an OpenVINO IR ``.xml`` file, or
    an ``openvino.Model`` (returned as is)."""
    ov = _import('openvino')
    if isinstance(model, ov.Model):
        return model
    path = os.fspath(model)
    if not osp.isfile(path):
        raise FileNotFoundError(f'no model file {path!r} (an .onnx or OpenVINO .xml file)')
    if path.endswith('.onnx'):
        return ov.convert_model(path)
    if path.endswith('.xml'):
        return ov.Core().read_model(path)
    raise ValueError(f'{path!r} is neither an ONNX (.onnx) nor an OpenVINO IR (.xml) file')


def save_model(model, xml_file: str) -> str:
    """Write ``model`` as OpenVINO IR: ``xml_file`` and its weights beside it (``.bin``), each by an
    atomic rename, the ``.bin`` first, so a reader that opens the ``.xml`` finds its weights. Weights
    stay float32 (``save_model`` compresses them to fp16 by default, which moves outputs by ~1e-3)."""
    ov = _import('openvino')
    if not xml_file.endswith('.xml'):
        raise ValueError(f'an OpenVINO IR file name ends with .xml, got {xml_file!r}')
    with atomic_path(xml_file) as tmp_xml, atomic_path(xml_file[:-4] + '.bin') as tmp_bin:
        written_bin = tmp_xml[:-4] + '.bin'
        try:
            ov.save_model(model, tmp_xml, compress_to_fp16=False)
        finally:
            if osp.exists(written_bin):
                os.replace(written_bin, tmp_bin)
    return xml_file


def convert_onnx(onnx_file: str, xml_file: str) -> str:
    """``onnx_file`` converted to OpenVINO IR at ``xml_file`` (and its ``.bin``)."""
    return save_model(read_model(onnx_file), xml_file)


def is_int8(model) -> bool:
    """Whether ``model`` (see :func:`read_model`) has quantized layers (NNCF marks each with a
    ``FakeQuantize``, which the CPU plugin runs as int8 kernels)."""
    return any(op.get_type_name() == 'FakeQuantize' for op in read_model(model).get_ops())


def cpu_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes bf16 natively here (AVX-512 BF16 or AMX)."""
    ov = _import('openvino')
    return 'BF16' in ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES')


def compile_model(model, precision: str = 'fp32', threads: Optional[int] = None,
                  input_shape: Optional[Sequence[int]] = None):
    """``model`` (see :func:`read_model`) compiled for the CPU, computing in ``precision`` ('fp32' or
    'bf16'; an int8 model runs its quantized layers in int8, the rest in ``precision``) on
    ``threads`` threads (default: OpenVINO's choice). ``input_shape`` fixes a one-input model's
    dynamic dimensions (a copy is reshaped; the CPU plugin's static-shape kernels were 5-13% faster
    on HGNetV2 B0/B4 at batch 1 here); the compiled model then takes that shape only."""
    ov = _import('openvino')
    import openvino.properties as props
    import openvino.properties.hint as hints
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    if precision == 'bf16' and not cpu_has_bf16():
        raise ValueError(f"precision='bf16' needs a CPU with native bf16 (AVX-512 BF16 or AMX); this "
                         f"one ({ov.Core().get_property('CPU', 'FULL_DEVICE_NAME')}) has none: use "
                         "precision='fp32'")
    if threads is not None and threads < 1:
        raise ValueError(f'threads must be at least 1, got {threads!r}')
    config = {hints.inference_precision: ov.Type.bf16 if precision == 'bf16' else ov.Type.f32}
    if threads is not None:
        config[props.inference_num_threads] = threads
    model = read_model(model)
    if input_shape is not None:
        if len(model.inputs) != 1:
            raise ValueError(f'input_shape fixes the shape of a one-input model; this one has '
                             f'{len(model.inputs)} inputs: leave input_shape=None')
        model = model.clone()
        model.reshape(list(input_shape))
    return ov.Core().compile_model(model, 'CPU', config)


def run(compiled_model, inputs: Inputs) -> List[np.ndarray]:
    """The outputs of ``compiled_model`` on ``inputs``, in the model's output order."""
    result = compiled_model(inputs)
    return [np.asarray(result[output]) for output in compiled_model.outputs]


def _dataset(items: Iterable, what: str) -> list:
    items = list(items)
    if not items:
        raise ValueError(f'{what} is empty: int8 quantization needs inputs preprocessed as at '
                         'inference (a few dozen real images or more)')
    return items


def quantize(model, calibration: Iterable[Inputs], xml_file: Optional[str] = None):
    """``model`` (see :func:`read_model`) quantized to int8 by NNCF, activation scales calibrated on
    ``calibration`` (inputs preprocessed exactly as at inference); written to ``xml_file`` if given.
    Returns the ``openvino.Model``."""
    nncf = _import('nncf')
    calibration = _dataset(calibration, 'calibration')
    quantized = nncf.quantize(read_model(model), nncf.Dataset(calibration),
                              subset_size=len(calibration))
    if xml_file is not None:
        save_model(quantized, xml_file)
    return quantized


def top1_agreement(outputs: List[List[np.ndarray]], targets: List[Any]) -> float:
    """A :data:`Metric` for classifiers: the share of inputs (one image each) whose top-1 class, the
    argmax of the last output, is their target's: a class index (a label), or the argmax of outputs,
    the float32 model's by default (agreement with it, which needs no labels)."""
    def top1(x):
        return int(np.argmax(x[-1] if isinstance(x, (list, tuple)) else x))
    return float(np.mean([top1(o) == top1(t) for o, t in zip(outputs, targets)]))


def _measure(compiled_model, metric: Metric, items: Sequence) -> float:
    return float(metric([run(compiled_model, x) for x, _ in items], [t for _, t in items]))


def quantize_with_accuracy_control(model, calibration: Iterable[Inputs], validation: Iterable[Inputs],
                                   metric: Metric, max_drop: float, xml_file: str,
                                   targets: Optional[Sequence] = None,
                                   threads: Optional[int] = None) -> Dict[str, Any]:
    """Int8 ``model`` (see :func:`read_model`) whose metric on ``validation`` is at most ``max_drop``
    below the float32 model's, written to ``xml_file`` only then.

    NNCF quantizes it calibrated on ``calibration`` and, while the drop is larger than ``max_drop``,
    returns the layers that cost the metric most to floating point
    (``nncf.quantize_with_accuracy_control``). Then both models are measured here on all of
    ``validation`` (float32 precision pinned, ``threads`` threads).

    Args:
        model: An ``.onnx`` or ``.xml`` file, or an ``openvino.Model``, in float32.
        calibration (Iterable): Model inputs, preprocessed exactly as at inference.
        validation (Iterable): Model inputs the metric is measured on, preprocessed the same way.
        metric (Callable): ``metric(outputs, targets) -> float``, higher is better: ``outputs`` a list
            with the model's outputs (a list of arrays) for each validation input, ``targets`` theirs.
            NNCF also calls it on subsets of the validation inputs (one at a time to rank layers),
            so it takes any subset. :func:`top1_agreement` is one.
        max_drop (float): The largest absolute drop of ``metric`` from float32 to int8 accepted.
        xml_file (str): Where the int8 model goes (OpenVINO IR, with its ``.bin``).
        targets (Sequence, optional): One per validation input (labels, say). Defaults to the
            float32 model's outputs on them.
        threads (int, optional): CPU threads for the measurement.

    Returns:
        dict: ``xml_file``, ``float32_metric``, ``int8_metric``, ``drop``, ``max_drop`` and
        ``num_validation``.

    Raises:
        AccuracyBoundError: the drop measured is larger than ``max_drop``; nothing is written.
    """
    nncf = _import('nncf')
    calibration = _dataset(calibration, 'calibration')
    validation = _dataset(validation, 'validation')
    float_model = read_model(model)
    float_compiled = compile_model(float_model, 'fp32', threads)
    if targets is None:
        targets = [run(float_compiled, x) for x in validation]
    elif len(targets) != len(validation):
        raise ValueError(f'{len(targets)} targets for {len(validation)} validation inputs: give one '
                         'per input')
    items = list(zip(validation, targets))

    def validate(compiled_model, subset):  # NNCF's validation_fn: (metric, no per-item values)
        return _measure(compiled_model, metric, list(subset)), None

    int8_model = nncf.quantize_with_accuracy_control(
        float_model, nncf.Dataset(calibration), nncf.Dataset(items, lambda item: item[0]), validate,
        max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE, subset_size=len(calibration))
    float_metric = _measure(float_compiled, metric, items)
    int8_metric = _measure(compile_model(int8_model, 'fp32', threads), metric, items)
    drop = float_metric - int8_metric
    result = dict(xml_file=xml_file, float32_metric=float_metric, int8_metric=int8_metric, drop=drop,
                  max_drop=max_drop, num_validation=len(items))
    if drop > max_drop:
        raise AccuracyBoundError(
            f'int8 costs {drop:.4g} of the metric on {len(items)} validation inputs (float32 '
            f'{float_metric:.4g}, int8 {int8_metric:.4g}) after NNCF\'s accuracy control, more than '
            f'max_drop={max_drop:.4g}; {xml_file} was not written. Accept a larger drop, calibrate on '
            'inputs more like those the model will see, or deploy in fp32/bf16.',
            dict(result, xml_file=None))
    save_model(int8_model, xml_file)
    return result
