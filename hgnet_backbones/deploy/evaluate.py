"""A deployed model evaluated on the config's test set, as mmdeploy's ``tools/test.py`` evaluates a
backend model: the ONNX Runtime model (and, as the deploy config asks, the OpenVINO model or the TensorRT
engine where TensorRT and a GPU are present) and the PyTorch model it came from each run the whole test set through the same mmengine test loop and the
codebase's evaluator (mmdeploy's ``DeployTestRunner``). The report puts their metrics side by side with
the time each network call took, and fails where a backend's metric drifts from PyTorch's by more than
:data:`METRIC_TOLERANCE`."""
import copy
import json
import os.path as osp
import statistics
import time
from typing import Optional, Sequence

import numpy as np
import torch
from mmdeploy.apis import build_task_processor
from mmdeploy.backend.base import BaseWrapper

from ..apis.config import codebase_of, load_config
from ..fileio import write_text
from .export import ConfigLike, onnx_deploy_config, operator_counts, precision
from .pipeline import build_backend_model, run_pipeline

# How far a backend's dataset metric may be from PyTorch's, by engine precision: 0.5 (fp32) and 1.0
# (fp16, bf16, int8) percentage points of every metric both report. mmpretrain's and mmseg's metrics
# are percentages, mmdet's COCO metrics fractions (0.005 and 0.01 of them).
METRIC_TOLERANCE = {'fp32': 0.5, 'fp16': 1.0, 'bf16': 1.0, 'int8': 1.0}
BACKENDS = ('onnxruntime', 'openvino', 'tensorrt')
POINTS_PER_UNIT = {'mmpretrain': 1.0, 'mmseg': 1.0, 'mmdet': 100.0}


class CallTimer:
    """Milliseconds each call of ``module`` takes (forward hooks; CUDA synchronised on ``device``)."""

    def __init__(self, module: torch.nn.Module, device: str):
        self.module, self.cuda = module, torch.device(device).type == 'cuda'
        self.times, self._start, self._handles = [], None, []

    def _sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def _before(self, module, args):
        self._sync()
        self._start = time.perf_counter()

    def _after(self, module, args, output):
        self._sync()
        self.times.append((time.perf_counter() - self._start) * 1e3)

    def __enter__(self) -> 'CallTimer':
        self._handles = [self.module.register_forward_pre_hook(self._before),
                         self.module.register_forward_hook(self._after)]
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()

    def summary(self) -> dict:
        """Median and mean over the calls after the first (which warms up), and their count."""
        times = self.times[1:] or self.times
        return dict(median_ms=round(statistics.median(times), 3),
                    mean_ms=round(statistics.fmean(times), 3), calls=len(times))


def _run_test_set(processor, model: torch.nn.Module, timed: torch.nn.Module, device: str,
                  work_dir: str) -> dict:
    """Metrics of ``model`` on the test set and the time of each call of ``timed`` (its network)."""
    runner = processor.build_test_runner(model, work_dir)
    with CallTimer(timed, device) as timer:
        metrics = runner.test()
    return dict(device=device, metrics={k: float(v) for k, v in metrics.items()},
                latency=timer.summary())


def compare_metrics(reference: dict, backend: dict, codebase: str, tolerance: float) -> dict:
    """The largest difference, in percentage points, over the metrics both report, and whether it is
    within ``tolerance``; a backend that misses a metric of PyTorch's fails."""
    missing = sorted(set(reference) - set(backend))
    scale = POINTS_PER_UNIT[codebase]
    drift = max((abs(backend[k] - v) * scale for k, v in reference.items() if k in backend),
                default=0.0)
    return dict(max_drift_points=round(drift, 4), missing=missing,
                passed=not missing and drift <= tolerance)


def first_test_image(processor, model_cfg) -> str:
    """The path of the test set's first image (what the graph is traced with)."""
    dataset = processor.build_dataset(model_cfg.test_dataloader.dataset)
    return dataset.get_data_info(0)['img_path']


def backend_precision(name: str, deploy_cfg, backend_file: str) -> str:
    """What backend ``name`` computes ``backend_file`` in: 'int8' for a quantized model (QDQ ONNX,
    NNCF's OpenVINO IR), else ONNX Runtime fp32, OpenVINO and TensorRT the deploy config's
    precision."""
    if name == 'onnxruntime':
        return 'int8' if 'QuantizeLinear' in operator_counts(backend_file) else 'fp32'
    if name == 'openvino':
        from .openvino import is_int8
        if is_int8(backend_file):
            return 'int8'
    return precision(deploy_cfg)


