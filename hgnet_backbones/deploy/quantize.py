"""Int8 models by static quantization, calibrated on real images, behind an accuracy gate: ONNX Runtime
(``onnxruntime.quantization``) or OpenVINO (NNCF, :mod:`.openvino`), as the deploy config says, and how
far their predictions are from the float32 model's.

Static quantization fixes every activation's int8 scale from the ranges seen on the calibration images,
so the images must look like those the model will see (the same preprocessing, the same kind of
scenes); weights get one scale per output channel. The graph is QDQ (QuantizeLinear/DequantizeLinear
pairs around each quantized op), which ONNX Runtime's CPU provider fuses into int8 kernels (VNNI where
the CPU has it).

The gate: the int8 model is written only where a metric of it is within the caller's bound of the
float32 model's: for a classifier its top-1 agreement with float32 on validation images, for a
detector or a segmentor the test evaluator's bbox mAP or mIoU on a validation set
(:class:`~hgnet_backbones.deploy.evaluate.ValidationSet`). OpenVINO's route is NNCF's accuracy
control (it returns the layers that cost the metric most to floating point). ONNX Runtime's has no
such search: :func:`quantize_onnx_with_metric` tries each calibration method, then leaves in float32
the nodes after which the int8 activations fall furthest from float32's (signal-to-quantization-noise
ratios of ``onnxruntime.quantization.qdq_loss_debug``), doubling their number, until the bound holds
or half the groups of nodes are float32.
"""
import copy
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import onnx
import torch
from mmdeploy.apis import build_task_processor
from mmdeploy.utils import Backend, Task, get_backend, get_input_shape, get_task_type

from ..apis.config import load_config
from ..apis.inference import IMAGE_SUFFIXES, list_images
from ..fileio import atomic_path, write_text
from .export import ConfigLike, check_deploy_config, export_onnx, onnx_deploy_config
from .openvino import AccuracyBoundError
from .pipeline import build_backend_model, build_pytorch_model
from .verify import verify

CALIBRATION_METHODS = ('MinMax', 'Percentile', 'Entropy')
# the operators that carry a network's compute: quantizing only them leaves mmdeploy's post-processing
# in a detection graph (box decoding, where 8 bits of a 640-pixel range are 2.5 pixels) in float32
COMPUTE_OPS = ('Conv', 'MatMul', 'Gemm')
# QDQ with per-channel weight scales needs opset 13 (the axis of QuantizeLinear/DequantizeLinear)
QDQ_OPSET = 13


def quantize_onnx(onnx_file: str, out_file: str, calibration_inputs: Iterable[Dict[str, np.ndarray]],
                  method: str = 'MinMax', per_channel: bool = True,
                  activations: str = 'uint8', nodes_to_exclude: Sequence[str] = (),
                  op_types: Optional[Sequence[str]] = None) -> str:
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
        nodes_to_exclude (Sequence[str]): Nodes of the prepared graph (:func:`prepare_onnx`) left
            in float32.
        op_types (Sequence[str], optional): The operator types quantized; defaults to ONNX Runtime's
            set but Softmax; detection and segmentation take :data:`COMPUTE_OPS`.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry
    if method not in CALIBRATION_METHODS:
        raise ValueError(f'method must be one of {CALIBRATION_METHODS}, got {method!r}')
    if activations not in ('uint8', 'int8'):
        raise ValueError(f"activations must be 'uint8' or 'int8', got {activations!r}")
    feeds = list(calibration_inputs)
    if not feeds:
        raise ValueError('calibration_inputs is empty: static quantization needs at least one input '
                         '(a few dozen images like those the model will see)')
    with tempfile.TemporaryDirectory() as folder, atomic_path(out_file) as tmp:
        prepared = prepare_onnx(onnx_file, osp.join(folder, 'prepared.onnx'))
        quantize_static(
            prepared, tmp, _reader(feeds), quant_format=QuantFormat.QDQ, per_channel=per_channel,
            activation_type=QuantType.QUInt8 if activations == 'uint8' else QuantType.QInt8,
            weight_type=QuantType.QInt8, calibrate_method=getattr(CalibrationMethod, method),
            # ONNX Runtime's default set, but Softmax: 8-bit probabilities would lose every small one
            op_types_to_quantize=sorted(op_types or (set(QDQRegistry) | set(QLinearOpsRegistry))
                                        - {'Softmax'}),
            nodes_to_exclude=list(nodes_to_exclude))
    return out_file


