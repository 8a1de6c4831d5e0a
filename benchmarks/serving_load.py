"""Load test of the HTTP server (``experiments.serve``) on localhost: latency and throughput.

    python benchmarks/serving_load.py --json benchmarks/results/serving_load.json

Serves a DQN on ``large`` (100,000 items): unless ``--agent DIR`` names a saved one, a
``DQNAgent(large, seed=0)`` with its default network is trained briefly (``--train-steps``
shopper-steps on 64 shoppers, learning from step 1,000, no validation runs) and saved to a
temporary folder. That is a real DQN of the served size, not a good one: serving cost does
not depend on how well it was trained. ``python -m experiments.serve`` then runs in a child
process (uvicorn, one worker, torch threads as ``agents.threads`` sets them), and asyncio
clients (``httpx.AsyncClient``, one connection each) send ``--requests`` requests per
measurement, each client one request at a time, at each ``--concurrency``:

* ``/recommend`` with one shopper's observation (real ones, from a random-policy session);
* ``/events`` with one click event (appended and fsynced before the answer).

Latency is measured per request at the client (p50, p99); requests/s is requests over the
measurement's wall time. Measurements alternate (every endpoint and concurrency once per
round, ``--repeats`` rounds); the results give the median and range over rounds. Before the
load, the first 32 served recommendations are checked against the agent's own ``act``;
after it, the events log must hold every acknowledged event. Client and server share the
machine's cores, and the machine's load average is recorded beside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.timing import summary, write_results  # noqa: E402

DQN_SETTINGS = {"learning_starts": 1_000, "buffer_size": 20_000, "validation_interval": 0}
EVENT = {"shopper": "load-test", "item": 7, "event": "click", "position": 0}


def train_dqn(folder: Path, preset: str, steps: int) -> dict[str, Any]:
    """A DQN trained for ``steps`` shopper-steps on ``preset``, saved to ``folder``."""
    from agents.dqn import DQNAgent
    from recenv import ShoppingVectorEnv, make_config

    config = make_config(preset)
    agent = DQNAgent(config, seed=0, device="cpu", **DQN_SETTINGS)
    start = time.perf_counter()
    agent.learn(ShoppingVectorEnv(64, config=config), steps)
    seconds = time.perf_counter() - start
    agent.save(folder)
    return {
        "how": f"DQNAgent({preset}, seed=0, device=cpu, {DQN_SETTINGS}) trained for {steps} "
        "shopper-steps on 64 shoppers, defaults otherwise",
        "train_steps": steps,
        "train_seconds": round(seconds, 1),
    }


def sample_rows(preset: str, count: int) -> list[dict[str, Any]]:
    """``count`` one-shopper observations as JSON rows, from a random-policy session."""
    from recenv import ShoppingVectorEnv, make_config

    config = make_config(preset)
    env = ShoppingVectorEnv(64, config=config)
    observation, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    while len(rows) < count:
        observation, *_ = env.step(rng.integers(0, config.catalog.n_items, 64))
        rows += [
            {key: value[slot].tolist() for key, value in observation.items()} for slot in range(64)
        ]
    return rows[:count]


def check_served_equals_act(url: str, agent_dir: Path, rows: list[dict[str, Any]]) -> bool:
    """Whether the server answers what the saved agent's ``act`` answers on the same rows."""
    from experiments.saved_agents import load_saved_agent
    from experiments.serving_models import batched_observation, recommend_model

    saved = load_saved_agent(agent_dir)
    body = recommend_model(saved.env_config, len(rows)).model_validate({"observations": rows})
    expected = saved.agent.act(batched_observation(body.observations), deterministic=True)
    served = httpx.post(f"{url}/recommend", json={"observations": rows}, timeout=60).json()
    return served["items"] == expected.tolist()


