"""D-FINE's and DEIM's losses (hgnet_backbones/models/dfine/losses.py) against transformers 4.57.6's
``loss_d_fine`` on the same random inputs, run in the reference interpreter
(dfine_losses_reference.py), each loss term computed as the module docstring's call contract says;
DEIM's MAL, which transformers lacks, against the paper's formula worked out by hand.

In float64, but transformers' ``translate_gt`` (hence ``bbox2distance`` and the fgl and ddf terms)
fails on float64 input: those are compared in float32 on the same float32 inputs."""
import math
from pathlib import Path

import pytest
import torch
from mmdet.models.losses import GIoULoss, L1Loss
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps

import hgnet_backbones.models.rtdetr  # noqa: F401  (mmdet registrations the losses build on)
from hgnet_backbones.analysis import relative_error
from hgnet_backbones.models.dfine.losses import (DecoupledDistillationFocalLoss,
                                                 FineGrainedLocalizationLoss,
                                                 MatchabilityAwareLoss, bbox2distance,
                                                 distance_to_box, translate_gt,
                                                 unimodal_distribution_focal_loss, union_matches,
                                                 weighting_function)
from hgnet_backbones.models.rtdetr import RTDETRVarifocalLoss
from transformers_reference import require_reference, run_reference

REFERENCE_SCRIPT = Path(__file__).with_name('dfine_losses_reference.py')
BATCH, QUERIES, CLASSES, REG_MAX, REG_SCALE, UP = 2, 6, 3, 8, 4.0, 0.5
TOLERANCE = 1e-7
# the float32 comparisons: one rounding of float32
FLOAT32_ROUNDING = 2.0**-24


def _boxes(n: int) -> torch.Tensor:
    """Random normalised (cx, cy, w, h) boxes inside the image."""
    centre = torch.rand(n, 2, dtype=torch.float64) * 0.6 + 0.2
    size = torch.rand(n, 2, dtype=torch.float64) * 0.35 + 0.05
    return torch.cat([centre, size], -1)


def _inputs() -> dict:
    """A batch of 2 images (2 and 3 ground-truth boxes), 6 queries, 3 classes, 8 + 1 bins, with
    matched indices as a matcher would give them; offsets spanning the bins and beyond."""
    torch.manual_seed(0)
    query_idx = [torch.tensor([4, 1]), torch.tensor([0, 5, 2])]
    gt_idx = [torch.tensor([1, 0]), torch.tensor([2, 0, 1])]
    gt_boxes = [_boxes(2), _boxes(3)]
    bins = weighting_function(REG_MAX, UP, REG_SCALE).double()
    offsets = torch.cat([torch.linspace(-6, 6, 41, dtype=torch.float64), bins,
                         (bins[:-1] + bins[1:]) / 2])
    points, bboxes = _boxes(20), bbox_cxcywh_to_xyxy(_boxes(20))
    return dict(
        reg_max=REG_MAX, reg_scale=REG_SCALE, up=torch.tensor([UP], dtype=torch.float64),
        logits=torch.randn(BATCH, QUERIES, CLASSES, dtype=torch.float64),
        pred_boxes=_boxes(BATCH * QUERIES).reshape(BATCH, QUERIES, 4),
        pred_corners=torch.randn(BATCH, QUERIES, 4 * (REG_MAX + 1), dtype=torch.float64),
        ref_points=_boxes(BATCH * QUERIES).reshape(BATCH, QUERIES, 4),
        teacher_corners=torch.randn(BATCH, QUERIES, 4 * (REG_MAX + 1), dtype=torch.float64),
        teacher_logits=torch.randn(BATCH, QUERIES, CLASSES, dtype=torch.float64),
        gt_labels=[torch.tensor([2, 0]), torch.tensor([1, 1, 0])], gt_boxes=gt_boxes,
        query_idx=query_idx, gt_idx=gt_idx, num_boxes=5.0, offsets=offsets, points=points,
        bboxes=bboxes, distance=torch.randn(20, 4, dtype=torch.float64),
        udfl_pred=torch.randn(12, REG_MAX + 1, dtype=torch.float64),
        udfl_index=torch.rand(12, dtype=torch.float64) * (REG_MAX - 0.1),
        udfl_right=torch.rand(12, dtype=torch.float64),
        udfl_left=torch.rand(12, dtype=torch.float64))