def _reader(feeds: Sequence[Dict[str, np.ndarray]]):
    """An ONNX Runtime calibration data reader over ``feeds``."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter(feeds)

        def get_next(self):
            return next(self.feeds, None)

    return Reader()


def prepare_onnx(onnx_file: str, prepared_file: str) -> str:
    """``onnx_file`` at opset >= 13 with shapes inferred and ONNX Runtime's graph optimisations
    applied (``quant_pre_process``, as ONNX Runtime's docs advise before quantizing), written to
    ``prepared_file``: the graph whose nodes :func:`quantize_onnx` quantizes (or excludes)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process
    model = onnx.load(onnx_file)
    if _opset(model) < QDQ_OPSET:
        model = onnx.version_converter.convert_version(model, QDQ_OPSET)
    quant_pre_process(model, prepared_file)
    return prepared_file


def costly_node_groups(onnx_file: str, int8_file: str,
                       feeds: Sequence[Dict[str, np.ndarray]]) -> List[List[str]]:
    """The nodes of ``onnx_file``'s prepared graph (:func:`prepare_onnx`) between one quantized
    activation of ``int8_file`` (its QDQ model) and the next, grouped, the group that costs most first.

    A group's cost is how far the signal-to-quantization-noise ratio of the int8 model's activation
    against the float32 model's falls from the group's inputs to its output (in dB, on ``feeds``;
    ``onnxruntime.quantization.qdq_loss_debug``): where a badly quantized input (one channel with a
    far larger range than the rest, say) feeds a node, the error appears at its output, so leaving
    the group in float32, with the groups that make its quantized inputs, removes their
    quantization."""
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations, compute_activation_error, compute_signal_to_quantization_noice_ratio,
        create_activation_matching, modify_model_output_intermediate_tensors)

    def ratio(x, y):  # per feed flattened: inputs of several sizes (a dynamic graph) concatenate so
        if [a.shape for a in x] != [b.shape for b in y]:
            return float('nan')  # a shape that depends on the data (after NMS): not comparable
        return compute_signal_to_quantization_noice_ratio([a.ravel() for a in x],
                                                          [b.ravel() for b in y])
    with tempfile.TemporaryDirectory() as folder:
        prepared = prepare_onnx(onnx_file, osp.join(folder, 'prepared.onnx'))
        graph = onnx.load(prepared).graph
        activations = []
        for name, path in (('float', prepared), ('int8', int8_file)):
            augmented = osp.join(folder, f'{name}_augmented.onnx')
            modify_model_output_intermediate_tensors(path, augmented)
            activations.append(collect_activations(augmented, _reader(feeds),
                                                   execution_providers=['CPUExecutionProvider']))
    sqnr = {tensor: e['xmodel_err'] for tensor, e in compute_activation_error(
        create_activation_matching(activations[1], activations[0]), ratio).items()
        if not np.isnan(e.get('xmodel_err', float('nan')))}
    producers = {out: node for node in graph.node for out in node.output}

    def segment(tensor):  # the nodes back to the quantized activations (or graph inputs) it reads
        nodes, upstream, todo = [], [], [producers[tensor]]
        while todo:
            node = todo.pop()
            if node.name not in nodes:
                nodes.append(node.name)
                upstream += [name for name in node.input if name in sqnr]
                todo += [producers[name] for name in node.input
                         if name not in sqnr and name in producers]
        return nodes, upstream

    costs = []
    for tensor in (t for t in sqnr if t in producers):  # not the graph inputs
        nodes, upstream = segment(tensor)
        # with the segments that make its quantized inputs, so that nothing quantizes them
        group = nodes + [n for u in upstream if u in producers for n in segment(u)[0]]
        drop = min((sqnr[u] for u in upstream), default=sqnr[tensor]) - sqnr[tensor]
        costs.append((drop, list(dict.fromkeys(group))))
    return [nodes for _, nodes in sorted(costs, key=lambda c: -c[0])]


