"""DP-SGD training of the MLP (agents/privacy.py): per-sample gradients against a brute-force
loop, the accountant's epsilon against Opacus's analysis computed independently, the
clipping-only limit against a non-private step, and the configuration errors."""

from __future__ import annotations

import copy
import math
import re

import numpy as np
import pytest
import torch
from opacus.accountants import PRVAccountant
from opacus.accountants.analysis import rdp as rdp_analysis
from opacus.accountants.rdp import RDPAccountant

import recenv
from agents import privacy
from agents.logs import collect_random_logs
from agents.mlp import MLPAgent, pair_loss
from experiments.factory import compose_config

pytestmark = pytest.mark.usefixtures("single_torch_thread")

SMALL = recenv.make_config("small")
TINY = {"embedding_dim": 8, "hidden_size": 16, "selection_shoppers": 0}


@pytest.fixture(scope="module")
def logs():
    env = recenv.ShoppingVectorEnv(8, config=SMALL)
    return collect_random_logs(env, SMALL, 1_600, seed=5)


def loss_gradients(agent: MLPAgent, rows) -> list[torch.Tensor]:
    agent.model.zero_grad(set_to_none=True)
    agent._loss(rows).backward()
    return [p.grad.clone() for p in agent.model.parameters()]


def test_session_rows_are_the_rows_of_each_session(logs) -> None:
    sessions = privacy.SessionRows(logs.session)
    ids = np.unique(logs.session)
    picked = np.array([3, 0, 7])
    rows, owner = sessions.rows(picked)
    for k, index in enumerate(picked):  # brute force: every row whose session id matches
        expected = np.flatnonzero(logs.session == ids[index])
        assert sorted(rows[owner == k]) == list(expected)
    assert len(sessions) == len(ids)


@pytest.mark.parametrize("encoder", ["mlp", "transformer"])
def test_per_sample_gradients_equal_a_loop_over_single_rows_and_sessions(logs, encoder) -> None:
    """torch.func's per-row gradients against autograd on each row alone, then the
    per-session sums against autograd on each session's summed loss, for both encoders
    (the transformer's attention, masks and layer norms included)."""
    agent = MLPAgent(SMALL, seed=1, device="cpu", dp="noise", encoder=encoder, **TINY)
    agent.model.train()
    first = np.unique(logs.session)[:4]
    batch = logs.subset(np.flatnonzero(np.isin(logs.session, first)))
    assert batch.observation["history_events"].any() and batch.clicked.any()
    per_row = privacy.per_row_gradients(agent.model, pair_loss, agent._pair_batch(batch))
    for i in range(len(batch)):  # the mean loss of one row is that row's loss
        for p, expected in zip(per_row, loss_gradients(agent, batch.subset([i])), strict=True):
            torch.testing.assert_close(p[i], expected, rtol=1e-4, atol=1e-6)
    _, owner = np.unique(batch.session, return_inverse=True)
    parameters = list(agent.model.parameters())
    privacy.group_by_session(parameters, per_row, torch.as_tensor(owner), len(first))
    for k in range(len(first)):
        rows = np.flatnonzero(owner == k)
        session_sum = [g * len(rows) for g in loss_gradients(agent, batch.subset(rows))]
        for p, expected in zip(parameters, session_sum, strict=True):
            torch.testing.assert_close(p.grad_sample[k], expected, rtol=1e-4, atol=1e-5)


def fitted(logs, **settings) -> MLPAgent:
    agent = MLPAgent(SMALL, seed=2, device="cpu", **TINY, **settings)
    agent.fit(logs)
    return agent


def schedule(logs, batch_rows: int, epochs: int, seed: int) -> tuple[int, float, int]:
    """Training sessions, Poisson sample rate and steps, from the log and the settings: the
    expected batch holds ``batch_rows`` rows' worth of sessions, one epoch is 1 / rate."""
    train, _ = logs.split_by_session(0.2, seed)
    n_sessions = len(np.unique(train.session))
    batches = math.ceil(n_sessions / round(batch_rows * n_sessions / len(train)))
    return n_sessions, 1 / batches, epochs * batches


def test_epsilon_is_the_rdp_accountant_s_for_the_same_noise_rate_and_steps(logs) -> None:
    """Sample rate and steps derived here from the log and the settings alone; epsilon from
    Opacus's RDP analysis functions, not from the agent's accountant."""
    agent = fitted(logs, dp="noise", dp_noise_multiplier=1.3, dp_accountant="rdp",
                   batch_size=64, max_epochs=2)  # fmt: skip
    n_sessions, sample_rate, steps = schedule(logs, 64, 2, agent.seed)
    delta = 0.1 / n_sessions
    orders = RDPAccountant.DEFAULT_ALPHAS
    spent = rdp_analysis.compute_rdp(
        q=sample_rate, noise_multiplier=1.3, steps=steps, orders=orders
    )
    epsilon, _ = rdp_analysis.get_privacy_spent(orders=orders, rdp=spent, delta=delta)
    metrics = agent.metrics
    assert (metrics["dp_steps"], metrics["dp_sessions"]) == (steps, n_sessions)
    assert metrics["dp_sample_rate"] == pytest.approx(sample_rate)
    assert metrics["dp_delta"] == pytest.approx(delta)
    assert metrics["dp_epsilon"] == pytest.approx(epsilon, rel=1e-9)