@pytest.fixture(scope='module')
def case(tmp_path_factory):
    """(inputs, transformers' outputs) for :func:`_inputs`."""
    require_reference()
    folder = tmp_path_factory.mktemp('dfine_losses')
    inputs = _inputs()
    torch.save(inputs, folder / 'in.pt')
    run_reference([str(REFERENCE_SCRIPT), str(folder / 'in.pt'), str(folder / 'out.pt')])
    return inputs, torch.load(folder / 'out.pt')


def _float32(inputs: dict) -> dict:
    """The float64 tensors of ``inputs`` (and of its lists) as float32."""
    def cast(value):
        if isinstance(value, list):
            return [cast(v) for v in value]
        return value.float() if torch.is_tensor(value) and value.is_floating_point() else value
    return {key: cast(value) for key, value in inputs.items()}


def _matched(inputs: dict):
    """The matched pairs flattened over the batch: (batch_idx, query_idx), ground-truth boxes
    (cx, cy, w, h) and labels, and the IoU of each matched predicted box with its ground truth."""
    batch_idx = torch.cat([torch.full_like(q, i) for i, q in enumerate(inputs['query_idx'])])
    query_idx = torch.cat(inputs['query_idx'])
    gt_boxes = torch.cat([b[j] for b, j in zip(inputs['gt_boxes'], inputs['gt_idx'])])
    gt_labels = torch.cat([b[j] for b, j in zip(inputs['gt_labels'], inputs['gt_idx'])])
    pred = inputs['pred_boxes'][batch_idx, query_idx]
    ious = bbox_overlaps(bbox_cxcywh_to_xyxy(pred), bbox_cxcywh_to_xyxy(gt_boxes), is_aligned=True)
    return (batch_idx, query_idx), gt_boxes, gt_labels, ious.detach()


def test_weighting_function_matches_transformers(case):
    inputs, ref = case
    assert relative_error(weighting_function(32, inputs['up'], REG_SCALE), ref['weighting_32']) \
        <= TOLERANCE
    assert relative_error(weighting_function(REG_MAX, inputs['up'], REG_SCALE), ref['weighting']) \
        <= TOLERANCE


def test_weighting_function_rejects_odd_reg_max():
    with pytest.raises(ValueError, match='reg_max must be an even number'):
        weighting_function(7, UP, REG_SCALE)


def test_translate_gt_matches_transformers_in_and_out_of_range(case):
    inputs, ref = case
    ours = translate_gt(inputs['offsets'].float(), REG_MAX, REG_SCALE, inputs['up'].float())
    for mine, theirs in zip(ours, ref['translate_gt']):
        assert relative_error(mine, theirs) <= TOLERANCE


def test_translate_gt_soft_target_averages_back_to_the_offset_in_float64():
    """Inside the bins, the targets' expected bin value is the offset; outside, all weight sits on
    the nearest end bin."""
    bins = weighting_function(REG_MAX, torch.tensor([UP], dtype=torch.float64), REG_SCALE)
    offsets = torch.linspace(-6, 6, 121, dtype=torch.float64)
    index, right, left = translate_gt(offsets, REG_MAX, REG_SCALE, UP)
    low = index.long().clamp(max=REG_MAX - 1)
    expected_value = bins[low] * left + bins[low + 1] * right
    inside = (offsets >= bins[0]) & (offsets < bins[-1])
    assert relative_error(expected_value[inside], offsets[inside]) <= 1e-15
    assert torch.equal(left[offsets < bins[0]], torch.ones(int((offsets < bins[0]).sum()),
                                                            dtype=torch.float64))
    assert torch.equal(right[offsets >= bins[-1]], torch.ones(int((offsets >= bins[-1]).sum()),
                                                               dtype=torch.float64))


def test_bbox2distance_matches_transformers(case):
    inputs, ref = case
    ours = bbox2distance(inputs['points'].float(), inputs['bboxes'].float(), REG_MAX, REG_SCALE,
                         inputs['up'].float())
    for mine, theirs in zip(ours, ref['bbox2distance']):
        assert relative_error(mine, theirs) <= TOLERANCE


def test_distance_to_box_matches_transformers(case):
    inputs, ref = case
    ours = distance_to_box(inputs['points'], inputs['distance'], REG_SCALE)
    assert relative_error(ours, ref['distance2bbox']) <= TOLERANCE


def test_unimodal_distribution_focal_loss_matches_transformers(case):
    inputs, ref = case
    ours = unimodal_distribution_focal_loss(inputs['udfl_pred'], inputs['udfl_index'],
                                            inputs['udfl_right'], inputs['udfl_left'])
    assert relative_error(ours, ref['udfl']) <= TOLERANCE


