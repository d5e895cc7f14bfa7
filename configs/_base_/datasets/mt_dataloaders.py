# Dataloaders of the paper settings (batch 8; TTT adapts online on the target
# stream, in order). The setting files fill in each loader's dataset, e.g.
#   train_dataloader = dict(dataset=dict(_base_.taskonomy_source_train, ...))
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict())
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict())
test_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict())
val_evaluator = dict(type='MultiTaskMetric')
test_evaluator = val_evaluator
