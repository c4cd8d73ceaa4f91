"""Inference for the three tasks through each codebase's own Inferencer: classification
(mmpretrain's ``ImageClassificationInferencer``), detection (mmdet's ``DetInferencer``) and semantic
segmentation (mmseg's ``MMSegInferencer``)."""
import os
import os.path as osp
from typing import Optional, Union

import numpy as np
import torch
from mmengine.config import Config

from ..fileio import atomic_path

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def list_images(image_or_dir: str) -> list:
    """``image_or_dir`` itself, or the images in the folder (sorted)."""
    if osp.isdir(image_or_dir):
        files = sorted(osp.join(image_or_dir, f) for f in os.listdir(image_or_dir)
                       if f.lower().endswith(IMAGE_SUFFIXES))
        if not files:
            raise FileNotFoundError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {image_or_dir}')
        return files
    if not osp.isfile(image_or_dir):
        raise FileNotFoundError(f'{image_or_dir} not found')
    return [image_or_dir]


def classify(image_or_dir: str, config: str, checkpoint: str, topk: int = 5,
             device: Optional[str] = None) -> list:
    """Top-k classes of each image, as PaddleClas's predictor reports them: ``[{'file_name',
    'class_ids', 'scores', 'label_names'}]``. Label names come from the checkpoint's dataset meta or
    the config's test set (ImageNet names for ImageNet configs)."""
    from mmpretrain.apis import ImageClassificationInferencer
    inferencer = ImageClassificationInferencer(model=config, pretrained=checkpoint, device=device)
    files = list_images(image_or_dir)
    results = []
    for file_name, pred in zip(files, inferencer(files)):
        scores = torch.as_tensor(pred['pred_scores'])
        top = scores.topk(min(topk, scores.numel()))
        ids = top.indices.tolist()
        classes = inferencer.classes
        results.append(dict(
            file_name=file_name, class_ids=ids, scores=[round(float(s), 5) for s in top.values],
            label_names=[classes[i] if classes and i < len(classes) else str(i) for i in ids]))
    return results


def _save_image(image, path: str) -> None:
    """Write an RGB uint8 array as an image (format from the suffix), atomically."""
    from PIL import Image
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp)


def segment(image_or_dir: str, config: str, checkpoint: str, out_dir: str, opacity: float = 0.5,
            with_labels: bool = True, device: Optional[str] = None) -> list:
    """Semantic segmentation of each image with mmseg's ``MMSegInferencer``. Writes
    ``out_dir/<image name>.png``, the image with each pixel's predicted class painted over it in the
    palette's colour (``opacity``; ``with_labels`` writes the class names), and returns
    ``[{'file_name', 'overlay', 'classes': {name: fraction of the pixels}}]``. Class names and palette
    come from the checkpoint's dataset meta or the config's test set."""
    from mmseg.apis import MMSegInferencer
    inferencer = MMSegInferencer(model=config, weights=checkpoint, device=device)
    names = inferencer.model.dataset_meta['classes']
    results = []
    for file_name in list_images(image_or_dir):
        # one input: the inferencer returns its visualization and prediction unlisted
        out = inferencer(file_name, return_vis=True, opacity=opacity, with_labels=with_labels)
        overlay = osp.join(out_dir, osp.splitext(osp.basename(file_name))[0] + '.png')
        _save_image(out['visualization'], overlay)
        labels, counts = np.unique(out['predictions'], return_counts=True)
        results.append(dict(file_name=file_name, overlay=overlay, classes={
            names[i]: round(float(c) / out['predictions'].size, 4) for i, c in zip(labels, counts)}))
    return results


def detect(image_or_dir: str, config: Union[str, Config], checkpoint: str, score_thr: float = 0.3,
           out_dir: Optional[str] = None, device: Optional[str] = None) -> list:
    """Boxes found in an image, or in every image of a folder, by mmdet's ``DetInferencer``:
    ``[{'file_name', 'bboxes' (x1, y1, x2, y2), 'scores', 'labels', 'label_names'}]`` with scores of
    at least ``score_thr``. ``out_dir``: also write each image with its boxes drawn to
    ``out_dir/vis/``. Label names come from the checkpoint's dataset meta."""
    from mmdet.apis import DetInferencer
    if not 0 <= score_thr <= 1:
        raise ValueError(f'score_thr must be in [0, 1], got {score_thr}')
    inferencer = DetInferencer(model=config, weights=checkpoint, device=device, show_progress=False)
    files = list_images(image_or_dir)
    outputs = inferencer(files, pred_score_thr=score_thr, out_dir=out_dir or '',
                         no_save_vis=out_dir is None)
    classes = inferencer.model.dataset_meta.get('classes') or ()
    results = []
    for file_name, pred in zip(files, outputs['predictions']):
        keep = [i for i, s in enumerate(pred['scores']) if s >= score_thr]
        labels = [pred['labels'][i] for i in keep]
        results.append(dict(
            file_name=file_name, bboxes=[[round(v, 2) for v in pred['bboxes'][i]] for i in keep],
            scores=[round(pred['scores'][i], 4) for i in keep], labels=labels,
            label_names=[classes[i] if i < len(classes) else str(i) for i in labels]))
    return results
