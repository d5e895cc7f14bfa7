# The method benchmark on the synthetic Taskonomy -> NYUD-v2 shift families
# (Table 1, Fig. 3, cost table, paired comparison; docs/benchmarks.md,
# "Benchmark command and shift families"):
#   python tools/benchmark.py configs/benchmark/synth.py            # full run
#   python tools/benchmark.py configs/benchmark/synth.py --quick    # smoke run
#   python tools/benchmark.py configs/benchmark/synth.py --select-hparams
# Every entry point is the project's own: tools/data/make_synthetic.py's
# generator, tools/train.py, tools/analysis/source_stats.py, tools/test.py
# (--tta-hook NAME, TTTMonitorHook with eval_source=True and the curve) and
# tools/analysis/benchmark_ttt_step.py.
#
# A method is added by naming it in `methods` (a label -> its registered hook,
# the source model it adapts and hook overrides); a source model by naming its
# config in `sources`. A hook that is not registered, or a config file that
# does not exist, is reported as "not available" (with the reason) and the
# rest of the benchmark runs.

work_dir = 'work_dirs/benchmark/synth'

# The synthetic benchmark (trttt_mm/datasets/synthetic; every shift family is
# generated). 64x96: no padding (size_divisor 32), half the demo's pixels.
data = dict(
    root='data/synth_benchmark',
    seed=0,
    height=64,
    width=96,
    num_train=320,
    num_val=64,
    num_target_train=16,  # not used by the benchmark
    # the test stream of every family: 8 batches of 8 (was 12: the
    # decomposition and the wide grids need the time, docs/benchmarks.md)
    num_target_val=64,
    images_per_building=40,
    # --select-hparams: the validation targets (same families, generator
    # seed `val_seed`, a shorter stream: 4 batches of 8, to afford the wide
    # learning-rate grids, docs/benchmarks.md) in their own folder
    val_root='data/synth_benchmark_val',
    val_seed=1000,
    val_num_target_val=32)
# (each data setting is generated into <root>/<hash of the settings>)
families = ['appearance', 'geometry', 'content', 'mixed']
seeds = [0, 1, 2]

# The source training budget, the same for every source model: iterations
# and batch size (each config's optimizer and poly schedule, shortened to
# `iters`).
train = dict(iters=1000, batch_size=8)
# Test stream: batch size, in the target's order.
test = dict(batch_size=8)

# Source models: a config trained with `train`, cached by (resolved config,
# budget, data, seed). `from_source`: no training of its own; the weights of
# that source plus this config's source statistics (tools/analysis/
# source_stats.py). `finetune`: a second training stage from the first's
# checkpoint (its own config and iterations).
sources = dict(
    plain=dict(config='configs/baselines/source_only/synth_t2n.py'),
    trttt=dict(config='configs/trttt/synth_t2n.py'),
    # ActMAD adapts the source-only model; its config adds the statistics
    actmad=dict(
        config='configs/baselines/actmad/synth_t2n.py', from_source='plain'),
    ttt=dict(config='configs/baselines/ttt/synth_t2n.py'),
    tttpp=dict(config='configs/baselines/tttpp/synth_t2n.py'),
    tttflow=dict(
        config='configs/baselines/tttflow/synth_t2n.py',
        finetune=dict(
            config='configs/baselines/tttflow/synth_t2n_flow.py', iters=100)),
    clust3=dict(config='configs/baselines/clust3/synth_t2n.py'),
    ncttt=dict(config='configs/baselines/ncttt/synth_t2n.py'),
)

