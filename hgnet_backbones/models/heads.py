"""PaddleClas's PP-HGNetV2 classification head."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from ..extras import needs_extra
from ..registry import MODELS
from .hgnetv2 import HGNetV2, LearnableAffineBlock, stage_channels

with needs_extra('cls'):
    from mmpretrain.models.heads import ClsHead


@MODELS.register_module()
class HGNetV2ClsHead(ClsHead):
    """PP-HGNetV2's classifier: global average pool -> 1x1 conv (no bias) to ``hidden_channels`` ->
    ReLU -> LearnableAffineBlock (B0-B3) -> dropout -> flatten -> fc.

    Names follow PaddleClas (``last_conv``, ``lab``, ``fc``), so its full checkpoints load with no
    missing or unexpected keys. The pool is skipped when a neck (e.g. ``GlobalAveragePooling``)
    already pooled the features.

    Args:
        num_classes (int): Number of classes.
        arch (str | dict, optional): The backbone's arch; gives the defaults of ``in_channels`` (its
            last stage's channels) and ``use_lab``. Defaults to None.
        in_channels (int, optional): Channels of the last backbone stage. Required without ``arch``.
        hidden_channels (int, optional): Channels of the 1x1 conv; None drops the conv, ReLU and LAB
            (PaddleClas's ``use_last_conv=False``). Defaults to 2048.
        use_lab (bool, optional): LAB after the ReLU, as PaddleClas's B0-B3. Defaults to the arch's
            value, else False.
        dropout (float): Dropout before the fc. PaddleClas's published models use 0; note that
            Paddle's dropout scales at inference ("downscale_in_infer") where PyTorch's scales in
            training. Defaults to 0.
        loss (dict): mmpretrain loss config. Defaults to ``dict(type='CrossEntropyLoss')``.
        topk (int | Sequence[int]): Top-k accuracy to compute in ``loss``. Defaults to (1, ).
        init_cfg (dict | list[dict], optional): Defaults to Kaiming (fan-in) for the conv and
            Normal(std=0.01) for the fc.
    """

    def __init__(self,
                 num_classes: int,
                 arch: Optional[Union[str, dict]] = None,
                 in_channels: Optional[int] = None,
                 hidden_channels: Optional[int] = 2048,
                 use_lab: Optional[bool] = None,
                 dropout: float = 0.0,
                 loss: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 topk: Sequence[int] = (1, ),
                 init_cfg: Optional[dict] = [
                     dict(type='Kaiming', layer='Conv2d', mode='fan_in'),
                     dict(type='Normal', layer='Linear', std=0.01)
                 ],
                 **kwargs):
        super().__init__(loss=loss, topk=topk, init_cfg=init_cfg, **kwargs)
        if num_classes <= 0:
            raise ValueError(f'num_classes must be positive, got {num_classes}')
        if arch is not None:
            in_channels = in_channels or stage_channels(arch)[-1]
            use_lab = HGNetV2.parse_arch(arch)[1]['use_lab'] if use_lab is None else use_lab
        if in_channels is None:
            raise ValueError('HGNetV2ClsHead needs in_channels or arch')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        if hidden_channels is not None:
            self.last_conv = nn.Conv2d(in_channels, hidden_channels, 1, bias=False)
            self.act = nn.ReLU()
            self.lab = LearnableAffineBlock() if use_lab else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(hidden_channels or in_channels, num_classes)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        x = feats[-1]
        x = x.mean((2, 3), keepdim=True) if x.dim() == 4 else x[:, :, None, None]
        if self.hidden_channels is not None:
            x = self.act(self.last_conv(x))
            if self.lab is not None:
                x = self.lab(x)
        return self.dropout(x).flatten(1)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        return self.fc(self.pre_logits(feats))