def _outputs(onnx_file: str, feeds: Sequence[Dict[str, np.ndarray]]) -> List[List[np.ndarray]]:
    import onnxruntime as ort
    session = ort.InferenceSession(onnx_file, providers=['CPUExecutionProvider'])
    return [session.run(None, feed) for feed in feeds]


def refused_method(method: str, feeds: Sequence[Dict[str, np.ndarray]]) -> Optional[str]:
    """Why ONNX Runtime cannot calibrate with ``method`` on ``feeds``, or None where it can."""
    shapes = {tuple((k, v.shape) for k, v in sorted(feed.items())) for feed in feeds}
    if method != 'MinMax' and len(shapes) > 1:
        return (f"ONNX Runtime's {method} calibration stacks each activation over the calibration "
                f'inputs into one array (its histogram), so every input must have the same shape; '
                f'these have {len(shapes)} shapes (a dynamic deploy config keeps each image\'s size): '
                'MinMax takes any, or calibrate with a static deploy config')
    return None


# ONNX Runtime's histogram calibration fails so where an activation's shape depends on the data
_RAGGED = 'inhomogeneous'


def quantize_onnx_with_metric(onnx_file: str, out_file: str,
                              calibration_inputs: Sequence[Dict[str, np.ndarray]],
                              validation_inputs: Sequence[Dict[str, np.ndarray]], metric,
                              max_drop: float, targets: Optional[Sequence] = None,
                              method: str = 'MinMax',
                              op_types: Optional[Sequence[str]] = None) -> dict:
    """Int8 ``onnx_file`` whose ``metric`` on ``validation_inputs`` is at most ``max_drop`` below the
    float32 model's, written to ``out_file`` only then.

    Tries ``method``, then the other calibration methods (those ONNX Runtime cannot run on these
    inputs are refused, with the reason, see :func:`refused_method`); where none holds the bound,
    leaves the groups of nodes that cost most (:func:`costly_node_groups`, of the best method's
    model) in float32, 1, 2, 4, ... of them, while they are at most half of the groups.

    Args:
        metric (Callable): ``metric(outputs, targets) -> float``, higher is better, as for OpenVINO
            (:data:`~hgnet_backbones.deploy.openvino.Metric`): the ONNX Runtime outputs of each
            validation input and their targets.
        max_drop (float): The largest drop of ``metric`` from float32 to int8 accepted.
        targets (Sequence, optional): One per validation input; defaults to the float32 outputs.
        op_types (Sequence[str], optional): The operator types quantized (see :func:`quantize_onnx`).

    Returns ``{'out_file', 'method', 'excluded_nodes', 'float32_metric', 'int8_metric', 'drop',
    'max_drop', 'num_validation', 'tries': [{'method', 'num_excluded', 'metric', 'drop'} or
    {'method', 'refused'}]}``.

    Raises:
        AccuracyBoundError: no try held the bound; nothing is written, the error's ``result``
            holds the best try.
    """
    validation_inputs = list(validation_inputs)
    if not validation_inputs:
        raise ValueError('validation_inputs is empty: the metric is measured on them')
    float_outputs = _outputs(onnx_file, validation_inputs)
    if targets is None:
        targets = float_outputs
    elif len(targets) != len(validation_inputs):
        raise ValueError(f'{len(targets)} targets for {len(validation_inputs)} validation inputs: '
                         'give one per input')
    float_metric = float(metric(float_outputs, list(targets)))
    tries = []
    with tempfile.TemporaryDirectory() as folder:
        def attempt(try_method, excluded=()):
            reason = refused_method(try_method, calibration_inputs)
            path = osp.join(folder, f'{try_method}_{len(excluded)}.onnx')
            if reason is None:
                try:
                    quantize_onnx(onnx_file, path, calibration_inputs, try_method,
                                  nodes_to_exclude=excluded, op_types=op_types)
                except ValueError as e:
                    if _RAGGED not in str(e):
                        raise
                    reason = (f"ONNX Runtime's {try_method} calibration stacks each activation over "
                              'the calibration inputs into one array, and some activations of this '
                              'graph change shape with the data (after NMS, say): MinMax takes any')
            if reason is not None:
                tries.append(dict(method=try_method, refused=reason))
                return False
            value = float(metric(_outputs(path, validation_inputs), list(targets)))
            tries.append(dict(method=try_method, num_excluded=len(excluded), metric=value,
                              drop=float_metric - value, path=path, excluded_nodes=list(excluded)))
            return float_metric - value <= max_drop

        methods = [method] + [m for m in CALIBRATION_METHODS if m != method]
        held = any(attempt(m) for m in methods)
        measured = [t for t in tries if 'refused' not in t]
        if not held:
            best = min(measured, key=lambda t: t['drop'])
            groups = costly_node_groups(onnx_file, best['path'], validation_inputs)
            count = 1
            while not held and count <= len(groups) // 2:
                held = attempt(best['method'], [n for group in groups[:count] for n in group])
                count *= 2
            measured = [t for t in tries if 'refused' not in t]
        chosen = measured[-1] if held else min(measured, key=lambda t: t['drop'])
        result = dict(out_file=out_file if held else None, method=chosen['method'],
                      excluded_nodes=chosen['excluded_nodes'], float32_metric=float_metric,
                      int8_metric=chosen['metric'], drop=chosen['drop'], max_drop=max_drop,
                      num_validation=len(validation_inputs),
                      tries=[{k: t[k] for k in ('method', 'num_excluded', 'metric', 'drop', 'refused')
                              if k in t} for t in tries])
        if not held:
            raise AccuracyBoundError(
                f"int8 costs at least {chosen['drop']:.4g} of the metric on {len(validation_inputs)} "
                f"validation inputs (float32 {float_metric:.4g}, best int8 {chosen['metric']:.4g}, "
                f"{chosen['method']} with {len(chosen['excluded_nodes'])} nodes in float32; best of "
                f'{len(measured)} tries: each calibration method, then up to half the groups of '
                f'nodes in float32), more than max_drop={max_drop:.4g}; {out_file} was not '
                'written. Accept a larger drop, calibrate on inputs more like those the model will '
                "see, use OpenVINO (NNCF's accuracy control), or deploy in float32.", result)
        with atomic_path(out_file) as tmp:
            shutil.copyfile(chosen['path'], tmp)
    return result


