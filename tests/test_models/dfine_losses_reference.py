"""transformers' D-FINE loss functions and ``DFineLoss`` terms on the inputs a test saved, run in the
reference interpreter (tests/transformers_reference.py): ``python dfine_losses_reference.py IN OUT``.
IN and OUT are torch files of tensors; the criterion is built from ``DFineConfig`` and its matcher
is bypassed by handing each term the saved matched indices. Everything runs in float64 but
``translate_gt``, ``bbox2distance`` and ``loss_local`` (fgl, ddf), which fail on float64 (their bin
weights are float32 tensors that float64 values cannot be put into): those get float32 copies."""
import sys

import torch
from transformers import DFineConfig
from transformers.loss.loss_d_fine import (DFineLoss, bbox2distance, translate_gt,
                                           weighting_function)
from transformers.models.d_fine.modeling_d_fine import distance2bbox


def main(in_path: str, out_path: str) -> None:
    data = torch.load(in_path)
    reg_max, reg_scale = int(data['reg_max']), float(data['reg_scale'])
    up = data['up']
    config = DFineConfig(num_labels=data['logits'].shape[-1], max_num_bins=reg_max,
                         reg_scale=reg_scale, up=float(up))
    criterion = DFineLoss(config).to(torch.float64)
    criterion32 = DFineLoss(config)
    up32 = up.float()
    indices = list(zip(data['query_idx'], data['gt_idx']))
    targets = [dict(class_labels=labels, boxes=boxes)
               for labels, boxes in zip(data['gt_labels'], data['gt_boxes'])]
    outputs = {key: data[key] for key in ('logits', 'pred_boxes', 'pred_corners', 'ref_points',
                                          'teacher_corners', 'teacher_logits')}
    num_boxes = float(data['num_boxes'])
    out = dict(
        weighting_32=weighting_function(32, up, reg_scale),
        weighting=weighting_function(reg_max, up, reg_scale),
        translate_gt=translate_gt(data['offsets'].float(), reg_max, reg_scale, up32),
        bbox2distance=bbox2distance(data['points'].float(), data['bboxes'].float(), reg_max,
                                    reg_scale, up32),
        distance2bbox=distance2bbox(data['points'], data['distance'], reg_scale),
        udfl=criterion.unimodal_distribution_focal_loss(
            data['udfl_pred'], data['udfl_index'], data['udfl_right'], data['udfl_left'],
            reduction='none'),
    )
    outputs = {key: value.clone().requires_grad_() for key, value in outputs.items()}
    out.update(criterion.loss_labels_vfl(outputs, targets, indices, num_boxes))
    out.update(criterion.loss_boxes(outputs, targets, indices, num_boxes))
    (out['loss_vfl'] + out['loss_bbox'] + out['loss_giou']).backward()
    out['logits_grad'], out['pred_boxes_grad'] = outputs['logits'].grad, outputs['pred_boxes'].grad
    outputs32 = {key: value.detach().float().requires_grad_() for key, value in outputs.items()}
    targets32 = [dict(class_labels=t['class_labels'], boxes=t['boxes'].float()) for t in targets]
    out.update(criterion32.loss_local(outputs32, targets32, indices, num_boxes))
    (out['loss_fgl'] + out['loss_ddf']).backward()
    out['pred_corners_grad'] = outputs32['pred_corners'].grad
    last = dict(outputs32, teacher_corners=outputs32['pred_corners'])
    out['loss_ddf_last'] = criterion32.loss_local(last, targets32, indices, num_boxes)['loss_ddf']
    torch.save({key: value.detach() if torch.is_tensor(value) else value
                for key, value in out.items()}, out_path)


if __name__ == '__main__':
    main(*sys.argv[1:])
