"""RT-DETR's varifocal loss: IoU-aware classification."""
from typing import Optional, Tuple

import torch.nn.functional as F
from mmdet.models.losses import QualityFocalLoss
from mmdet.models.losses.utils import weight_reduce_loss
from mmdet.registry import MODELS
from torch import Tensor


def rtdetr_varifocal_loss(pred: Tensor, labels: Tensor, scores: Tensor, alpha: float = 0.75,
                          gamma: float = 2.0) -> Tensor:
    """Per-query loss (N,) of logits ``pred`` (N, C) against ``labels`` (N,; C for background) with
    IoU ``scores`` (N,): binary cross-entropy towards the IoU at the labelled class and 0 elsewhere,
    weighted by the IoU at the labelled class and by ``alpha * sigmoid(pred) ** gamma`` elsewhere.

    Unlike mmdet's ``VarifocalLoss``, which tells positives by a score above 0, the labelled class is a
    positive even where its box does not overlap the target (IoU 0): its weight is then 0, as in
    RT-DETR, not the negatives' focal weight."""
    num_classes = pred.size(-1)
    positive = F.one_hot(labels, num_classes + 1)[:, :num_classes].to(pred.dtype)
    target = positive * scores[:, None].to(pred.dtype)
    weight = alpha * pred.detach().sigmoid().pow(gamma) * (1 - positive) + target
    return F.binary_cross_entropy_with_logits(pred, target, weight=weight, reduction='none').sum(-1)


@MODELS.register_module()
class RTDETRVarifocalLoss(QualityFocalLoss):
    """:func:`rtdetr_varifocal_loss` as an mmdet loss. It subclasses ``QualityFocalLoss`` because
    mmdet's DETR heads compute the IoU of each matched box and hand a ``QualityFocalLoss`` its targets
    as ``(labels, scores)``: this loss takes the same targets.

    Args:
        alpha (float): Weight of the negatives' focal term. Defaults to 0.75.
        gamma (float): Exponent of the negatives' focal term. Defaults to 2.0.
        reduction (str): 'none', 'mean' or 'sum'. Defaults to 'mean'.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self, alpha: float = 0.75, gamma: float = 2.0, reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__(use_sigmoid=True, beta=gamma, reduction=reduction, loss_weight=loss_weight)
        self.alpha = alpha
        self.gamma = gamma

    def forward(self, pred: Tensor, target: Tuple[Tensor, Tensor], weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Args: ``pred`` logits (N, C); ``target`` (labels (N,), IoU scores (N,)); ``weight`` (N,)
        per query; ``avg_factor`` what the sum is divided by for 'mean'."""
        if not isinstance(target, tuple):
            raise TypeError('RTDETRVarifocalLoss takes target=(labels, iou_scores), '
                            f'got {type(target).__name__}')
        labels, scores = target
        loss = rtdetr_varifocal_loss(pred, labels, scores, self.alpha, self.gamma)
        reduction = reduction_override or self.reduction
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)