def evaluate(deploy_cfg: ConfigLike, model_cfg: ConfigLike, checkpoint: Optional[str], work_dir: str,
             onnx_file: Optional[str] = None, batch_size: int = 1, device: str = 'cuda:0',
             openvino_file: Optional[str] = None) -> dict:
    """Evaluate the deployed ``model_cfg`` + ``checkpoint`` and the PyTorch model on the config's test
    set (the deploy config's input shape must be dynamic, or the one the test pipeline makes).

    Args:
        deploy_cfg: An ONNX Runtime, OpenVINO or TensorRT deploy config (``configs/deploy/``).
        model_cfg: The model config; its ``test_dataloader`` and ``test_evaluator`` are used.
        checkpoint: The model's weights (None: the config's initialisation).
        work_dir: Where the ONNX file (unless ``onnx_file`` is given), engine, logs and
            ``deploy_eval_report.json`` go.
        onnx_file: An ONNX file exported from this model before, instead of exporting it again.
        batch_size: Images per network call, for every backend alike.
        device: Where a TensorRT engine is built and run; PyTorch, ONNX Runtime and OpenVINO run
            on the CPU.
        openvino_file: For an OpenVINO config, the OpenVINO IR to evaluate (an int8 one of
            ``tools/quantize.py``, say) instead of converting the ONNX file.

    Returns:
        The report: for ``pytorch``, ``onnxruntime`` (and ``openvino``, or ``tensorrt`` or why it was
        skipped) the ``metrics`` and ``latency`` (of each network call: the backend's session,
        compiled model or engine, PyTorch's model forward), and for each backend its ``precision``,
        how far its metrics drift (``max_drift_points``) and whether that is within its
        ``tolerance_points`` (:data:`METRIC_TOLERANCE` of its precision).
    """
    deploy_cfg, model_cfg = load_config(deploy_cfg), copy.deepcopy(load_config(model_cfg))
    model_cfg.test_dataloader.batch_size = batch_size
    codebase = codebase_of(model_cfg)
    trace_image = None if onnx_file is not None else first_test_image(
        build_task_processor(model_cfg, onnx_deploy_config(deploy_cfg), 'cpu'), model_cfg)

    def measure(name, backend_cfg, model, reference, run_device):
        # timed: the network each call runs, the backend's session or engine, PyTorch's model
        timed = model if reference is None else model.wrapper
        return _run_test_set(build_task_processor(model_cfg, backend_cfg, run_device), model, timed,
                             run_device, osp.join(work_dir, name))

    run = run_pipeline(deploy_cfg, model_cfg, checkpoint, work_dir, measure, trace_image=trace_image,
                       onnx_file=onnx_file, device=device, measure_pytorch=True,
                       openvino_file=openvino_file)
    report = dict(onnx=run.pop('onnx'), codebase=codebase, batch_size=batch_size,
                  precision=precision(deploy_cfg), **run)
    backends = [name for name in BACKENDS if 'metrics' in report.get(name, {})]
    for backend in backends:
        backend_file = report[backend].get('xml', report[backend].get('engine', report['onnx']))
        entry_precision = backend_precision(backend, deploy_cfg, backend_file)
        tolerance = METRIC_TOLERANCE[entry_precision]
        report[backend].update(precision=entry_precision, tolerance_points=tolerance,
                               **compare_metrics(report['pytorch']['metrics'],
                                                 report[backend]['metrics'], codebase, tolerance))
    report['passed'] = all(report[backend]['passed'] for backend in backends)
    write_text(osp.join(work_dir, 'deploy_eval_report.json'), json.dumps(report, indent=2))
    return report


def report_table(report: dict) -> str:
    """The report as a Markdown table: one row per model, its metrics and call latency."""
    models = [m for m in ('pytorch', ) + BACKENDS if 'metrics' in report.get(m, {})]
    keys = list(report['pytorch']['metrics'])
    lines = ['| model | precision | device | ' + ' | '.join(keys) + ' | latency median / mean (ms) '
             '| drift / tolerance (points) |',
             '|---' * (len(keys) + 5) + '|']
    for name in models:
        entry = report[name]
        drift = ('' if name == 'pytorch' else f"{entry['max_drift_points']} / "
                 f"{entry['tolerance_points']} {'pass' if entry['passed'] else 'FAIL'}")
        values = ' | '.join(f"{entry['metrics'].get(k, float('nan')):.4g}" for k in keys)
        lines.append(f"| {name} | {entry.get('precision', 'fp32')} | {entry['device']} | {values} | "
                     f"{entry['latency']['median_ms']} / "
                     f"{entry['latency']['mean_ms']} | {drift} |")
    if 'skipped' in report.get('tensorrt', {}):
        lines.append(f"\nTensorRT skipped: {report['tensorrt']['skipped']}")
    return '\n'.join(lines)


# the metric the int8 gate bounds for each codebase (reported in points)
GATE_METRICS = {'mmpretrain': 'accuracy/top1', 'mmdet': 'coco/bbox_mAP', 'mmseg': 'mIoU'}


