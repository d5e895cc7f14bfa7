# TTTFlow, paper setting NYUD-v2 -> Taskonomy,
# ResNet-50, paper schedule (the source budget of configs/trttt/n2t.py,
# without the TR-TTT branch):
# 4 tasks, the 7 classes shared by NYU-40 and Taskonomy (class_map t2n).
# The flow head `flow` (FlowHead: a RealNVP flow on layer2 features). Stage 1:
# train this config (the flow rides along on detached features, the encoder's
# objective is the plain multi-task one); stage 2: n2t_flow.py fits the
# flow on the frozen encoder (official recipe). Test:
#   python tools/test.py configs/baselines/tttflow/n2t.py STAGE2.pth \
#       --tta-hook TTTFlowHook
# Data: see docs/datasets.md (or generate a synthetic stand-in with
# tools/data/make_synthetic.py).
_base_ = [
    '../../_base_/models/mtl_r50.py',
    '../../_base_/datasets/nyudv2_mt.py',
    '../../_base_/datasets/taskonomy_mt.py',
    '../../_base_/datasets/mt_dataloaders.py',
    '../../_base_/default_runtime.py',
    '../../_base_/schedules/schedule_60k.py',
]
tasks = ('semseg', 'depth', 'normal', 'edge')
class_map = 't2n'
num_classes = 7
model = dict(
    decode_head=dict(tasks=tasks, num_classes=num_classes),
    aux_heads=dict(
        flow=dict(
            type='FlowHead',
            in_index=1,  # ResNet layer2 (official --shared layer2)
            hidden_channels=512,  # official RealNVP(C, C, 2C, ...)
            num_couplings=3,
            mask_types='checkerboard',
            detach_input=True,
            loss_weight=1.0)))
train_dataloader = dict(
    dataset=dict(
        _base_.nyudv2_source_train, tasks=tasks, class_map=class_map))
val_dataloader = dict(
    dataset=dict(
        _base_.nyudv2_source_val, tasks=tasks, class_map=class_map))
test_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_target_test, tasks=tasks, class_map=class_map))