def quantize_onnx_with_agreement(onnx_file: str, out_file: str,
                                 calibration_inputs: Sequence[Dict[str, np.ndarray]],
                                 validation_inputs: Sequence[Dict[str, np.ndarray]],
                                 min_agreement: float, method: str = 'MinMax') -> dict:
    """:func:`quantize_onnx_with_metric` for a classifier (top-1 is the argmax of its last output)
    whose top-1 must agree with the float32 model's on at least ``min_agreement`` of
    ``validation_inputs``: the metric is the agreement, float32's is 1, the drop ``1 - A``.

    Returns ``{'out_file', 'method', 'excluded_nodes', 'top1_agreement', 'min_agreement',
    'num_validation', 'tries': [{'method', 'num_excluded', 'top1_agreement'}]}``.

    Raises:
        AccuracyBoundError: no try reached ``min_agreement``; nothing is written, the error's
            ``result`` holds the best try.
    """
    from .openvino import top1_agreement

    def as_agreement(gate):
        return dict(out_file=gate['out_file'], method=gate['method'],
                    excluded_nodes=gate['excluded_nodes'], top1_agreement=gate['int8_metric'],
                    min_agreement=min_agreement, num_validation=gate['num_validation'],
                    tries=[dict(method=t['method'], num_excluded=t['num_excluded'],
                                top1_agreement=t['metric']) for t in gate['tries'] if 'metric' in t])
    try:
        # the slack keeps 1 - A from failing the bound 1 - A by a rounding
        gate = quantize_onnx_with_metric(onnx_file, out_file, calibration_inputs, validation_inputs,
                                         top1_agreement, 1 - min_agreement + 1e-9, method=method)
    except AccuracyBoundError as e:
        result = as_agreement(e.result)
        raise AccuracyBoundError(
            f"int8 top-1 agreement with float32 is at most {result['top1_agreement']:.4g} on "
            f"{result['num_validation']} validation inputs (best of {len(result['tries'])} tries: "
            'each calibration method, then up to half the groups of nodes in float32), below '
            f'min_agreement={min_agreement:.4g}; {out_file} was not written. Accept a lower '
            'agreement, calibrate on inputs more like those the model will see, use OpenVINO '
            "(NNCF's accuracy control), or deploy in float32.", result) from None
    return as_agreement(gate)


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


