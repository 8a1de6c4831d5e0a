"""The HTTP server (``experiments.serve``): it answers what the saved agent's ``act`` answers,
refuses bad bodies naming the field, and logs events durably without ever overwriting them.

Agents are trained for a few seconds on ``small`` (100 items, history 10, cart 5), saved to
``tmp_path`` and served from disk; observations are real ones, from a random-policy session.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from starlette.exceptions import StarletteDeprecationWarning

import recenv
from agents.mlp import MLPAgent
from agents.oracle import MyopicOracle
from agents.popularity import PopularityAgent
from agents.rule import RuleAgent
from experiments.checkpoints import save_checkpoint
from experiments.event_log import read_events
from experiments.factory import CONFIG_DIR
from experiments.saved_agents import config_hash, load_saved_agent
from experiments.serve import create_app
from experiments.serve_config import ServeConfig, register
from recenv import ShoppingVectorEnv
from recenv.sim.config import config_from_dict

with warnings.catch_warnings():  # starlette 1.x prefers httpx2; the project pins httpx
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.usefixtures("single_torch_thread")

ROOT = Path(__file__).resolve().parent.parent
SMALL = recenv.make_config("small")
N_ITEMS = SMALL.catalog.n_items  # 100: ids 0..99, 100 pads history and cart


def observations(config: recenv.EnvConfig, n_shoppers: int = 16, steps: int = 6) -> dict:
    """A batch of real observations after ``steps`` random recommendations (filled
    histories and carts; ``small`` has returning shoppers with histories from the start)."""
    env = ShoppingVectorEnv(n_shoppers, config=config)
    observation, _ = env.reset(seed=3)
    rng = np.random.default_rng(3)
    shape = (n_shoppers,) if config.slate_size == 1 else (n_shoppers, config.slate_size)
    for _ in range(steps):
        observation, *_ = env.step(rng.integers(0, config.catalog.n_items, shape))
    return observation


def as_json(batch: dict) -> list[dict]:
    """The batch as the JSON rows a client sends, one per shopper."""
    return [
        {key: value[row].tolist() for key, value in batch.items()}
        for row in range(len(batch["query"]))
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[object, Path]]:
    """A tiny MLP, popularity (single items and slates of 3) and the rule, saved to disk."""
    root = tmp_path_factory.mktemp("agents")
    slates = recenv.make_config("small", slate_size=3)
    specs = {
        "mlp": (MLPAgent, SMALL, {"max_epochs": 2, "selection_shoppers": 0, "hidden_size": 32}),
        "popularity": (PopularityAgent, SMALL, {}),
        "popularity_slates": (PopularityAgent, slates, {}),
        "rule": (RuleAgent, SMALL, {}),
    }
    agents = {}
    for name, (cls, config, hyperparameters) in specs.items():
        agent = cls(config, seed=0, device="cpu", **hyperparameters)
        agent.learn(ShoppingVectorEnv(32, config=config), 3_000)
        agent.save(root / name)
        agents[name] = (agent, root / name)
    return agents


@pytest.mark.parametrize("name", ["mlp", "popularity", "popularity_slates", "rule"])
def test_recommendations_equal_the_agents_act(name: str, trained: dict, tmp_path: Path) -> None:
    """Served from disk, the items equal the trained agent's own ``act`` on the same batch."""
    agent, folder = trained[name]
    batch = observations(agent.env_config)
    expected = agent.act(batch, deterministic=True)
    with TestClient(create_app(folder, tmp_path / "events.jsonl")) as client:
        answer = client.post("/recommend", json={"observations": as_json(batch)})
        single = client.post("/recommend", json={"observations": as_json(batch)[:1]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"] == expected.tolist()
    assert single.json()["items"] == expected[:1].tolist()  # a batch of one answers the same
    assert np.shape(answer.json()["items"]) == (16,) + ((3,) if "slates" in name else ())


def test_popularity_serves_the_best_unseen_item_by_brute_force(trained: dict, tmp_path) -> None:
    """Independently of ``act``: the best-scored item neither in the history nor the cart."""
    agent, folder = trained["popularity"]
    batch = observations(SMALL)
    with TestClient(create_app(folder, tmp_path / "events.jsonl")) as client:
        items = client.post("/recommend", json={"observations": as_json(batch)}).json()["items"]
    for row, item in enumerate(items):
        seen = set(batch["history"][row]) | set(batch["cart"][row])
        best = max((i for i in range(N_ITEMS) if i not in seen), key=lambda i: agent.scores[i])
        assert item == best


def test_run_folders_and_checkpoints_load_the_same_agent(trained: dict, tmp_path: Path) -> None:
    """A run folder (``results.json`` + ``final_agent/``) and a checkpoint folder serve the
    agent they hold; the class and env name come from the run's record."""
    agent, _ = trained["rule"]
    run = tmp_path / "run"
    agent.save(run / "final_agent")
    record = {"agent_target": "agents.rule.RuleAgent", "env": "my_small"}
    (run / "results.json").write_text(json.dumps(record))
    checkpoint = save_checkpoint(tmp_path / "other" / "checkpoints", agent, {"steps": 7})
    batch = observations(SMALL)
    run_of_checkpoint = checkpoint.parent.parent
    for path, env in ((run, "my_small"), (checkpoint, "small"), (run_of_checkpoint, "small")):
        saved = load_saved_agent(path)
        assert (saved.kind, saved.target, saved.env_name) == ("rule", record["agent_target"], env)
        np.testing.assert_array_equal(saved.agent.act(batch, True), agent.act(batch, True))
    with pytest.raises(ValueError, match="holds no saved agent"):
        load_saved_agent(tmp_path / "nothing_here")


def test_health_names_the_agent_and_the_scenario(trained: dict, tmp_path: Path) -> None:
    _, folder = trained["popularity_slates"]
    with TestClient(create_app(folder, tmp_path / "events.jsonl")) as client:
        health = client.get("/health").json()
    slates = recenv.make_config("small", slate_size=3)
    assert health["agent"] == "popularity"
    assert health["agent_class"] == "agents.popularity.PopularityAgent"
    assert health["env"] == "custom"  # small with slate_size 3 is no shipped preset
    assert health["env_hash"] == config_hash(slates) != config_hash(SMALL)
    assert (health["slate_size"], health["n_items"], health["history_length"]) == (3, 100, 10)


PADS = [100] * 9
BAD_OBSERVATIONS = [  # (change to the first observation, field in it, value shown, allowed)
    ({"history": [101, *PADS]}, "history[0]", "101", "less than or equal to 100"),
    ({"history": PADS}, "history", "[100, 100", "at least 10 items"),
    ({"cart": [-1, 100, 100, 100, 100]}, "cart[0]", "-1", "greater than or equal to 0"),
    ({"session": ["1"] + [0.0] * 8}, "session[0]", "'1'", "a valid number"),
    ({"query": 5.5}, "query", "5.5", "a valid integer"),
    ({"query": 6}, "query", "6", "less than or equal to 5"),
    ({"history_events": [5] + [0] * 9}, "history_events[0]", "5", "less than or equal to 4"),
    ({"cart": None}, "cart", "None", "a valid list"),
    ({"colour": 1}, "colour", "1", "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("change", "field", "value", "allowed"), BAD_OBSERVATIONS)
def test_bad_observations_get_422_naming_field_value_and_range(
    change: dict, field: str, value: str, allowed: str, trained: dict, tmp_path: Path
) -> None:
    _, folder = trained["popularity"]
    rows = as_json(observations(SMALL, n_shoppers=2))
    rows[0] = {**rows[0], **change}
    with TestClient(create_app(folder, tmp_path / "events.jsonl")) as client:
        answer = client.post("/recommend", json={"observations": rows})
    assert answer.status_code == 422
    (message,) = answer.json()["message"]
    assert message.startswith(f"observations[0].{field} = {value}"), message
    assert allowed in message, message


def test_padding_and_events_must_agree_and_batches_are_bounded(trained: dict, tmp_path) -> None:
    _, folder = trained["popularity"]
    row = as_json(observations(SMALL, n_shoppers=1))[0]
    padded = {**row, "history": [100] * 10}  # all padding, but the events say shown
    with TestClient(create_app(folder, tmp_path / "events.jsonl", max_batch=4)) as client:
        mismatch = client.post("/recommend", json={"observations": [padded]})
        too_many = client.post("/recommend", json={"observations": [row] * 5})
        missing = client.post("/recommend", json={})
    assert "history_events[0]" in mismatch.json()["message"][0]
    assert "a padded slot (item 100) has event 0" in mismatch.json()["message"][0]
    assert "at most 4 items" in too_many.json()["message"][0]
    assert missing.json()["message"] == ["observations = missing: Field required"]
    assert {mismatch.status_code, too_many.status_code, missing.status_code} == {422}


EVENTS = [
    {"shopper": "s-1", "item": 4, "event": "impression", "position": 0, "timestamp": 1.5},
    {"shopper": "s-1", "item": 4, "event": "click", "position": None, "timestamp": None},
    {"shopper": "s-2", "item": 99, "event": "cart", "position": None, "timestamp": 2.0},
    {"shopper": "s-2", "item": 0, "event": "purchase", "position": None, "timestamp": None},
]


def sent_fields(records: list[dict]) -> list[dict]:
    """The records without the fields the server adds (``seq``, ``received_at``)."""
    added = ("seq", "received_at")
    return [{key: value for key, value in r.items() if key not in added} for r in records]


def test_events_are_appended_and_read_back_exactly(trained: dict, tmp_path: Path) -> None:
    _, folder = trained["rule"]
    path = tmp_path / "logs" / "events.jsonl"
    with TestClient(create_app(folder, path)) as client:
        first = client.post("/events", json={"events": EVENTS[:3]})
        second = client.post("/events", json={"events": EVENTS[3:]})
        bad = client.post("/events", json={"events": [EVENTS[0], {**EVENTS[1], "item": 100}]})
        wrong_kind = client.post("/events", json={"events": [{**EVENTS[0], "event": "view"}]})
        numeric_shopper = client.post("/events", json={"events": [{**EVENTS[0], "shopper": 7}]})
        logged = client.get("/health").json()["events_logged"]
    assert first.json() == {"first_seq": 0, "logged": 3}
    assert second.json() == {"first_seq": 3, "logged": 1}
    assert bad.json()["message"] == ["events[1].item = 100: Input should be less than 100"]
    assert "Input should be 'impression', 'click', 'cart' or 'purchase'" in wrong_kind.text
    assert numeric_shopper.json()["message"] == [
        "events[0].shopper = 7: Input should be a valid string"
    ]
    records = read_events(path)
    assert logged == len(records) == 4  # a refused request logs none of its events
    assert [record["seq"] for record in records] == [0, 1, 2, 3]
    assert sent_fields(records) == EVENTS
    times = [record["received_at"] for record in records]
    assert times == sorted(times) and abs(times[-1] - time.time()) < 600


def test_a_restart_appends_and_never_overwrites(trained: dict, tmp_path: Path) -> None:
    _, folder = trained["rule"]
    path = tmp_path / "events.jsonl"
    with TestClient(create_app(folder, path)) as client:
        client.post("/events", json={"events": EVENTS[:2]})
        with pytest.raises(ValueError, match="open in another server"):
            create_app(folder, path)  # a second writer on a live log is refused
    before = path.read_bytes()
    app = create_app(folder, path)
    with TestClient(app) as client:
        assert client.get("/health").json()["events_logged"] == 2
        assert client.post("/events", json={"events": EVENTS[2:3]}).json()["first_seq"] == 2
    with TestClient(app) as client:  # the same app started again reopens its log
        assert client.post("/events", json={"events": EVENTS[3:]}).json()["first_seq"] == 3
    after = path.read_bytes()
    assert after.startswith(before) and len(after) > len(before)
    assert [record["seq"] for record in read_events(path)] == [0, 1, 2, 3]
    assert sent_fields(read_events(path)) == EVENTS


def test_a_torn_or_foreign_log_is_refused_and_left_as_it_is(trained: dict, tmp_path) -> None:
    _, folder = trained["rule"]
    torn = tmp_path / "torn.jsonl"
    with TestClient(create_app(folder, torn)) as client:
        client.post("/events", json={"events": EVENTS[:1]})
    complete = torn.read_bytes()
    torn.write_bytes(complete + b'{"seq": 1, "shopper": "s')  # a write cut off mid-record
    with pytest.raises(ValueError, match=f"incomplete record at byte {len(complete)}"):
        create_app(folder, torn)
    foreign = tmp_path / "results.json"
    foreign.write_text('{"metrics": {}}\n')
    with pytest.raises(ValueError, match="line 1 is not an events-log record"):
        create_app(folder, foreign)
    assert torn.read_bytes() == complete + b'{"seq": 1, "shopper": "s'
    assert foreign.read_text() == '{"metrics": {}}\n'


def test_agents_that_read_hidden_state_are_refused(tmp_path: Path) -> None:
    MyopicOracle(SMALL, seed=0).save(tmp_path / "oracle")
    with pytest.raises(ValueError, match="hidden state"):
        create_app(tmp_path / "oracle", tmp_path / "events.jsonl")
    assert not (tmp_path / "events.jsonl").exists()  # refused before the log was opened


def test_the_serve_group_composes_and_checks_its_ranges() -> None:
    """``conf/serving.yaml`` + ``conf/serve/default.yaml`` through Hydra's Compose API."""
    register()
    overrides = ["serve.agent=/some/run", "serve.port=8123", "serve.device=cuda:1"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("serving", overrides=overrides)
        with pytest.raises(ConfigCompositionException):  # a misspelt field fails at once
            compose("serving", overrides=["serve.agent=/x", "serve.prot=1"])
    settings = config_from_dict(OmegaConf.to_container(cfg.serve), ServeConfig)
    assert (settings.agent, settings.port, settings.device) == ("/some/run", 8123, "cuda:1")
    assert (settings.events, settings.fsync, settings.max_batch) == (
        "outputs/serve/events.jsonl",
        True,
        256,
    )
    for field, value, message in (("port", 70_000, r"\[0, 65535\]"), ("device", "gpu", "cuda:N")):
        with pytest.raises(ValueError, match=message):
            config_from_dict({"agent": "/x", field: value}, ServeConfig)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_hydra_entry_point_serves_and_a_kill_loses_no_acknowledged_event(
    trained: dict, tmp_path: Path
) -> None:
    """``python -m experiments.serve`` in a child process; SIGKILL right after an answer."""
    _, folder = trained["popularity"]
    port, path = free_port(), tmp_path / "events.jsonl"
    command = [sys.executable, "-m", "experiments.serve", f"serve.agent={folder}"]
    command += [f"serve.events={path}", f"serve.port={port}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                health = httpx.get(f"{url}/health", timeout=5).json()
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert (health["agent"], health["env"]) == ("popularity", "small")
        answer = httpx.post(f"{url}/events", json={"events": EVENTS}, timeout=10)
        assert answer.json() == {"first_seq": 0, "logged": 4}
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        server.stderr.close()
    assert sent_fields(read_events(path)) == EVENTS