# Methods, in table order: label -> hook (a registered BaseTTTHook), source
# (a key of `sources`), overrides (merged into cfg.ttt[hook]: the method's
# default schedule is its config's ttt defaults), and for --select-hparams
# the key of its learning rate (`lr_key`, dotted; None: no learning rate)
# and of its steps (`steps_key`; None: no steps).
methods = dict(
    NormStats=dict(hook='NormStatsHook', source='plain', lr_key='momentum',
                   steps_key='passes'),
    # the control of TR-TTT's statistics: as many statistics passes per
    # batch as TR-TTT's steps (configs/trttt/synth_t2n.py: 10)
    NormStatsX10=dict(hook='NormStatsHook', source='plain',
                      overrides=dict(passes=10), lr_key='momentum',
                      steps_key='passes'),
    # TENT normalises with each batch's own statistics (it forgets the
    # running ones): its statistics-only control is TENT without a gradient
    # (learning rate 0), its gradient-only variant keeps the source
    # statistics (running_stats='update' with the norm layers in eval mode)
    TENT=dict(hook='TENTHook', source='plain',
              grad_overrides=dict(running_stats='update')),
    TENTStats=dict(hook='TENTHook', source='plain',
                   overrides=dict(optimizer=dict(lr=0.0)), lr_key=None,
                   decomposition=False),
    TIPI=dict(hook='TIPIHook', source='plain', lr_key='lr_per_sample'),
    ActMAD=dict(hook='ActMADHook', source='actmad'),
    TTT=dict(hook='TTTHook', source='ttt'),
    TTTPlusPlus=dict(hook='TTTPlusPlusHook', source='tttpp'),
    TTTFlow=dict(hook='TTTFlowHook', source='tttflow'),
    ClusT3=dict(hook='ClusT3Hook', source='clust3'),
    NCTTT=dict(hook='NCTTTHook', source='ncttt'),
    # TR-TTT's grid reaches x1e6 (SGD lr 20; x1e5 = lr 2.0 is the rate the
    # demo's validation selected, configs/trttt/synth_t2n_selected.py, and
    # it topped the x1e5 grid on two families) and adds x1e3 between the two
    # points where its validation optimum lies (docs/gradient_signal.md)
    TRTTT=dict(hook='TRTTTHook', source='trttt',
               lr_factors=[1e-2, 1.0, 1e2, 1e3, 1e4, 1e5, 1e6]),
    # the control of TR-TTT itself: TR-TTT's own source model, its norm
    # statistics moved by as many passes per batch as TR-TTT's steps, no
    # gradient (TR-TTT minus its objective)
    TRTTTStats=dict(hook='NormStatsHook', source='trttt',
                    overrides=dict(passes=10), lr_key='momentum',
                    steps_key='passes'),
)
# The "source only" row: the plain source model, not adapted.
source_only = 'plain'
# Evaluate every source model on the source validation split (the shift
# table's reference: how much a family costs the source model).
eval_source_val = True
# The paired comparison: this method's Delta_TTT minus the best other's.
reference = 'TRTTT'
# The shift table: how much of the source model's loss these methods recover.
recovery_method = ['NormStats', 'NormStatsX10']

# Best-step protocol (oracle, it reads test labels): the best running
# Delta_TTT over the stream prefixes that cover at least this fraction of the
# test batches.
best_step = dict(min_fraction=0.25)

# Cost table (tools/analysis/benchmark_ttt_step.py, run alone after the
# other runs, the batch of `test` at the data's image size).
cost = dict(enabled=True, repeats=10)

# --select-hparams: every method's grid on the validation target of the same
# family (its lr x these factors, or the method's own `lr_factors`; its steps
# in this list, 'default' = the method's own) with the source models of
# `seeds` ('first', 'all' or a list); the setting with the best mean final
# Delta_TTT there is then run on the test target for every seed (a setting
# equal to the default reuses its run). The factors span six decades around
# each method's default, one point every two decades (x1e-2 ... x1e4; a norm
# momentum stays <= 1), each method at its default steps: the budget of
# docs/benchmarks.md. The report draws validation Delta_TTT against the
# learning rate per family and marks a selection on a grid edge.
hparam_selection = dict(lr_factors=[1e-2, 1.0, 1e2, 1e4], steps=['default'],
                        seeds='first')

# Decomposition: every gradient method (any hook but NormStatsHook) gets its
# statistics-only control `<label>Stats` (NormStatsHook on its own source, as
# many passes per batch as its steps, no gradient; TRTTTStats above is
# TR-TTT's) and its gradient-only variant `<label>Grad` (frozen statistics,
# norm_mode='eval', same learning rate and steps; in the selected protocol
# both follow the method's selected setting); the report's decomposition
# tables show statistics only, gradient only, both and the interaction.
# A method opts out with decomposition=False in its entry.
decomposition = True

# Where the units run (`tools/benchmark.py --executor` overrides `type`):
# 'local' (subprocesses of this machine, --jobs at a time), 'slurm' (one
# Slurm job per unit through submitit, a job array per stage; the repository,
# its .venv and the work dir on a file system the nodes share) or
# 'submitit-local' (submitit's local executor: the Slurm path on this
# machine). `slurm`: each unit's resources (--partition, --gpus, --cpus,
# --mem, --time override them); `setup`: shell lines run before each unit
# (e.g. 'module load cuda'); `additional_parameters`: further sbatch options.
executor = dict(
    type='local',
    slurm=dict(partition=None, gpus_per_node=1, cpus_per_task=8, mem_gb=32,
               timeout_min=120, array_parallelism=64, account=None, qos=None,
               constraint=None, additional_parameters=dict(), setup=[]))

# --quick: one seed, one family, short schedules (the smoke run; < 10 min on
# 2 CPU cores). Merged over the settings above.
quick = dict(
    work_dir='work_dirs/benchmark/synth_quick',
    data=dict(root='data/synth_benchmark_quick',
              val_root='data/synth_benchmark_quick_val', num_train=128,
              num_val=16, num_target_train=8, num_target_val=16,
              val_num_target_val=16, images_per_building=16),
    families=['mixed'],
    seeds=[0],
    train=dict(iters=40),
    sources=dict(tttflow=dict(finetune=dict(iters=10))),
    cost=dict(repeats=2),
)
