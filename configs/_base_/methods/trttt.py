# TR-TTT at paper scale, the method part of configs/trttt/{t2n,t2p,n2t,p2t}.py:
# the multi-task ResNet-50 model with TR-TTT's auxiliary branch `relation`
# (../models/trttt_r50.py: task projection + task relation learner), the
# runtime and the paper schedule (60k iterations, batch 8). Test-time
# defaults: cfg.ttt.TRTTTHook (../ttt/ttt_defaults.py, which every config
# carries for every hook). A config adds a setting (../settings/).
_base_ = [
    '../models/trttt_r50.py',
    '../default_runtime.py',
    '../schedules/schedule_60k.py',
]
