"""Running a deployed model beside the PyTorch model it came from and comparing their predictions,
image by image (:func:`verify`), and the deploy tool's whole run (:func:`deploy`)."""
import copy
import json
import os.path as osp
from typing import List, Optional, Sequence

import mmcv
import numpy as np
import torch
from mmdeploy.apis import build_task_processor
from mmdeploy.utils import Task, get_input_shape, get_task_type, is_dynamic_shape

from ..apis.config import load_config
from ..fileio import write_text
from .export import ConfigLike, operator_counts, precision
from .pipeline import run_pipeline


# What verification accepts, by engine precision. Classification: max|Δ|/max|ref| of the logits (from
# the exported softmax scores, centred), and the same top-1 class.
# Detection: the share of detections paired one-to-one (same label, IoU >= 0.5) and the largest box
# (pixels) and score differences of the pairs; the share falls below 1 where mmdeploy's rewrites cut
# differently from mmdet: its pre-NMS top-k keeps anchors by their best class (mmdet: (anchor, class)
# pairs), which matters on large inputs, and its RPN runs one NMS over all levels (mmdet: per level).
# Segmentation: the share of pixels with the same label.
TOLERANCES = {
    'fp32': dict(logit_error=1e-4, same_top1=True, matched=0.95, box_error=1e-2, score_error=1e-4,
                 pixel_agreement=0.999),
    'fp16': dict(logit_error=2e-2, same_top1=True, matched=0.8, box_error=1.0, score_error=1e-2,
                 pixel_agreement=0.99),
    'bf16': dict(logit_error=5e-2, same_top1=True, matched=0.8, box_error=4.0, score_error=5e-2,
                 pixel_agreement=0.98),
}


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
    """Whether ``metrics`` (of one task) are within ``tolerances`` (one row of :data:`TOLERANCES`): a
    yes/no metric must equal its row's value, a share reach it, an error stay below it."""
    at_least = ('matched', 'pixel_agreement')

    def within(key, value):
        if isinstance(value, bool):
            return value == tolerances[key]
        return value >= tolerances[key] if key in at_least else value <= tolerances[key]

    return all(within(k, v) for k, v in metrics.items() if k in tolerances)


@torch.no_grad()
def verify(deploy_cfg: ConfigLike, model_cfg: ConfigLike, backend_model: torch.nn.Module,
           pytorch_model: torch.nn.Module, images: Sequence, device: str = 'cpu') -> List[dict]:
    """Run both models on each image through the config's test pipeline (resized to
    ``onnx_config.input_shape`` for static configs) and compare their predictions; one dict of
    metrics per image, with ``input_shape`` and ``passed``."""
    # a copy: mmdeploy's mmdet processor switches the config's loading step to arrays in place
    deploy_cfg, model_cfg = load_config(deploy_cfg), copy.deepcopy(load_config(model_cfg))
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
    for an OpenVINO config, convert it to OpenVINO IR and verify that at the config's precision; for a
    TensorRT config where TensorRT and a GPU are present, build the engine and verify it too.

    Dynamic configs are verified on ``image`` and on a crop of it (a second input size). Returns the
    report, also written to ``work_dir/deploy_report.json``: the ONNX file and its op counts, per-image
    metrics for each backend (see :data:`TOLERANCES`), and why TensorRT was skipped if it was.
    """
    if not osp.isfile(image):
        raise FileNotFoundError(f'image {image!r} does not exist')
    deploy_cfg, model_cfg = load_config(deploy_cfg), load_config(model_cfg)
    images = [image]
    if is_dynamic_shape(deploy_cfg):
        images.append(second_size(mmcv.imread(image)))

    def measure(name, backend_cfg, backend_model, reference, run_device):
        return verify(backend_cfg, model_cfg, backend_model, reference, images, run_device)

    run = run_pipeline(deploy_cfg, model_cfg, checkpoint, work_dir, measure, trace_image=image,
                       device=device)
    onnx_file = run.pop('onnx')
    report = dict(onnx=onnx_file, operators=operator_counts(onnx_file),
                  precision=precision(deploy_cfg), **run)
    write_text(osp.join(work_dir, 'deploy_report.json'), json.dumps(report, indent=2))
    return report
