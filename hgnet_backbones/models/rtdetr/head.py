"""RT-DETR's detection head: mmdet's DINO head with denoising optional and boxes relative to the
padded input."""
from typing import Dict, Optional, Tuple

from mmdet.models.dense_heads import DINOHead
from mmdet.registry import MODELS
from mmengine.structures import InstanceData
from torch import Tensor


@MODELS.register_module()
class RTDETRHead(DINOHead):
    """mmdet's :class:`DINOHead` (a linear classifier and a 3-layer box MLP per decoder layer, plus one
    pair for the encoder's query selection; Hungarian matching, losses for every decoder layer, the
    selected encoder queries and the denoising queries), as RT-DETR uses it:

    - with :class:`RTDETRVarifocalLoss` as ``loss_cls``, each matched query's class target is the IoU
      of its box with the ground truth;
    - denoising may be off (``dn_meta`` None);
    - boxes are relative to the padded batch input, since RT-DETR has no padding mask: the detector
      gives the head ``img_shape = batch_input_shape`` for the loss, and predictions are scaled by the
      batch input's size, then clipped to the image.

    Its arguments are :class:`DINOHead`'s.
    """

    @staticmethod
    def split_outputs(all_layers_cls_scores: Tensor, all_layers_bbox_preds: Tensor,
                      dn_meta: Optional[Dict[str, int]]) -> Tuple[Optional[Tensor], ...]:
        if dn_meta is None:
            return all_layers_cls_scores, all_layers_bbox_preds, None, None
        return DINOHead.split_outputs(all_layers_cls_scores, all_layers_bbox_preds, dn_meta)

    def _predict_by_feat_single(self, cls_score: Tensor, bbox_pred: Tensor, img_meta: dict,
                                rescale: bool = True) -> InstanceData:
        padded = dict(img_meta, img_shape=img_meta['batch_input_shape'])
        results = super()._predict_by_feat_single(cls_score, bbox_pred, padded, rescale)
        height, width = img_meta['ori_shape'] if rescale else img_meta['img_shape']
        results.bboxes[:, 0::2].clamp_(min=0, max=width)
        results.bboxes[:, 1::2].clamp_(min=0, max=height)
        return results
