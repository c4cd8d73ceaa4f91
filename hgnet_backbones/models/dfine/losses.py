"""D-FINE's and DEIM's losses: the box as distributions over bins (Fine-grained Distribution
Refinement), their localization and self-distillation losses (GO-LSD), and DEIM's
Matchability-Aware Loss.

D-FINE (Peng et al., 2024, arXiv:2410.13842) predicts each box edge as a distribution over
``reg_max + 1`` bins whose offsets :func:`weighting_function` spaces non-uniformly; a box is the
reference box moved by the expected offsets (:func:`distance_to_box`). DEIM (Huang et al., 2024,
arXiv:2412.04234) trains D-FINE with more positives (Dense O2O) and replaces the varifocal loss by
:class:`MatchabilityAwareLoss`.

What a head hands these losses, per decoder layer, to reproduce transformers' ``DFineLoss``
(``transformers/loss/loss_d_fine.py``) term by term. Boxes are normalised ``(cx, cy, w, h)``;
``(batch_idx, query_idx, gt_idx)`` are the matched pairs (the matcher's indices, flattened over the
batch); ``num_boxes`` is the number of ground-truth boxes in the batch (at least 1), times the number
of denoising groups for the denoising queries; ``ious`` the IoU of each matched predicted box with its
ground truth (corners), detached:

- ``loss_vfl``: :class:`~hgnet_backbones.models.rtdetr.RTDETRVarifocalLoss` (alpha 0.75, gamma 2) of
  the logits (B*Q, C) against ``(labels, iou_scores)`` (label C and score 0 for unmatched queries),
  ``avg_factor=num_boxes``; DEIM uses :class:`MatchabilityAwareLoss` (``loss_mal``) there instead.
- ``loss_bbox``, ``loss_giou``: mmdet's ``L1Loss`` of the matched boxes and ``GIoULoss`` of their
  corners, each ``avg_factor=num_boxes``.
- ``loss_fgl``: :class:`FineGrainedLocalizationLoss` of ``pred_corners[batch_idx, query_idx]``
  (M, 4 * (reg_max + 1)) against ``(ref_points[batch_idx, query_idx], gt_corners)``, weighted by
  ``ious``, ``avg_factor=num_boxes``; ``ref_points`` are the decoder's initial reference boxes.
- ``loss_ddf``: :class:`DecoupledDistillationFocalLoss` of a layer's ``pred_corners`` (B, Q, ...)
  towards the last layer's (``teacher_corners``, ``teacher_logits``), with ``(batch_idx, query_idx)``
  and ``ious``; it is 0 for the last layer itself.

transformers names the terms ``loss_*`` for the last layer (vfl and boxes only: its main output carries
no corners), ``loss_*_aux_{i}`` for layers 0..L-2 (each matched on its own; vfl, boxes, fgl, ddf) and
for the encoder's selected queries (``i = L - 1``; vfl and boxes), ``loss_*_dn_{i}`` for the denoising
queries of every layer (the denoising matches; all four, ddf 0 at the last layer). It builds the
auxiliary terms only when denoising is on, and pairs layer ``i``'s corners with the logits and
boxes of layer ``i - 1`` (of the pre-FDR head for ``i = 0``), as its logits start with those.
D-FINE and DEIM (``dfine_criterion.py``, ``deim_criterion.py``) also compute fgl on the last
layer, add ``_pre`` and ``_dn_pre`` terms for the first layer's plain box head, compute boxes (the
encoder's too), fgl and ddf on the union of the matches of all layers and the encoder
(:func:`union_matches`, with its size as ``num_boxes``; the class terms keep each layer's own
matches), and give the denoising ``loss_ddf`` the matched/unmatched counts of the matching pass
(``num_pos_neg``), where transformers counts the denoising queries' own. :class:`DFineHead` follows
transformers in the matching and D-FINE in the last layer's fgl and the ``_pre`` terms.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.losses.utils import weight_reduce_loss
from mmdet.registry import MODELS
from torch import Tensor, nn

from ..rtdetr.loss import RTDETRVarifocalLoss
from .decoder import Number, distance_to_box, weighting_function


def translate_gt(gt: Tensor, reg_max: int, reg_scale: Number,
                 up: Number) -> Tuple[Tensor, Tensor, Tensor]:
    """Soft targets over the bins of continuous offsets ``gt`` (any shape, flattened to (N,)):
    ``(index, weight_right, weight_left)``, each (N,): the bin at or below the offset and the linear
    interpolation weights of it and the next bin. Offsets below the first bin go wholly to bin 0;
    those at or beyond the last go wholly to bin ``reg_max`` (index ``reg_max - 0.1``, as D-FINE).
    The bins are computed in ``gt``'s dtype where ``up`` is a number."""
    gt = gt.reshape(-1)
    if not isinstance(up, Tensor):
        up = torch.tensor(up, dtype=gt.dtype, device=gt.device)
    values = weighting_function(reg_max, up, reg_scale).to(gt)
    index = (torch.searchsorted(values, gt.contiguous(), right=True) - 1).to(gt.dtype)
    weight_right = torch.zeros_like(gt)
    valid = (index >= 0) & (index < reg_max)
    left = values[index[valid].long()]
    right = values[index[valid].long() + 1]
    left_diff = (gt[valid] - left).abs()
    weight_right[valid] = left_diff / (left_diff + (right - gt[valid]).abs())
    weight_right[index >= reg_max] = 1.0
    weight_left = 1.0 - weight_right
    index = torch.where(index < 0, torch.zeros_like(index), index)
    index = torch.where(index >= reg_max, torch.full_like(index, reg_max - 0.1), index)
    return index, weight_right, weight_left


