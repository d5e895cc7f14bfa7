"""The step cost of each method: the measurement command
(``tools/analysis/benchmark_ttt_step.py``), reading its result, and the
cost table of the report."""
import json
import statistics
from typing import Dict, List, Sequence


def cost_command(python: str, config: str, hook: str, batch_size: int,
                 height: int, width: int, repeats: int) -> List[str]:
    """The command that measures one method's step cost."""
    return [python, 'tools/analysis/benchmark_ttt_step.py', config,
            '--hook', hook, '--batch-size', str(batch_size), '--height',
            str(height), '--width', str(width), '--repeats', str(repeats)]


def parse_cost_output(text: str) -> dict:
    """The JSON object the step benchmark prints last.

    Raises:
        ValueError: the text ends with no JSON object.
    """
    start = text.rfind('\n{')
    return json.loads(text[start + 1:])


def cost_table(results: Dict[str, dict], labels: Sequence[str],
               batch_size: int) -> str:
    """Per method: steps per batch (from its test runs), the step time and a
    plain forward+backward (from its cost run), adaptation and end-to-end
    throughput, peak memory."""
    head = ('| method | steps / batch | step time (s) | plain fwd+bwd '
            '(s) | step / plain | adaptation images/s | run images/s '
            '(end to end) | peak memory (MiB): step / run |')
    lines = [head, '|---|---|---|---|---|---|---|---|']
    for lab in labels:
        tests = [r for r in results.values()
                 if r.get('kind') == 'test' and r.get('method') == lab
                 and r.get('status') == 'done']
        cost = results.get(f'cost/{lab}')
        micro = (cost or {}).get('micro') or {}
        spb = statistics.fmean(r['steps_per_batch'] for r in tests) \
            if tests else None
        step = micro.get('ttt_step_s')
        plain = micro.get('plain_fwd_bwd_s')
        ratio = micro.get('ratio')
        b = int(batch_size)
        adapt = (b / (spb * step)) if spb and step else None
        run_ips = statistics.fmean(
            r['num_images'] / r['wall_s'] for r in tests) \
            if tests else None
        rss = max((r.get('max_rss_mib') or 0) for r in tests) \
            if tests else None
        peak = micro.get('peak_mem_mib_after_ttt')

        def f(v, fmt):
            return '—' if v is None else format(v, fmt)

        note = ''
        if cost and cost.get('status') == 'failed':
            note = ' (step not measured: see failed units)'
        lines.append(
            f'| {lab}{note} | {f(spb, "g")} | {f(step, ".4f")} | '
            f'{f(plain, ".4f")} | {f(ratio, ".2f")} | {f(adapt, ".1f")} '
            f'| {f(run_ips, ".2f")} | {f(peak, ".0f")} / '
            f'{f(rss, ".0f")} |')
    lines.append('')
    lines.append(
        'Step time and plain forward+backward: '
        '`tools/analysis/benchmark_ttt_step.py` on the method\'s source '
        'config, one batch of the test stream, median of repeats, run '
        'alone. Adaptation images/s = batch / (steps per batch × step '
        'time). Run images/s = stream images / wall time of the whole '
        '`tools/test.py` process (start-up and the unadapted model '
        'alongside included). Peak memory: of the step benchmark (CPU: '
        'max RSS; CUDA: max allocated) / max RSS of the test process.')
    return '\n'.join(lines) + '\n'
