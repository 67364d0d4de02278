"""SDARTS perturbations: on the simplex, within epsilon, alphas untouched, applied to the weight step only."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config

import workbench.methods.perturb as perturb
from workbench import Searcher
from workbench.methods.perturb import (
    AdversarialPGD,
    Epsilon,
    RandomSmoothing,
    simplex_clip,
    uniform_noise,
)
from workbench.methods.schedules import sdarts_epsilon


def test_simplex_clip_matches_the_reference_rule_by_hand():
    a = torch.tensor([[0.5, -0.2, 0.9, 0.1],     # clamp -> [0.5, 0, 0.9, 0.1], / 1.5
                      [-0.3, -0.1, -0.2, -0.4],  # all clamp to 0: the argmax (index 1) is revived
                      [1.7, 0.1, 0.0, 0.2]])     # clamp 1.7 -> 1
    out = simplex_clip(a)
    assert torch.allclose(out[0], torch.tensor([0.5, 0.0, 0.9, 0.1]) / 1.5)
    assert torch.equal(out[1], torch.tensor([0.0, 1.0, 0.0, 0.0]))
    assert torch.allclose(out[2], torch.tensor([1.0, 0.1, 0.0, 0.2]) / 1.3)
    mask = torch.tensor([[True, True, False, True]] * 3)  # a disabled op stays exactly 0 and never wins
    m = simplex_clip(a, mask)
    assert (m[:, 2] == 0).all() and torch.allclose(m.sum(1), torch.ones(3))


def _sdarts(method, **kw):
    return Searcher(tiny_config(method=method, epochs=3, **kw))


def test_random_smoothing_is_clip_of_bounded_uniform_noise():
    s = _sdarts("sdarts-rs")
    s.run(s.steps_per_epoch + 1)  # epoch 1: eps = 0.03 + 0.27 / 3
    eps = sdarts_epsilon(1, 3)
    w, active = s.mixing_weights()
    w = {c: t.detach() for c, t in w.items()}
    gen_copy = torch.Generator().manual_seed(0)
    gen_copy.set_state(s.generator.get_state())
    out = RandomSmoothing()(s.context(True, s.train_stream.next()), w, active)
    for c in w:
        noise = uniform_noise(w[c], eps, gen_copy)  # the same draw: the oracle
        assert noise.abs().max() <= eps
        assert torch.allclose(out[c], simplex_clip(w[c] + noise, s.model.op_mask(c)))
        assert torch.allclose(out[c].sum(1), torch.ones(len(out[c]))) and (out[c] >= 0).all()
        assert not torch.allclose(out[c], w[c])


def test_adversarial_attack_stays_in_the_eps_ball_and_on_the_simplex(monkeypatch):
    s = _sdarts("sdarts-adv")
    s.run(2)
    w, active = s.mixing_weights()
    a0 = {c: t.detach().clone() for c, t in w.items()}
    eps = sdarts_epsilon(s.epoch, 3)
    clip_inputs = []
    real_clip = perturb.simplex_clip

    def spy(a, mask=None):
        clip_inputs.append(a.detach().clone())
        return real_clip(a, mask)

    monkeypatch.setattr(perturb, "simplex_clip", spy)
    modes = []
    real_forward = s.model.forward
    monkeypatch.setattr(s.model, "forward", lambda *a, **k: (modes.append(s.model.training), real_forward(*a, **k))[1])
    alphas = [p.detach().clone() for p in s.model.arch_parameters()]
    batch = s.train_stream.next()
    out = AdversarialPGD(steps=3)(s.context(True, batch), a0, active)
    # random start + 3 projected steps, each followed by clip; every projected point is within eps of A0
    assert len(clip_inputs) == 4
    for pre in clip_inputs:
        assert (pre - a0["cell"]).abs().max() <= eps + 1e-6
    assert modes and not any(modes)  # the attack runs in eval mode ...
    assert s.model.training  # ... and train mode is restored
    assert all(torch.equal(p, q) for p, q in zip(alphas, s.model.arch_parameters(), strict=True))
    o = out["cell"]
    assert torch.allclose(o.sum(1), torch.ones(len(o))) and (o >= 0).all()
    # either the attack raised the training loss (eval-mode BN) or it was reverted to A0
    x, y = batch
    s.model.eval()
    with torch.no_grad():
        loss = lambda ww: float(torch.nn.functional.cross_entropy(real_forward(x, ww, active), y))  # noqa: E731
        assert torch.equal(o, a0["cell"]) or loss(out) >= loss(a0)
    s.model.train()


def test_adversarial_attack_raises_the_loss_above_the_unperturbed_weights():
    """With a large radius PGD finds weights with a higher training loss than A0 (the attack attacks)."""
    s = _sdarts("sdarts-adv")
    s.run(4)
    w, active = s.mixing_weights()
    a0 = {c: t.detach() for c, t in w.items()}
    x, y = s.train_stream.next()
    s.model.eval()
    with torch.no_grad():
        base = float(torch.nn.functional.cross_entropy(s.model(x, a0, active), y))
    s.model.train()
    out = AdversarialPGD(eps=Epsilon(0.3, 0.3))(s.context(True, (x, y)), a0, active)
    s.model.eval()
    with torch.no_grad():
        attacked = float(torch.nn.functional.cross_entropy(s.model(x, out, active), y))
    s.model.train()
    assert attacked > base


@pytest.mark.parametrize("method", ["sdarts-rs", "sdarts-adv"])
def test_alphas_untouched_by_the_weight_step_and_perturbation_used(method):
    # arch_lr = 0: Adam moves nothing, so any change to alpha would come from the weight step
    s = Searcher(tiny_config(method=method, arch_lr=0.0, method_options={"eps_min": 0.3}))
    ref = Searcher(tiny_config(method="darts-v1", arch_lr=0.0))
    alphas0 = s.alphas()
    ev, ev_ref = s.run(3), ref.run(3)
    assert np.array_equal(s.alphas()["cell"], alphas0["cell"])
    # same seed, same batches, same first arch step: only the perturbed weight step differs
    assert ev[0].val_loss == ev_ref[0].val_loss
    assert ev[0].train_loss != ev_ref[0].train_loss


def test_bad_options():
    with pytest.raises(ValueError, match="at least 1 attack step"):
        AdversarialPGD(steps=0)
    with pytest.raises(ValueError, match="does not accept option"):
        Searcher(tiny_config(method="sdarts-rs", method_options={"eps": 0.1}))
