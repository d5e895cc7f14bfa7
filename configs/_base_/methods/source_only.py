# The paper-scale source model without any auxiliary head: the multi-task
# ResNet-50 (../models/mtl_r50.py), the runtime and the paper schedule (60k
# iterations, batch 8). The head-less test-time methods (NormStatsHook,
# TENTHook, TIPIHook) adapt it; the baselines with a head add theirs to it
# (./ttt.py, ./tttpp.py, ./tttflow.py, ./clust3.py, ./ncttt.py), with the
# same source budget as TR-TTT (./trttt.py). Test-time defaults of every
# hook: cfg.ttt (../ttt/ttt_defaults.py). A config adds a setting
# (../settings/).
_base_ = [
    '../models/mtl_r50.py',
    '../default_runtime.py',
    '../schedules/schedule_60k.py',
]
