# Test-time defaults per hook name, read by `tools/test.py ... --tta-hook NAME`
# (merged into the hook's arguments; override with
# `--cfg-options ttt.NAME.key=value`). `--tta-hook NAME` also adds
# TTTMonitorHook with the arguments below (base model on the same batches,
# running metrics, curve, Delta_TTT).
ttt = dict(
    TTTMonitorHook=dict(eval_source=True, curve=True),
    TRTTTHook=dict(
        steps=40,
        optimizer=dict(type='SGD', lr=2e-5, weight_decay=1e-6, momentum=0.0),
        loss='activated_l1',
        loss_scale=0.01,
        params='all',
        norm_mode='train',
        reset='online'))
