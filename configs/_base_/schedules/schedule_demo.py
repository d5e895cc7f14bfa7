# CPU demo schedule: a small model trained from scratch on the synthetic source
# domain, so a larger learning rate and far fewer iterations than the paper's.
_base_ = ['./schedule_60k.py']
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=1000,
         by_epoch=False)
]
train_cfg = dict(max_iters=1000, val_interval=1000)
default_hooks = dict(checkpoint=dict(interval=1000, max_keep_ckpts=1))
