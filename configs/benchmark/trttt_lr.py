# TR-TTT's test-time learning rate on the demo model, selected WITHOUT test
# labels (issue 16, item 4; docs/methods.md, "TR-TTT on the demo model: the
# selected step"):
#   python tools/benchmark.py configs/benchmark/trttt_lr.py --select-hparams \
#       --no-cost
# Only TR-TTT, on the demo's setting: configs/trttt/synth_t2n.py trained as
# `make demo` trains it (1000 iterations x batch 8, seed 0) on the demo's data
# (tools/data/make_synthetic.py's defaults: 64x96, 320 training and 80
# validation images, 100 target images; the demo's shift is the `appearance`
# family). The grid runs on the validation target (another generator seed,
# `val_seed`, a stream as long as the test stream: 100 images, so that a rate
# that drifts over 13 online batches is not chosen from 4 of them), never on
# the test target; the selected learning rate is written into
# configs/trttt/synth_t2n_selected.py (docs/methods.md, where the selection
# was made with the demo checkpoint through the same tools/test.py units).
work_dir = 'work_dirs/benchmark/trttt_lr'
data = dict(
    root='data/synth_trttt_lr',
    val_root='data/synth_trttt_lr_val',
    seed=0, height=64, width=96, num_train=320, num_val=80,
    num_target_train=100, num_target_val=100, images_per_building=40,
    val_seed=1000, val_num_target_val=100)
families = ['appearance']
seeds = [0]
train = dict(iters=1000, batch_size=8)
sources = dict(trttt=dict(config='configs/trttt/synth_t2n.py'))
methods = dict(
    # SGD, the demo's default step (lr 2e-5, 10 steps per batch): one point
    # per decade from x1e-2 to x1e6 of the default (2e-7 ... 20), and 0.6
    TRTTT=dict(hook='TRTTTHook', source='trttt',
               lr_factors=[1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 3e4, 1e5,
                           3e5, 1e6]),
)
source_only = None
eval_source_val = False
reference = None
recovery_method = []
cost = dict(enabled=False)
hparam_selection = dict(lr_factors=[1.0], steps=['default'], seeds='first')
decomposition = False
test = dict(batch_size=8)
best_step = dict(min_fraction=0.25)
