default_scope = 'mmseg'
custom_imports = dict(imports=['trttt_mm'], allow_failed_imports=False)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),  # tools/ switch to gloo without CUDA
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
# Keeps checkpoints loadable with torch.load(weights_only=True).
custom_hooks = [dict(type='PlainCheckpointHook')]
