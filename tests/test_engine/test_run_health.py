"""The end-to-end tests' assertion on a test-time run fails when the model
diverged: a rolled-back update or a non-finite prediction is a failure
unless the test says the run may diverge."""
import math

import pytest

from trttt_mm.evaluation import PRIMARY_KEYS
from model_helpers import assert_base_and_delta

TASKS = ('semseg', 'depth', 'normal', 'edge')


def healthy_metrics():
    metrics = {f'base/{k}': 1.0 for k in PRIMARY_KEYS}
    metrics.update({k: 0.9 for k in PRIMARY_KEYS})
    metrics.update({f'{t}/nonfinite': 0 for t in TASKS})
    metrics.update({'ttt/nonfinite_skips': 0, 'ttt/steps': 4,
                    'delta_ttt': 3.0})
    return metrics


def test_a_healthy_run_passes():
    assert_base_and_delta(healthy_metrics())


def test_a_rolled_back_update_fails():
    metrics = dict(healthy_metrics(), **{'ttt/nonfinite_skips': 2})
    with pytest.raises(AssertionError, match='rolled back .* 2'):
        assert_base_and_delta(metrics)
    assert_base_and_delta(metrics, healthy=False)


def test_nan_predictions_fail_even_when_counted():
    metrics = healthy_metrics()
    metrics.update({'depth/rmse': math.nan, 'depth/nonfinite': 12})
    del metrics['delta_ttt']  # not reported over NaN predictions
    with pytest.raises(AssertionError,
                       match="non-finite predictions: .*'depth/nonfinite': 12"):
        assert_base_and_delta(metrics)
    assert_base_and_delta(metrics, healthy=False)  # a run allowed to diverge


def test_a_run_without_the_counts_fails():
    metrics = healthy_metrics()
    del metrics['ttt/nonfinite_skips']
    with pytest.raises(AssertionError, match='rolled back'):
        assert_base_and_delta(metrics)
    metrics = {k: v for k, v in healthy_metrics().items()
               if not k.endswith('/nonfinite')}
    with pytest.raises(AssertionError, match='non-finite predictions'):
        assert_base_and_delta(metrics)
