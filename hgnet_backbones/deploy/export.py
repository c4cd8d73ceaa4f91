"""ONNX export with mmdeploy 1.3.1's ``torch2onnx`` and its rewriters, fixed for torch >= 2.9.

- torch >= 2.9 defaults ``torch.onnx.export`` to the dynamo exporter, which skips mmdeploy's
  TorchScript rewriters: the export runs with ``dynamo=False`` (see :func:`torch_onnx_for_mmdeploy`).
- mmdeploy's TensorRT rewriters emit its plugin ops (``TRTBatchedNMS``, ``GridPriorsTRT``,
  ``MMCVMultiLevelRoiAlign``), whose library is built for TensorRT 8.6 only, and bake TopK sizes at
  trace time. Every graph here is exported with mmdeploy's standard-op rewriters (those it uses for
  ONNX Runtime): NMS is ONNX ``NonMaxSuppression``, which TensorRT's ONNX parser turns into its NMS
  layer. So the graph ONNX Runtime verifies is the graph TensorRT builds.
- mmdeploy's RoIAlign symbolic imports ``torch.onnx.symbolic_opset9._cast_Long``, gone from torch 2.x;
  it is put back while exporting.
- mmdeploy turns adaptive average pooling (UPerNet's pyramid pooling) into a plain average pool with
  the kernel of the export-time input, which is exact only where the map divides evenly and wrong for
  other sizes of a dynamic graph; :func:`adaptive_avg_pool2d__exact` pools PyTorch's own bins instead.
- mmcv's multi-scale deformable attention (RT-DETR, DINO) exports, on the CPU, through ``grid_sample``,
  which mmdeploy turns into its own ``grid_sampler`` op (ONNX has ``GridSample`` from opset 16 only):
  :func:`multi_scale_deformable_attn__gather` samples bilinearly with standard ops instead.
"""
import contextlib
import copy
import os.path as osp
from typing import Dict, List, Optional, Union

import onnx
import torch
from mmdeploy.apis import torch2onnx
from mmdeploy.core import FUNCTION_REWRITER
from mmdeploy.utils import (Backend, get_backend, get_codebase_config, get_common_config,
                            get_ir_config, load_config)
from mmdeploy.utils.constants import TENSORRT_MAX_TOPK
from mmengine.config import Config
from torch.nn.modules.utils import _pair

from ..fileio import atomic_path

ConfigLike = Union[str, Config]
STANDARD_DOMAINS = ('', 'ai.onnx')

def _cast_long(g, input, non_blocking):
    return g.op('Cast', input, to_i=onnx.TensorProto.INT64)


@contextlib.contextmanager
def torch_onnx_for_mmdeploy():
    """Meanwhile, ``torch.onnx.export`` defaults to the TorchScript exporter (``dynamo=False``), and
    ``torch.onnx.symbolic_opset9._cast_Long``, which mmdeploy's RoIAlign symbolic imports and torch
    2.x dropped, is back."""
    export = torch.onnx.export
    opset9 = torch.onnx.symbolic_opset9
    had_cast_long = hasattr(opset9, '_cast_Long')

    def export_torchscript(*args, **kwargs):
        kwargs.setdefault('dynamo', False)
        return export(*args, **kwargs)

    torch.onnx.export = export_torchscript
    if not had_cast_long:
        opset9._cast_Long = _cast_long
    try:
        yield
    finally:
        torch.onnx.export = export
        if not had_cast_long:
            del opset9._cast_Long


@FUNCTION_REWRITER.register_rewriter('torch.nn.functional.adaptive_avg_pool2d',
                                     backend=Backend.ONNXRUNTIME.value)