def bbox2distance(points: Tensor, bbox: Tensor, reg_max: int, reg_scale: Number, up: Number,
                  eps: float = 0.1) -> Tuple[Tensor, Tensor, Tensor]:
    """The inverse of :func:`distance_to_box` as soft bin targets: for reference boxes ``points``
    (N, 4: cx, cy, w, h) and boxes ``bbox`` (N, 4: x1, y1, x2, y2), :func:`translate_gt` of the four
    edge offsets, the index clamped to ``[0, reg_max - eps]``; each (N * 4,), detached."""
    reg_scale = abs(reg_scale)
    cx, cy, w, h = points.unbind(-1)
    # 1e-16 as D-FINE, so a degenerate reference box gives large offsets instead of inf
    unit_w, unit_h = w / reg_scale + 1e-16, h / reg_scale + 1e-16
    offsets = torch.stack([(cx - bbox[:, 0]) / unit_w, (cy - bbox[:, 1]) / unit_h,
                           (bbox[:, 2] - cx) / unit_w, (bbox[:, 3] - cy) / unit_h], -1)
    index, weight_right, weight_left = translate_gt(offsets - 0.5 * reg_scale, reg_max, reg_scale,
                                                    up)
    index = index.clamp(min=0, max=reg_max - eps)
    return index.detach(), weight_right.detach(), weight_left.detach()


def union_matches(layers: Sequence[Sequence[Tuple[Tensor, Tensor]]]) -> List[Tuple[Tensor, Tensor]]:
    """D-FINE's union of the matches of several layers (its "GO indices"): ``layers`` holds, per
    layer, per image, (query_idx, gt_idx); the result holds per image each query matched in any
    layer, with the ground truth it was matched to most often (ties to the lower gt index: D-FINE's
    unstable sort leaves them open), queries in order of that count, most first."""
    if not layers:
        raise ValueError('union_matches needs the matches of at least one layer')
    result = []
    for per_layer in zip(*layers):
        pairs = torch.cat([torch.stack([q, g], 1) for q, g in per_layer]).long()
        unique, counts = torch.unique(pairs, return_counts=True, dim=0)
        unique = unique[torch.sort(counts, descending=True, stable=True)[1]]
        best = {}
        for query, gt in unique.tolist():
            best.setdefault(query, gt)
        device = pairs.device
        result.append((torch.tensor(list(best), dtype=torch.long, device=device),
                       torch.tensor(list(best.values()), dtype=torch.long, device=device)))
    return result


def unimodal_distribution_focal_loss(pred: Tensor, index: Tensor, weight_right: Tensor,
                                     weight_left: Tensor) -> Tensor:
    """Per-edge distribution focal loss (N,) of bin logits ``pred`` (N, reg_max + 1): cross-entropy
    towards the bin ``floor(index)`` weighted by ``weight_left`` plus towards the next weighted by
    ``weight_right``."""
    left = index.long()
    return (F.cross_entropy(pred, left, reduction='none') * weight_left +
            F.cross_entropy(pred, left + 1, reduction='none') * weight_right)