class _Replay(BaseWrapper):
    """A backend wrapper that returns the outputs it is given: mmdeploy's end-to-end model turns
    outputs computed elsewhere (an int8 model under test) into the codebase's data samples."""

    def __init__(self, output_names):
        super().__init__(output_names)
        self.outputs = None

    def forward(self, inputs):
        return {name: torch.from_numpy(np.asarray(out)) for name, out in
                zip(self.output_names, self.outputs)}


class ValidationSet:
    """The model config's test set as the exported graph sees it, and the codebase's evaluator on it:
    the feeds of each image (one a batch, prepared by the model's data preprocessor as mmdeploy's
    test loop prepares them) and :meth:`metric`, the evaluator's score (in points: ``mAP`` × 100,
    ``mIoU``, top-1 %) of the graph's raw outputs on any subset of the images, post-processed by
    mmdeploy's end-to-end model of ``onnx_file`` as :func:`evaluate` does.

    Args:
        deploy_cfg: The deploy config (its ONNX side is used).
        model_cfg: The model config; its ``test_dataloader`` dataset and ``test_evaluator``.
        onnx_file: The float32 graph exported with this deploy config.
        key: The metric scored; defaults to :data:`GATE_METRICS` of the codebase.
    """

    def __init__(self, deploy_cfg: ConfigLike, model_cfg: ConfigLike, onnx_file: str,
                 key: Optional[str] = None):
        from mmengine.dataset import pseudo_collate

        deploy_cfg, self.model_cfg = load_config(deploy_cfg), load_config(model_cfg)
        self.codebase = codebase_of(self.model_cfg)
        self.key = key or GATE_METRICS[self.codebase]
        onnx_cfg = onnx_deploy_config(deploy_cfg)
        self.model = build_backend_model(onnx_cfg, self.model_cfg, onnx_file, 'cpu')
        self.model.wrapper = _Replay(self.model.wrapper.output_names)
        processor = build_task_processor(self.model_cfg, onnx_cfg, 'cpu')
        self.dataset = processor.build_dataset(self.model_cfg.test_dataloader.dataset)
        if len(self.dataset) == 0:
            raise ValueError('the test set of the model config is empty: point its data_root at a '
                             'validation set in its layout')
        name = onnx_cfg.onnx_config.input_names[0]
        with torch.no_grad():
            self.batches = [self.model.data_preprocessor(pseudo_collate([self.dataset[i]]), False)
                            for i in range(len(self.dataset))]
        self.feeds = [{name: batch['inputs'].numpy()} for batch in self.batches]

    def __len__(self) -> int:
        return len(self.batches)

    def score(self, predictions: Sequence[Sequence], indices: Sequence[int]) -> float:
        """The evaluator's ``key`` (in points) on the predicted data samples of images ``indices``."""
        from mmengine.evaluator import Evaluator
        from mmengine.registry import DefaultScope
        with DefaultScope.overwrite_default_scope(self.codebase):
            evaluator = Evaluator(copy.deepcopy(self.model_cfg.test_evaluator))
        evaluator.dataset_meta = self.dataset.metainfo
        for metric in evaluator.metrics:
            if hasattr(metric, 'img_ids'):  # COCO metrics count every image of their annotation file
                metric.img_ids = [self.batches[i]['data_samples'][0].img_id for i in indices]
        for samples, i in zip(predictions, indices):
            evaluator.process(samples, self.batches[i])
        metrics = evaluator.evaluate(len(indices))
        if not metrics:  # mmdet's COCO metric reports nothing where nothing was detected
            return 0.0
        if self.key not in metrics:
            raise KeyError(f'the test evaluator reports no {self.key!r} (it reports '
                           f'{sorted(metrics)}): give the key of the metric to bound')
        return float(metrics[self.key]) * POINTS_PER_UNIT[self.codebase]

    def metric(self, outputs: Sequence[Sequence[np.ndarray]], indices: Sequence[int]) -> float:
        """The score of the graph's ``outputs`` on images ``indices`` (one output list each): an
        int8 gate's metric (its targets are the images' indices)."""
        predictions = []
        with torch.no_grad():
            for out, i in zip(outputs, indices):
                self.model.wrapper.outputs = out
                batch = self.batches[i]
                predictions.append(self.model(batch['inputs'],
                                              copy.deepcopy(batch['data_samples']), mode='predict'))
        return self.score(predictions, indices)

    def pytorch_score(self, model: torch.nn.Module) -> float:
        """The score of the PyTorch model (the reference) on every image."""
        with torch.no_grad():
            predictions = [model(batch['inputs'], copy.deepcopy(batch['data_samples']), mode='predict')
                           for batch in self.batches]
        return self.score(predictions, range(len(self)))
