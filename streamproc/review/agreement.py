"""Agreement between reviewers, per task: Krippendorff's alpha (the maintained `krippendorff` package, nominal
level) and each reviewer's pairwise agreement with the others.

Read from the standing votes (`ReviewDesk.latest_votes`: a corrected vote replaces the first, an undone one is
gone). Only items that two or more reviewers labelled for a task say anything; with `STREAMPROC_REVIEW_VOTES=1`
there are none. Alpha is 1 for perfect agreement, 0 for agreement at chance level (it corrects for how often
labels are used), below 0 for systematic disagreement; about 0.8 is the usual bar for labels to rely on, 0.667
the lowest for tentative conclusions (Krippendorff 2004).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any

import numpy as np

Votes = Mapping[str, Mapping[str, Mapping[str, Any]]]  # item -> reviewer -> vote record


def reviewer_agreement(votes: Votes, tasks: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Per task: the items labelled by two or more reviewers, Krippendorff's alpha over them (None with fewer
    than two such items or a single label in use), and per reviewer the pairs they share with others and the
    share of those where both gave the same label."""
    import krippendorff

    result: dict[str, dict[str, Any]] = {}
    for task in tasks:
        rows: dict[str, dict[str, str]] = {}  # item -> reviewer -> label
        for item, by in votes.items():
            labels = {
                reviewer: str(vote["labels"][task])
                for reviewer, vote in by.items()
                if vote.get("decision") == "label" and (vote.get("labels") or {}).get(task)
            }
            if len(labels) >= 2:
                rows[item] = labels
        reviewers = sorted({r for labels in rows.values() for r in labels})
        values = sorted({label for labels in rows.values() for label in labels.values()})
        alpha: float | None = None
        if len(rows) >= 2 and len(values) >= 2:
            code = {label: i for i, label in enumerate(values)}
            data = np.full((len(reviewers), len(rows)), np.nan)
            for column, labels in enumerate(rows.values()):
                for reviewer, label in labels.items():
                    data[reviewers.index(reviewer), column] = code[label]
            alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
        pairs: dict[str, list[int]] = {reviewer: [0, 0] for reviewer in reviewers}  # [pairs, agreeing]
        for labels in rows.values():
            for first, second in combinations(sorted(labels), 2):
                same = int(labels[first] == labels[second])
                for reviewer in (first, second):
                    pairs[reviewer][0] += 1
                    pairs[reviewer][1] += same
        result[task] = {
            "items": len(rows),
            "alpha": alpha,
            "reviewers": {
                reviewer: {"pairs": n, "agree": agree, "rate": agree / n if n else None}
                for reviewer, (n, agree) in pairs.items()
            },
        }
    return result