def test_vfl_bbox_and_giou_terms_and_gradients_match_transformers(case):
    """loss_vfl, loss_bbox and loss_giou from this repo's RT-DETR loss and mmdet's, as the module
    docstring says a head calls them, and the gradients of their sum."""
    inputs, ref = case
    inputs = dict(inputs, logits=inputs['logits'].clone().requires_grad_(),
                  pred_boxes=inputs['pred_boxes'].clone().requires_grad_())
    pos, gt_boxes, gt_labels, ious = _matched(inputs)
    labels = torch.full((BATCH, QUERIES), CLASSES, dtype=torch.long)
    labels[pos] = gt_labels
    scores = torch.zeros(BATCH, QUERIES, dtype=torch.float64)
    scores[pos] = ious
    num_boxes = inputs['num_boxes']
    vfl = RTDETRVarifocalLoss()(inputs['logits'].flatten(0, 1),
                                (labels.flatten(), scores.flatten()), avg_factor=num_boxes)
    pred = inputs['pred_boxes'][pos]
    bbox = L1Loss()(pred, gt_boxes, avg_factor=num_boxes)
    giou = GIoULoss()(bbox_cxcywh_to_xyxy(pred), bbox_cxcywh_to_xyxy(gt_boxes),
                      avg_factor=num_boxes)
    assert relative_error(vfl, ref['loss_vfl']) <= TOLERANCE
    assert relative_error(bbox, ref['loss_bbox']) <= TOLERANCE
    assert relative_error(giou, ref['loss_giou']) <= TOLERANCE
    (vfl + bbox + giou).backward()
    assert relative_error(inputs['logits'].grad, ref['logits_grad']) <= TOLERANCE
    assert relative_error(inputs['pred_boxes'].grad, ref['pred_boxes_grad']) <= TOLERANCE


def test_fine_grained_localization_loss_matches_transformers(case):
    inputs, ref = case
    inputs = _float32(inputs)
    pos, gt_boxes, _, ious = _matched(inputs)
    loss = FineGrainedLocalizationLoss(reg_max=REG_MAX, reg_scale=REG_SCALE, up=UP)(
        inputs['pred_corners'][pos], (inputs['ref_points'][pos], bbox_cxcywh_to_xyxy(gt_boxes)),
        weight=ious, avg_factor=inputs['num_boxes'])
    assert relative_error(loss, ref['loss_fgl']) <= TOLERANCE


def test_fine_grained_localization_loss_rejects_wrong_bin_count():
    loss = FineGrainedLocalizationLoss(reg_max=REG_MAX)
    with pytest.raises(ValueError, match='reg_max \\+ 1 = 9 bins'):
        loss(torch.zeros(2, 4 * 17), (torch.rand(2, 4), torch.rand(2, 4)))


def test_decoupled_distillation_focal_loss_matches_transformers(case):
    inputs, ref = case
    inputs = _float32(inputs)
    pos, _, _, ious = _matched(inputs)
    loss = DecoupledDistillationFocalLoss(reg_max=REG_MAX)(
        inputs['pred_corners'], inputs['teacher_corners'], inputs['teacher_logits'], pos, ious)
    # float32 sums in another order: within two roundings
    assert relative_error(loss, ref['loss_ddf']) <= 2 * FLOAT32_ROUNDING


def test_fgl_and_ddf_gradients_match_transformers(case):
    inputs, ref = case
    inputs = _float32(inputs)
    corners = inputs['pred_corners'].clone().requires_grad_()
    pos, gt_boxes, _, ious = _matched(inputs)
    fgl = FineGrainedLocalizationLoss(reg_max=REG_MAX, reg_scale=REG_SCALE, up=UP)(
        corners[pos], (inputs['ref_points'][pos], bbox_cxcywh_to_xyxy(gt_boxes)), weight=ious,
        avg_factor=inputs['num_boxes'])
    ddf = DecoupledDistillationFocalLoss(reg_max=REG_MAX)(
        corners, inputs['teacher_corners'], inputs['teacher_logits'], pos, ious)
    (fgl + ddf).backward()
    # float32 sums in another order: within a few roundings
    assert relative_error(corners.grad, ref['pred_corners_grad']) <= 4 * FLOAT32_ROUNDING


