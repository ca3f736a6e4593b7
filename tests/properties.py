"""Hypothesis profiles for the property-based suites (imported by each of them).

* ``ci`` (default): a fixed, small number of examples per test and a per-example deadline, so
  the suites take a bounded time on two CPU cores;
* ``long``: 16 times the examples and longer operation sequences, randomised, for a soak run::

      make test-properties
      # the same: HYPOTHESIS_PROFILE=long python -m pytest \
      #     tests/nyx/test_retriever_properties.py tests/ensemble/test_aggregation_properties.py

``ci`` is derandomised (the examples depend only on the test), so a failure in CI repeats; a
failure in ``long`` prints the ``@reproduce_failure`` blob that replays it.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile("ci", max_examples=25, stateful_step_count=12,
                          deadline=timedelta(seconds=20), derandomize=True, print_blob=True,
                          suppress_health_check=_SLOW_IS_FINE)
settings.register_profile("long", max_examples=400, stateful_step_count=40,
                          deadline=timedelta(seconds=60), derandomize=False, print_blob=True,
                          suppress_health_check=_SLOW_IS_FINE)
settings.load_profile(PROFILE)


def scaled(ci_examples: int, deadline_s: float | None = None) -> settings:
    """Settings for a test that needs fewer or more examples than the profile's default:
    ``ci_examples`` under ``ci``, 16 times as many under ``long``; ``deadline_s`` overrides the
    per-example deadline (a state machine runs a whole operation sequence per example)."""
    factor = 16 if PROFILE == "long" else 1
    if deadline_s is None:
        return settings(max_examples=ci_examples * factor)
    deadline = timedelta(seconds=deadline_s * (4 if PROFILE == "long" else 1))
    return settings(max_examples=ci_examples * factor, deadline=deadline)
