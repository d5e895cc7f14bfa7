# NYUD-v2 as a source (train/val) or target (test) dataset, in the ATRC layout
# (images/*.png, normals/edge *.png) or the MTI-Net one (images/*.jpg,
# normals/edge *.npy), detected from the files (suffixes 'auto'); splits
# gt_sets/{train,val}.txt (795 / 654). See docs/datasets.md.
# The setting files (configs/trttt/{t2n,n2t}.py) add tasks and class_map. To
# point at your copy, edit nyudv2_root or pass e.g.
#   --cfg-options test_dataloader.dataset.data_root=/path/to/NYUDv2
nyudv2_root = 'data/NYUDv2'
nyudv2_train_pipeline = [
    dict(type='LoadMultiTaskImageFromFile'),
    dict(type='LoadMultiTaskAnnotations'),
    dict(type='MultiTaskRandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),  # mmseg's; touches the image only
    dict(type='PackMultiTaskInputs'),
]
nyudv2_test_pipeline = [
    dict(type='LoadMultiTaskImageFromFile'),
    dict(type='LoadMultiTaskAnnotations'),
    dict(type='PackMultiTaskInputs'),
]
# Package suffixes are detected from the files (the dataset's 'auto' default).
nyudv2_dataset = dict(type='NYUDv2MultiTaskDataset', data_root=nyudv2_root)
nyudv2_source_train = dict(
    nyudv2_dataset, split='train', pipeline=nyudv2_train_pipeline)
nyudv2_source_val = dict(
    nyudv2_dataset, split='val', test_mode=True,
    pipeline=nyudv2_test_pipeline)
# As a target domain, TTT streams the 654 val images in order.
nyudv2_target_test = nyudv2_source_val
