"""Every adaptation of this package to another library's version or behaviour, in one table.

Each row of :data:`ADAPTATIONS` says which library and versions it applies to, why it exists, where it
is applied, and what upstream change (or version) would let it go. The code of an adaptation lives in
this package's module of that library (:mod:`.mmengine`, :mod:`.mmpretrain`, :mod:`.mmdeploy`) where
it is a patch or a hook; where it is a feature of its own (a hook class, a backend wrapper, a config
value) the row points to it. ``import hgnet_backbones`` applies none of them but the import hook of
``mmpretrain-after-import``, which changes nothing of mmpretrain but adds to its registries.

This module itself imports none of those libraries: the table is data.
"""

ADAPTATIONS = (
    dict(name='config-bases', library='mmengine 0.10.7',
         why="'hgnet_backbones::path' config bases: mmengine resolves 'pkg::' only for the packages "
             "of its fixed MODULE2PACKAGE table, and finds their files in the distribution's install "
             'folder, where an editable install has only its import finder',
         where='compat.mmengine.package_config_bases (Config._get_cfg_path replaced during '
               'apis.load_config only)',
         removed_by="an mmengine release that resolves 'pkg::' for any installed package from the "
                    'imported package\'s own folder (open-mmlab/mmengine#1410; PR #1411 closed '
                    'unmerged)'),
    dict(name='weights-only-resume', library='mmengine 0.10.7 with torch >= 2.6',
         why="mmengine saves its message hub (HistoryBuffer, NumPy values) in every checkpoint and "
             "resumes with torch.load's default, weights_only=True from torch 2.6: its own "
             'checkpoints fail to resume',
         where='compat.mmengine.to_weights_only / from_weights_only, called by '
               'hooks.SafeCheckpointHook (a config opt-in; apis.train sets it)',
         removed_by='an mmengine release whose checkpoints hold only weights_only-loadable values '
                    'or that allowlists its classes when resuming (open-mmlab/mmengine#1655, '
                    'PR #1650 open)'),
    dict(name='safe-checkpoint-loading', library='mmengine 0.10.7 (with torch < 2.6 for local files)',
         why="mmengine's load_from_http unpickles URLs with weights_only=False (and local files on "
             'torch < 2.6): a checkpoint can run code; torch.hub caches by file name, no timeout',
         where='weights.mmengine.use_safe_checkpoint_loading (an explicit opt-in; the tools call it)',
         removed_by='an mmengine release loading URLs with weights_only=True, with torch >= 2.6'),
    dict(name='eager-optimizer-step', library='mmengine 0.10.7 with torch.compile (cfg.compile)',
         why='TorchDynamo fails on the optimizer step of optimizers built with a paramwise_cfg '
             '(param groups are ConfigDicts) and unrolls one loop per param group',
         where='hooks.EagerOptimizerStepHook (apis.train adds it when the config sets compile)',
         removed_by='an mmengine release whose optimizer wrapper keeps plain dict param groups, or '
                    'compiles only the forward and the loss'),
    dict(name='cpu-distributed', library='mmengine 0.10.7',
         why='multi-process runs assume CUDA: the process group is NCCL and DDP gets '
             'device_ids=[LOCAL_RANK]',
         where="apis.runner.setup_launcher (gloo and CPU DDP where there is no GPU, launcher "
               "'pytorch')",
         removed_by='an mmengine release that starts gloo and wraps a CPU model without a GPU'),
    dict(name='linear-lr-start-factor', library='mmengine 0.10.7',
         why='LinearLR(start_factor=0) divides by zero on the first step',
         where='configs (warm-up starts at a small positive factor, configs/_base_/hgnetv2_in1k.py)',
         removed_by='an mmengine release whose LinearLR takes start_factor=0 (then PaddleClas\'s '
                    'warm-up from 0 can be written as it is)'),
    dict(name='mmpretrain-after-import', library='mmpretrain 1.2.0 (beside transformers >= 4.52)',
         why='mmpretrain is optional, slow to import, and its models fail to import beside '
             'transformers >= 4.52; yet its head registry and ModelHub exist only once it is '
             'imported',
         where='compat.mmpretrain.register_with_mmpretrain (a sys.meta_path finder, called by '
               'hgnet_backbones/__init__.py; it leaves once mmpretrain is imported)',
         removed_by='an mmpretrain release that imports beside current transformers (then the head '
                    'is imported where mmpretrain is installed) and reads model indexes of other '
                    'installed packages itself'),
    dict(name='onnx-export-torchscript', library='mmdeploy 1.3.1 with torch >= 2.9',
         why='torch >= 2.9 defaults torch.onnx.export to the dynamo exporter, which skips '
             "mmdeploy's TorchScript rewriters; mmdeploy does not pass dynamo=False",
         where='compat.mmdeploy.torch_onnx_for_mmdeploy (torch.onnx.export replaced during '
               'deploy.export_onnx only)',
         removed_by='an mmdeploy release that passes dynamo=False or supports the dynamo exporter'),
    dict(name='cast-long', library='mmdeploy 1.3.1 with torch 2.x',
         why="mmdeploy's RoIAlign symbolic imports torch.onnx.symbolic_opset9._cast_Long, which "
             'torch 2.x dropped',
         where='compat.mmdeploy.torch_onnx_for_mmdeploy (put back during deploy.export_onnx only)',
         removed_by='an mmdeploy release whose symbolics no longer import _cast_Long'),
    dict(name='adaptive-avg-pool-rewriter', library='mmdeploy 1.3.1',
         why="mmdeploy's default rewriter pools with the kernel of the export-time input: exact "
             'only where the map divides evenly, wrong at other sizes of a dynamic graph '
             "(UPerNet's pyramid pooling)",
         where='compat.mmdeploy.adaptive_avg_pool2d__exact, registered by mmdeploy_export during '
               'deploy.export_onnx only',
         removed_by='an mmdeploy release whose adaptive_avg_pool2d rewriter is exact at any size'),
    dict(name='deformable-attention-rewriter', library='mmdeploy 1.3.1 with mmcv 2.x',
         why="mmcv's multi-scale deformable attention and D-FINE's (models.dfine.attention."
             "sample_levels) export, on the CPU, through grid_sample, which mmdeploy maps to its "
             "own grid_sampler op (ONNX GridSample needs opset 16; the deploy configs export opset "
             "11); D-FINE's also splits the maps at Python-int sizes, fixed at trace time",
         where='compat.mmdeploy.multi_scale_deformable_attn__gather and sample_levels__gather (both '
               'over bilinear_gather), registered by mmdeploy_export during deploy.export_onnx only',
         removed_by='an mmdeploy release exporting at opset >= 16 with ONNX GridSample'),
    dict(name='standard-op-graphs', library='mmdeploy 1.3.1 with TensorRT >= 10',
         why="mmdeploy's TensorRT rewriters emit its plugin ops, whose library is built for "
             'TensorRT 8.6 only, and bake TopK sizes at trace time',
         where="deploy.export.onnx_deploy_config (every graph is exported with mmdeploy's ONNX "
               'Runtime rewriters; TensorRT parses the same standard-op graph)',
         removed_by='an mmdeploy release with plugins built for TensorRT 10'),
    dict(name='backend-wrappers', library='mmdeploy 1.3.1 with onnxruntime > 1.15, TensorRT >= 10',
         why="mmdeploy's ONNX Runtime wrapper loads a custom-op library built for ONNX Runtime "
             '1.15; its TensorRT wrapper and engine builder call binding APIs TensorRT 10 removed '
             '(open-mmlab/mmdeploy#2758)',
         where='compat.mmdeploy.backend_wrappers (BaseBackendModel._build_wrapper replaced during '
               'deploy.build_backend_model only), deploy.pipeline.OnnxRuntimeWrapper, '
               'deploy.tensorrt (TensorRTWrapper, build_tensorrt_engine)',
         removed_by='an mmdeploy release supporting current ONNX Runtime and TensorRT 10'),
    dict(name='openvino-backend', library='mmdeploy 1.3.1 with OpenVINO >= 2024',
         why="mmdeploy's OpenVINO backend is written for the 2022 API: its wrapper imports "
             'openvino.inference_engine (IECore) and its converter drives the Model Optimizer (mo); '
             'OpenVINO 2024+ has neither, and reads ONNX itself (openvino.convert_model)',
         where='deploy.pipeline.OpenVINOWrapper (built by compat.mmdeploy.backend_wrappers during '
               'deploy.build_backend_model only), deploy.openvino (convert_onnx, compile_model with '
               'pinned precision, NNCF int8); run_pipeline converts the standard-op ONNX graph that '
               'ONNX Runtime verifies',
         removed_by='an mmdeploy release whose OpenVINO backend uses openvino.Core and '
                    'openvino.convert_model'),
    dict(name='onednn-prepacked-conv', library='torch (private ops; checked from 2.1 to 2.14)',
         why="the CPU fast path uses torch's private oneDNN ops (torch.ops.mkldnn."
             '_convolution_pointwise, torch._C._nn.mkldnn_reorder_conv2d_weight), probed with '
             'hasattr and skipped where absent',
         where='models.fast_paths.prepacked_conv (chosen in fast_paths.conv_bn_act)',
         removed_by='a public torch API for prepacked CPU convolution weights (or eager speed '
                    'equal to it)'),
    dict(name='autocast-probe', library='torch < 2.4',
         why="torch.is_autocast_enabled takes no device type before 2.4 (the CPU's is "
             'torch.is_autocast_cpu_enabled)',
         where='models.fast_paths._autocast_on (in prepacked_conv_applies)',
         removed_by='requiring torch >= 2.4 (setup.cfg allows 2.1)'),
    dict(name='test-process-state', library='mmengine 0.10.7 (tests only)',
         why="mmengine keeps process-wide state that in-process tool runs change: every Runner "
             "sets a default scope (DefaultScope._instance_dict), and the tools' opt-in replaces "
             'checkpoint loaders (CheckpointLoader._schemes); neither has a public reset',
         where='tests/conftest.py, mmengine_state_as_imported',
         removed_by='public mmengine API to reset the default scope and checkpoint loaders'),
)
