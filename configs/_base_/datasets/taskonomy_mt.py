# Taskonomy as a source (train/val) or target (test) dataset. Layout: omnidata
# (<domain>/taskonomy/<building>/point_<P>_view_<V>_domain_<domain>.png) or
# the original per-building one, detected from the files (layout='auto');
# splits/<split>.txt list the buildings. See docs/datasets.md.
# The setting files (configs/trttt/{t2n,t2p,n2t,p2t}.py) add tasks and
# class_map. To point at your copy, edit taskonomy_root or pass e.g.
#   --cfg-options train_dataloader.dataset.data_root=/path/to/taskonomy
taskonomy_root = 'data/taskonomy'
taskonomy_train_pipeline = [
    dict(type='LoadMultiTaskImageFromFile'),
    dict(type='LoadMultiTaskAnnotations'),
    dict(type='MultiTaskRandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),  # mmseg's; touches the image only
    dict(type='PackMultiTaskInputs'),
]
taskonomy_test_pipeline = [
    dict(type='LoadMultiTaskImageFromFile'),
    dict(type='LoadMultiTaskAnnotations'),
    dict(type='PackMultiTaskInputs'),
]
taskonomy_dataset = dict(
    type='TaskonomyMultiTaskDataset',
    data_root=taskonomy_root,
    layout='auto',
    edge_domain='edge_occlusion',
    edge_threshold=0.02)  # of full scale; see TaskonomyMultiTaskDataset
taskonomy_source_train = dict(
    taskonomy_dataset, split='train', pipeline=taskonomy_train_pipeline)
taskonomy_source_val = dict(
    taskonomy_dataset, split='val', test_mode=True,
    pipeline=taskonomy_test_pipeline)
# As a target domain, TTT streams the test buildings in order.
taskonomy_target_test = dict(taskonomy_source_val, split='test')
