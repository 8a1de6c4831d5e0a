"""The stable-baselines3 adapters: the VecEnv glue against independent single envs, and the
equal-architecture SB3 policy against our own Q-network.

References are computed without the adapter: slot ``i`` of a vector env seeded ``s`` is
documented to replay ``ShoppingEnv`` reset with ``seed=s, options={"slot": i}``, and after
an end a plain ``reset()`` of that env starts the slot's next session.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from stable_baselines3 import DQN

import recenv
from agents.dqn import DQNConfig, QNetwork
from agents.networks import to_tensors
from agents.sb3 import SB3Agent, SB3VecEnv
from agents.sb3_policies import RecenvDQNPolicy, RecenvQNetwork
from recenv import ShoppingEnv, ShoppingVectorEnv
from recenv.sim.core import build_world

pytestmark = pytest.mark.usefixtures("single_torch_thread")

# max_steps=10 on `small` with uniform random items: over 40 steps of 6 slots both kinds of
# end occur (checked in each test, so none passes vacuously).
CFG = recenv.make_config("small", max_steps=10)
N_SLOTS, N_STEPS, SEED = 6, 40, 11
KEYS = ("history", "history_events", "cart", "session", "query")


def reference_trajectory(actions: np.ndarray) -> list[dict[str, Any]]:
    """Step one ``ShoppingEnv`` per slot with ``actions`` ``(steps, slots)``; per step, the
    observation acted on, reward, flags, the post-step observation and the next start."""
    envs = [ShoppingEnv(config=CFG) for _ in range(N_SLOTS)]
    current = [env.reset(seed=SEED, options={"slot": slot})[0] for slot, env in enumerate(envs)]
    steps = []
    for row in actions:
        step: dict[str, Any] = {"observation": list(current), "after": [], "next": []}
        outcomes = [env.step(int(action)) for env, action in zip(envs, row, strict=True)]
        step["reward"] = np.array([outcome[1] for outcome in outcomes])
        step["terminated"] = np.array([outcome[2] for outcome in outcomes])
        step["truncated"] = np.array([outcome[3] for outcome in outcomes])
        for slot, (env, outcome) in enumerate(zip(envs, outcomes, strict=True)):
            step["after"].append(outcome[0])  # the session's last observation if it ended
            if outcome[2] or outcome[3]:
                current[slot] = env.reset()[0]
            else:
                current[slot] = outcome[0]
        step["next"] = list(current)
        steps.append(step)
    return steps


def assert_observation(actual: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    for key in KEYS:
        np.testing.assert_array_equal(
            np.asarray(actual[key]).reshape(np.shape(expected[key])), expected[key], err_msg=where
        )


def ends(reference: list[dict[str, Any]]) -> tuple[int, int]:
    """(terminations, truncations-without-termination) in a reference trajectory."""
    terminated = sum(int(step["terminated"].sum()) for step in reference)
    truncated = sum(int((step["truncated"] & ~step["terminated"]).sum()) for step in reference)
    return terminated, truncated


def test_vec_env_matches_single_envs_through_session_ends() -> None:
    """Rewards, dones, ``terminal_observation``, ``TimeLimit.truncated`` and the observation
    returned after an end (the next session's first) all equal the single-env reference."""
    actions = np.random.default_rng(3).integers(0, CFG.catalog.n_items, (N_STEPS, N_SLOTS))
    reference = reference_trajectory(actions)
    terminated, truncated = ends(reference)
    assert terminated > 0 and truncated > 0, (terminated, truncated)
    vec_env = SB3VecEnv(ShoppingVectorEnv(N_SLOTS, config=CFG, autoreset_mode="SAME_STEP"))
    vec_env.seed(SEED)
    observation = vec_env.reset()
    for t, (row, step) in enumerate(zip(actions, reference, strict=True)):
        for slot in range(N_SLOTS):
            slot_obs = {key: observation[key][slot] for key in KEYS}
            assert_observation(slot_obs, step["observation"][slot], f"step {t} slot {slot}")
        observation, reward, done, infos = vec_env.step(row)
        np.testing.assert_allclose(reward, step["reward"], rtol=1e-6)
        np.testing.assert_array_equal(done, step["terminated"] | step["truncated"])
        for slot, info in enumerate(infos):
            where = f"step {t} slot {slot}"
            expected_timeout = bool(step["truncated"][slot] and not step["terminated"][slot])
            assert info.get("TimeLimit.truncated", False) is expected_timeout, where
            assert ("terminal_observation" in info) == bool(done[slot]), where
            if done[slot]:
                assert_observation(info["terminal_observation"], step["after"][slot], where)
            slot_obs = {key: observation[key][slot] for key in KEYS}
            assert_observation(slot_obs, step["next"][slot], where)


class CoincidingEnds(ShoppingVectorEnv):
    """A SAME_STEP vector env whose next step ends slot 0 by termination, slot 1 by
    truncation and slot 2 by both at once (rare in simulation, so forced here)."""

    def step(self, actions: Any) -> tuple:
        observation, reward, _, _, info = super().step(actions)
        terminated = np.array([True, False, True, False])
        truncated = np.array([False, True, True, False])
        info["final_obs"] = np.array([{"slot": slot} for slot in range(4)], dtype=object)
        return observation, reward, terminated, truncated, info


def test_a_slot_both_terminated_and_truncated_is_not_a_timeout() -> None:
    """Termination wins: SB3 must not bootstrap past a shopper who left at the horizon."""
    vec_env = SB3VecEnv(CoincidingEnds(4, config=CFG, autoreset_mode="SAME_STEP"))
    vec_env.seed(SEED)
    vec_env.reset()
    _, _, done, infos = vec_env.step(np.zeros(4, dtype=np.int64))
    np.testing.assert_array_equal(done, [True, True, True, False])
    assert [info.get("TimeLimit.truncated") for info in infos] == [False, True, False, None]
    assert [info.get("terminal_observation") for info in infos[:3]] == [
        {"slot": 0},
        {"slot": 1},
        {"slot": 2},
    ]
    assert "terminal_observation" not in infos[3]


def test_sb3_replay_buffer_holds_the_reference_transitions() -> None:
    """Through SB3's own collection loop: each stored (s, a, r, s', done, timeout) equals the
    single-env reference, s' being the ended session's last observation, not the next one's
    first: the adapter's infos are read the way SB3 reads them."""
    vec_env = SB3VecEnv(ShoppingVectorEnv(N_SLOTS, config=CFG, autoreset_mode="SAME_STEP"))
    model = DQN("MultiInputPolicy", vec_env, seed=SEED, learning_starts=10**6, buffer_size=10**4)
    model.learn(N_STEPS * N_SLOTS)  # warm-up only: uniform random actions, no training
    buffer = model.replay_buffer
    assert buffer.pos == N_STEPS
    actions = buffer.actions[:N_STEPS, :, 0].astype(np.int64)
    reference = reference_trajectory(actions)
    terminated, truncated = ends(reference)
    assert terminated > 0 and truncated > 0, (terminated, truncated)
    for t, step in enumerate(reference):
        done = step["terminated"] | step["truncated"]
        np.testing.assert_allclose(buffer.rewards[t], step["reward"], rtol=1e-6)
        np.testing.assert_array_equal(buffer.dones[t], done)
        np.testing.assert_array_equal(buffer.timeouts[t], step["truncated"] & ~step["terminated"])
        for slot in range(N_SLOTS):
            where = f"step {t} slot {slot}"
            stored = {key: buffer.observations[key][t, slot] for key in KEYS}
            stored_next = {key: buffer.next_observations[key][t, slot] for key in KEYS}
            assert_observation(stored, step["observation"][slot], where)
            assert_observation(stored_next, step["after"][slot], where)


# -- the equal-architecture policy ----------------------------------------------------------


def recenv_policy(embedding_dim: int, hidden_size: int) -> RecenvDQNPolicy:
    env = ShoppingEnv(config=CFG)
    return RecenvDQNPolicy(
        env.observation_space,
        env.action_space,
        lambda _: 1e-3,
        env_config=CFG,
        embedding_dim=embedding_dim,
        hidden_size=hidden_size,
    )


def our_network(embedding_dim: int, hidden_size: int) -> QNetwork:
    config = DQNConfig(embedding_dim=embedding_dim, hidden_size=hidden_size)
    return QNetwork(CFG, build_world(CFG).catalog.category, config)


def count(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def as_sb3_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our ``QNetwork`` keys (``encoder.*``, ``head.*``) in ``RecenvQNetwork``'s layout."""
    return {
        f"features_extractor.{key}" if key.startswith("encoder.") else key: value
        for key, value in state.items()
    }


def probe_observation(n: int = 12) -> dict[str, np.ndarray]:
    """Mid-session observations (non-empty histories and carts are what the heads read)."""
    env = ShoppingVectorEnv(n, config=CFG)
    observation, _ = env.reset(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(6):
        observation, *_ = env.step(rng.integers(0, CFG.catalog.n_items, n))
    assert (observation["history_events"] > 1).any()  # some clicks or carts in there
    return observation


@pytest.mark.parametrize(("embedding_dim", "hidden_size"), [(32, 128), (16, 64)])
def test_recenv_policy_has_our_parameter_count(embedding_dim: int, hidden_size: int) -> None:
    policy = recenv_policy(embedding_dim, hidden_size)
    assert isinstance(policy.q_net, RecenvQNetwork)
    expected = count(our_network(embedding_dim, hidden_size))
    assert count(policy.q_net) == expected
    assert count(policy.q_net_target) == expected
    assert count(policy) == 2 * expected  # online + target, nothing else (no MLP, no one-hot)


def test_recenv_policy_q_values_equal_ours_for_the_same_weights() -> None:
    """Our weights loaded into SB3's network give our Q-values, both in ``predict``'s layout
    (query ``(n,)``) and in the replay buffer's (query ``(n, 1)``), and SB3's greedy action
    is our argmax: no one-hot encoding, no extra layer on the way."""
    torch.manual_seed(1)
    ours = our_network(16, 64)
    policy = recenv_policy(16, 64)
    policy.q_net.load_state_dict(as_sb3_state(ours.state_dict()))  # strict: every key matched
    observation = probe_observation()
    with torch.no_grad():
        expected = ours(to_tensors(observation, torch.device("cpu"))).numpy().copy()
        tensors, _ = policy.obs_to_tensor(observation)
        predicted = policy.q_net(tensors).numpy().copy()
        buffered = {**tensors, "query": tensors["query"].reshape(-1, 1)}
        from_buffer = policy.q_net(buffered).numpy().copy()
    np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(from_buffer, expected, rtol=1e-5, atol=1e-6)
    actions, _ = policy.predict(observation, deterministic=True)
    np.testing.assert_array_equal(actions, expected.argmax(axis=1))


def test_sb3_agent_with_recenv_policy_trains_and_round_trips(tmp_path: Path) -> None:
    """SB3's loop updates our network's weights; save then load acts identically."""
    hyperparameters = {"buffer_size": 1_000, "learning_starts": 64, "batch_size": 32}
    kwargs = {"policy": "recenv", "policy_kwargs": {"embedding_dim": 16, "hidden_size": 64}}
    agent = SB3Agent(CFG, seed=0, device="cpu", n_envs=8, **kwargs, **hyperparameters)
    before = {key: value.clone() for key, value in agent.model.q_net.state_dict().items()}
    agent.learn(None, 512)
    after = agent.model.q_net.state_dict()
    moved = [key for key in before if not torch.equal(before[key], after[key])]
    assert "head.project.weight" in moved and "features_extractor.encoder.body.0.weight" in moved
    assert count(agent.model.q_net) == count(our_network(16, 64))
    agent.save(tmp_path / "a")
    assert json.loads((tmp_path / "a" / "agent.json").read_text())["policy"] == "recenv"
    loaded = SB3Agent.load(tmp_path / "a", device="cpu")
    observation = probe_observation()
    np.testing.assert_array_equal(
        loaded.act(observation, deterministic=True), agent.act(observation, deterministic=True)
    )


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"policy": "CnnPolicy"}, r"sb3\.policy = 'CnnPolicy'"),
        ({"policy": "recenv", "algorithm": "ppo"}, r"sb3\.policy = 'recenv' needs"),
        (
            {"policy": "recenv", "policy_kwargs": {"embedding_dim": 0}},
            r"sb3\.policy_kwargs\.embedding_dim = 0 is out of range",
        ),
        (
            {"policy": "recenv", "policy_kwargs": {"hidden_size": 2.5}},
            r"sb3\.policy_kwargs\.hidden_size = 2\.5",
        ),
        ({"policy": "recenv", "policy_kwargs": {"net_arch": [64]}}, r"sb3\.dqn does not accept"),
    ],
    ids=["unknown-policy", "recenv-ppo", "zero-embedding", "float-hidden", "net-arch"],
)
def test_bad_policy_options_raise_naming_the_field(
    hyperparameters: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SB3Agent(CFG, seed=0, device="cpu", n_envs=2, **hyperparameters)


# -- the benchmark script, on a tiny budget ---------------------------------------------------


def test_benchmark_interleaves_learners_and_reports_consistent_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The figures follow from the per-run numbers (recomputed here), runs alternate by
    learner, and the equal-architecture SB3 network has our parameter count."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "dqn_vs_sb3.py"
    spec = importlib.util.spec_from_file_location("dqn_vs_sb3", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.run(
        preset="small",
        steps=480,
        repeats=2,
        n_envs=8,
        eval_shoppers=40,
        shared={"buffer_size": 2_000, "learning_starts": 160, "batch_size": 32},
    )
    lines = [line.split()[2].rstrip(":") for line in capsys.readouterr().out.splitlines()]
    assert lines == ["ours", "sb3", "sb3_default"] * 2
    params = figures["parameters"]
    assert params["ours"] == params["sb3"] == count(our_network(32, 128))
    assert params["sb3_default"] > params["ours"]
    for learner in ("ours", "sb3", "sb3_default"):
        speed = figures[f"{learner}_steps_per_s"]
        assert len(speed["runs"]) == 2
        assert speed["median"] == pytest.approx(np.median(speed["runs"]))
        assert speed["min"] == min(speed["runs"]) and speed["max"] == max(speed["runs"])
        returns = figures[f"{learner}_return"]
        assert returns["mean"] == pytest.approx(np.mean(returns["runs"]))
    for key, other in (("ratio", "sb3"), ("ratio_default_policy", "sb3_default")):
        ratios = np.divide(
            figures["ours_steps_per_s"]["runs"], figures[f"{other}_steps_per_s"]["runs"]
        )
        np.testing.assert_allclose(figures[key]["runs"], ratios)
        assert figures[key]["median"] == pytest.approx(np.median(ratios))
        difference = figures[f"ours_minus_{other}_return"]
        gap = np.mean(figures["ours_return"]["runs"]) - np.mean(figures[f"{other}_return"]["runs"])
        assert difference["mean"] == pytest.approx(gap)
        assert difference["ci_low"] <= difference["mean"] <= difference["ci_high"]


def test_sb3_dqn_recenv_preset_composes_to_our_architecture() -> None:
    """``agent=sb3_dqn_recenv`` builds SB3's DQN around a network the size of our DQN's."""
    from experiments.factory import build_agent, compose_config

    cfg = compose_config(["agent=sb3_dqn_recenv", "env=small", "agent.n_envs=2", "device=cpu"])
    agent = build_agent(cfg)
    assert isinstance(agent.model.policy, RecenvDQNPolicy)
    assert count(agent.model.q_net) == count(our_network(32, 128))
    default = build_agent(compose_config(["agent=sb3_dqn", "env=small", "device=cpu"]))
    assert default.policy == "MultiInputPolicy"


def test_sb3_learning_reports_progress_selection_and_its_own_budget() -> None:
    """The protocol's callback sees the steps grow; selection scores the policy every
    interval and at the end; the agent's own env is its training budget."""
    config = recenv.make_config("small")
    agent = SB3Agent(
        config,
        seed=0,
        device="cpu",
        algorithm="dqn",
        n_envs=8,
        learning_starts=64,
        buffer_size=1_000,
        batch_size=32,
        validation_interval=256,
        validation_shoppers=16,
    )
    seen: list[int] = []
    agent.learn(
        recenv.ShoppingVectorEnv(8, config=config),
        512,
        callback=lambda a: seen.append(a.steps_done),
    )
    assert seen == list(range(8, 513, 8))
    assert agent.steps_done == 512
    assert agent.selection.candidates == 3  # at 256, 512 and the end
    used = agent.shopper_steps_used
    assert used["training"] == agent.vec_env.env.simulator.shopper_steps > 0
    assert used["selection"] >= 3 * 16  # every validation session lasts at least one step
