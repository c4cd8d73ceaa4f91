"""Adaptations to mmdeploy 1.3.1 (rows ``onnx-export-torchscript``, ``cast-long``,
``adaptive-avg-pool-rewriter``, ``deformable-attention-rewriter`` (mmcv's and D-FINE's) and
``backend-wrappers`` of :data:`hgnet_backbones.compat.ADAPTATIONS`). Each applies only inside the
context that needs it: :func:`mmdeploy_export` while exporting, :func:`backend_wrappers` while
building backend models."""
import contextlib
from typing import Callable

import torch
from torch.nn.modules.utils import _pair

from ..extras import needs_extra

with needs_extra('deploy'):
    import onnx
    from mmdeploy.codebase.base.backend_model import BaseBackendModel
    from mmdeploy.core import FUNCTION_REWRITER
    from mmdeploy.utils import Backend


def _cast_long(g, input, non_blocking):
    return g.op('Cast', input, to_i=onnx.TensorProto.INT64)


@contextlib.contextmanager
def torch_onnx_for_mmdeploy():
    """Meanwhile, ``torch.onnx.export`` defaults to the TorchScript exporter (``dynamo=False``): torch
    >= 2.9 defaults to the dynamo exporter, which skips mmdeploy's TorchScript rewriters. And
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


def adaptive_avg_pool2d__exact(input: torch.Tensor, output_size) -> torch.Tensor:
    """``adaptive_avg_pool2d`` as PyTorch computes it for any input size, from slices and means:
    output row ``i`` of ``o`` averages input rows ``floor(i*n/o)`` to ``ceil((i+1)*n/o)``, likewise
    for columns (a bin is a rectangle, so rows then columns). mmdeploy's default rewriter pools with
    the kernel of the export-time input instead, exact only where the map divides evenly, and wrong
    for other sizes of a dynamic graph (UPerNet's pyramid pooling)."""
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


def bilinear_gather(maps: torch.Tensor, height: torch.Tensor, width: torch.Tensor,
                    start: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
    """``grid_sample``'s bilinear sampling (zeros outside the map, ``align_corners=False``) of the
    map of ``height`` x ``width`` that starts at ``start`` in the flattened maps ``maps`` (n, dims,
    keys), at ``locations`` (n, num_queries, points, 2: x, y in [0, 1] of the map), as the four
    corners' weights and ``GatherElements``: standard ops at opset 11, sizes and offsets computed in
    the graph (0-d tensors), so that it takes any input size. Returns (n, dims, num_queries, points).
    """
    n, dims, _ = maps.shape
    _, num_queries, num_points, _ = locations.shape
    h, w = height.to(maps.dtype), width.to(maps.dtype)
    x = locations[..., 0] * w - 0.5  # pixel coordinates, as grid_sample's
    y = locations[..., 1] * h - 0.5
    x0, y0 = x.floor(), y.floor()
    sampled = 0
    for xi, yi in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)):
        weight = (1 - (x - xi).abs()) * (1 - (y - yi).abs())
        inside = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
        index = (torch.min(torch.max(yi, torch.zeros_like(yi)), h - 1) * w +
                 torch.min(torch.max(xi, torch.zeros_like(xi)), w - 1)).long() + start
        corner = maps.gather(2, index.flatten(1)[:, None].expand(-1, dims, -1))
        sampled = sampled + corner.view(n, dims, num_queries, num_points) * \
            (weight * inside.to(maps.dtype))[:, None]
    return sampled


