_base_ = ['./onnx_config.py']

# Single- and two-stage detectors (RetinaNet, Faster R-CNN, RTMDet, ...). The model's test_cfg gives the
# score and IoU thresholds and max_per_img; these cap what the exported NMS keeps per class and before it.
# score_threshold applies only where a test_cfg has no score_thr: 0 as in mmdet (e.g. Faster R-CNN's RPN).
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='end2end',
    post_processing=dict(
        score_threshold=0.0,
        confidence_threshold=0.005,
        iou_threshold=0.5,
        max_output_boxes_per_class=200,
        pre_top_k=5000,
        keep_top_k=100,
        background_label_id=-1))
onnx_config = dict(output_names=['dets', 'labels'])