def adaptive_avg_pool2d__exact(input: torch.Tensor, output_size) -> torch.Tensor:
    """``adaptive_avg_pool2d`` as PyTorch computes it for any input size, from slices and means:
    output row ``i`` of ``o`` averages input rows ``floor(i*n/o)`` to ``ceil((i+1)*n/o)``, likewise
    for columns (a bin is a rectangle, so rows then columns). Registered for the ONNX Runtime backend,
    which every export here uses, so it takes precedence over mmdeploy's default rewriter."""
    ctx = FUNCTION_REWRITER.get_context()
    out_h, out_w = _pair(output_size)
    if out_h == out_w == 1:
        return ctx.origin_func(input, output_size)
    x = input
    for dim, out in ((-2, out_h), (-1, out_w)):
        n = x.shape[dim]
        bins = [x.narrow(dim, i * n // out, ((i + 1) * n + out - 1) // out - i * n // out)
                for i in range(out)]
        x = torch.cat([b.mean(dim, keepdim=True) for b in bins], dim)
    return x


@FUNCTION_REWRITER.register_rewriter(
    'mmcv.ops.multi_scale_deform_attn.multi_scale_deformable_attn_pytorch',
    backend=Backend.ONNXRUNTIME.value)
def multi_scale_deformable_attn__gather(value: torch.Tensor, value_spatial_shapes: torch.Tensor,
                                        sampling_locations: torch.Tensor,
                                        attention_weights: torch.Tensor) -> torch.Tensor:
    """mmcv's ``multi_scale_deformable_attn_pytorch`` with ``grid_sample``'s bilinear sampling (zeros
    outside the map, ``align_corners=False``) written as the four corners' weights and
    ``GatherElements`` from the flattened maps, so that it exports at opset 11 with standard ops;
    level offsets and sizes are computed from ``value_spatial_shapes``, so the graph takes any input
    size. Shapes: value (bs, num_keys, heads, dims); sampling_locations (bs, num_queries, heads,
    levels, points, 2) in [0, 1]; attention_weights (bs, num_queries, heads, levels, points); returns
    (bs, num_queries, heads * dims)."""
    bs, _, num_heads, dims = value.shape
    _, num_queries, _, num_levels, num_points, _ = sampling_locations.shape
    values = value.permute(0, 2, 3, 1).reshape(bs * num_heads, dims, -1)
    locations = sampling_locations.transpose(1, 2).reshape(bs * num_heads, num_queries, num_levels,
                                                            num_points, 2)
    weights = attention_weights.transpose(1, 2).reshape(bs * num_heads, 1, num_queries, num_levels,
                                                        num_points)
    output = 0
    start = torch.zeros_like(value_spatial_shapes[0, 0])
    for level in range(num_levels):
        height, width = value_spatial_shapes[level, 0], value_spatial_shapes[level, 1]
        h, w = height.to(value.dtype), width.to(value.dtype)
        x = locations[:, :, level, :, 0] * w - 0.5  # pixel coordinates, as grid_sample's
        y = locations[:, :, level, :, 1] * h - 0.5
        x0, y0 = x.floor(), y.floor()
        sampled = 0
        for xi, yi in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)):
            weight = (1 - (x - xi).abs()) * (1 - (y - yi).abs())
            inside = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
            index = (torch.min(torch.max(yi, torch.zeros_like(yi)), h - 1) * w +
                     torch.min(torch.max(xi, torch.zeros_like(xi)), w - 1)).long() + start
            corner = values.gather(2, index.flatten(1)[:, None].expand(-1, dims, -1))
            sampled = sampled + corner.view(bs * num_heads, dims, num_queries, num_points) * \
                (weight * inside.to(value.dtype))[:, None]
        output = output + (sampled * weights[:, :, :, level]).sum(-1)
        start = start + height * width
    return output.view(bs, num_heads * dims, num_queries).transpose(1, 2).contiguous()


def onnx_deploy_config(deploy_cfg: Config) -> Config:
    """``deploy_cfg`` with the ONNX Runtime backend: what the graph is exported and verified with."""
    cfg = copy.deepcopy(deploy_cfg)
    cfg.backend_config = dict(type=Backend.ONNXRUNTIME.value)
    return cfg


def precision(deploy_cfg: Config) -> str:
    """'fp16' for a TensorRT config with ``fp16_mode``, else 'fp32'."""
    if get_backend(deploy_cfg) == Backend.TENSORRT and get_common_config(deploy_cfg).get('fp16_mode'):
        return 'fp16'
    return 'fp32'


def check_deploy_config(deploy_cfg: Config) -> None:
    """Refuse what this module cannot deploy, naming the value: backends other than ONNX Runtime and
    TensorRT, and for TensorRT a detection ``pre_top_k`` above its TopK limit."""
    backend = get_backend(deploy_cfg)
    if backend not in (Backend.ONNXRUNTIME, Backend.TENSORRT):
        raise ValueError(f"backend_config.type is {backend.value!r}; this tool deploys to "
                         f"'{Backend.ONNXRUNTIME.value}' and '{Backend.TENSORRT.value}'")
    post = get_codebase_config(deploy_cfg).get('post_processing', {})
    if backend == Backend.TENSORRT and post.get('pre_top_k', -1) > TENSORRT_MAX_TOPK:
        raise ValueError(f"codebase_config.post_processing.pre_top_k={post['pre_top_k']} exceeds "
                         f"TensorRT's TopK limit of {TENSORRT_MAX_TOPK}")


def export_onnx(deploy_cfg: ConfigLike, model_cfg: ConfigLike, checkpoint: Optional[str], image,
                work_dir: str) -> str:
    """Export with mmdeploy's ``torch2onnx`` (on the CPU) to ``work_dir/<onnx_config.save_file>``,
    written to a temporary name first. Raises if the graph holds ops outside the ONNX domain."""
    deploy_cfg, model_cfg = load_config(deploy_cfg, model_cfg)
    path = osp.join(work_dir, get_ir_config(deploy_cfg).get('save_file', 'end2end.onnx'))
    with atomic_path(path) as tmp:
        with torch_onnx_for_mmdeploy():
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
