# TTTFlow at paper scale, stage 2 (official `main.py --train-setting
# pre+flow`): fit the flow of ./tttflow.py on the frozen stage-1 source
# model. FlowStageHook freezes every parameter outside the flow and keeps the
# rest of the model in eval mode (BatchNorm statistics do not move); the
# stage refuses to start without the stage-1 checkpoint (load_from).
# Optimiser and schedule: official SGD lr 0.1, momentum 0.9, wd 5e-4, cosine
# annealing. Ours: gradients clipped at norm 1 (the official conditioner has
# BatchNorm and weight norm; ours has no norm layer, and unclipped SGD at
# lr 0.1 diverged in 1 of 3 measured runs).
# Length: 10k iterations, about 100 epochs of the NYUD-v2 training
# split at batch 8 (the official 100 epochs of CIFAR-10 at batch 128 are
# ~39k iterations). A config adds a setting (../settings/).
_base_ = ['./tttflow.py']
load_from = None  # required: the stage-1 checkpoint
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True, type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=10000, eta_min=0.0, begin=0,
         end=10000, by_epoch=False)
]
train_cfg = dict(max_iters=10000, val_interval=10000)
custom_hooks = _base_.custom_hooks + [dict(type='FlowStageHook')]
# Frozen parameters get no gradient: DDP must not wait for them.
find_unused_parameters = True
