import pytest
import torch

from skdistill.nn import MultiHeadStudent


def test_start_from_single_head_copies_the_core_and_spreads_the_head():
    torch.manual_seed(0)
    single = MultiHeadStudent(1, 5, 3, core_layer_sizes=(8,), head_layer_sizes=(4,))
    many = MultiHeadStudent(4, 5, 3, core_layer_sizes=(8,), head_layer_sizes=(4,))
    many.start_from_single_head(single, noise=0.01)
    for a, b in zip(single.core.parameters(), many.core.parameters()):
        assert torch.equal(a, b)
    x = torch.randn(16, 5)
    one = single(x)[:, 0]
    heads = many(x)
    # Every head is the trained head, nudged apart: close to it, not equal.
    for m in range(4):
        assert torch.allclose(heads[:, m], one, atol=0.1)
    assert not torch.equal(heads[:, 0], heads[:, 1])
    with pytest.raises(ValueError, match="not 1"):
        many.start_from_single_head(many)


def test_a_core_factory_is_called_once():
    calls = []

    def factory():
        calls.append(1)
        return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU())

    student = MultiHeadStudent(2, 5, 3, core=factory)
    assert len(calls) == 1 and student.core_width == 7
    assert student(torch.randn(3, 5)).shape == (3, 2, 3)
