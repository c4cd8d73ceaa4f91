"""D-FINE's detection head: class logits corrected by the localization quality estimator (LQE), the
decoder's FDR boxes, and D-FINE's losses over mmdet's DINO head's matching."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmdet.models.layers import MLP
from mmdet.models.losses import QualityFocalLoss
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps
from mmdet.utils import ConfigType, InstanceList, reduce_mean
from mmengine.model import bias_init_with_prob
from torch import Tensor, nn

from ..rtdetr.head import RTDETRHead


class LocalizationQualityEstimator(nn.Module):
    """D-FINE's LQE: an MLP of each edge's ``top_k`` highest bin probabilities and their mean, added
    to the class logits: a sharp edge distribution raises the score.

    Args:
        reg_max (int): Bins per edge minus one.
        top_k (int): Probabilities taken per edge. Defaults to 4.
        hidden_dims (int): Width of the MLP. Defaults to 64.
        num_layers (int): Its layers. Defaults to 2.
    """

    def __init__(self, reg_max: int, top_k: int = 4, hidden_dims: int = 64, num_layers: int = 2):
        super().__init__()
        self.reg_max = reg_max
        self.top_k = top_k
        self.reg_conf = MLP(4 * (top_k + 1), hidden_dims, 1, num_layers)

    def forward(self, scores: Tensor, pred_corners: Tensor) -> Tensor:
        prob = pred_corners.reshape(*pred_corners.shape[:-1], 4, self.reg_max + 1).softmax(-1)
        top = prob.topk(self.top_k, dim=-1)[0]
        stat = torch.cat([top, top.mean(-1, keepdim=True)], -1).flatten(-2)
        return scores + self.reg_conf(stat)


@MODELS.register_module()
class DFineHead(RTDETRHead):
    """:class:`RTDETRHead` with D-FINE's branches: for decoder layer ``i``, ``cls_branches[i]`` (a
    linear classifier, whose logits :class:`LocalizationQualityEstimator` ``lqe_layers[i]``
    corrects) and ``reg_branches[i]``, an MLP to ``4 * (reg_max + 1)`` edge-distribution logits that
    :class:`DFineTransformerDecoder` turns into boxes. The encoder's query selection keeps a linear
    classifier and a box MLP, last in both lists. Layers after ``eval_idx`` take ``layer_scale``
    times wider inputs.

    In training (:meth:`loss`), :class:`DFINE` hands the head ``hidden_states`` (a list, one (bs,
    num_queries, width) per layer), ``references`` (layers, bs, num_queries, 4: each layer's boxes),
    ``pred_corners`` (layers, bs, num_queries, 4 * (reg_max + 1)), ``initial_references`` (layers,
    bs, num_queries, 4: the boxes the distances are measured from), ``pre_references`` (bs,
    num_queries, 4: the first layer's pre-FDR boxes), ``enc_outputs_class`` and
    ``enc_outputs_coord`` (the selected encoder queries' logits and boxes), ``dn_meta`` (None
    without denoising) and ``batch_data_samples``; denoising queries come first along num_queries.
    :meth:`loss_by_feat` computes, for every decoder layer, the selected encoder queries, the
    pre-FDR head and the denoising queries, ``loss_cls`` (the IoU-aware ``loss_cls``: VFL, or DEIM's
    MAL), ``loss_bbox`` and ``loss_iou``, and for the decoder layers GO-LSD's ``loss_fgl`` and
    ``loss_ddf`` (teacher: the last layer). Each layer is matched on its own by mmdet's assigner
    (``get_targets``; the denoising queries by ``get_dn_targets``), as transformers' ``DFineLoss``
    matches; D-FINE also computes the box and GO-LSD terms on the union of all layers' matches
    (:func:`~hgnet_backbones.models.dfine.losses.union_matches`), which this head does not. Like
    D-FINE and unlike transformers, the last layer's ``loss_fgl`` is supervised too.

    Args:
        reg_max (int): Bins per edge minus one. Defaults to 32.
        eval_idx (int): The decoder's last layer in inference. Defaults to -1.
        layer_scale (float): Width of the layers after ``eval_idx`` over ``embed_dims``.
            Defaults to 1.
        lqe_cfg (dict): :class:`LocalizationQualityEstimator` settings but ``reg_max``. Defaults to
            D-FINE's ``dict(top_k=4, hidden_dims=64, num_layers=2)``.
        reg_scale (float): The weighting function's curvature, for ``loss_fgl``'s bin targets.
            Defaults to 4.
        up (float): Its upper bound. Defaults to 0.5.
        loss_fgl (dict): :class:`FineGrainedLocalizationLoss` config without ``reg_max``,
            ``reg_scale`` and ``up`` (the head's). Defaults to D-FINE's weight 0.15.
        loss_ddf (dict): :class:`DecoupledDistillationFocalLoss` config without ``reg_max``.
            Defaults to D-FINE's weight 1.5.
        Others: as :class:`RTDETRHead`; ``loss_cls`` an IoU-aware loss (targets ``(labels,
        ious)``). ``reg_max``, ``reg_scale``, ``up``, ``eval_idx`` and ``layer_scale`` are the
        decoder's; :class:`DFINE` sets them.
    """

    def __init__(self, *args, reg_max: int = 32, reg_scale: float = 4.0, up: float = 0.5,
                 eval_idx: int = -1, layer_scale: float = 1,
                 lqe_cfg: dict = dict(top_k=4, hidden_dims=64, num_layers=2),
                 loss_fgl: ConfigType = dict(type='FineGrainedLocalizationLoss', loss_weight=0.15),
                 loss_ddf: ConfigType = dict(type='DecoupledDistillationFocalLoss',
                                             loss_weight=1.5),
                 **kwargs) -> None:
        self.reg_max = reg_max
        self.eval_idx = eval_idx
        self.layer_scale = layer_scale
        self.lqe_cfg = dict(lqe_cfg)
        super().__init__(*args, **kwargs)
        bins = dict(reg_max=reg_max, reg_scale=reg_scale, up=up)
        for name, cfg, keys in (('loss_fgl', loss_fgl, bins), ('loss_ddf', loss_ddf, ['reg_max'])):
            given = sorted(set(keys) & set(cfg))
            if given:
                raise ValueError(f'{name} sets {given}: the head takes them from the decoder')
        self.loss_fgl = MODELS.build(dict(loss_fgl, **bins))
        self.loss_ddf = MODELS.build(dict(loss_ddf, reg_max=reg_max))

    def _init_layers(self) -> None:
        if self.share_pred_layer or not self.as_two_stage:
            raise ValueError('DFineHead needs a branch per decoder layer and the encoder\'s query '
                             'selection: share_pred_layer=False, as_two_stage=True (DFINE sets them)')
        num_layers = self.num_pred_layer - 1
        eval_idx = self.eval_idx % num_layers
        widths = [self.embed_dims] * (eval_idx + 1) + \
            [round(self.layer_scale * self.embed_dims)] * (num_layers - eval_idx - 1)

        def mlp(width, out):
            return nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width),
                                 nn.ReLU(), nn.Linear(width, out))

        self.cls_branches = nn.ModuleList(
            nn.Linear(w, self.cls_out_channels) for w in widths + [self.embed_dims])
        self.reg_branches = nn.ModuleList(
            [mlp(w, 4 * (self.reg_max + 1)) for w in widths] + [mlp(self.embed_dims, 4)])
        self.lqe_layers = nn.ModuleList(
            LocalizationQualityEstimator(self.reg_max, **self.lqe_cfg) for _ in range(num_layers))

    def init_weights(self) -> None:
        """Classifiers' biases at a 0.01 prior; the last linear of every box branch and LQE zero."""
        for m in self.cls_branches:
            nn.init.constant_(m.bias, bias_init_with_prob(0.01))
        for m in list(self.reg_branches) + [lqe.reg_conf.layers for lqe in self.lqe_layers]:
            nn.init.zeros_(m[-1].weight)
            nn.init.zeros_(m[-1].bias)

    def forward(self, hidden_states: Sequence[Tensor], references: Tensor, pred_corners: Tensor,
                initial_references: Tensor = None, pre_references: Tensor = None):
        """Each decoder layer's LQE-corrected logits (layers, bs, num_queries, classes) and boxes
        (layers, bs, num_queries, 4; normalised cx, cy, w, h: the decoder's ``references``). It
        takes all the decoder's outputs, as mmdet's ``_forward`` passes them, and reads three."""
        scores = [lqe(cls(h), corners) for cls, lqe, h, corners in
                  zip(self.cls_branches, self.lqe_layers, hidden_states, pred_corners)]
        return torch.stack(scores), references

    def layer_outputs(self, hidden_states: Sequence[Tensor], references: Tensor,
                      pred_corners: Tensor, initial_references: Tensor,
                      pre_references: Tensor) -> Dict[str, Tensor]:
        """Everything D-FINE's losses read of the decoder's layers: ``cls_scores`` and ``boxes``
        (:meth:`forward`), ``pred_corners``, ``initial_references``, and the first layer's pre-FDR
        ``pre_scores`` (its classifier without LQE) and ``pre_boxes``."""
        cls_scores, boxes = self(hidden_states, references, pred_corners)
        return dict(cls_scores=cls_scores, boxes=boxes, pred_corners=pred_corners,
                    initial_references=initial_references,
                    pre_scores=self.cls_branches[0](hidden_states[0]), pre_boxes=pre_references)

    def predict(self, hidden_states: List[Tensor], references: Tensor, pred_corners: Tensor,
                batch_data_samples: SampleList, rescale: bool = True,
                **decoder_outputs) -> InstanceList:
        """Detections from the last layer the decoder ran (``eval_idx``)."""
        batch_img_metas = [sample.metainfo for sample in batch_data_samples]
        outs = self(hidden_states, references, pred_corners)
        return self.predict_by_feat(*outs, batch_img_metas=batch_img_metas, rescale=rescale)

    def loss(self, hidden_states: Sequence[Tensor], references: Tensor, pred_corners: Tensor,
             initial_references: Tensor, pre_references: Tensor, enc_outputs_class: Tensor,
             enc_outputs_coord: Tensor, batch_data_samples: SampleList,
             dn_meta: Optional[Dict[str, int]]) -> Dict[str, Tensor]:
        """D-FINE's losses of the decoder's outputs (:meth:`DFINE.forward_decoder`) and the selected
        encoder queries: :meth:`loss_by_feat` of :meth:`layer_outputs`."""
        batch_gt_instances = [sample.gt_instances for sample in batch_data_samples]
        batch_img_metas = [sample.metainfo for sample in batch_data_samples]
        outs = self.layer_outputs(hidden_states, references, pred_corners, initial_references,
                                  pre_references)
        return self.loss_by_feat(**outs, enc_cls_scores=enc_outputs_class,
                                 enc_bbox_preds=enc_outputs_coord,
                                 batch_gt_instances=batch_gt_instances,
                                 batch_img_metas=batch_img_metas, dn_meta=dn_meta)

    def loss_by_feat(self, cls_scores: Tensor, boxes: Tensor, pred_corners: Tensor,
                     initial_references: Tensor, pre_scores: Tensor, pre_boxes: Tensor,
                     enc_cls_scores: Tensor, enc_bbox_preds: Tensor,
                     batch_gt_instances: InstanceList, batch_img_metas: List[dict],
                     dn_meta: Optional[Dict[str, int]]) -> Dict[str, Tensor]:
        """Per decoder layer ``i`` (``d{i}.`` before the name, none for the last), each matched on
        its own by the assigner: ``loss_cls``, ``loss_bbox``, ``loss_iou``, ``loss_fgl`` and, but for
        the last layer (the teacher), ``loss_ddf``; the same with ``dn_`` for the denoising queries
        (their known matches); ``pre_`` and ``dn_pre_`` the first layer's pre-FDR classifier and
        boxes (the only loss ``pre_bbox_head`` has), ``enc_`` the selected encoder queries (class
        and boxes). Boxes are clamped to [0, 1] first, as transformers does."""
        boxes, pre_boxes = boxes.clamp(min=0, max=1), pre_boxes.clamp(min=0, max=1)
        num_dn = 0 if dn_meta is None else dn_meta['num_denoising_queries']
        layers = dict(cls_scores=cls_scores, boxes=boxes, pred_corners=pred_corners,
                      refs=initial_references)
        matching = {k: v[:, :, num_dn:] for k, v in layers.items()}
        loss_dict = {}
        num_layers = len(cls_scores)
        for i in range(num_layers):
            prefix = '' if i == num_layers - 1 else f'd{i}.'
            targets = self.get_targets(list(matching['cls_scores'][i]), list(matching['boxes'][i]),
                                       batch_gt_instances, batch_img_metas)
            loss_dict.update(self._named(prefix, self._losses_of_targets(
                targets, matching['cls_scores'][i], matching['boxes'][i], batch_img_metas,
                matching['pred_corners'][i], matching['refs'][i],
                None if i == num_layers - 1 else (matching['pred_corners'][-1],
                                                  matching['cls_scores'][-1]))))
        single = dict(batch_gt_instances=batch_gt_instances, batch_img_metas=batch_img_metas)
        loss_dict.update(self._named('pre_', self.loss_by_feat_single(
            pre_scores[:, num_dn:], pre_boxes[:, num_dn:], **single)))
        loss_dict.update(self._named('enc_', self.loss_by_feat_single(
            enc_cls_scores, enc_bbox_preds.clamp(min=0, max=1), **single)))
        if dn_meta is None:
            return loss_dict
        denoising = {k: v[:, :, :num_dn] for k, v in layers.items()}
        targets = self.get_dn_targets(batch_gt_instances, batch_img_metas, dn_meta)
        for i in range(num_layers):
            prefix = 'dn_' if i == num_layers - 1 else f'd{i}.dn_'
            loss_dict.update(self._named(prefix, self._losses_of_targets(
                targets, denoising['cls_scores'][i], denoising['boxes'][i], batch_img_metas,
                denoising['pred_corners'][i], denoising['refs'][i],
                None if i == num_layers - 1 else (denoising['pred_corners'][-1],
                                                  denoising['cls_scores'][-1]))))
        loss_dict.update(self._named('dn_pre_', self._losses_of_targets(
            targets, pre_scores[:, :num_dn], pre_boxes[:, :num_dn], batch_img_metas)))
        return loss_dict

    @staticmethod
    def _named(prefix: str, losses) -> Dict[str, Tensor]:
        names = ('loss_cls', 'loss_bbox', 'loss_iou', 'loss_fgl', 'loss_ddf')
        return {prefix + name: loss for name, loss in zip(names, losses) if loss is not None}

    def loss_by_feat_single(self, cls_scores: Tensor, bbox_preds: Tensor,
                            batch_gt_instances: InstanceList,
                            batch_img_metas: List[dict]) -> Tuple[Tensor, Tensor, Tensor]:
        """The class and box losses of queries without edge distributions (the encoder's, the
        pre-FDR boxes), matched by the assigner."""
        targets = self.get_targets(list(cls_scores), list(bbox_preds), batch_gt_instances,
                                   batch_img_metas)
        return self._losses_of_targets(targets, cls_scores, bbox_preds, batch_img_metas)[:3]

    def _losses_of_targets(self, targets: tuple, cls_scores: Tensor, bbox_preds: Tensor,
                           batch_img_metas: List[dict], pred_corners: Optional[Tensor] = None,
                           refs: Optional[Tensor] = None,
                           teacher: Optional[Tuple[Tensor, Tensor]] = None) -> tuple:
        """``(loss_cls, loss_bbox, loss_iou, loss_fgl, loss_ddf)`` of one layer's queries (bs,
        num_queries, ...) given their targets (``get_targets``' or ``get_dn_targets``' tuple), as
        mmdet's ``DETRHead.loss_by_feat_single`` computes the first three; the last two None
        without ``pred_corners`` (and its ``refs``), ``loss_ddf`` None without ``teacher`` (the last
        layer's corners and logits; the last layer is the teacher)."""
        labels, label_weights, bbox_targets, bbox_weights, num_pos, num_neg = \
            (torch.cat(t) if isinstance(t, list) else t for t in targets)
        if not isinstance(self.loss_cls, QualityFocalLoss):
            raise TypeError('DFineHead takes an IoU-aware loss_cls (RTDETRVarifocalLoss, '
                            f'MatchabilityAwareLoss), got {type(self.loss_cls).__name__}')
        num_queries = bbox_preds.size(1)
        cls_scores = cls_scores.reshape(-1, self.cls_out_channels)
        bbox_preds = bbox_preds.reshape(-1, 4)
        pos_inds = ((labels >= 0) & (labels < self.num_classes)).nonzero().squeeze(1)
        pos_targets = bbox_cxcywh_to_xyxy(bbox_targets[pos_inds])
        ious = label_weights.new_zeros(labels.shape)
        ious[pos_inds] = bbox_overlaps(bbox_cxcywh_to_xyxy(bbox_preds[pos_inds]).detach(),
                                       pos_targets, is_aligned=True)
        cls_avg_factor = num_pos * 1.0 + num_neg * self.bg_cls_weight
        if self.sync_cls_avg_factor:
            cls_avg_factor = reduce_mean(cls_scores.new_tensor([cls_avg_factor]))
        loss_cls = self.loss_cls(cls_scores, (labels, ious), label_weights,
                                 avg_factor=max(cls_avg_factor, 1))
        # the number of ground-truth boxes over all GPUs, for normalisation
        num_pos = torch.clamp(reduce_mean(loss_cls.new_tensor([num_pos])), min=1).item()
        factors = torch.cat([bbox_preds.new_tensor([w, h, w, h]).expand(num_queries, 4)
                             for h, w in (meta['img_shape'] for meta in batch_img_metas)])
        loss_iou = self.loss_iou(bbox_cxcywh_to_xyxy(bbox_preds) * factors,
                                 bbox_cxcywh_to_xyxy(bbox_targets) * factors, bbox_weights,
                                 avg_factor=num_pos)
        loss_bbox = self.loss_bbox(bbox_preds, bbox_targets, bbox_weights, avg_factor=num_pos)
        if pred_corners is None:
            return loss_cls, loss_bbox, loss_iou, None, None
        pos_ious = ious[pos_inds]
        loss_fgl = self.loss_fgl(pred_corners.flatten(0, 1)[pos_inds],
                                 (refs.flatten(0, 1)[pos_inds], pos_targets), pos_ious,
                                 avg_factor=num_pos)
        loss_ddf = None
        if teacher is not None:
            loss_ddf = self.loss_ddf(pred_corners, *teacher,
                                     (pos_inds // num_queries, pos_inds % num_queries), pos_ious)
        return loss_cls, loss_bbox, loss_iou, loss_fgl, loss_ddf
