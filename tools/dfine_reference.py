"""transformers' ``DFineForObjectDetection`` of one D-FINE variant, configured as transformers'
``convert_d_fine_original_pytorch_checkpoint_to_hf.py`` configures the releases, randomly initialised
(seed 0). Run in the reference interpreter (transformers 4.57.6 cannot sit beside mmpretrain: see
tools/requirements-reference.txt), by the tests (tests/transformers_reference.py) and by
``tools/benchmark.py --detectors D-FINE-*``:

    python tools/dfine_reference.py state {n,s,m,l,x} OUT.pt
        its state dict
    python tools/dfine_reference.py time {n,s,m,l,x} INPUT.pt OUT.pt WARMUP REPEATS
        its state dict (perturbed: :func:`perturb`), its last layer's logits and boxes on the image
        batch in INPUT.pt and the wall
        times (ms) of REPEATS inference calls after WARMUP, on the CPU with torch's thread count
"""
import sys
import time

import torch
from transformers import DFineConfig, DFineForObjectDetection

# HGNetV2 stem, stage in/mid/out channels, blocks, layers per block (the releases' backbones B0-B5)
BACKBONES = {
    'B0': dict(stem_channels=[3, 16, 16], stage_in_channels=[16, 64, 256, 512],
               stage_mid_channels=[16, 32, 64, 128], stage_out_channels=[64, 256, 512, 1024],
               stage_num_blocks=[1, 1, 2, 1], stage_numb_of_layers=[3, 3, 3, 3],
               use_learnable_affine_block=True),
    'B2': dict(stem_channels=[3, 24, 32], stage_in_channels=[32, 96, 384, 768],
               stage_mid_channels=[32, 64, 128, 256], stage_out_channels=[96, 384, 768, 1536],
               stage_num_blocks=[1, 1, 3, 1], stage_numb_of_layers=[4, 4, 4, 4],
               use_learnable_affine_block=True),
    'B4': dict(stem_channels=[3, 32, 48], stage_in_channels=[48, 128, 512, 1024],
               stage_mid_channels=[48, 96, 192, 384], stage_out_channels=[128, 512, 1024, 2048],
               stage_num_blocks=[1, 1, 3, 1], stage_numb_of_layers=[6, 6, 6, 6]),
    'B5': dict(stem_channels=[3, 32, 64], stage_in_channels=[64, 128, 512, 1024],
               stage_mid_channels=[64, 128, 256, 512], stage_out_channels=[128, 512, 1024, 2048],
               stage_num_blocks=[1, 2, 5, 2], stage_numb_of_layers=[6, 6, 6, 6]),
}
VARIANTS = {
    'n': ('B0', dict(num_feature_levels=2, encoder_ffn_dim=512, encode_proj_layers=[1], d_model=128,
                     encoder_hidden_dim=128, decoder_ffn_dim=512, encoder_in_channels=[512, 1024],
                     decoder_n_points=[6, 6], decoder_in_channels=[128, 128], feat_strides=[16, 32],
                     depth_mult=0.5, decoder_layers=3, hidden_expansion=0.34), [3, 4]),
    's': ('B0', dict(decoder_layers=3, hidden_expansion=0.5, depth_mult=0.34,
                     decoder_n_points=[3, 6, 3], encoder_in_channels=[256, 512, 1024]), None),
    'm': ('B2', dict(decoder_layers=4, decoder_n_points=[3, 6, 3], encoder_in_channels=[384, 768, 1536],
                     depth_mult=0.67), None),
    'l': ('B4', dict(encoder_ffn_dim=1024, encoder_in_channels=[512, 1024, 2048],
                     decoder_n_points=[3, 6, 3]), None),
    'x': ('B5', dict(encoder_in_channels=[512, 1024, 2048], encoder_hidden_dim=384, encoder_ffn_dim=2048,
                     decoder_n_points=[3, 6, 3], decoder_in_channels=[384, 384, 384]), None),
}


def reference_model(variant: str) -> DFineForObjectDetection:
    arch, settings, out_indices = VARIANTS[variant]
    config = DFineConfig(num_labels=80, hidden_expansion=1.0, decoder_layers=6)
    backbone = config.backbone_config
    backbone.hidden_sizes = BACKBONES[arch]['stage_out_channels']
    backbone.layer_type = 'basic'
    backbone.embedding_size = 32
    backbone.stage_downsample = [False, True, True, True]
    backbone.stage_light_block = [False, False, True, True]
    backbone.stage_kernel_size = [3, 3, 5, 5]
    for key, value in BACKBONES[arch].items():
        setattr(backbone, key, value)
    if out_indices:
        backbone.out_indices = out_indices
    for key, value in settings.items():
        setattr(config, key, value)
    torch.manual_seed(0)
    return DFineForObjectDetection(config)


@torch.no_grad()
def perturb(model: DFineForObjectDetection) -> None:
    """Every weight (but D-FINE's constants ``up`` and ``reg_scale``) moved by N(0, 0.1) and the norms'
    statistics drawn, so that no two tokens or queries tie and every layer moves the outputs."""
    for name, p in model.named_parameters():
        if not name.endswith(('decoder.up', 'decoder.reg_scale')):
            p.add_(torch.randn_like(p) * 0.1)
    for name, b in model.named_buffers():  # the backbone's frozen norms and the neck's norms
        if name.endswith('running_mean'):
            b.normal_(0, 0.1)
        elif name.endswith('running_var'):
            b.uniform_(0.5, 1.5)
        elif 'backbone' in name and name.endswith(('.weight', '.bias')):
            b.add_(torch.randn_like(b) * 0.1)


def state(variant: str, out: str) -> None:
    model = reference_model(variant)
    torch.save({k: v.clone().contiguous() for k, v in model.state_dict().items()}, out)


def timed(variant: str, inputs: str, out: str, warmup: str, repeats: str) -> None:
    model = reference_model(variant).eval()
    perturb(model)
    images = torch.load(inputs)
    times = []
    with torch.inference_mode():
        result = model(pixel_values=images)
        for i in range(int(warmup) + int(repeats)):
            start = time.perf_counter()
            model(pixel_values=images)
            if i >= int(warmup):
                times.append((time.perf_counter() - start) * 1e3)
    torch.save(dict(state_dict={k: v.clone().contiguous() for k, v in model.state_dict().items()},
                    logits=result.logits, pred_boxes=result.pred_boxes, times=times), out)


if __name__ == '__main__':
    command, *args = sys.argv[1:]
    {'state': state, 'time': timed}[command](*args)
