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
        reset='online'),
    # TTT / TTT++: the official defaults (docs/methods.md, "Baselines").
    # TTT's official "slow" mode: reset='episodic', steps=10.
    TTTHook=dict(
        steps=1,
        optimizer=dict(type='SGD', lr=1e-3, momentum=0.0, weight_decay=0.0),
        params='shared_and_head',
        norm_mode='train',
        reset='online'),
    TTTPlusPlusHook=dict(
        steps=1,
        optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0),
        params='encoder',
        norm_mode='train',
        contrastive=True,
        align_ext=True,
        align_ssh=True,
        divergence='all',
        scale_ext=0.05,
        scale_ssh=0.2,
        mmd_factor=0.5,
        queue_size=None,  # the head's stats_chunk
        reset='online'),
    # TTTFlow / ClusT3 / NC-TTT: the official defaults (see
    # docs/methods.md, "Baselines"). adapt_up_to=None: up to the
    # stage the method's head reads (ClusT3: stage 3).
    TTTFlowHook=dict(
        steps=10,
        optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4),
        adapt_up_to=None,
        norm_mode='train',
        norm_scope='adapted',
        reset='episodic'),
    ClusT3Hook=dict(
        steps=50,
        optimizer=dict(type='Adam', lr=1e-5),
        adapt_up_to=3,
        norm_mode='train',
        norm_scope='encoder',
        reset='episodic'),
    NCTTTHook=dict(
        steps=50,
        optimizer=dict(type='Adam', lr=1e-5),
        adapt_up_to=None,
        norm_mode='train',
        norm_scope='encoder',
        discriminator_mode='train',
        reset='episodic'),
    # Baselines I (docs/methods.md, "Baselines"): the official defaults.
    # NormStatsHook's control of TR-TTT's statistics: mode='ema',
    # passes=<TR-TTT steps>, momentum=0.1.
    NormStatsHook=dict(mode='ema', alpha=0.1, momentum=0.1, passes=1,
                       reset='online'),
    TENTHook=dict(
        steps=1,
        optimizer=dict(type='Adam', lr=1e-3, betas=(0.9, 0.999),
                       weight_decay=0.0),
        params='norm',
        norm_mode='train',
        edge_weight=0.0,
        reset='online'),
    TIPIHook=dict(
        steps=1,
        optimizer=dict(type='SGD', lr=3.125e-05, momentum=0.9,
                       weight_decay=0.0),
        lr_per_sample=3.90625e-06,  # 2.5e-4 / 64, lr = this x batch size
        epsilon=2 / 255,
        random_init=True,
        entropy_weight=1.0,
        params='norm',
        norm_mode='train',
        reset='online'),
    ActMADHook=dict(
        steps=1,
        optimizer=dict(type='SGD', lr=1e-4, momentum=0.9, nesterov=True,
                       weight_decay=5e-4),
        params='all',
        norm_mode='eval',
        loss_scale=1.0,
        size_mismatch='resize',
        reset='online'))
