"""The D-FINE reference for tests/test_models/test_dfine.py, run by the reference transformers in a
second interpreter (tests/transformers_reference.py): builds ``DFineForObjectDetection`` from the
settings given, perturbs every weight and norm statistic with a fixed seed, runs it in float64 in
inference and in training mode (no labels: no denoising) and saves its state dict, config, inputs and
outputs; given ``targets``, also the terms of transformers' ``DFineLoss`` of those training outputs.

    python dfine_reference.py SETTINGS_JSON OUT_FILE

SETTINGS_JSON: ``backbone`` (``HGNetV2Config`` arguments), ``dfine`` (``DFineConfig`` arguments),
``image_size`` ([h, w]), ``batch``, ``seed``, optionally ``targets`` (per image ``boxes``, pixel
x1, y1, x2, y2, and ``labels``)."""
import json
import sys
from pathlib import Path

import torch
from transformers import DFineConfig, DFineForObjectDetection, HGNetV2Config, RTDetrImageProcessor

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'tools'))
from dfine_reference import perturb  # noqa: E402
from transformers.loss.loss_d_fine import DFineLoss


def dfine_loss_terms(config: DFineConfig, train: dict, targets: list, image_size) -> dict:
    """transformers' ``DFineLoss`` of the training outputs without denoising, each layer's logits
    and boxes beside its own corners. (``DFineForObjectDetectionLoss`` builds its auxiliary outputs
    only with denoising, and pairs layer ``i``'s corners with the logits and boxes one place
    earlier, as its logits start with the first layer's pre-FDR head's.) Terms: ``loss_*`` the last
    layer (fgl too, as D-FINE; its ddf is 0), ``loss_*_aux_{i}`` layer ``i`` < L - 1, then the
    encoder's selected queries (``i = L - 1``) and the pre-FDR head (``i = L``). fgl and ddf are
    float32's."""
    height, width = image_size
    size = torch.tensor([width, height, width, height], dtype=torch.float64)
    labels = []
    for target in targets:
        boxes = torch.tensor(target['boxes'], dtype=torch.float64)
        labels.append(dict(class_labels=torch.tensor(target['labels']),
                           boxes=torch.cat([(boxes[:, :2] + boxes[:, 2:]) / 2,
                                            boxes[:, 2:] - boxes[:, :2]], 1) / size))
    logits = train['intermediate_logits'][:, 1:]
    boxes = train['intermediate_reference_points'][:, 1:].clamp(min=0, max=1)
    corners = train['intermediate_predicted_corners']
    layers = [dict(logits=logits[:, i], pred_boxes=boxes[:, i], pred_corners=corners[:, i],
                   ref_points=train['initial_reference_points'][:, i],
                   teacher_corners=corners[:, -1], teacher_logits=logits[:, -1])
              for i in range(logits.size(1))]
    outputs = dict(layers[-1], auxiliary_outputs=layers[:-1] + [
        dict(logits=train['enc_topk_logits'], pred_boxes=train['enc_topk_bboxes'].clamp(0, 1)),
        dict(logits=train['intermediate_logits'][:, 0],
             pred_boxes=train['intermediate_reference_points'][:, 0].clamp(0, 1))])
    criterion = DFineLoss(config).double()
    criterion.losses = ['vfl', 'boxes']
    terms = criterion(outputs, labels)
    # transformers' translate_gt puts float64 values into float32 bin weights and fails: fgl and ddf
    # (and their matching) in float32
    criterion = DFineLoss(config)
    criterion.losses = ['local']
    terms.update(criterion(_float32(outputs), _float32(labels)))
    return {k: v.detach().double() for k, v in terms.items()}


def _float32(value):
    """``value`` (tensors in dicts and lists) with its floating tensors in float32."""
    if isinstance(value, dict):
        return {k: _float32(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_float32(v) for v in value]
    return value.float() if value.is_floating_point() else value


def main(settings_json: str, out_file: str) -> None:
    settings = json.loads(settings_json)
    config = DFineConfig(backbone_config=HGNetV2Config(**settings['backbone']), **settings['dfine'])
    torch.manual_seed(settings['seed'])
    model = DFineForObjectDetection(config)
    # the parameters of the model for COCO's 80 classes, the backbone's norms unfrozen
    full = DFineForObjectDetection(DFineConfig(
        backbone_config=HGNetV2Config(**settings['backbone']), freeze_backbone_batch_norms=False,
        **dict(settings['dfine'], num_labels=80)))
    num_parameters_80 = sum(p.numel() for p in full.parameters())
    perturb(model)
    model.double()
    height, width = settings['image_size']
    images = torch.rand(settings['batch'], 3, height, width, dtype=torch.float64)
    out = dict(state_dict={k: v.clone() for k, v in model.state_dict().items()},
               config=config.to_json_string(), images=images, num_parameters_80=num_parameters_80)
    with torch.no_grad():
        model.eval()
        ref = model(pixel_values=images)
        out['eval'] = dict(logits=ref.logits, pred_boxes=ref.pred_boxes)
        out['detections'] = RTDetrImageProcessor().post_process_object_detection(
            ref, threshold=0.0, target_sizes=[(height, width)] * len(images))
        model.train()
        ref = model(pixel_values=images)
        out['train'] = {k: getattr(ref, k) for k in (
            'intermediate_logits', 'intermediate_reference_points', 'intermediate_predicted_corners',
            'initial_reference_points', 'enc_topk_logits', 'enc_topk_bboxes')}
        if 'targets' in settings:
            out['losses'] = dfine_loss_terms(config, out['train'], settings['targets'],
                                             (height, width))
    torch.save(out, out_file)


if __name__ == '__main__':
    main(*sys.argv[1:])
