"""Host-drawn sampling noise (workbench.methods.noise): eager draws, and the recorder a CUDA-graph capture uses.

The recorder's contract is what makes a graphed SNAS / SDARTS-RS search equal the eager one (the CUDA test
``test_graph_replay_equals_eager_cuda_search`` checks the whole search on a GPU): nothing is drawn while
recording, and a refill makes exactly the eager draws -- same values, same order, same generator state after.
"""
from __future__ import annotations

import torch

from workbench.methods.context import StepContext
from workbench.methods.noise import NoiseRecorder, gumbel, uniform


def _eager_gumbel(shape, g):
    return -torch.empty(shape, dtype=torch.float64).exponential_(generator=g).log()


def test_eager_draws_are_the_host_samples_on_the_device_dtype():
    like = torch.zeros(3, 5, dtype=torch.float32)
    ctx = StepContext(generator=torch.Generator().manual_seed(7))
    oracle = torch.Generator().manual_seed(7)
    g = ctx.draw((3, 5), gumbel, like)
    assert g.dtype == torch.float32 and torch.equal(g, _eager_gumbel((3, 5), oracle).float())
    u = ctx.draw((2, 4), uniform(0.3), like)
    want = (2.0 * torch.rand((2, 4), generator=oracle, dtype=torch.float64) - 1.0) * 0.3
    assert torch.equal(u, want.float()) and float(u.abs().max()) <= 0.3


def test_recorded_draws_refill_with_exactly_the_eager_draws():
    like = torch.zeros(1, dtype=torch.float64)
    samplers = [((14, 8), gumbel), ((14, 8), uniform(0.05)), ((6, 5), gumbel), ((14, 8), gumbel)]
    gen = torch.Generator().manual_seed(3)
    start = gen.get_state()
    recorder = NoiseRecorder()
    ctx = StepContext(generator=gen, noise=recorder)
    bufs = [ctx.draw(shape, sampler, like) for shape, sampler in samplers]
    assert torch.equal(gen.get_state(), start)  # recording draws nothing
    eager_gen = torch.Generator().manual_seed(3)
    eager = [StepContext(generator=eager_gen).draw(shape, sampler, like) for shape, sampler in samplers]
    for _ in range(2):  # two replays: each refill continues the stream as eager steps would
        recorder.refill(gen)
        for b, e in zip(bufs, eager, strict=True):
            assert torch.equal(b, e)
        assert torch.equal(gen.get_state(), eager_gen.get_state())
        eager = [StepContext(generator=eager_gen).draw(shape, sampler, like) for shape, sampler in samplers]
        assert not torch.equal(bufs[0], eager[0])  # the next step's draws differ


def test_sampling_methods_whose_path_is_the_whole_supernet_are_captured():
    """On CUDA, SNAS and SDARTS-RS/ADV steps are captured (their noise is recorded; ADV keeps or drops its
    attack on the device); GDAS (the host picks each edge's op) runs eagerly, with its reason."""
    from types import SimpleNamespace

    from conftest import tiny_config

    from workbench import Searcher
    from workbench.cuda_graphs import capture_blocker

    reasons = {}
    for method in ("darts-v2", "snas", "sdarts-rs", "gdas", "sdarts-adv"):
        s = Searcher(tiny_config(space="nb201", method=method))
        reasons[method] = capture_blocker(SimpleNamespace(device=torch.device("cuda"), method=s.method))
    assert all(reasons[m] is None for m in ("darts-v2", "snas", "sdarts-rs", "sdarts-adv")), reasons
    assert "GumbelHard) is not one a graph can hold" in reasons["gdas"]
