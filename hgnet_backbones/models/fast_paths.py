"""CPU speed paths of the HGNetV2 blocks, beside the network rather than inside it.

Each is exact (the same function as the plain ops, up to float rounding) and is chosen at one place:

- :func:`conv_bn_act` (``ConvBNAct.forward``): in deploy mode at inference, one oneDNN convolution
  whose weights were reordered once (:func:`prepacked_conv`); in training with a frozen BatchNorm,
  the BN folded into the conv's weights (:func:`conv_frozen_bn`); else ``act(bn(conv(x)))``.
- :func:`same_max_pool_2x2` (the stem): Paddle's pool as the max of shifted views, its backward
  written out in training.
- :func:`compute_layout` (``HGNetV2.forward``): channels_last while training on a CPU.

Plain ops are used wherever the forward is traced, exported or compiled (:func:`tracing`). The
prepacked convolution uses private oneDNN ops of torch (``torch.ops.mkldnn._convolution_pointwise``,
``torch._C._nn.mkldnn_reorder_conv2d_weight``, the ops Inductor's freezing emits on a CPU); where a
torch lacks them, :data:`MKLDNN_CONV` is False and the plain path runs.
"""
import weakref
from typing import Callable, Optional, Tuple

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


def tracing() -> bool:
    """Whether the forward is being traced, exported or compiled (plain ops are needed then)."""
    compiling = getattr(getattr(torch, 'compiler', None), 'is_compiling', None)
    return (torch.jit.is_tracing() or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export()
            or (compiling is not None and compiling()))


def _autocast_on() -> bool:
    try:
        return torch.is_autocast_enabled('cpu')
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()


# the dtypes oneDNN convolves in on this CPU
ONEDNN_DTYPES = () if not torch.backends.mkldnn.is_available() else (torch.float32, torch.bfloat16) \
    if getattr(torch.ops.mkldnn, '_is_mkldnn_bf16_supported', lambda: False)() else (torch.float32, )
# oneDNN's fused convolution with weights reordered once, the op Inductor's freezing emits on a CPU
MKLDNN_CONV = (bool(ONEDNN_DTYPES) and hasattr(torch.ops.mkldnn, '_convolution_pointwise')
               and hasattr(torch._C._nn, 'mkldnn_reorder_conv2d_weight'))
# conv -> (key of the weights it was made from, oneDNN-layout weight); off the module, so that
# copies, pickles and state dicts never see it
PACKED_WEIGHTS = weakref.WeakKeyDictionary()


def prepacked_conv_applies(conv: nn.Module, x: torch.Tensor) -> bool:
    """Whether :func:`prepacked_conv` runs ``conv(x)``: inference (autograd off) on a CPU in float32
    (or bfloat16 where oneDNN has it) with a plain ``nn.Conv2d``, outside tracing, export, compiling
    and autocast."""
    return (MKLDNN_CONV and type(x) is torch.Tensor and type(conv) is nn.Conv2d
            and conv.padding_mode == 'zeros' and not isinstance(conv.padding, str)
            and x.device.type == 'cpu' and x.dtype in ONEDNN_DTYPES
            and conv.weight.dtype == x.dtype and x.dim() == 4 and not torch.is_grad_enabled()
            and not tracing() and not _autocast_on())


def prepacked_conv(conv: nn.Conv2d, x: torch.Tensor, relu: bool = False) -> torch.Tensor:
    """``conv(x)`` (then ReLU if ``relu``) as one oneDNN primitive whose weights were reordered to its
    blocked layout once, instead of on every call as eager ``conv2d`` does. The reordered copy is
    remade whenever the weight or bias changes (new tensor, in-place update or dtype) or the input's
    shape does (a stream of varying sizes reorders on every call, as eager mode does)."""
    weight, bias = conv.weight, conv.bias
    key = (id(weight), weight._version, weight.dtype,
           None if bias is None else (id(bias), bias._version), tuple(x.shape))
    cached = PACKED_WEIGHTS.get(conv)
    if cached is None or cached[0] != key:
        # the layout oneDNN picks depends on the input's shape; one packed for another shape would
        # be reordered again on every call
        packed = torch._C._nn.mkldnn_reorder_conv2d_weight(
            weight.detach().to_mkldnn(), list(conv.padding), list(conv.stride), list(conv.dilation),
            conv.groups, list(x.shape))
        cached = PACKED_WEIGHTS[conv] = (key, packed)
    return torch.ops.mkldnn._convolution_pointwise(
        x, cached[1], bias, list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups,
        'relu' if relu else 'none', [], '')


