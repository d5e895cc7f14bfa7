# ClusT3 on the synthetic Taskonomy -> NYUD-v2 shift, CPU demo scale: the
# slim multi-task model of configs/trttt/synth_t2n.py (ResNetV1c-18 at half
# width, a mixing 1x1 conv and a 3x3 decoder per task) without the TR-TTT
# branch, with the method's head, and the demo schedule.
# The cluster head `clust3` (ClusterHead: 1x1 projectors to K clusters on
# layer1 and layer2, trained with the multi-task losses, lambda = 1). Test:
#   python tools/test.py configs/baselines/clust3/synth_t2n.py CKPT \
#       --tta-hook ClusT3Hook
# The demo-scale model and its data, runtime and schedule: the source-only
# config; this method adds its auxiliary head.
_base_ = ['../source_only/synth_t2n.py']
model = dict(
    aux_heads=dict(
        clust3=dict(
            type='ClusterHead',
            in_indices=(0, 1),  # ResNet layer1 + layer2 (official best)
            num_clusters=10,
            num_projectors=15,
            marginal='probs',
            marginal_over='batch',
            loss_weight=1.0)))
# Defaults for `tools/test.py ... --tta-hook ClusT3Hook` (10 steps per
# batch: 50 officially, fewer for the CPU demo budget).
ttt = dict(ClusT3Hook=dict(steps=10))