def multi_scale_deformable_attn__gather(value: torch.Tensor, value_spatial_shapes: torch.Tensor,
                                        sampling_locations: torch.Tensor,
                                        attention_weights: torch.Tensor) -> torch.Tensor:
    """mmcv's ``multi_scale_deformable_attn_pytorch`` sampling with :func:`bilinear_gather`
    instead of ``grid_sample``, so that it exports at opset 11 with standard ops for any input
    size. Exported as mmcv writes it, on the CPU, ``grid_sample`` becomes mmdeploy's own
    ``grid_sampler`` op (ONNX has ``GridSample`` from opset 16 only).

    Shapes: value (bs, num_keys, heads, dims); sampling_locations (bs, num_queries, heads, levels,
    points, 2) in [0, 1]; attention_weights (bs, num_queries, heads, levels, points); returns
    (bs, num_queries, heads * dims)."""
    bs, _, num_heads, dims = value.shape
    _, num_queries, _, num_levels, num_points, _ = sampling_locations.shape
    maps = value.permute(0, 2, 3, 1).reshape(bs * num_heads, dims, -1)
    locations = sampling_locations.transpose(1, 2).reshape(bs * num_heads, num_queries, num_levels,
                                                            num_points, 2)
    weights = attention_weights.transpose(1, 2).reshape(bs * num_heads, 1, num_queries, num_levels,
                                                        num_points)
    output = 0
    start = torch.zeros_like(value_spatial_shapes[0, 0])
    for level in range(num_levels):
        height, width = value_spatial_shapes[level, 0], value_spatial_shapes[level, 1]
        sampled = bilinear_gather(maps, height, width, start, locations[:, :, level])
        output = output + (sampled * weights[:, :, :, level]).sum(-1)
        start = start + height * width
    return output.view(bs, num_heads * dims, num_queries).transpose(1, 2).contiguous()


def sample_levels__gather(maps: torch.Tensor, spatial_shapes: torch.Tensor,
                          locations: torch.Tensor, num_points) -> torch.Tensor:
    """D-FINE's :func:`hgnet_backbones.models.dfine.attention.sample_levels` (a number of points per
    level) with :func:`bilinear_gather` instead of ``grid_sample`` and Python-int map sizes: standard
    ops at opset 11, one graph for every input size."""
    sampled, start, first = [], torch.zeros_like(spatial_shapes[0, 0]), 0
    for level, points in enumerate(num_points):
        height, width = spatial_shapes[level, 0], spatial_shapes[level, 1]
        sampled.append(bilinear_gather(maps, height, width, start,
                                       locations[:, :, first:first + points]))
        start, first = start + height * width, first + points
    return torch.cat(sampled, -1)


# (function mmdeploy rewrites, rewriter): for the ONNX Runtime backend, with which every graph here is
# exported, so they take precedence over mmdeploy's default rewriters of the same functions
REWRITERS = (
    ('torch.nn.functional.adaptive_avg_pool2d', adaptive_avg_pool2d__exact),
    ('mmcv.ops.multi_scale_deform_attn.multi_scale_deformable_attn_pytorch',
     multi_scale_deformable_attn__gather),
    ('hgnet_backbones.models.dfine.attention.sample_levels', sample_levels__gather),
)


@contextlib.contextmanager
def mmdeploy_rewriters():
    """Meanwhile, mmdeploy's function rewriter has :data:`REWRITERS` (then they are removed again:
    other models exported in the process get mmdeploy's own)."""
    for name, rewriter in REWRITERS:
        FUNCTION_REWRITER.register_rewriter(name, backend=Backend.ONNXRUNTIME.value)(rewriter)
    try:
        yield
    finally:
        for _, rewriter in REWRITERS:
            FUNCTION_REWRITER._registry.remove_record(rewriter)


@contextlib.contextmanager
def mmdeploy_export():
    """What an mmdeploy 1.3.1 export needs here: :func:`torch_onnx_for_mmdeploy` and
    :func:`mmdeploy_rewriters`, for the call only."""
    with torch_onnx_for_mmdeploy(), mmdeploy_rewriters():
        yield


@contextlib.contextmanager
def backend_wrappers(build_wrapper: Callable):
    """Meanwhile, mmdeploy's end-to-end backend models run their backend files through
    ``build_wrapper(backend, backend_files, device, input_names, output_names, deploy_cfg, **kwargs)``
    (the signature of mmdeploy's ``BaseBackendModel._build_wrapper``) instead of mmdeploy's wrappers:
    its ONNX Runtime wrapper loads a custom-op library built for ONNX Runtime 1.15, its TensorRT
    wrapper calls binding APIs that TensorRT 10 removed (open-mmlab/mmdeploy#2758), and its OpenVINO
    wrapper imports ``openvino.inference_engine``, which OpenVINO 2024 removed."""
    original = BaseBackendModel.__dict__['_build_wrapper']
    BaseBackendModel._build_wrapper = staticmethod(build_wrapper)
    try:
        yield
    finally:
        BaseBackendModel._build_wrapper = original
