"""D-FINE's detection head: class logits corrected by the localization quality estimator (LQE) and
the decoder's FDR boxes; its losses (GO-LSD, MAL) are wired separately."""
from typing import Dict, List, Sequence

import torch
from mmdet.models.layers import MLP
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import InstanceList
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

    Training is not wired here: :meth:`loss` raises. In training, :class:`DFINE` hands the head
    ``hidden_states`` (a list, one (bs, num_queries, width) per layer), ``references`` (layers,
    bs, num_queries, 4: each layer's boxes), ``pred_corners`` (layers, bs, num_queries,
    4 * (reg_max + 1)), ``initial_references`` (layers, bs, num_queries, 4: the boxes the distances
    are measured from), ``pre_references`` (bs, num_queries, 4: the first layer's pre-FDR boxes),
    ``enc_outputs_class`` and ``enc_outputs_coord`` (the selected encoder queries' logits and boxes),
    ``dn_meta`` (None without denoising) and ``batch_data_samples``; :meth:`layer_outputs` gives
    each layer's LQE-corrected logits and the first layer's pre-FDR logits from them. Denoising
    queries come first along num_queries.

    Args:
        reg_max (int): Bins per edge minus one. Defaults to 32.
        eval_idx (int): The decoder's last layer in inference. Defaults to -1.
        layer_scale (float): Width of the layers after ``eval_idx`` over ``embed_dims``.
            Defaults to 1.
        lqe_cfg (dict): :class:`LocalizationQualityEstimator` settings but ``reg_max``. Defaults to
            D-FINE's ``dict(top_k=4, hidden_dims=64, num_layers=2)``.
        Others: as :class:`RTDETRHead`. ``reg_max``, ``eval_idx`` and ``layer_scale`` are the
        decoder's; :class:`DFINE` sets them.
    """

    def __init__(self, *args, reg_max: int = 32, eval_idx: int = -1, layer_scale: float = 1,
                 lqe_cfg: dict = dict(top_k=4, hidden_dims=64, num_layers=2), **kwargs) -> None:
        self.reg_max = reg_max
        self.eval_idx = eval_idx
        self.layer_scale = layer_scale
        self.lqe_cfg = dict(lqe_cfg)
        super().__init__(*args, **kwargs)

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

    def loss(self, *args, **kwargs) -> dict:
        raise NotImplementedError(
            "DFineHead has no losses yet: D-FINE's training (GO-LSD's FGL and DDF, MAL) is wired "
            'separately, in hgnet_backbones/models/dfine/losses.py')
