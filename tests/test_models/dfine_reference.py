"""The D-FINE reference for tests/test_models/test_dfine.py, run by the reference transformers in a
second interpreter (tests/transformers_reference.py): builds ``DFineForObjectDetection`` from the
settings given, perturbs every weight and norm statistic with a fixed seed, runs it in float64 in
inference and in training mode (no labels: no denoising) and saves its state dict, config, inputs and
outputs.

    python dfine_reference.py SETTINGS_JSON OUT_FILE

SETTINGS_JSON: ``backbone`` (``HGNetV2Config`` arguments), ``dfine`` (``DFineConfig`` arguments),
``image_size`` ([h, w]), ``batch``, ``seed``."""
import json
import sys

import torch
from torch import nn
from transformers import DFineConfig, DFineForObjectDetection, HGNetV2Config, RTDetrImageProcessor


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
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.endswith(('decoder.up', 'decoder.reg_scale')):  # D-FINE's constants
                p.add_(torch.randn_like(p) * 0.1)
        for name, b in model.named_buffers():  # the backbone's frozen norms and the neck's norms
            if name.endswith('running_mean'):
                b.normal_(0, 0.1)
            elif name.endswith('running_var'):
                b.uniform_(0.5, 1.5)
            elif 'backbone' in name and name.endswith(('.weight', '.bias')):
                b.add_(torch.randn_like(b) * 0.1)
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
    torch.save(out, out_file)


if __name__ == '__main__':
    main(*sys.argv[1:])
