"""ONNX export with mmdeploy 1.3.1's ``torch2onnx`` and its rewriters, under the adaptations of
:func:`hgnet_backbones.compat.mmdeploy.mmdeploy_export` (torch >= 2.9, exact adaptive pooling,
deformable attention in standard ops).

mmdeploy's TensorRT rewriters emit its plugin ops (``TRTBatchedNMS``, ``GridPriorsTRT``,
``MMCVMultiLevelRoiAlign``), whose library is built for TensorRT 8.6 only, and bake TopK sizes at
trace time. Every graph here is exported with mmdeploy's standard-op rewriters (those it uses for ONNX
Runtime, :func:`onnx_deploy_config`): NMS is ONNX ``NonMaxSuppression``, which TensorRT's ONNX parser
turns into its NMS layer. So the graph ONNX Runtime verifies is the graph TensorRT builds.
"""
import copy
import os.path as osp
from typing import Dict, List, Optional, Union

import onnx
from mmdeploy.apis import torch2onnx
from mmdeploy.utils import (Backend, get_backend, get_codebase_config, get_common_config,
                            get_ir_config)
from mmdeploy.utils.constants import TENSORRT_MAX_TOPK
from mmengine.config import Config

from ..apis.config import load_config
from ..compat.mmdeploy import mmdeploy_export
from ..fileio import atomic_path
from .openvino import PRECISIONS as OPENVINO_PRECISIONS

ConfigLike = Union[str, Config]
STANDARD_DOMAINS = ('', 'ai.onnx')


def onnx_deploy_config(deploy_cfg: Config) -> Config:
    """``deploy_cfg`` with the ONNX Runtime backend: what the graph is exported and verified with."""
    cfg = copy.deepcopy(deploy_cfg)
    cfg.backend_config = dict(type=Backend.ONNXRUNTIME.value)
    return cfg


DEPLOY_BACKENDS = (Backend.ONNXRUNTIME, Backend.TENSORRT, Backend.OPENVINO)


def precision(deploy_cfg: Config) -> str:
    """'fp16' for a TensorRT config with ``fp16_mode``, an OpenVINO config's
    ``backend_config.precision`` ('fp32' or 'bf16'), else 'fp32'."""
    backend = get_backend(deploy_cfg)
    if backend == Backend.TENSORRT and get_common_config(deploy_cfg).get('fp16_mode'):
        return 'fp16'
    if backend == Backend.OPENVINO:
        return deploy_cfg.backend_config.get('precision', 'fp32')
    return 'fp32'


def check_deploy_config(deploy_cfg: Config) -> None:
    """Refuse what this module cannot deploy, naming the value: backends other than ONNX Runtime,
    TensorRT and OpenVINO, an OpenVINO precision other than fp32 and bf16, and for TensorRT a
    detection ``pre_top_k`` above its TopK limit."""
    backend = get_backend(deploy_cfg)
    if backend not in DEPLOY_BACKENDS:
        raise ValueError(f'backend_config.type is {backend.value!r}; this tool deploys to '
                         f'{[b.value for b in DEPLOY_BACKENDS]}')
    if backend == Backend.OPENVINO and precision(deploy_cfg) not in OPENVINO_PRECISIONS:
        raise ValueError(f'backend_config.precision is {precision(deploy_cfg)!r}; OpenVINO on the '
                         f'CPU computes in one of {OPENVINO_PRECISIONS} (int8: tools/quantize.py)')
    post = get_codebase_config(deploy_cfg).get('post_processing', {})
    if backend == Backend.TENSORRT and post.get('pre_top_k', -1) > TENSORRT_MAX_TOPK:
        raise ValueError(f"codebase_config.post_processing.pre_top_k={post['pre_top_k']} exceeds "
                         f"TensorRT's TopK limit of {TENSORRT_MAX_TOPK}")


def export_onnx(deploy_cfg: ConfigLike, model_cfg: ConfigLike, checkpoint: Optional[str], image,
                work_dir: str) -> str:
    """Export with mmdeploy's ``torch2onnx`` (on the CPU) to ``work_dir/<onnx_config.save_file>``,
    written to a temporary name first. Raises if the graph holds ops outside the ONNX domain."""
    deploy_cfg, model_cfg = load_config(deploy_cfg), load_config(model_cfg)
    path = osp.join(work_dir, get_ir_config(deploy_cfg).get('save_file', 'end2end.onnx'))
    with atomic_path(path) as tmp:
        with mmdeploy_export():
            torch2onnx(image, osp.dirname(tmp), osp.basename(tmp), onnx_deploy_config(deploy_cfg),
                       model_cfg, checkpoint, device='cpu')
        custom = custom_operators(tmp)
        if custom:
            raise RuntimeError(f'the exported graph holds non-standard ops {custom}')
    return path


def operator_counts(onnx_file: str) -> Dict[str, int]:
    """``{op_type: count}`` of the graph's nodes, ``domain::op_type`` outside the ONNX domain."""
    counts: Dict[str, int] = {}
    for node in onnx.load(onnx_file, load_external_data=False).graph.node:
        name = node.op_type if node.domain in STANDARD_DOMAINS else f'{node.domain}::{node.op_type}'
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def custom_operators(onnx_file: str) -> List[str]:
    """Ops of the graph outside the ONNX domain (mmdeploy's ``mmdeploy::*``, ``mmcv::*``, ...)."""
    return [name for name in operator_counts(onnx_file) if '::' in name]
