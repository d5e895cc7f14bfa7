# TTTFlow at paper scale, stage 1: the source model of ./source_only.py (the
# same source budget as TR-TTT) plus the flow head `flow` (FlowHead: a
# RealNVP flow on layer2 features). The flow rides along on detached
# features, the encoder's objective is the plain multi-task one; stage 2
# (./tttflow_flow.py) fits the flow on the frozen encoder (official recipe).
# Test-time defaults: cfg.ttt.TTTFlowHook (../ttt/ttt_defaults.py). A config
# adds a setting (../settings/).
_base_ = ['./source_only.py']
model = dict(
    aux_heads=dict(
        flow=dict(
            type='FlowHead',
            in_index=1,  # ResNet layer2 (official --shared layer2)
            hidden_channels=512,  # official RealNVP(C, C, 2C, ...)
            num_couplings=3,
            mask_types='checkerboard',
            detach_input=True,
            loss_weight=1.0)))
