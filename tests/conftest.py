import numpy as np
import pytest
import torch

# The tests train tiny networks: one intra-op thread is as fast as two for
# them, and it keeps the suite from oversubscribing a small, shared CI machine
# (two threads spinning against other processes make each step many times
# slower).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same global random state."""
    np.random.seed(0)
    torch.manual_seed(0)
    yield
