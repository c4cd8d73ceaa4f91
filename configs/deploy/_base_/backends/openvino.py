# OpenVINO (>= 2024) on the CPU, from the same standard-op ONNX that ONNX Runtime verifies, converted to
# OpenVINO IR (end2end.xml/.bin beside it). `precision` is what the CPU computes in, pinned: 'fp32', or
# 'bf16' where the CPU has it natively (AVX-512 BF16, AMX); an NNCF int8 model runs its quantized layers
# in int8 and the rest in `precision`. `threads`: CPU threads (None: OpenVINO's choice).
backend_config = dict(type='openvino', precision='fp32', threads=None)
