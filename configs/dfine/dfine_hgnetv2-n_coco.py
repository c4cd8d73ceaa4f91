# D-FINE-N (D-FINE's dfine_hgnetv2_n_coco.yml): HGNetV2-B0's last two stages (strides 16 and 32),
# trained whole (norms too); hybrid encoder and decoder of width 128 (FFN 512), the encoder on the
# stride-32 map, CSP branches of expansion 0.34 with round(3 * 0.5) = 2 RepVGG blocks; a 3-layer
# decoder with 6 points on each of its 2 levels. AdamW lr 8e-4, wd 1e-4 (none on norms and biases),
# backbone lr 4e-4 (0.5x), a global batch of 128; 160 epochs, strong augmentations stop at epoch 148.
_base_ = './_base_/dfine_hgnetv2.py'

embed_dims = 128
model = dict(
    num_feature_levels=2,
    backbone=dict(arch='B0', out_indices=(2, 3), frozen_stages=-1, norm_eval=False),
    neck=dict(
        in_channels=[512, 1024],  # hgnet_backbones.stage_channels('B0')[2:]
        embed_dims=embed_dims,
        out_channels=embed_dims,
        use_encoder_idx=[1],
        encoder=dict(layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=512))),
        expansion=0.34,
        num_csp_blocks=2),
    decoder=dict(
        num_layers=3,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims),
            cross_attn_cfg=dict(embed_dims=embed_dims, num_points=[6, 6]),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=512))),
    bbox_head=dict(embed_dims=embed_dims))
train_dataloader = dict(batch_size=32)
optim_wrapper = dict(
    optimizer=dict(lr=8e-4, weight_decay=1e-4),
    paramwise_cfg=dict(bias_decay_mult=0.0, custom_keys=dict(backbone=dict(lr_mult=0.5))))
max_epochs = 160
stop_epoch = 148
train_cfg = dict(max_epochs=max_epochs)
custom_hooks = [_base_.ema_hook,
                dict(_base_.custom_hooks[1], switch_epoch=stop_epoch)]
auto_scale_lr = dict(base_batch_size=128)
