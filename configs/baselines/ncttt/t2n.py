# NC-TTT, paper setting Taskonomy -> NYUD-v2,
# ResNet-50, paper schedule (the source budget of configs/trttt/t2n.py,
# without the TR-TTT branch):
# 4 tasks, the 7 classes shared by Taskonomy and NYU-40 (class_map t2n).
# The noise-contrast head `ncttt` (NoiseContrastHead: a 1x1 projector on layer2
# and a discriminator of noisy copies, trained with the multi-task losses).
# Test:
#   python tools/test.py configs/baselines/ncttt/t2n.py CKPT \
#       --tta-hook NCTTTHook
# Data: see docs/datasets.md (or generate a synthetic stand-in with
# tools/data/make_synthetic.py).
_base_ = [
    '../../_base_/models/mtl_r50.py',
    '../../_base_/datasets/taskonomy_mt.py',
    '../../_base_/datasets/nyudv2_mt.py',
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
        ncttt=dict(
            type='NoiseContrastHead',
            in_index=1,  # ResNet layer2 (official CIFAR setting)
            embed_channels=1536,
            hidden_channels=4,
            sigma_high=0.1,
            sigma_low=0.015,
            loss_weight=1.0)))
train_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_source_train, tasks=tasks, class_map=class_map))
val_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_source_val, tasks=tasks, class_map=class_map))
test_dataloader = dict(
    dataset=dict(
        _base_.nyudv2_target_test, tasks=tasks, class_map=class_map))
