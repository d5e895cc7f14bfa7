"""Wall-clock timing of a callable for the analysis tools (device-aware)."""
import statistics
import time
from typing import Callable

import torch


def sync(device: str) -> None:
    """Wait for the device's queued work (CUDA); nothing on the CPU."""
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def median_seconds(fn: Callable[[], object], repeats: int, device: str,
                   warmup: bool = True) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` (after one warm-up
    call unless ``warmup=False``), synchronising the device around each."""
    if repeats < 1:
        raise ValueError(f'median_seconds: repeats must be >= 1, got '
                         f'{repeats!r}')
    if warmup:
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)