def test_training_to_a_target_epsilon_spends_at_most_it_and_learns(logs, tmp_path) -> None:
    """The PRV accountant, noise chosen by Opacus for the target; the model still learns the
    click rate (held-out log-loss below the untrained model's) and the checkpoint keeps the
    spend, so a reloaded agent's accountant reports the same epsilon."""
    untrained = MLPAgent(SMALL, seed=2, device="cpu", **TINY)
    _, validation = logs.split_by_session(0.2, 2)
    untrained_loss = untrained.held_out_metrics(validation)["click_log_loss"]
    agent = fitted(logs, dp="epsilon", dp_target_epsilon=4.0, max_epochs=3, batch_size=128)
    trained = {id(p) for group in agent.optimizer.param_groups for p in group["params"]}
    assert {id(p) for p in agent.model.parameters()} == trained  # the model kept its weights
    epsilon = agent.metrics["dp_epsilon"]
    assert 3.5 < epsilon <= 4.0  # Opacus's search lands within its tolerance below target
    assert agent.metrics["dp_noise_multiplier"] > 0.3
    assert agent.metrics["click_log_loss"] < untrained_loss - 0.05
    agent.save(tmp_path / "dp")
    loaded = MLPAgent.load(tmp_path / "dp", device="cpu")
    assert loaded.metrics["dp_epsilon"] == epsilon
    reported = loaded.privacy_engine.accountant.get_epsilon(agent.metrics["dp_delta"])
    assert reported == pytest.approx(epsilon)
    _, sample_rate, steps = schedule(logs, 128, 3, agent.seed)
    assert (agent.metrics["dp_steps"], agent.metrics["dp_sample_rate"]) == (steps, sample_rate)
    independent = PRVAccountant()
    independent.history = [(agent.metrics["dp_noise_multiplier"], sample_rate, steps)]
    assert independent.get_epsilon(agent.metrics["dp_delta"]) == pytest.approx(epsilon)


def test_without_noise_and_clipping_a_step_is_the_non_private_step(logs) -> None:
    """Noise 0 and an unreachable clipping norm: one DP-SGD step (SGD) on a Poisson batch
    equals a non-private step on the same rows, scaled by rows / expected sessions (the
    DP step averages over sessions, the non-private one over rows)."""
    agent = MLPAgent(SMALL, seed=4, device="cpu", dp="noise", dp_noise_multiplier=0.0,
                     dp_max_grad_norm=1e9, **TINY)  # fmt: skip
    twin = copy.deepcopy(agent.model)
    train, _ = logs.split_by_session(0.2, 4)
    optimizer = torch.optim.SGD(agent.model.parameters(), lr=0.1)
    private = privacy.PrivateTraining(
        agent.privacy_engine, agent.model, optimizer, train, agent.privacy, 256, 1, seed=0
    )
    rows, owner, n_sessions = next(r for r in private.batches() if r[0] is not None)
    agent.model.train()
    private.step(pair_loss, agent._pair_batch(rows), owner, n_sessions)
    private.close()
    scale = len(rows) / private.optimizer.expected_batch_size
    agent.model, model = twin, agent.model
    expected = loss_gradients(agent, rows)
    for p, p0, g in zip(model.parameters(), twin.parameters(), expected, strict=True):
        torch.testing.assert_close(p, p0 - 0.1 * scale * g, rtol=1e-4, atol=1e-6)


def test_an_empty_poisson_batch_is_a_noisy_step_that_counts(logs) -> None:
    agent = MLPAgent(SMALL, seed=4, device="cpu", dp="noise", dp_noise_multiplier=1.0, **TINY)
    before = copy.deepcopy(agent.model.state_dict())
    private = privacy.PrivateTraining(
        agent.privacy_engine, agent.model, agent.optimizer, logs, agent.privacy, 64, 1, seed=0
    )
    private.step(pair_loss, None, torch.zeros(0, dtype=torch.long), 0)
    assert agent.privacy_engine.accountant.history[-1][2] == 1
    after = dict(agent.model.named_parameters())  # noise reaches every parameter
    assert all(not torch.equal(before[name], p) for name, p in after.items())


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"dp": "laplace"}, "mlp.dp = 'laplace' is not allowed; choose one of ('off', "),
        ({"dp_target_epsilon": 0.0}, "mlp.dp_target_epsilon = 0.0 is out of range; allowed: (0"),
        ({"dp_noise_multiplier": -1.0}, "mlp.dp_noise_multiplier = -1.0 is out of range"),
        ({"dp_max_grad_norm": 0.0}, "mlp.dp_max_grad_norm = 0.0 is out of range; allowed: (0,"),
        ({"dp_delta": 1.5}, "mlp.dp_delta = 1.5 is out of range; allowed: [0, 1]"),
        ({"dp_accountant": "gdp"}, "mlp.dp_accountant = 'gdp' is not allowed"),
        ({"dp": "epsilon", "refit_interval": 500}, "mlp.refit_interval = 500 is not allowed"),
    ],
)
def test_bad_privacy_settings_name_the_field_value_and_range(settings, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        MLPAgent(SMALL, device="cpu", **settings)


def test_the_mlp_dp_preset_composes_to_a_private_mlp() -> None:
    agent = compose_config(["agent=mlp_dp"]).agent
    assert (agent.dp, agent.dp_target_epsilon, agent.max_epochs) == ("epsilon", 3.0, 10)
