"""Inference for the three tasks through each codebase's own Inferencer: classification
(mmpretrain's ``ImageClassificationInferencer``), detection (mmdet's ``DetInferencer``) and semantic
segmentation (mmseg's ``MMSegInferencer``).

The Inferencers load a checkpoint that does not fit the config with a warning and predict with
randomly initialised layers; here every key of the checkpoint and the model must match, or a
``ValueError`` names the missing, unexpected and mis-shaped keys.

A deployed model (an ONNX or OpenVINO IR file written by ``tools/deploy.py``, with the deploy config
that names its backend) takes the PyTorch model's place in the same Inferencer: the same pipeline, the
same outputs, label names from the config's test set.
"""
import os.path as osp
from typing import Optional, Union

import numpy as np
import torch
from mmengine.config import Config

from ..fileio import atomic_path
from .config import codebase_of, load_config

ConfigLike = Union[str, Config]

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
# files of a deployed model: ONNX (ONNX Runtime or OpenVINO) and OpenVINO IR
DEPLOYED_SUFFIXES = ('.onnx', '.xml')


def list_images(image_or_dir: str, recursive: bool = False) -> list:
    """``image_or_dir`` itself, or the images in the folder (sorted; at any depth if ``recursive``)."""
    if osp.isdir(image_or_dir):
        from mmengine.utils import scandir
        files = sorted(osp.join(image_or_dir, f) for f in scandir(
            image_or_dir, suffix=IMAGE_SUFFIXES, recursive=recursive, case_sensitive=False))
        if not files:
            raise FileNotFoundError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {image_or_dir}')
        return files
    if not osp.isfile(image_or_dir):
        raise FileNotFoundError(f'{image_or_dir} not found')
    return [image_or_dir]


def _as_config(config: ConfigLike) -> Config:
    return config if isinstance(config, Config) else load_config(config)


def load_fitting_checkpoint(model: torch.nn.Module, checkpoint: Union[str, dict],
                            source: Optional[str] = None) -> dict:
    """Load ``checkpoint`` (a path, URL or ``paddleclas://`` name, or a checkpoint dict read from
    ``source``) into ``model``, refusing with a ``ValueError`` that names the missing, unexpected and
    mis-shaped keys when it does not fit. Returns the checkpoint dict (its ``meta`` holds the
    dataset's class names)."""
    from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint_to_model
    if isinstance(checkpoint, str):
        source = checkpoint
        checkpoint = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    try:  # the loading the Inferencers do, made strict: mmengine lists the keys that differ
        _load_checkpoint_to_model(model, checkpoint, strict=True)
    except RuntimeError as err:
        raise ValueError(f'checkpoint {source} does not fit the model of the config: {err}\n'
                         'Give a checkpoint trained with this config (or one of the same '
                         'model).') from None
    return checkpoint


def _fitting(inferencer_class, checkpoint: str):
    """``inferencer_class`` (an mmengine ``BaseInferencer``) that loads ``checkpoint`` only where it
    fits (:func:`load_fitting_checkpoint`), before the Inferencer reads its dataset meta."""

    class FittingInferencer(inferencer_class):

        def _load_weights_to_model(self, model, loaded, cfg):
            if loaded is not None:
                load_fitting_checkpoint(model, loaded, checkpoint)
            super()._load_weights_to_model(model, loaded, cfg)

    return FittingInferencer


def backend_model(config: Config, deploy_cfg: ConfigLike, model_file: str) -> torch.nn.Module:
    """The deployed ``model_file`` (exported from ``config``'s model by ``tools/deploy.py``) as
    mmdeploy's end-to-end model of the task, run on the CPU by the backend ``deploy_cfg`` names, with
    ``dataset_meta`` (class names, palette) of the config's test set's class and ``metainfo``."""
    from mmengine.registry import DATASETS, DefaultScope

    from ..deploy.pipeline import build_backend_model
    model = build_backend_model(deploy_cfg, config, model_file, 'cpu')
    dataset = config.test_dataloader.dataset
    with DefaultScope.overwrite_default_scope(config.get('default_scope')):
        dataset_class = DATASETS.get(dataset.type)
    # the dataset class's meta and the config's (no file read), as mmpretrain's get_model does
    model.dataset_meta = dict(getattr(dataset_class, 'METAINFO', {}), **dataset.get('metainfo', {}))
    return model


def _deployed(inferencer_class, deploy_cfg: ConfigLike, model_file: str):
    """``inferencer_class`` (an mmengine ``BaseInferencer``) predicting with :func:`backend_model`
    instead of the PyTorch model of its config."""

    class DeployedInferencer(inferencer_class):

        def _init_model(self, cfg, weights, device):
            return backend_model(cfg, deploy_cfg, model_file)

    return DeployedInferencer


def _check_deployed(checkpoint: str, deploy_cfg: Optional[ConfigLike]) -> None:
    if deploy_cfg is None and checkpoint.endswith(DEPLOYED_SUFFIXES):
        raise ValueError(f'{checkpoint} is a deployed model: give the deploy config that names its '
                         'backend (deploy_cfg, --deploy-cfg), e.g. '
                         'configs/deploy/classification_openvino_dynamic.py for an OpenVINO .xml')