def _frozen_bn(conv: nn.Module, bn: Optional[nn.Module]) -> bool:
    """A BatchNorm that normalises with its running statistics (eval mode, e.g. ``norm_eval``)
    after a plain conv: a per-channel affine map that can fold into the conv."""
    return (isinstance(bn, _BatchNorm) and not bn.training and bn.track_running_stats
            and bn.running_var is not None and type(conv) is nn.Conv2d)


def conv_frozen_bn(conv: nn.Conv2d, bn: _BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """``bn(conv(x))`` for a frozen BatchNorm as one conv whose weight and bias carry the BN's
    affine map, computed here so that gradients reach the conv and BN parameters as before: the
    activation is written once instead of twice (and read back once less in backward)."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = bn.weight * scale
    bias = -bn.running_mean * scale
    if bn.bias is not None:
        bias = bias + bn.bias
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return conv._conv_forward(x, conv.weight * scale.view(-1, 1, 1, 1), bias)


def conv_bn_act(conv: nn.Module, bn: Optional[nn.Module], act: Optional[nn.Module],
                x: torch.Tensor) -> torch.Tensor:
    """``act(bn(conv(x)))`` (``bn`` None once folded into the conv, ``act`` None for none), by the
    fastest exact path (see the module docstring)."""
    if bn is None and prepacked_conv_applies(conv, x):  # deploy mode, inference
        relu = isinstance(act, nn.ReLU)
        x = prepacked_conv(conv, x, relu=relu)
        act = None if relu else act
    elif _frozen_bn(conv, bn) and torch.is_grad_enabled() and not tracing():
        x = conv_frozen_bn(conv, bn, x)
    else:
        x = conv(x)
        if bn is not None:
            x = bn(x)
    return x if act is None else act(x)


def _max_of_pairs(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``out[i] = max(x[i], x[i + 1])`` along ``dim``, the last entry kept as it is."""
    n = x.shape[dim]
    return torch.cat([torch.maximum(x.narrow(dim, 0, n - 1), x.narrow(dim, 1, n - 1)),
                      x.narrow(dim, n - 1, 1)], dim)


def _max_of_pairs_backward(grad: torch.Tensor, x: torch.Tensor, dim: int) -> torch.Tensor:
    """The gradient of :func:`_max_of_pairs` (``x``'s), as autograd gives it for ``torch.maximum``:
    each pair's larger entry gets the gradient, equal ones half each."""
    n = x.shape[dim]
    if n == 1:
        return grad
    share = torch.sign(x.narrow(dim, 0, n - 1) - x.narrow(dim, 1, n - 1)).add_(1).mul_(0.5)
    pairs = grad.narrow(dim, 0, n - 1)
    first = pairs * share
    out = grad.clone()  # the last entry's own gradient
    out.narrow(dim, 0, n - 1).copy_(first)
    out.narrow(dim, 1, n - 1).add_(pairs - first)
    return out


class _SameMaxPool2x2(torch.autograd.Function):
    """:func:`same_max_pool_2x2` with its backward written out: the gradients autograd gives the
    plain ops, in a few passes over the map instead of the masks, ``where``s and zero-filled slice
    gradients of ``torch.maximum`` (a tenth of a B0 training step on a CPU)."""

    @staticmethod
    def forward(ctx, x):
        columns = _max_of_pairs(x, -1)
        ctx.save_for_backward(x, columns)
        return _max_of_pairs(columns, -2)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, columns = ctx.saved_tensors
        return _max_of_pairs_backward(_max_of_pairs_backward(grad, columns, -2), x, -1)


def same_max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """Paddle's ``MaxPool2D(2, stride=1, ceil_mode=True, padding="SAME")``: each output is the max of
    the 2x2 window whose top-left is that pixel, the window cut at the bottom and right edges (the
    padding never wins the max).

    Computed as the max of shifted views, the last column (then row) taken as it is: exact, an order
    of magnitude faster on a CPU than ``max_pool2d`` (which computes indices too), and no infinite
    padding value in the graph, which int8 quantization could not scale (ONNX Slice + Max + Concat).
    Ties share the gradient, as ``torch.maximum``'s do.
    """
    if torch.is_grad_enabled() and x.requires_grad and not tracing():
        return _SameMaxPool2x2.apply(x)
    return _max_of_pairs(_max_of_pairs(x, -1), -2)


def compute_layout(x: torch.Tensor) -> Tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """``x`` in the layout the network computes in, and the function that returns a map to the
    input's layout. Training on a CPU computes in channels_last, oneDNN's native layout: no reorder of
    the activations around every conv, forward and backward (measured: steps 0.8-0.9 of NCHW's; not
    so at inference, where B5/B6 are slower)."""
    if not x.is_contiguous() or tracing():
        return x, lambda y: y
    if torch.is_grad_enabled() and x.device.type == 'cpu' and x.dtype in ONEDNN_DTYPES and \
            x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, torch.Tensor.contiguous