def use_test_root(model_cfg, data_root: str):
    """A copy of ``model_cfg`` whose test set is the one under ``data_root`` (the config's layout):
    its test dataset's ``data_root`` and, for a COCO evaluator, its annotation file there."""
    if not osp.isdir(data_root):
        raise FileNotFoundError(f'no validation set at {data_root!r}: give the root of a set in the '
                                "layout of the model config's test dataset")
    cfg = copy.deepcopy(load_config(model_cfg))
    dataset = cfg.test_dataloader.dataset
    dataset.data_root = osp.join(data_root, '')
    if isinstance(cfg.test_evaluator, dict) and 'ann_file' in cfg.test_evaluator:
        cfg.test_evaluator.ann_file = osp.join(data_root, dataset.ann_file)
    return cfg


def quantize(deploy_cfg: ConfigLike, model_cfg: ConfigLike, checkpoint: Optional[str],
             calibration_images: Sequence[str], val, work_dir: str, method: str = 'MinMax',
             min_agreement: float = 0.99, max_drop: Optional[float] = None) -> dict:
    """Export a model with mmdeploy (``work_dir/end2end.onnx``) and quantize it to int8 calibrated
    on ``calibration_images`` behind the accuracy gate.

    The gate is one mechanism, a metric whose drop from float32 to int8 is bounded: for a classifier
    the top-1 agreement with the float32 model on the images ``val`` (at least ``min_agreement``),
    for a detector or a segmentor the test evaluator's bbox mAP or mIoU, in points, on the set whose
    root is ``val`` (the model config's test set there; at most ``max_drop`` points below float32's,
    :class:`~hgnet_backbones.deploy.evaluate.ValidationSet`).

    The deploy config's backend chooses the route: ONNX Runtime (:func:`quantize_onnx_with_metric`
    from ``method``; ``work_dir/end2end_int8.onnx``) or OpenVINO (NNCF's accuracy control,
    :func:`~hgnet_backbones.deploy.openvino.quantize_with_accuracy_control`;
    ``work_dir/end2end_int8.xml``). The int8 model is written only where the bound holds.

    Returns the report, also written to ``work_dir/quantize_report.json``: ``backend``, ``gate``
    (what the route measured and chose), ``passed`` and ``error``; for a classifier, for 'fp32' (and
    'int8', where written) the top-1 agreement with PyTorch and the largest relative logit error
    (``max|Δ|/max|ref|`` of the logits, recovered from the exported softmax); for the other tasks
    ``metric`` (its name) and ``pytorch_metric``, the PyTorch model's on the same images.
    """
    deploy_cfg, model_cfg = load_config(deploy_cfg), load_config(model_cfg)
    check_deploy_config(deploy_cfg)
    backend, task = get_backend(deploy_cfg), get_task_type(deploy_cfg)
    classifier = task == Task.CLASSIFICATION
    if backend not in (Backend.ONNXRUNTIME, Backend.OPENVINO):
        raise ValueError(f"int8 models are made for ONNX Runtime and OpenVINO; the deploy config's "
                         f'backend is {backend.value!r}')
    if not calibration_images or not val:
        raise ValueError('quantize needs calibration images and a validation set')
    if classifier and not 0 <= min_agreement <= 1:
        raise ValueError(f'min_agreement is a share of images, in 0..1; got {min_agreement!r}')
    if not classifier and max_drop is None:
        raise ValueError(f'a {task.value} model is gated by its metric: give max_drop, the largest '
                         'drop from float32 to int8 accepted, in points (bbox mAP × 100, mIoU)')
    if not classifier:
        model_cfg = use_test_root(model_cfg, val)
    os.makedirs(work_dir, exist_ok=True)
    onnx_file = export_onnx(deploy_cfg, model_cfg, checkpoint, calibration_images[0], work_dir)
    reference = build_pytorch_model(model_cfg, checkpoint, 'cpu')
    onnx_cfg = onnx_deploy_config(deploy_cfg)
    calibration = model_inputs(onnx_cfg, model_cfg, calibration_images, reference.data_preprocessor)
    if classifier:
        from .openvino import top1_agreement
        validation = model_inputs(onnx_cfg, model_cfg, val, reference.data_preprocessor)
        # the float32 model agrees with itself (1.0): a drop of 1 - A leaves an agreement of A
        metric, targets, bound = top1_agreement, None, 1 - min_agreement + 1e-9
    else:
        from .evaluate import ValidationSet
        val_set = ValidationSet(deploy_cfg, model_cfg, onnx_file)
        validation, targets, metric, bound = (val_set.feeds, list(range(len(val_set))),
                                              val_set.metric, max_drop)
    int8_file = osp.splitext(onnx_file)[0] + ('_int8.xml' if backend == Backend.OPENVINO else
                                              '_int8.onnx')
    try:
        if backend == Backend.OPENVINO:
            from .openvino import quantize_with_accuracy_control
            gate = quantize_with_accuracy_control(
                onnx_file, calibration, validation, metric, max_drop=bound, xml_file=int8_file,
                targets=targets, threads=deploy_cfg.backend_config.get('threads'))
        elif classifier:
            gate = quantize_onnx_with_agreement(onnx_file, int8_file, calibration, validation,
                                                min_agreement, method)
        else:
            gate = quantize_onnx_with_metric(onnx_file, int8_file, calibration, validation, metric,
                                             bound, targets, method, COMPUTE_OPS)
        error = None
    except AccuracyBoundError as e:
        gate, error = e.result, str(e)
    models = {'fp32': (onnx_cfg, onnx_file)}
    if error is None:
        models['int8'] = (deploy_cfg if backend == Backend.OPENVINO else onnx_cfg, int8_file)
    report = dict(backend=backend.value, task=task.value, files={k: f for k, (_, f) in models.items()},
                  method=method if backend == Backend.ONNXRUNTIME else 'NNCF',
                  num_calibration_images=len(calibration_images), gate=gate,
                  passed=error is None, error=error)
    if classifier:
        report['min_agreement'] = min_agreement
        for name, (cfg, file) in models.items():
            report[name] = agreement(verify(cfg, model_cfg, build_backend_model(cfg, model_cfg, file),
                                            reference, val))
    else:
        report.update(metric=val_set.key, max_drop=max_drop, num_validation=len(val_set),
                      pytorch_metric=val_set.pytorch_score(reference))
    write_text(osp.join(work_dir, 'quantize_report.json'), json.dumps(report, indent=2))
    return report
