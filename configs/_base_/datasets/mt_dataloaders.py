# Dataloaders of the paper settings (batch 8; TTT adapts online on the target
# stream, in order). The setting files fill in each loader's dataset, e.g.
#   train_dataloader = dict(dataset=dict(_base_.taskonomy_source_train, ...))
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict())
# Validation and the test stream: every sample once, in order.
val_dataloader = dict(
    train_dataloader, sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader
# depth/rmse and edge/rmse report the least-squares-aligned RMSE pooled over
# batches: the paper's tables come from the released evaluation/eval_scum.py
# (ScumMeter), which evaluation/evaluate_utils.py picks for depth and edges.
# The plain RMSE stays in <task>/rmse_pooled (docs/methods.md, 'Metrics and
# the reference evaluators').
val_evaluator = dict(type='MultiTaskMetric', rmse_mode='aligned')
test_evaluator = val_evaluator
