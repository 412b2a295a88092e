"""With PROMETHEUS_MULTIPROC_DIR set, counts from several processes add up in one scrape."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
from bot.metrics import Metrics
metrics = Metrics({dir!r})
metrics.observe_slack_call("chat.postMessage", None)
metrics.observe_slack_call("chat.postMessage", "ratelimited")
"""

SCRAPE = """
import sys
from bot.metrics import Metrics
from bot.domain.metrics import MetricsSnapshot
sys.stdout.write(Metrics({dir!r}).render(MetricsSnapshot()).decode())
"""


def _python(code: str, multiproc_dir: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    result = subprocess.run(  # noqa: S603 - our own code
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_two_worker_processes_are_counted_together(tmp_path: Path) -> None:
    for _ in range(2):
        _python(WORKER.format(dir=str(tmp_path)), tmp_path)
    text = _python(SCRAPE.format(dir=str(tmp_path)), tmp_path)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("handoff_slack_api_calls_total", (("method", "chat.postMessage"),))] == 4
    errors = (("error", "ratelimited"), ("method", "chat.postMessage"))
    assert samples[("handoff_slack_api_errors_total", errors)] == 2
    assert samples[("handoff_claims_total", ())] == 0  # the database part is still there
