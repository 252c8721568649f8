"""Domain-gated experts: one task head that routes each text to the experts of the data sets it resembles.

A task learned from several kinds of text (financial-news sentences and movie reviews; headlines, full
articles and English news) gets K experts, one per training domain, and a gate that says which domain a
text looks like. The task's linear head (and its n-gram bag) then has K·(1 + L) outputs for L labels: the
gate's K logits, then K blocks of L label logits. `mix` turns them into the task's logits,

    log Σ_k softmax(gate)_k · softmax(expert_k),

so the softmax the predictor applies anyway gives the mixture's probabilities and nothing downstream
changes. Every expert covers all of the task's labels (it is trained on every domain, its own weighing
most), so a headline about sports that the gate sends to the headline expert can still come out `sports`.
"""

from __future__ import annotations

import torch


def head_width(n_labels: int, n_experts: int) -> int:
    """Outputs of a task's head: its labels, or the gate's logits and one block of labels per expert."""
    return n_labels if n_experts == 0 else n_experts * (1 + n_labels)


def mix(raw: torch.Tensor, n_experts: int) -> torch.Tensor:
    """The task's logits (batch, labels) from a head's raw outputs; unchanged without experts."""
    if n_experts == 0:
        return raw
    gate = torch.log_softmax(raw[:, :n_experts].float(), dim=-1)
    experts = raw[:, n_experts:].float().unflatten(-1, (n_experts, -1))
    return torch.logsumexp(gate.unsqueeze(-1) + torch.log_softmax(experts, dim=-1), dim=1).to(raw.dtype)
