"""Label-mix drift: the share of each predicted label per window of articles, against a reference window.

Each worker counts, per task, the labels it gave and the mean uncertainty over a window of
`STREAMPROC_DRIFT_WINDOW` articles. The reference is the first full window of the serving model version, kept in
Redis (`{prefix}:drift:<scope>`, written once by whichever worker completes it first), so restarts and every
worker of the deployment compare with the same one and a new model starts a new reference. A window is compared
with it by the population stability index, PSI = sum over labels of (now - then) * ln(now / then) (shares
smoothed by 1e-4): below 0.1 the mix is stable, above 0.25 it moved a lot. At `STREAMPROC_DRIFT_ALERT` a
WARNING names the labels that moved most; `streamproc_label_share{task,label}`, `streamproc_label_drift{task}`
and `streamproc_label_uncertainty{task}` carry every window (deploy/prometheus/alerts.yml has a rule).
A crawler that sends only sports, or a section feed that breaks, shows at the end of the window it happens in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from redis.asyncio import Redis

from streamproc import metrics
from streamproc.sinks.document import EnrichedArticle
from streamproc.tasks import TaskSet

log = logging.getLogger(__name__)
SMOOTHING = 1e-4


@dataclass(frozen=True)
class WindowReport:
    """One task's full window: its label shares, the reference's, and the stability index between them."""

    task: str
    shares: dict[str, float]
    reference: dict[str, float]
    psi: float
    mean_uncertainty: float

    def moved(self, top: int = 3) -> list[tuple[str, float, float]]:
        """The labels whose share moved most: (label, reference share, share now)."""
        labels = sorted(set(self.shares) | set(self.reference))
        change = sorted(labels, key=lambda label: -abs(self.shares.get(label, 0.0) - self.reference.get(label, 0.0)))
        return [(label, self.reference.get(label, 0.0), self.shares.get(label, 0.0)) for label in change[:top]]


def psi(now: dict[str, float], then: dict[str, float]) -> float:
    """Population stability index of two label distributions (shares; smoothed, renormalised)."""
    labels = sorted(set(now) | set(then))
    a = [now.get(label, 0.0) + SMOOTHING for label in labels]
    b = [then.get(label, 0.0) + SMOOTHING for label in labels]
    a = [x / sum(a) for x in a]
    b = [x / sum(b) for x in b]
    return sum((x - y) * math.log(x / y) for x, y in zip(a, b, strict=True))


@dataclass
class _Window:
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    uncertainty: dict[str, float] = field(default_factory=dict)
    articles: int = 0


class LabelMix:
    """Counts the predicted labels of one model version's articles and compares every full window."""

    def __init__(
        self,
        client: Redis,
        prefix: str,
        tasks: TaskSet,
        versions: dict[str, str],
        window: int,
        alert: float,
    ) -> None:
        self.client, self.tasks, self.window, self.alert = client, tasks, window, alert
        scope = hashlib.sha256(json.dumps(sorted(versions.items())).encode()).hexdigest()[:12]
        self.key = "{" + prefix + "}" + f":drift:{scope}"
        self.current = _Window()

    async def observe(self, documents: Sequence[EnrichedArticle]) -> list[WindowReport]:
        """Count `documents`; for every window that fills, compare it (and publish the metrics)."""
        reports: list[WindowReport] = []
        for document in documents:
            self._count(document)
            if self.current.articles >= self.window:
                full, self.current = self.current, _Window()
                reports += await self._compare(full)
        return reports

    def _count(self, document: EnrichedArticle) -> None:
        window = self.current
        window.articles += 1
        for task in self.tasks.names:
            prediction = document.prediction(task)
            if prediction is None:
                continue
            window.counts.setdefault(task, Counter())[prediction.label] += 1
            window.uncertainty[task] = window.uncertainty.get(task, 0.0) + (document.uncertainty_of(task) or 0.0)

    async def _compare(self, window: _Window) -> list[WindowReport]:
        shares = {
            task: {label: n / sum(counts.values()) for label, n in counts.items()}
            for task, counts in window.counts.items()
        }
        stored = await self.client.hgetall(self.key)
        reference = {_text(task): json.loads(raw) for task, raw in stored.items()}
        new = {task: json.dumps(values) for task, values in shares.items() if task not in reference}
        if new:  # the first full window of this model version is the reference (the first writer wins)
            for task, raw in new.items():
                await self.client.hsetnx(self.key, task, raw)
            reference = {_text(task): json.loads(raw) for task, raw in (await self.client.hgetall(self.key)).items()}
        reports = []
        for task, now in shares.items():
            counted = sum(window.counts[task].values())
            report = WindowReport(
                task, now, reference[task], psi(now, reference[task]), window.uncertainty[task] / counted
            )
            metrics.observe_label_mix(task, self.tasks[task].label_names, now, report.psi, report.mean_uncertainty)
            if report.psi >= self.alert:
                moved = ", ".join(f"{label} {then:.0%} -> {share:.0%}" for label, then, share in report.moved())
                log.warning(
                    "label mix of %s moved over the last %d articles (PSI %.2f >= %.2f): %s",
                    task,
                    self.window,
                    report.psi,
                    self.alert,
                    moved,
                )
            reports.append(report)
        return reports


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
