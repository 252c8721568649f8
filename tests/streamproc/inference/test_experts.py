"""Domain-gated experts: the mixed logits' softmax is the gate-weighted mixture of the experts' softmaxes."""

from __future__ import annotations

import torch

from streamproc.inference.experts import head_width, mix


def test_plain_heads_pass_through() -> None:
    raw = torch.randn(4, 3)
    assert head_width(3, 0) == 3
    assert torch.equal(mix(raw, 0), raw)


def test_softmax_of_mixed_logits_is_the_gated_mixture() -> None:
    torch.manual_seed(0)
    n_experts, n_labels = 3, 4
    raw = torch.randn(5, head_width(n_labels, n_experts)) * 3
    assert raw.shape[1] == 15
    gate = torch.softmax(raw[:, :n_experts], -1)
    experts = torch.softmax(raw[:, n_experts:].reshape(5, n_experts, n_labels), -1)
    expected = (gate.unsqueeze(-1) * experts).sum(1)
    torch.testing.assert_close(torch.softmax(mix(raw, n_experts), -1), expected)


def test_a_sure_gate_gives_its_experts_answer() -> None:
    expert_a, expert_b = torch.tensor([4.0, 0.0]), torch.tensor([0.0, 4.0])
    for gate, winner in ((torch.tensor([20.0, -20.0]), expert_a), (torch.tensor([-20.0, 20.0]), expert_b)):
        raw = torch.cat([gate, expert_a, expert_b]).unsqueeze(0)
        torch.testing.assert_close(torch.softmax(mix(raw, 2), -1)[0], torch.softmax(winner, -1))


def test_half_precision_outputs_keep_their_dtype() -> None:
    raw = torch.randn(2, head_width(3, 2)).half()
    mixed = mix(raw, 2)
    assert mixed.dtype == torch.float16 and mixed.shape == (2, 3)
    torch.testing.assert_close(mixed.float(), mix(raw.float(), 2), atol=2e-3, rtol=1e-3)