def _inferencer(inferencer_class, checkpoint: str, deploy_cfg: Optional[ConfigLike]):
    """``inferencer_class`` with the deployed model ``checkpoint`` where ``deploy_cfg`` is given,
    else loading ``checkpoint`` only where it fits."""
    _check_deployed(checkpoint, deploy_cfg)
    if deploy_cfg is not None:
        return _deployed(inferencer_class, deploy_cfg, checkpoint)
    return _fitting(inferencer_class, checkpoint)


def classify(image_or_dir: str, config: ConfigLike, checkpoint: str, topk: int = 5,
             device: Optional[str] = None, deploy_cfg: Optional[ConfigLike] = None) -> list:
    """Top-k classes of each image, as PaddleClas's predictor reports them: ``[{'file_name',
    'class_ids', 'scores', 'label_names'}]``. Label names come from the checkpoint's dataset meta or
    the config's test set (ImageNet names for ImageNet configs). With ``deploy_cfg``, ``checkpoint``
    is a deployed model (ONNX or OpenVINO IR) run by that config's backend on the CPU."""
    from mmpretrain.apis import ImageClassificationInferencer, get_model
    config = _as_config(config)
    _check_deployed(checkpoint, deploy_cfg)
    if deploy_cfg is not None:
        model = backend_model(config, deploy_cfg, checkpoint)
        model._config, model._dataset_meta = config, model.dataset_meta  # what mmpretrain reads
    else:
        model = get_model(config, pretrained=False, device=device)
        meta = load_fitting_checkpoint(model, checkpoint).get('meta', {})
        if meta.get('dataset_meta'):  # as get_model does with the checkpoint it loads
            model._dataset_meta = meta['dataset_meta']
    inferencer = ImageClassificationInferencer(model=model, device=device)
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


def segment(image_or_dir: str, config: ConfigLike, checkpoint: str, out_dir: str, opacity: float = 0.5,
            with_labels: bool = True, device: Optional[str] = None,
            deploy_cfg: Optional[ConfigLike] = None) -> list:
    """Semantic segmentation of each image with mmseg's ``MMSegInferencer``. Writes
    ``out_dir/<image name>.png``, the image with each pixel's predicted class painted over it in the
    palette's colour (``opacity``; ``with_labels`` writes the class names), and returns
    ``[{'file_name', 'overlay', 'classes': {name: fraction of the pixels}}]``. Class names and palette
    come from the checkpoint's dataset meta or the config's test set. With ``deploy_cfg``,
    ``checkpoint`` is a deployed model (ONNX or OpenVINO IR) run by that config's backend."""
    from mmseg.apis import MMSegInferencer
    inferencer = _inferencer(MMSegInferencer, checkpoint, deploy_cfg)(
        model=_as_config(config), weights=None if deploy_cfg else checkpoint,
        device='cpu' if deploy_cfg else device)
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


def detect(image_or_dir: str, config: ConfigLike, checkpoint: str, score_thr: float = 0.3,
           out_dir: Optional[str] = None, device: Optional[str] = None,
           deploy_cfg: Optional[ConfigLike] = None) -> list:
    """Boxes found in an image, or in every image of a folder, by mmdet's ``DetInferencer``:
    ``[{'file_name', 'bboxes' (x1, y1, x2, y2), 'scores', 'labels', 'label_names'}]`` with scores of
    at least ``score_thr``. ``out_dir``: also write each image with its boxes drawn to
    ``out_dir/vis/``. Label names come from the checkpoint's dataset meta. With ``deploy_cfg``,
    ``checkpoint`` is a deployed model (ONNX or OpenVINO IR) run by that config's backend, its label
    names from the config's test set."""
    from mmdet.apis import DetInferencer
    if not 0 <= score_thr <= 1:
        raise ValueError(f'score_thr must be in [0, 1], got {score_thr}')
    inferencer = _inferencer(DetInferencer, checkpoint, deploy_cfg)(
        model=_as_config(config), weights=None if deploy_cfg else checkpoint,
        device='cpu' if deploy_cfg else device, show_progress=False)
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


def infer(image_or_dir: str, config: ConfigLike, checkpoint: str, out_dir: Optional[str] = None,
          device: Optional[str] = None, topk: int = 5, score_thr: float = 0.3,
          opacity: float = 0.5, deploy_cfg: Optional[ConfigLike] = None) -> list:
    """Predict with any config of this project, by its codebase: :func:`classify` (``topk``),
    :func:`detect` (``score_thr``; boxes drawn to ``out_dir/vis/`` when given) or :func:`segment`
    (``opacity``; overlays written to ``out_dir``, which it needs). With ``deploy_cfg``,
    ``checkpoint`` is a deployed model of the config's model (an ``.onnx`` or OpenVINO ``.xml`` file
    from ``tools/deploy.py``) run by the deploy config's backend on the CPU."""
    config = _as_config(config)
    codebase = codebase_of(config)
    if codebase == 'mmpretrain':
        return classify(image_or_dir, config, checkpoint, topk, device, deploy_cfg)
    if codebase == 'mmdet':
        return detect(image_or_dir, config, checkpoint, score_thr, out_dir, device, deploy_cfg)
    if out_dir is None:
        raise ValueError('a segmentation config writes overlays: give out_dir (--out-dir)')
    return segment(image_or_dir, config, checkpoint, out_dir, opacity, device=device,
                   deploy_cfg=deploy_cfg)