async def load(url: str, path: str, bodies: list[dict], clients: int, requests: int) -> dict:
    """``requests`` POSTs to ``path`` from ``clients`` concurrent clients; latency and rate."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))

    async def client() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=url, timeout=60) as session:
            for index in counter:
                start = time.perf_counter()
                answer = await session.post(path, json=bodies[index % len(bodies)])
                latencies.append(time.perf_counter() - start)
                errors += answer.status_code != 200

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - start
    p50, p99 = np.percentile(np.array(latencies) * 1e3, [50, 99])
    return {"p50_ms": p50, "p99_ms": p99, "requests_per_s": requests / wall, "errors": errors}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(agent_dir: Path, events: Path, port: int) -> subprocess.Popen:
    """``python -m experiments.serve`` in a child process; returns once /health answers."""
    command = [sys.executable, "-m", "experiments.serve", f"serve.agent={agent_dir}"]
    command += [f"serve.events={events}", f"serve.port={port}"]
    server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).raise_for_status()
            return server
        except httpx.TransportError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("the server did not answer /health within 300 s")


def measure(url: str, rows: list[dict], args: argparse.Namespace) -> tuple[dict, int]:
    """Alternated rounds over endpoints and concurrencies; per-cell summaries, events sent."""
    bodies = {
        "recommend": ("/recommend", [{"observations": [row]} for row in rows]),
        "events": ("/events", [{"events": [EVENT]}]),
    }
    samples: dict[str, dict[int, list[dict]]] = {
        name: {clients: [] for clients in args.concurrency} for name in bodies
    }
    for path, payloads in bodies.values():  # warm-up: first calls pay for lazy setup
        asyncio.run(load(url, path, payloads, 1, 50))
    for _ in range(args.repeats):
        for clients in args.concurrency:
            for name, (path, payloads) in bodies.items():
                result = asyncio.run(load(url, path, payloads, clients, args.requests))
                samples[name][clients].append(result)
                print(
                    f"{name:>9} x{clients:<3} "
                    + ", ".join(f"{k} {v:.2f}" for k, v in result.items())
                )
    figures = {
        name: {
            str(clients): {
                key: summary([result[key] for result in results])
                for key in ("p50_ms", "p99_ms", "requests_per_s")
            }
            | {"errors": sum(result["errors"] for result in results)}
            for clients, results in cells.items()
        }
        for name, cells in samples.items()
    }
    events_sent = 50 + args.repeats * len(args.concurrency) * args.requests
    return figures, events_sent


def machine_note(load_average: float) -> str:
    """Where the figures were taken: client and server share one machine's cores."""
    cpus = os.cpu_count() or 1
    busy = "a shared, busy" if load_average > cpus / 2 else "a quiet"
    return f"client and server on {busy} {cpus}-core machine"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    parser.add_argument("--agent", type=Path, help="a saved agent to serve (default: train DQN)")
    parser.add_argument("--preset", default="large")
    parser.add_argument("--train-steps", type=int, default=4_096)
    parser.add_argument("--requests", type=int, default=400, help="per measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.json and args.json.exists() and not args.overwrite:
        parser.error(f"--json {args.json} exists; pass --overwrite to replace it")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        agent_dir = args.agent or Path(scratch) / "dqn"
        made = {"how": f"loaded from {args.agent}"} if args.agent else None
        made = made or train_dqn(agent_dir, args.preset, args.train_steps)
        rows = sample_rows(args.preset, 2_000)
        events, port = Path(scratch) / "events.jsonl", free_port()
        server = start_server(agent_dir, events, port)
        try:
            url = f"http://127.0.0.1:{port}"
            health = httpx.get(f"{url}/health").json()
            equal = check_served_equals_act(url, agent_dir, rows[:32])
            figures, events_sent = measure(url, rows, args)
            logged = httpx.get(f"{url}/health").json()["events_logged"]
        finally:
            server.terminate()
            server.wait(timeout=60)
        from experiments.event_log import read_events

        on_disk = len(read_events(events))
    results = {
        "preset": args.preset,
        "agent": {"kind": health["agent"], "env_hash": health["env_hash"], **made},
        "requests_per_measurement": args.requests,
        "repeats": args.repeats,
        "concurrency": args.concurrency,
        "endpoints": figures,
        "served_equals_act": equal,
        "events_acknowledged": events_sent,
        "events_logged": logged,
        "events_on_disk": on_disk,
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "note": machine_note(load_before[0]),
    }
    print(f"served == act: {equal}; events acknowledged {events_sent}, on disk {on_disk}")
    if args.json:
        write_results(args.json, results)


if __name__ == "__main__":
    main()
