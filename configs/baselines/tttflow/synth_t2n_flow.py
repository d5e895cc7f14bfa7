# TTTFlow, stage 2 (official `main.py --train-setting pre+flow`): fit the flow
# on the frozen source model of `synth_t2n.py`. FlowStageHook freezes every
# parameter outside the flow and keeps the rest of the model in eval mode
# (BatchNorm statistics do not move); the stage refuses to start without the
# stage-1 checkpoint:
#   python tools/train.py configs/baselines/tttflow/synth_t2n_flow.py \
#       --cfg-options load_from=work_dirs/synth_t2n/iter_N.pth
# Then test with `synth_t2n.py` and the stage-2 checkpoint
# (--tta-hook TTTFlowHook).
# Optimiser and schedule: official SGD lr 0.1, momentum 0.9, wd 5e-4, cosine
# annealing. Ours: gradients clipped at norm 1 (the official conditioner has
# BatchNorm and weight norm; ours has no norm layer, and unclipped SGD at
# lr 0.1 diverged in 1 of 3 measured runs).
# Length: 200 iterations (CPU demo).
_base_ = ['./synth_t2n.py']
load_from = None  # required: the stage-1 checkpoint
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True, type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=200, eta_min=0.0, begin=0,
         end=200, by_epoch=False)
]
train_cfg = dict(max_iters=200, val_interval=200)
default_hooks = dict(checkpoint=dict(interval=200))
custom_hooks = _base_.custom_hooks + [dict(type='FlowStageHook')]
# Frozen parameters get no gradient: DDP must not wait for them.
find_unused_parameters = True
