"""Model size and cost: parameters and FLOPs (one multiply-add counted as one FLOP, as mmengine's and
fvcore's counters and PaddleClas's tables do); and how far two outputs are apart."""
from typing import Dict, Optional, Sequence

import torch
from mmengine.analysis import FlopAnalyzer


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class _WithDataSamples(torch.nn.Module):
    """``model(x, data_samples, mode='tensor')`` as a one-input module, for the FLOP counter."""

    def __init__(self, model: torch.nn.Module, data_samples: list):
        super().__init__()
        self.model, self.data_samples = model, data_samples

    def forward(self, x):
        return self.model(x, self.data_samples, mode='tensor')


def image_data_samples(codebase: str, input_shape: Sequence[int]) -> list:
    """One mmdet ``DetDataSample`` or mmseg ``SegDataSample`` per image of ``input_shape`` (N, C, H,
    W), with the image metas (unscaled, unpadded) that detectors' and segmentors' ``mode='tensor'``
    forwards read."""
    height, width = input_shape[-2:]
    if codebase == 'mmdet':
        from mmdet.structures import DetDataSample as Sample
    elif codebase == 'mmseg':
        from mmseg.structures import SegDataSample as Sample
    else:
        raise ValueError(f"codebase {codebase!r} has no data samples here; expected 'mmdet' or 'mmseg'")
    meta = dict(img_shape=(height, width), ori_shape=(height, width), pad_shape=(height, width),
                batch_input_shape=(height, width), scale_factor=(1.0, 1.0))
    return [Sample(metainfo=meta) for _ in range(input_shape[0])]


def count_flops(model: torch.nn.Module, input_shape: Sequence[int] = (1, 3, 224, 224),
                data_samples: Optional[list] = None) -> int:
    """FLOPs of one forward pass of ``model`` on a zero tensor of ``input_shape``; with
    ``data_samples`` (see :func:`image_data_samples`), of ``model(x, data_samples, mode='tensor')``."""
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters())
        x = torch.zeros(*input_shape, dtype=param.dtype, device=param.device)
        counted = model if data_samples is None else _WithDataSamples(model, data_samples)
        analyzer = FlopAnalyzer(counted, (x, ))
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(analyzer.total())
    finally:
        model.train(was_training)


def backbone_summary(arch: str, input_shape: Sequence[int] = (1, 3, 224, 224)) -> Dict:
    """Parameters, FLOPs and the shape of each stage's output for one HGNetV2 variant."""
    from .models import HGNetV2
    model = HGNetV2(arch=arch, out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        shapes = [tuple(o.shape) for o in model(torch.zeros(*input_shape))]
    return dict(arch=arch, params=count_params(model), flops=count_flops(model, input_shape),
                out_shapes=shapes, out_strides=[f['reduction'] for f in model.feature_info])


def relative_error(ours: torch.Tensor, ref) -> float:
    """``max|ours - ref| / max|ref|``, computed in float64; ``ref`` a tensor or a NumPy array."""
    ref = torch.as_tensor(ref).detach().double().cpu()
    if tuple(ours.shape) != tuple(ref.shape):
        raise ValueError(f'shape {tuple(ours.shape)} differs from the reference {tuple(ref.shape)}')
    return float((ours.detach().double().cpu() - ref).abs().max() / ref.abs().max())
