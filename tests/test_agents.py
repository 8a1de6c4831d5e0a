"""The agents of ``agents/`` on the ``small`` preset: they learn, checkpoint, and validate.

Every agent is built as ``Agent(cfg, seed=0, device="cpu", **hyperparameters)``, trained
with ``agent.learn(env, total_steps)`` on a 32-shopper NEXT_STEP vector env, and judged
with the paired evaluation of ``agents.evaluation`` against ``RandomAgent`` on the same
shoppers. Budgets are a few seconds of training at most; all seeds are fixed.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import recenv
from agents.dqn import DQNAgent
from agents.evaluation import EvaluationResult, evaluate, paired_difference
from agents.kmeans import KMeansAgent
from agents.mlp import MLPAgent
from agents.oracle import LongTermOracle, MyopicOracle
from agents.popularity import PopularityAgent
from agents.random import RandomAgent
from agents.sb3 import SB3Agent
from recenv import ShoppingVectorEnv
from recenv.sim.core import build_world

pytestmark = pytest.mark.usefixtures("single_torch_thread")

CFG = recenv.make_config("small")
N_ITEMS = CFG.catalog.n_items
TRAIN_SHOPPERS = 32
EVAL_SHOPPERS = 500
EVAL_SEED = 2024

# Every DQN knob that matters for learning is pinned, so changes of the defaults in
# agents/dqn.py do not change what this test trains. ~2 s on one core.
DQN_HYPERPARAMETERS: dict[str, Any] = {
    "learning_rate": 1e-3,
    "gamma": 0.97,
    "buffer_size": 20_000,
    "batch_size": 64,
    "learning_starts": 1_000,
    "gradient_steps": 1,
    "target_update": "hard",
    "target_update_interval": 500,
    "exploration_initial": 1.0,
    "exploration_final": 0.05,
    "exploration_fraction": 0.3,
    "double_dqn": True,
    "n_steps": 3,
    "max_grad_norm": 10.0,
    "reward_scale": 1.0,
    "embedding_dim": 16,
    "hidden_size": 64,
    "head": "dot",
}


@dataclass(frozen=True)
class AgentSpec:
    """How one agent is built and trained in these tests."""

    cls: type
    train_steps: int
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    oracle: bool = False  # reads info["hidden"]; its checkpoint needs the env config to load


SPECS: dict[str, AgentSpec] = {
    "random": AgentSpec(RandomAgent, 0),
    "popularity": AgentSpec(PopularityAgent, 10_000),
    "kmeans": AgentSpec(KMeansAgent, 10_000),
    # The myopic MLP is seed-sensitive at this budget: seeds 0-5 beat random, seed 6 does not
    # (it keeps recommending one item). Seed 0 is fixed, so the test is deterministic.
    "mlp": AgentSpec(MLPAgent, 20_000, {"max_epochs": 3}),
    "dqn": AgentSpec(DQNAgent, 20_000, DQN_HYPERPARAMETERS),
    "myopic_oracle": AgentSpec(MyopicOracle, 0, oracle=True),
    "long_term_oracle": AgentSpec(LongTermOracle, 0, oracle=True),
    # SB3 adapters train on their own SAME_STEP copy of the env; a few hundred steps only.
    "sb3_dqn": AgentSpec(
        SB3Agent,
        512,
        {
            "algorithm": "dqn",
            "n_envs": 8,
            "buffer_size": 1_000,
            "learning_starts": 64,
            "batch_size": 32,
        },
    ),
    "sb3_ppo": AgentSpec(
        SB3Agent, 512, {"algorithm": "ppo", "n_envs": 8, "n_steps": 64, "batch_size": 64}
    ),
}
BEAT_RANDOM = ["popularity", "kmeans", "mlp", "dqn", "myopic_oracle", "long_term_oracle"]
SB3 = ["sb3_dqn", "sb3_ppo"]
CHECKPOINTED = [name for name in SPECS if name != "random"]  # random: see its own test


def build(name: str) -> Any:
    """An untrained agent of ``SPECS[name]``."""
    spec = SPECS[name]
    return spec.cls(CFG, seed=0, device="cpu", **spec.hyperparameters)


def kind_of(cls: type) -> str:
    """The ``kind`` an agent class writes into ``agent.json`` (its module's ``KIND``)."""
    return importlib.import_module(cls.__module__).KIND


def load(name: str, path: Path) -> Any:
    """Load a checkpoint; oracles rebuild their world from the env config they are given."""
    spec = SPECS[name]
    return spec.cls.load(path, env_config=CFG) if spec.oracle else spec.cls.load(path)


@pytest.fixture(scope="module")
def trained() -> Callable[[str], Any]:
    """Train each agent once per module, on first use."""
    cache: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in cache:
            env = ShoppingVectorEnv(TRAIN_SHOPPERS, config=CFG)
            cache[name] = build(name).learn(env, SPECS[name].train_steps)
        return cache[name]

    return get


@pytest.fixture(scope="module")
def random_result() -> EvaluationResult:
    """The chance level: uniform-random recommendations on the evaluation shoppers.

    On these 500 shoppers (seed 2024) RandomAgent's mean return is about 0.67 per session.
    """
    return evaluate(RandomAgent(CFG, seed=0, device="cpu"), CFG, EVAL_SHOPPERS, EVAL_SEED)


@pytest.fixture(scope="module")
def probe() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """16 shoppers three steps into their sessions (non-empty histories), hidden state shown."""
    env = ShoppingVectorEnv(16, config=CFG, expose_hidden_state=True)
    observation, info = env.reset(seed=99)
    rng = np.random.default_rng(99)
    for _ in range(3):
        observation, *_, info = env.step(rng.integers(0, N_ITEMS, 16))
    return observation, info


# -- 1. learning --------------------------------------------------------------------------


@pytest.mark.parametrize("name", BEAT_RANDOM)
def test_agent_beats_random_on_the_same_shoppers(
    name: str, trained: Callable[[str], Any], random_result: EvaluationResult
) -> None:
    """Paired 95% CI of (agent - random) return, same shoppers, lies above zero."""
    result = evaluate(trained(name), CFG, EVAL_SHOPPERS, EVAL_SEED)
    difference = paired_difference(result, random_result, "return")
    assert difference.ci_low > 0, f"{name} does not beat random: {difference}"


@pytest.mark.parametrize("name", ["kmeans", "mlp", "dqn"])
def test_training_beats_the_untrained_agent(name: str, trained: Callable[[str], Any]) -> None:
    """Beating random is not enough: an untrained agent may too, by structure alone (an
    all-zero k-means table still skips seen items, in id order: 1.05 per session here
    against random's 0.76). Learning itself must pay off, over three training seeds (the
    CI covers seeds and shoppers): k-means gains least (+0.04, +0.25, +0.11 per seed) as
    its logged-reward table favours clickbait."""
    untrained = evaluate(build(name), CFG, EVAL_SHOPPERS, EVAL_SEED)
    spec = SPECS[name]
    results = [trained(name)] + [
        spec.cls(CFG, seed=seed, device="cpu", **spec.hyperparameters).learn(
            ShoppingVectorEnv(TRAIN_SHOPPERS, config=CFG), spec.train_steps
        )
        for seed in (1, 2)
    ]
    evaluations = [evaluate(agent, CFG, EVAL_SHOPPERS, EVAL_SEED) for agent in results]
    difference = paired_difference(evaluations, [untrained] * 3, "return")
    assert difference.ci_low > 0, f"training {name} did not help: {difference}"


def test_popularity_scores_follow_the_click_appeal_of_items(
    trained: Callable[[str], Any],
) -> None:
    """Popularity's gain over its untrained self is too small to test by return (~0.09), so
    check what it learned: logged clicks rank items like the simulator's hidden appeal."""
    appeal = build_world(CFG).catalog.appeal
    correlation = spearmanr(trained("popularity").scores, appeal).statistic
    assert correlation > 0.3  # about 0.46 with 10,000 logged steps


def test_another_random_agent_does_not_beat_random(random_result: EvaluationResult) -> None:
    """The criterion above is not trivially met: a differently seeded RandomAgent fails it."""
    other = evaluate(RandomAgent(CFG, seed=1, device="cpu"), CFG, EVAL_SHOPPERS, EVAL_SEED)
    difference = paired_difference(other, random_result, "return")
    assert difference.ci_low <= 0 <= difference.ci_high


@pytest.mark.parametrize("name", SB3)
def test_sb3_agent_trains_and_acts_validly(name: str, trained: Callable[[str], Any]) -> None:
    """SB3 adapters run SB3's loop (weights move) and act with valid item ids."""
    agent = trained(name)
    assert agent.model.num_timesteps >= SPECS[name].train_steps
    fresh = build(name)  # same seed, so same initial weights as ``agent`` had
    moved = [
        not torch.equal(before, after)
        for before, after in zip(
            fresh.model.policy.parameters(), agent.model.policy.parameters(), strict=True
        )
    ]
    assert any(moved), "training did not change any policy weight"
    env = ShoppingVectorEnv(24, config=CFG)
    observation, _ = env.reset(seed=5)
    for deterministic in (True, False):
        action = agent.act(observation, deterministic=deterministic)
        assert action.shape == (24,) and action.dtype == np.int64
        assert ((action >= 0) & (action < N_ITEMS)).all()
        observation, *_ = env.step(action)  # the env validates actions too
    result = evaluate(agent, CFG, 32, EVAL_SEED)  # whole sessions through the adapter
    assert np.isfinite(result.sessions["return"]).all()


def test_dqn_slates_hold_distinct_items() -> None:
    """With slate_size=3, greedy and exploring slates hold 3 distinct valid items."""
    config = recenv.make_config("small", slate_size=3)
    hyperparameters = {**DQN_HYPERPARAMETERS, "learning_starts": 500}
    agent = DQNAgent(config, seed=0, device="cpu", **hyperparameters)
    agent.learn(ShoppingVectorEnv(16, config=config), 2_000)
    env = ShoppingVectorEnv(64, config=config)
    observation, _ = env.reset(seed=3)
    agent.epsilon = 0.5  # half the rows explore: random scores must still give distinct slates
    for deterministic in (True, False, True):
        slates = agent.act(observation, deterministic=deterministic)
        assert slates.shape == (64, 3)
        assert ((slates >= 0) & (slates < N_ITEMS)).all()
        assert all(len(set(row)) == 3 for row in slates.tolist()), slates
        observation, *_ = env.step(slates)


# -- 2. checkpoints -----------------------------------------------------------------------


@pytest.mark.parametrize("name", CHECKPOINTED)
def test_checkpoint_round_trip_acts_identically(
    name: str,
    trained: Callable[[str], Any],
    probe: tuple[dict[str, np.ndarray], dict[str, Any]],
    tmp_path: Path,
) -> None:
    """A trained agent and its reloaded checkpoint recommend the same items."""
    observation, info = probe
    agent = trained(name)
    agent.save(tmp_path / "a")
    loaded = load(name, tmp_path / "a")
    assert type(loaded) is type(agent)
    np.testing.assert_array_equal(
        loaded.act(observation, deterministic=True, info=info),
        agent.act(observation, deterministic=True, info=info),
    )
    if name == "dqn":  # stronger: the very same Q-values and training counters
        np.testing.assert_array_equal(loaded.q_values(observation), agent.q_values(observation))
        assert (loaded.steps_done, loaded.updates_done) == (agent.steps_done, agent.updates_done)


def test_random_checkpoint_restores_the_seed(
    probe: tuple[dict[str, np.ndarray], dict[str, Any]], tmp_path: Path
) -> None:
    """RandomAgent draws anew at every call; a reloaded one replays a fresh agent's draws."""
    observation, _ = probe
    RandomAgent(CFG, seed=7, device="cpu").save(tmp_path / "a")
    fresh, loaded = RandomAgent(CFG, seed=7, device="cpu"), RandomAgent.load(tmp_path / "a")
    first = fresh.act(observation)
    np.testing.assert_array_equal(loaded.act(observation), first)
    np.testing.assert_array_equal(loaded.act(observation), fresh.act(observation))
    assert not np.array_equal(fresh.act(observation), first)  # it is random after all


LOADERS = [RandomAgent, PopularityAgent, KMeansAgent, MLPAgent, DQNAgent, SB3Agent]


@pytest.mark.parametrize("cls", [*LOADERS, LongTermOracle], ids=lambda cls: cls.__name__)
def test_loading_a_missing_checkpoint_raises_file_not_found(cls: type, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        cls.load(tmp_path / "missing")


@pytest.mark.parametrize("cls", LOADERS, ids=lambda cls: cls.__name__)
def test_loading_another_kind_of_agent_raises_naming_both_kinds(cls: type, tmp_path: Path) -> None:
    """A checkpoint of one agent class is refused by another, with both kinds in the message."""
    writer = RandomAgent if cls is PopularityAgent else PopularityAgent
    writer(CFG, seed=0, device="cpu").save(tmp_path / "a")
    written, expected = kind_of(writer), kind_of(cls)
    with pytest.raises(ValueError, match=rf"'{written}'.*'{expected}'"):
        cls.load(tmp_path / "a")


@pytest.mark.parametrize("cls", LOADERS, ids=lambda cls: cls.__name__)
def test_loading_corrupted_json_raises_value_error(cls: type, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "agent.json").write_text('{"kind": "dqn", "hyper')  # cut short
    with pytest.raises(ValueError, match="not valid JSON"):
        cls.load(tmp_path / "a")


@pytest.mark.parametrize(
    ("cls", "small", "large"),
    [
        (DQNAgent, {"hidden_size": 16}, {"hidden_size": 32}),
        (MLPAgent, {"hidden_size": 16}, {"hidden_size": 32}),
        (
            SB3Agent,
            {"algorithm": "ppo", "policy_kwargs": {"net_arch": [16]}},
            {"algorithm": "ppo", "policy_kwargs": {"net_arch": [32]}},
        ),
    ],
    ids=["dqn", "mlp", "sb3_ppo"],
)
def test_loading_weights_of_another_network_size_raises(
    cls: type, small: dict[str, Any], large: dict[str, Any], tmp_path: Path
) -> None:
    """agent.json says one size, weights.pt holds another: a clear ValueError, not a crash."""
    cls(CFG, seed=0, device="cpu", **large).save(tmp_path / "large")
    cls(CFG, seed=0, device="cpu", **small).save(tmp_path / "small")
    shutil.copy(tmp_path / "small" / "weights.pt", tmp_path / "large" / "weights.pt")
    with pytest.raises(ValueError, match="does not match"):
        cls.load(tmp_path / "large")


# -- 3. hyperparameter validation ---------------------------------------------------------

BAD_HYPERPARAMETERS = [
    (DQNAgent, {"learning_rate": -1e-3}, "dqn.learning_rate"),
    (MLPAgent, {"learning_rate": -1e-3}, "mlp.learning_rate"),
    (DQNAgent, {"exploration_initial": 1.5}, "dqn.exploration_initial"),
    (DQNAgent, {"exploration_final": -0.1}, "dqn.exploration_final"),
    (DQNAgent, {"batch_size": 512, "buffer_size": 256}, "dqn.batch_size"),
    (DQNAgent, {"learning_rat": 1e-3}, "learning_rat"),
    (MLPAgent, {"max_epoch": 3}, "max_epoch"),
    (KMeansAgent, {"n_clusters": 0}, "kmeans.n_clusters"),
    (PopularityAgent, {"purchase_weight": -1.0}, "popularity.purchase_weight"),
    (SB3Agent, {"algorithm": "a2c"}, "sb3.algorithm"),
    (SB3Agent, {"n_envs": 0}, "sb3.n_envs"),
]


@pytest.mark.parametrize(
    ("cls", "hyperparameters", "field_name"),
    BAD_HYPERPARAMETERS,
    ids=[f"{cls.__name__}-{next(iter(h))}" for cls, h, _ in BAD_HYPERPARAMETERS],
)
def test_bad_hyperparameters_raise_naming_the_field(
    cls: type, hyperparameters: dict[str, Any], field_name: str
) -> None:
    with pytest.raises(ValueError, match=field_name.replace(".", r"\.")):
        cls(CFG, seed=0, device="cpu", **hyperparameters)


def test_sb3_rejects_slates() -> None:
    """SB3 policies output one item per step, so a slate env is refused up front."""
    with pytest.raises(ValueError, match="slate_size"):
        SB3Agent(recenv.make_config("small", slate_size=3), seed=0, device="cpu")


# -- checkpoint and hyperparameter hygiene -------------------------------------------


def test_oracle_checkpoint_loads_without_being_given_the_env_config(
    probe: tuple[dict[str, np.ndarray], dict[str, Any]], tmp_path: Path
) -> None:
    observation, info = probe
    oracle = LongTermOracle(CFG, patience_value=2.0)
    oracle.save(tmp_path / "a")
    loaded = LongTermOracle.load(tmp_path / "a")  # falls back to the 1000-item default world
    np.testing.assert_array_equal(
        loaded.act(observation, info=info), oracle.act(observation, info=info)
    )


def test_oracle_rejects_a_misspelt_hyperparameter() -> None:
    with pytest.raises((ValueError, TypeError), match="patience_vlaue"):
        LongTermOracle(CFG, patience_vlaue=5.0)


def test_dqn_trains_and_acts_on_cuda_when_present() -> None:
    """``device: auto`` picks CUDA; on a CPU-only machine this test is skipped."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    config = recenv.make_config("small")
    agent = DQNAgent(config, seed=0, device="auto", learning_starts=200, batch_size=32)
    assert agent.device.type == "cuda"
    agent.learn(recenv.ShoppingVectorEnv(16, config=config), 1000)
    observation, _ = recenv.ShoppingVectorEnv(4, config=config).reset(seed=0)
    assert agent.act(observation, deterministic=True).shape == (4,)


def test_random_slates_are_the_first_columns_of_a_full_argsort_of_uniform_keys() -> None:
    """The partial selection draws exactly what sorting every item's key would."""
    config = recenv.make_config("small", slate_size=7)
    agent, reference = RandomAgent(config, seed=11), np.random.default_rng(11)
    observation = {"session": np.zeros((40, 9), dtype=np.float32)}
    for _ in range(5):
        slates = agent.act(observation)
        keys = reference.random((40, config.catalog.n_items))
        np.testing.assert_array_equal(slates, np.argsort(keys, axis=1)[:, :7])
        assert all(len(set(row)) == 7 for row in slates.tolist())
