# Synthetic Taskonomy -> NYUD-v2 shift (written by tools/data/make_synthetic.py):
# the source domain in the Taskonomy omnidata layout, the target domain in the
# NYUD-v2 ATRC layout, 7 shared classes (class_map='t2n').
data_root = 'data/synth'
# Images are tiny and decode in milliseconds: loading in the main process is
# faster on 2 cores than worker processes competing with torch's threads.
tasks = ('semseg', 'depth', 'normal', 'edge')
class_map = 't2n'
# No photometric augmentation here: the demo measures how much an appearance
# shift hurts and how much test-time training recovers (the paper-scale
# configs use mmseg's PhotoMetricDistortion).
train_pipeline = [
    dict(type='LoadMultiTaskImageFromFile'),
    dict(type='LoadMultiTaskAnnotations'),
    dict(type='MultiTaskRandomFlip', prob=0.5),
    dict(type='PackMultiTaskInputs'),
]
test_pipeline = [
    dict(type='LoadMultiTaskImageFromFile'),
    dict(type='LoadMultiTaskAnnotations'),
    dict(type='PackMultiTaskInputs'),
]
source_train = dict(
    type='TaskonomyMultiTaskDataset',
    data_root=data_root + '/taskonomy',
    split='train',
    tasks=tasks,
    class_map=class_map,
    pipeline=train_pipeline)
source_val = dict(
    source_train, split='val', test_mode=True, pipeline=test_pipeline)
# The target: NYUD-v2's val split, read like the source's val split.
target_test = dict(
    source_val, type='NYUDv2MultiTaskDataset', data_root=data_root + '/NYUDv2')
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=source_train)
val_dataloader = dict(
    train_dataloader,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=source_val)
# Test-time training adapts online on the target stream, in order.
test_dataloader = dict(val_dataloader, dataset=target_test)
val_evaluator = dict(type='MultiTaskMetric')
test_evaluator = val_evaluator