def test_decoupled_distillation_focal_loss_is_zero_for_the_teacher_layer(case):
    inputs, ref = case
    pos, _, _, ious = _matched(inputs)
    corners = inputs['pred_corners'].clone().requires_grad_()
    loss = DecoupledDistillationFocalLoss(reg_max=REG_MAX)(
        corners, corners.detach(), inputs['teacher_logits'], pos, ious)
    assert loss.item() == 0 == ref['loss_ddf_last'].item()
    assert loss.requires_grad


def test_decoupled_distillation_focal_loss_balances_by_the_counts_given():
    """With matched and unmatched losses a and b, counts (p, n) give
    (a sqrt(p) + b sqrt(n)) / (sqrt(p) + sqrt(n))."""
    teacher = torch.zeros(1, 2, 4 * 3, dtype=torch.float64)
    pred = teacher.clone()
    pred[0, 1, 0] = 1.0  # only the unmatched query differs from the teacher
    loss = DecoupledDistillationFocalLoss(reg_max=2, temperature=1.0)
    logits = torch.zeros(1, 2, 1, dtype=torch.float64)  # teacher score 0.5 for the unmatched
    pos = (torch.tensor([0]), torch.tensor([0]))
    # the unmatched query's first edge: KL(uniform over 3 || softmax([1, 0, 0])), 3 others 0
    log_q = torch.log_softmax(torch.tensor([1.0, 0, 0], dtype=torch.float64), 0)
    kl = float((torch.full((3,), 1 / 3, dtype=torch.float64) * (math.log(1 / 3) - log_q)).sum())
    unmatched = 0.5 * kl / 4
    got = loss(pred, teacher, logits, pos, torch.ones(1, dtype=torch.float64), num_pos_neg=(4, 9))
    assert math.isclose(float(got), unmatched * 3 / (2 + 3), rel_tol=1e-12)


def test_matchability_aware_loss_equals_the_papers_formula_by_hand():
    """DEIM eq. (3): a positive of IoU q is -(q^g log p + (1 - q^g) log(1 - p)), a negative
    -p^g log(1 - p); 2 queries, 2 classes, gamma 1.5, mean over 2 boxes."""
    logits = torch.tensor([[0.0, math.log(3.0)], [math.log(1 / 3), 1.0]], dtype=torch.float64)
    labels, ious = torch.tensor([1, 2]), torch.tensor([0.64, 0.9], dtype=torch.float64)
    # query 0: class 0 a negative with p = 1/2, class 1 the positive with p = 3/4, q^1.5 = 0.512;
    # query 1 (background): negatives with p = 1/4 and p = sigmoid(1)
    p1 = 1 / (1 + math.exp(-1.0))
    expected = (0.5**1.5 * -math.log(0.5)
                - (0.512 * math.log(0.75) + 0.488 * math.log(0.25))
                + 0.25**1.5 * -math.log(0.75)
                + p1**1.5 * -math.log(1 - p1)) / 2
    loss = MatchabilityAwareLoss(gamma=1.5, reduction='sum')(logits, (labels, ious)) / 2
    assert math.isclose(float(loss), expected, rel_tol=1e-12)


def test_matchability_aware_loss_rejects_labels_alone():
    with pytest.raises(TypeError, match=r'target=\(labels, iou_scores\)'):
        MatchabilityAwareLoss()(torch.zeros(2, 3), torch.tensor([0, 1]))


def test_union_matches_keeps_each_querys_most_frequent_ground_truth():
    """Image 0 over three layers: query 3 -> gt 0 twice, -> gt 1 once; query 5 -> gt 1 once;
    query 7 -> gt 1 and gt 2 once each (a tie: gt 1). Image 1 has no match in any layer."""
    empty = torch.zeros(0, dtype=torch.long)
    layers = [[(torch.tensor([3, 5]), torch.tensor([0, 1])), (empty, empty)],
              [(torch.tensor([3, 7]), torch.tensor([0, 2])), (empty, empty)],
              [(torch.tensor([7, 3]), torch.tensor([1, 1])), (empty, empty)]]
    (queries, gts), (queries1, gts1) = union_matches(layers)
    assert dict(zip(queries.tolist(), gts.tolist())) == {3: 0, 5: 1, 7: 1}
    assert queries[0] == 3  # the most frequent pair first
    assert queries1.numel() == gts1.numel() == 0


def test_union_matches_rejects_no_layers():
    with pytest.raises(ValueError, match='at least one layer'):
        union_matches([])
