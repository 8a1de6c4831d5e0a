"""The scaffolding every agent shares, each piece against what it promises: hyperparameters
checked in one style with one source of defaults, the reward formula written once, the
learning-rate schedule, model selection as a callback, and checkpoints of older layouts."""

from __future__ import annotations

import dataclasses
import importlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

import recenv
from agents.base import MemoryLogger, RewardWeights, expected_reward
from agents.buffers import ReplayBuffer
from agents.dqn import DQNConfig
from agents.hyperparameters import POSITIVE, POSITIVE_SHARE, Range
from agents.kmeans import KMeansAgent
from agents.random import RandomAgent
from agents.schedules import LinearDecayLR
from agents.selection import ModelSelection
from experiments.factory import build_agent, compose_config
from experiments.schema import AGENT_SCHEMAS, OPEN_AGENT_SCHEMAS
from recenv.sim.funnel import step_reward, weighted_reward

pytestmark = pytest.mark.usefixtures("single_torch_thread")

CONF = Path(__file__).resolve().parent.parent / "conf" / "agent"
SMALL = recenv.make_config("small")


# -- hyperparameters: one schema per agent, one source of defaults ------------------------


def defaults_of(name: str) -> dict[str, Any]:
    path = {**AGENT_SCHEMAS, **OPEN_AGENT_SCHEMAS}[name]
    module, _, schema = path.partition(":")
    return dataclasses.asdict(getattr(importlib.import_module(module), schema)())


@pytest.mark.parametrize("preset", sorted(path.stem for path in CONF.glob("*.yaml")))
def test_agent_presets_state_only_what_differs_from_the_schema(preset: str) -> None:
    """Each preset extends its agent's schema and repeats none of its defaults."""
    text = yaml.safe_load((CONF / f"{preset}.yaml").read_text())
    (base,) = [entry for entry in text["defaults"] if entry != "_self_"]
    name = base.removeprefix("base_").removesuffix("@agent")
    defaults = defaults_of(name)
    stated = {key: value for key, value in text["agent"].items() if key != "_target_"}
    assert not {key for key, value in stated.items() if defaults.get(key, object()) == value}
    composed = OmegaConf.to_container(compose_config([f"agent={preset}"]).agent)
    assert composed == {"_target_": text["agent"]["_target_"], **defaults, **stated}


def test_a_misspelt_or_mistyped_agent_field_fails_at_composition() -> None:
    with pytest.raises(ConfigCompositionException, match="learning_rat"):
        compose_config(["agent=dqn", "agent.learning_rat=0.1"])
    with pytest.raises(ConfigCompositionException, match="learning_rate"):
        compose_config(["agent=dqn", "agent.learning_rate=fast"])


def test_agent_fields_are_set_with_or_without_a_plus() -> None:
    """``+agent.cart_shaping=1`` (recorded benchmark commands) and ``agent.cart_shaping=1``."""
    for override in ("agent.cart_shaping=1", "+agent.cart_shaping=1", "++agent.cart_shaping=1"):
        assert compose_config(["agent=dqn", override]).agent.cart_shaping == 1.0, override
    # the SB3 adapter's schema stays open to SB3's own keyword arguments
    assert compose_config(["agent=sb3_ppo", "+agent.ent_coef=0.01"]).agent.ent_coef == 0.01


def test_a_custom_target_keeps_the_preset_settings() -> None:
    cfg = compose_config(["agent=custom_example", "agent._target_=mypkg.MyAgent"])
    assert cfg.agent._target_ == "mypkg.MyAgent"
    assert OmegaConf.to_container(cfg.agent)["fatigue_penalty"] == 1.0