def matchability_aware_loss(pred: Tensor, labels: Tensor, scores: Tensor, gamma: float = 1.5,
                            alpha: Optional[float] = None) -> Tensor:
    """DEIM's per-query loss (N,) of logits ``pred`` (N, C) against ``labels`` (N,; C for background)
    with IoU ``scores`` (N,): at the labelled class, binary cross-entropy towards ``IoU ** gamma``
    with weight 1; elsewhere towards 0 with weight ``alpha * sigmoid(pred) ** gamma`` (alpha 1 when
    None, as DEIM's ``mal_alpha``)."""
    num_classes = pred.size(-1)
    positive = F.one_hot(labels, num_classes + 1)[:, :num_classes].to(pred.dtype)
    target = positive * scores[:, None].to(pred.dtype).pow(gamma)
    focal = pred.detach().sigmoid().pow(gamma)
    if alpha is not None:
        focal = alpha * focal
    weight = focal * (1 - positive) + positive
    return F.binary_cross_entropy_with_logits(pred, target, weight=weight, reduction='none').sum(-1)


@MODELS.register_module()
class MatchabilityAwareLoss(RTDETRVarifocalLoss):
    """DEIM's Matchability-Aware Loss (:func:`matchability_aware_loss`): the varifocal loss with the
    positives' target raised to ``gamma`` and their weight 1, so that low-IoU matches (which Dense O2O
    makes many more of) are still learned. It takes the targets of
    :class:`~hgnet_backbones.models.rtdetr.RTDETRVarifocalLoss`: ``(labels, iou_scores)``.

    Args:
        gamma (float): Exponent of the positives' target and of the negatives' weight. Defaults to
            1.5 (DEIM's configs).
        alpha (float, optional): Weight of the negatives' term; None for 1 (DEIM's ``mal_alpha``).
            Defaults to None.
        reduction (str): 'none', 'mean' or 'sum'. Defaults to 'mean'.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self, gamma: float = 1.5, alpha: Optional[float] = None, reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__(alpha=alpha, gamma=gamma, reduction=reduction, loss_weight=loss_weight)

    def forward(self, pred: Tensor, target: Tuple[Tensor, Tensor], weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Args: ``pred`` logits (N, C); ``target`` (labels (N,), IoU scores (N,)); ``weight`` (N,)
        per query; ``avg_factor`` what the sum is divided by for 'mean'."""
        if not isinstance(target, tuple):
            raise TypeError('MatchabilityAwareLoss takes target=(labels, iou_scores), '
                            f'got {type(target).__name__}')
        loss = matchability_aware_loss(pred, *target, gamma=self.gamma, alpha=self.alpha)
        reduction = reduction_override or self.reduction
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class FineGrainedLocalizationLoss(nn.Module):
    """D-FINE's Fine-Grained Localization loss: the distribution focal loss of each matched query's
    four edge distributions against the soft bin targets of its ground-truth box
    (:func:`bbox2distance` from the reference box), weighted by the IoU of its predicted box.

    Args:
        reg_max (int): The number of bins minus one. Defaults to 32.
        reg_scale (float): The weighting function's scale (curvature). Defaults to 4.0.
        up (float): The weighting function's upper bound. Defaults to 0.5.
        reduction (str): 'none', 'mean' or 'sum'. Defaults to 'mean'.
        loss_weight (float): Weight of the loss. Defaults to 1.0 (D-FINE's configs use 0.15).
    """

    def __init__(self, reg_max: int = 32, reg_scale: float = 4.0, up: float = 0.5,
                 reduction: str = 'mean', loss_weight: float = 1.0):
        super().__init__()
        weighting_function(reg_max, up, reg_scale)  # the bad settings fail here, not at the first step
        self.reg_max = reg_max
        self.reg_scale = reg_scale
        self.up = up
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred_corners: Tensor, target: Tuple[Tensor, Tensor],
                weight: Optional[Tensor] = None, avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Args: ``pred_corners`` (M, 4 * (reg_max + 1)) or (M, 4, reg_max + 1) bin logits of the
        matched queries; ``target`` (reference boxes (M, 4: cx, cy, w, h), ground-truth boxes
        (M, 4: x1, y1, x2, y2)); ``weight`` (M,) per query (D-FINE: the IoU); ``avg_factor`` what
        the sum is divided by for 'mean' (D-FINE: the number of ground-truth boxes)."""
        ref_points, gt_bboxes = target
        bins = self.reg_max + 1
        if pred_corners.numel() != ref_points.size(0) * 4 * bins:
            raise ValueError(f'pred_corners {tuple(pred_corners.shape)} does not hold 4 edges of '
                             f'reg_max + 1 = {bins} bins for each of the {ref_points.size(0)} '
                             'reference boxes')
        index, weight_right, weight_left = bbox2distance(ref_points.detach(), gt_bboxes,
                                                         self.reg_max, self.reg_scale, self.up)
        loss = unimodal_distribution_focal_loss(pred_corners.reshape(-1, bins), index,
                                                weight_right, weight_left)
        if weight is not None:
            weight = weight.detach().reshape(-1, 1).expand(-1, 4).reshape(-1)
        reduction = reduction_override or self.reduction
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class DecoupledDistillationFocalLoss(nn.Module):
    """D-FINE's Decoupled Distillation Focal loss: the KL divergence, at temperature ``T`` and scaled
    by ``T ** 2``, from the last decoder layer's edge distributions (the teacher) to an earlier
    layer's, for every query. Each query is weighted by the IoU of its box where it is matched and by
    the teacher's top class probability where not; the matched and the unmatched queries' mean
    losses are then averaged with weights ``sqrt(count)`` (the decoupling), so neither group's size
    drowns the other.

    Args:
        reg_max (int): The number of bins minus one. Defaults to 32.
        temperature (float): The distillation temperature ``T``. Defaults to 5.0.
        loss_weight (float): Weight of the loss. Defaults to 1.0 (D-FINE's configs use 1.5).
    """

    def __init__(self, reg_max: int = 32, temperature: float = 5.0, loss_weight: float = 1.0):
        super().__init__()
        self.reg_max = reg_max
        self.temperature = temperature
        self.loss_weight = loss_weight

    def forward(self, pred_corners: Tensor, teacher_corners: Tensor, teacher_logits: Tensor,
                pos_inds: Tuple[Tensor, Tensor], pos_ious: Tensor,
                num_pos_neg: Optional[Tuple[float, float]] = None) -> Tensor:
        """Args: ``pred_corners``, ``teacher_corners`` (B, Q, 4 * (reg_max + 1)) or
        (B, Q, 4, reg_max + 1) bin logits of this layer and of the last; ``teacher_logits``
        (B, Q, C) the last layer's class logits; ``pos_inds`` (batch_idx, query_idx), each (M,), the
        matched queries, and ``pos_ious`` (M,) their boxes' IoU with their ground truth (in the same
        order); ``num_pos_neg`` the (matched, unmatched) query counts whose square roots weight the
        two means, by default this call's (D-FINE passes the matching pass's counts for the denoising
        queries). Returns 0 (with a graph) where this layer is the teacher."""
        bins = self.reg_max + 1
        pred = pred_corners.reshape(-1, bins)
        teacher = teacher_corners.reshape(-1, bins)
        if pred.shape != teacher.shape:
            raise ValueError(f'pred_corners {tuple(pred_corners.shape)} and teacher_corners '
                             f'{tuple(teacher_corners.shape)} differ in size')
        if torch.equal(pred, teacher):
            return pred.sum() * 0
        weight = teacher_logits.detach().sigmoid().max(-1)[0]
        matched = torch.zeros_like(weight, dtype=torch.bool)
        matched[pos_inds] = True
        weight[pos_inds] = pos_ious.detach().to(weight.dtype)
        per_query = weight.reshape(-1, 1)
        temperature = self.temperature
        kl = F.kl_div(F.log_softmax(pred / temperature, dim=1),
                      F.softmax(teacher.detach() / temperature, dim=1), reduction='none').sum(-1)
        loss = (per_query.expand(-1, 4).reshape(-1) * temperature**2 * kl).reshape(-1, 4)
        matched = matched.reshape(-1)
        if num_pos_neg is None:
            num_pos_neg = (int(matched.sum()), int((~matched).sum()))
        sqrt_pos, sqrt_neg = (float(n)**0.5 for n in num_pos_neg)
        mean_pos = loss[matched].mean() if matched.any() else loss.new_zeros(())
        mean_neg = loss[~matched].mean() if (~matched).any() else loss.new_zeros(())
        return self.loss_weight * (mean_pos * sqrt_pos + mean_neg * sqrt_neg) / (sqrt_pos + sqrt_neg)