def test_composed_settings_reach_the_agent() -> None:
    cfg = compose_config(["agent=rule", "env=small", "agent.prior_strength=4"])
    agent = build_agent(cfg)
    assert (agent.prior_strength, agent.rotation_window, agent.click_weight) == (4.0, 8, 0.15)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"tau": 0.0}, r"dqn\.tau = 0\.0 is out of range; allowed: \(0, 1\]"),
        ({"learning_rate": 0}, r"dqn\.learning_rate = 0\.0 is out of range; allowed: \(0, inf\)"),
        ({"n_steps": 0}, r"dqn\.n_steps = 0 is out of range; allowed: \[1, inf\)"),
        ({"n_steps": 2.5}, r"dqn\.n_steps: expected an integer, got 2\.5"),
        ({"double_dqn": "yes"}, r"dqn\.double_dqn: expected true/false"),
        ({"head": "mlp"}, r"dqn\.head = 'mlp' is not allowed; choose one of \('dot', 'linear'\)"),
        (
            {"gama": 0.9},
            r"unknown dqn hyperparameters \['gama'\]; valid: \['attention_dropout'",
        ),
    ],
)
def test_hyperparameter_errors_name_the_agent_field_value_and_range(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        DQNConfig.from_mapping(settings)


def test_ranges_describe_and_contain_their_ends() -> None:
    assert (POSITIVE.describe(), POSITIVE_SHARE.describe()) == ("(0, inf)", "(0, 1]")
    assert Range(-1, 2).describe() == "[-1, 2]"
    assert not POSITIVE.contains(0) and POSITIVE.contains(1e-12)
    assert POSITIVE_SHARE.contains(1) and not POSITIVE_SHARE.contains(1.0 + 1e-12)
    assert POSITIVE.contains(None)  # None: "the env's own value" (an optional field)
    assert not POSITIVE.contains("1") and not POSITIVE.contains(True)


def test_numpy_numbers_are_stored_as_python_numbers() -> None:
    config = DQNConfig(n_steps=np.int64(3), gamma=np.float32(0.5))
    assert type(config.n_steps) is int and type(config.gamma) is float


# -- the reward formula, written once ----------------------------------------------------


def test_expected_reward_is_the_simulators_compiled_formula() -> None:
    """Floats, numpy arrays and torch tensors give what the kernels' ``step_reward`` gives,
    cart weight included: 0.3 * 0.5 + 0.2 * 0.25 + 1.5 * (0.1 * 4.0) = 0.8 (revenue);
    0.3 * 0.5 + 0.2 * 0.25 + 1.5 * 0.1 = 0.35 (count)."""
    for purchase_reward, by_hand in (("revenue", 0.8), ("count", 0.35)):
        funnel = dataclasses.replace(
            SMALL.funnel,
            reward_click=0.3,
            reward_cart=0.2,
            reward_purchase=1.5,
            purchase_reward=purchase_reward,
        )
        weights = RewardWeights.of(funnel)
        scalar = expected_reward(weights, 0.5, 0.25, 0.1, 4.0)
        array = expected_reward(weights, np.full(3, 0.5), 0.25, np.full(3, 0.1), 4.0)
        tensor = expected_reward(
            weights, torch.full((2,), 0.5, dtype=torch.float64), 0.25, 0.1, 4.0
        )
        assert scalar == pytest.approx(by_hand)
        np.testing.assert_array_equal(array, scalar)
        np.testing.assert_array_equal(tensor.numpy(), scalar)
        compiled = step_reward(0.5, 0.25, 0.1 * 4.0, 0.1, weights)  # numba reads the tuple
        assert compiled == weighted_reward(0.5, 0.25, 0.1 * 4.0, 0.1, weights) == scalar


def test_rule_weights_replace_the_envs_click_and_purchase_weights() -> None:
    weights = RewardWeights.of(SMALL.funnel, click=0.15, purchase=None)
    assert weights.reward_click == 0.15
    assert weights.reward_purchase == SMALL.funnel.reward_purchase


def test_kmeans_scores_carts_when_the_env_rewards_them() -> None:
    """``reward_cart`` now reaches k-means' logged rewards (it used to be left out)."""
    carting = recenv.make_config("small", funnel={"reward_cart": 5.0})
    scores = []
    for config in (SMALL, carting):
        agent = KMeansAgent(config, seed=0, n_clusters=2)
        agent.learn(recenv.ShoppingVectorEnv(16, config=config), 3_000)
        scores.append(agent.cluster_scores)
    assert (scores[1] >= scores[0] - 1e-12).all() and (scores[1] > scores[0] + 1e-9).any()


# -- the learning-rate schedule --------------------------------------------------------------


def test_linear_decay_sets_the_rate_from_the_share_of_the_budget_used() -> None:
    """``lr = lr_0 (1 + p (end - 1))``: 0.01 * (1 + 0.5 * (0.2 - 1)) = 0.006 at p = 0.5."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=0.01)
    schedule = LinearDecayLR(optimizer, end_share=0.2)
    assert optimizer.param_groups[0]["lr"] == 0.01  # unchanged when built
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # stepped before the optimizer without a warning
        for progress in (0.0, 0.5, 0.25, 0.999):
            schedule.step_to(progress)
            assert optimizer.param_groups[0]["lr"] == 0.01 * (1 + progress * (0.2 - 1))
    schedule.step_to(0.5)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.006)
    # a loaded optimizer state (a checkpoint's decayed rate, no initial_lr) keeps lr_0
    state = optimizer.state_dict()
    state["param_groups"][0]["lr"] = 1.0
    del state["param_groups"][0]["initial_lr"]
    optimizer.load_state_dict(state)
    schedule.step_to(0.25)
    assert optimizer.param_groups[0]["lr"] == 0.01 * (1 + 0.25 * (0.2 - 1))


# -- model selection as a callback -------------------------------------------------------------


class TinyModel:
    """A model whose weights are one number, counting loads."""

    def __init__(self) -> None:
        self.weight, self.loaded = 0, []

    def state_dict(self) -> dict[str, int]:
        return {"weight": self.weight}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.loaded.append(state["weight"])
        self.weight = state["weight"]


class ScoredAgent(RandomAgent):
    """Shows one fixed item when its weight is 1, random items otherwise."""

    def __init__(self, model: TinyModel) -> None:
        super().__init__(SMALL, seed=0)
        self.model, self.steps_done = model, 0

    def act(self, observation, deterministic=False, info=None):
        if self.model.weight == 1:
            return np.zeros(len(observation["session"]), dtype=np.int64)
        return super().act(observation)


def test_model_selection_scores_every_interval_and_keeps_the_best() -> None:
    model, logger = TinyModel(), MemoryLogger()
    agent = ScoredAgent(model)
    selection = ModelSelection(SMALL, model, n_shoppers=16, seed=0, interval=100)
    agent.steps_done = 40  # a continued run: the first score is 100 steps from here
    selection.start(agent, logger)
    for steps, weight in ((90, 0), (140, 1), (200, 2), (260, 2), (339, 2), (340, 3)):
        agent.steps_done, model.weight = steps, weight
        selection(agent)
    assert [step for step, _ in logger.scalars["train/validation_return"]] == [140, 260, 340]
    scores = [score for _, score in logger.scalars["train/validation_return"]]
    assert selection.candidates == 3 and selection.best_score == max(scores)
    selection.finish(agent)  # scores the final weights too, then loads the best
    assert selection.candidates == 4 and model.loaded == [selection.best_state["weight"]]
    assert selection.shopper_steps > 0


def test_model_selection_without_an_interval_is_left_to_the_agent() -> None:
    model = TinyModel()
    agent = ScoredAgent(model)
    selection = ModelSelection(SMALL, model, n_shoppers=8)
    selection.start(agent)
    agent.steps_done = 10**9
    selection(agent)
    selection.finish(agent)
    assert (selection.candidates, model.loaded) == (0, [])
    assert selection.consider(agent, step=1) and selection.best_state == {"weight": 0}


# -- checkpoints of older layouts ----------------------------------------------------------


def test_a_replay_buffer_saved_before_termination_flags_loads(tmp_path: Path) -> None:
    """Older buffers held discount 0 after a termination and no flag: they load unchanged."""
    shapes = {"history": (2,), "history_events": (2,), "cart": (1,), "session": (3,), "query": ()}
    buffer = ReplayBuffer(4, shapes, torch.device("cpu"), torch.Generator().manual_seed(0))
    observation = {key: np.zeros((2, *shape)) for key, shape in shapes.items()}
    buffer.add(observation, np.array([1, 2]), np.ones(2), observation, np.array([0.0, 0.9]))
    state = buffer.state_dict()
    del state["terminated"]
    restored = ReplayBuffer(4, shapes, torch.device("cpu"), torch.Generator().manual_seed(0))
    restored.load_state_dict(state)
    assert restored.terminated.tolist() == [0, 0, 0, 0]
    assert restored.discounts[:2].tolist() == pytest.approx([0.0, 0.9])
