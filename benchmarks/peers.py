"""Single-env steps/s of recenv against peer simulators, alternated in one run.

    python benchmarks/peers.py --setup                      # once: the peers' own venv
    python benchmarks/peers.py --json benchmarks/results/peers.json

The peers' pins conflict with ours (RecoGym and RecSim need the old ``gym`` and numpy < 2),
so they live in their own virtual environment, which ``--setup`` makes with exactly::

    python3 -m venv --clear /tmp/peers
    /tmp/peers/bin/pip install <a CPU torch wheel>   # --torch-wheel PATH; RecoGym needs torch
    /tmp/peers/bin/pip install sardine-rec
    /tmp/peers/bin/pip install "numpy<2" "scipy<1.12" recogym   # scipy.rand is gone in 1.12
    /tmp/peers/bin/pip install "numpy<2" "tensorflow<2.16" "dopamine-rl<3" recsim

(Without a CPU torch wheel pip resolves RecoGym's torch to the multi-GB CUDA build. RecSim's
``gin.tf`` needs ``tf.estimator``, gone from TensorFlow 2.16; dopamine-rl 3+ brings jax, which
TensorFlow 2.15 then imports and fails on.) Each
command's outcome is kept in ``/tmp/peers/peer_install.json``; a peer whose install failed is
reported as ``"status": "not installable: <reason>"``, never given a figure; one that installs
but fails to import or run, as ``"not importable: <error>"``. No peer code is part of this
repository: the peers are installed from PyPI and driven from here.

How it is timed: recenv runs in this interpreter, each peer in a worker process of
``--peer-python`` (this file with ``--worker``), which builds its env once, warms it up and
then times ``--steps`` steps each time it is asked. Rounds alternate recenv, peer, recenv,
peer, ... while the other side waits, so both see the same machine. Policy: uniform random,
actions drawn before the timed loop; episodes are reset inside it (resets count in the time).

* recenv: ``gymnasium.make("recenv/Shopping-v0", preset="default")`` (1,000 items, one item
  per step); against slate peers also the same with ``slate_size=10``.
* SARDINE: ``gymnasium.make("sardine/SingleItem-Static-v0")`` (1,000 items, one item) and
  ``sardine/SlateTopK-Bored-v0`` (1,000 items, slates of 10).
* RecoGym: ``RecoEnv1`` with ``env_1_args``, 1,000 products, one recommendation per step
  (organic sessions are generated inside the steps).
* RecSim: ``interest_evolution.create_environment`` with 10 candidates, slates of 2 (its
  README example).

JSON: ``machine`` (see ``benchmarks/timing.py``), ``settings`` (steps, repeats, peer_python),
``peers``: ``{name: {status, package, versions (the peer venv's), env, recenv_env, steps_per_s,
recenv_steps_per_s, ratio_recenv_over_peer}}`` where the rates are median/min/max/values
summaries and the ratio is ``{of_medians, min, max, per_round}`` over alternated rounds.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.timing import alternate, rate, ratio_summary, summary, write_results

DEFAULT_VENV = Path("/tmp/peers")
STEPS = 20_000
REPEATS = 3
INSTALL_LOG = "peer_install.json"
PEER_STACK = ("numpy", "scipy", "gymnasium", "gym", "tensorflow", "torch")  # versions reported


class Peer(NamedTuple):
    """A peer env: its PyPI package, its install command, and the recenv env it faces."""

    package: str
    requirements: tuple[str, ...]
    env: str
    recenv_overrides: tuple[tuple[str, int], ...] = ()


PEERS = {
    "sardine_single_item": Peer(
        "sardine-rec", ("sardine-rec",), "sardine/SingleItem-Static-v0 (1,000 items, 1 item)"
    ),
    "sardine_slate_topk": Peer(
        "sardine-rec",
        ("sardine-rec",),
        "sardine/SlateTopK-Bored-v0 (1,000 items, slates of 10)",
        (("slate_size", 10),),
    ),
    "recogym": Peer(
        "recogym",
        ("numpy<2", "scipy<1.12", "recogym"),
        "RecoEnv1, env_1_args, 1,000 products",
    ),
    "recsim": Peer(
        "recsim",
        ("numpy<2", "tensorflow<2.16", "dopamine-rl<3", "recsim"),
        "interest_evolution, 10 candidates, slates of 2",
    ),
}


# -- the peers, run inside the worker (peer venv: no recenv, no repo imports but timing) ----


def _gymnasium_work(env_id: str, steps: int) -> Callable[[], int]:
    import gymnasium
    import sardine  # noqa: F401  (registers the sardine/ ids)

    env = gymnasium.make(env_id)
    env.reset(seed=0)
    env.action_space.seed(1)
    actions = [env.action_space.sample() for _ in range(steps)]
    env.step(actions[0])

    def work() -> int:
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return steps

    return work


def _recogym_work(steps: int) -> Callable[[], int]:
    import numpy as np
    from recogym import env_1_args
    from recogym.envs import RecoEnv1

    env = RecoEnv1()
    env.init_gym({**env_1_args, "num_products": 1000, "random_seed": 0})
    actions = np.random.default_rng(1).integers(0, 1000, steps).tolist()
    user = 0
    env.reset(user)
    env.step(None)  # RecoGym's first step takes no action: it opens the user's timeline
    if env.step(actions[0])[2]:  # warm-up: RecoGym's numba functions compile on first use
        env.reset(user)
        env.step(None)

    def work() -> int:
        nonlocal user
        for action in actions:
            _, _, done, _ = env.step(action)
            if done:
                user += 1
                env.reset(user)
                env.step(None)
        return steps

    return work


def _recsim_work(steps: int) -> Callable[[], int]:
    import numpy as np
    from recsim.environments import interest_evolution

    config = {"num_candidates": 10, "slate_size": 2, "resample_documents": True, "seed": 0}
    env = interest_evolution.create_environment(config)
    env.reset()
    rng = np.random.default_rng(1)
    slates = [rng.choice(10, 2, replace=False).tolist() for _ in range(steps)]
    env.step(slates[0])

    def work() -> int:
        for slate in slates:
            done = env.step(slate)[2]
            if done:
                env.reset()
        return steps

    return work


WORKERS: dict[str, Callable[[int], Callable[[], int]]] = {
    "sardine_single_item": lambda steps: _gymnasium_work("sardine/SingleItem-Static-v0", steps),
    "sardine_slate_topk": lambda steps: _gymnasium_work("sardine/SlateTopK-Bored-v0", steps),
    "recogym": _recogym_work,
    "recsim": _recsim_work,
}


def worker(name: str, steps: int) -> None:
    """Build the peer, say ready, then answer each ``run`` line with one timed call.

    Replies go to a private copy of stdout; fd 1 itself is pointed at stderr, so whatever
    a peer (or a C library under it) prints cannot corrupt the replies."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        work = WORKERS[name](steps)
        versions = {"python": platform.python_version()}
        for package in (PEERS[name].package, *PEER_STACK):
            try:
                versions[package] = importlib.metadata.version(package)
            except importlib.metadata.PackageNotFoundError:
                continue
        reply: dict[str, Any] = {"ready": True, "versions": versions}
    except Exception as error:  # the parent records why this peer could not run
        reply = {"error": f"{type(error).__name__}: {error}"}
    print(json.dumps(reply), file=replies, flush=True)
    if "error" in reply:
        return
    for line in sys.stdin:
        if line.strip() != "run":
            break
        try:
            reply = {"steps_per_s": rate(work)}
        except Exception as error:
            reply = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), file=replies, flush=True)


# -- the parent: recenv here, the peer in its worker, alternated ---------------------------


class PeerProcess:
    """A running worker of one peer; ``measure()`` asks it for one timed call."""

    def __init__(self, python: str, name: str, steps: int, stderr: IO[str]) -> None:
        self._stderr = stderr
        command = [python, __file__, "--worker", name, "--steps", str(steps)]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        self.hello = self._reply()

    def _reply(self) -> dict[str, Any]:
        line = self._process.stdout.readline()
        if not line:
            self._stderr.seek(0)
            tail = self._stderr.read().strip().splitlines()[-3:]
            raise RuntimeError(f"worker exited ({' | '.join(tail)})")
        return json.loads(line)

    def measure(self) -> float:
        self._process.stdin.write("run\n")
        self._process.stdin.flush()
        reply = self._reply()
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["steps_per_s"]

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        self._process.wait(timeout=60)


def _install_failures(venv: Path) -> dict[str, str]:
    """Why each peer's ``--setup`` install failed, from the venv's install log."""
    log = venv / INSTALL_LOG
    if not log.exists():
        return {}
    return {name: why for name, why in json.loads(log.read_text()).items() if why != "ok"}


def measure_peer(
    name: str, recenv_measure: Callable[[], float], python: str, steps: int, repeats: int
) -> dict[str, Any]:
    """Alternate recenv and one peer; the peer's status if it cannot run."""
    with tempfile.TemporaryFile("w+") as stderr:
        try:
            peer = PeerProcess(python, name, steps, stderr)
        except (OSError, RuntimeError) as error:
            return {"status": f"failed to start: {error}"}
        try:
            if "error" in peer.hello:
                return {"status": f"not importable: {peer.hello['error']}"}
            samples = alternate({"recenv": recenv_measure, name: peer.measure}, repeats)
        except RuntimeError as error:
            return {"status": f"failed while running: {error}"}
        finally:
            peer.close()
    return {
        "status": "measured",
        "versions": peer.hello["versions"],
        "steps_per_s": summary(samples[name]),
        "recenv_steps_per_s": summary(samples["recenv"]),
        "ratio_recenv_over_peer": ratio_summary(samples["recenv"], samples[name]),
    }


def run_peers(
    names: list[str], python: str, failures: dict[str, str], steps: int, repeats: int
) -> dict[str, Any]:
    """Each peer alternated with the recenv env it faces (one recenv env per override set)."""
    from benchmarks.env_throughput import single_env_measure  # recenv only in the parent

    recenv_measures: dict[tuple[tuple[str, int], ...], Callable[[], float]] = {}
    results: dict[str, Any] = {}
    for name in names:
        peer = PEERS[name]
        overrides = peer.recenv_overrides
        recenv_env = "recenv/Shopping-v0, preset default" + "".join(
            f", {key}={value}" for key, value in overrides
        )
        entry = {"package": peer.package, "env": peer.env, "recenv_env": recenv_env}
        if name in failures:
            results[name] = {**entry, "status": f"not installable: {failures[name]}"}
        else:
            if overrides not in recenv_measures:
                recenv_measures[overrides] = single_env_measure(steps, **dict(overrides))
            measured = measure_peer(name, recenv_measures[overrides], python, steps, repeats)
            results[name] = {**entry, **measured}
        _print(name, results[name])
    return results


def _print(name: str, report: dict[str, Any]) -> None:
    if report["status"] != "measured":
        print(f"{name:>20}: {report['status']}", flush=True)
        return
    ratio = report["ratio_recenv_over_peer"]
    print(
        f"{name:>20}: {report['steps_per_s']['median']:9,.0f} steps/s, recenv "
        f"{report['recenv_steps_per_s']['median']:9,.0f}: recenv/peer "
        f"{ratio['of_medians']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})",
        flush=True,
    )


def setup(venv: Path, torch_wheel: Path | None) -> None:
    """Make the peers' venv and install each peer on its own, recording every outcome."""
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    if torch_wheel:
        subprocess.run([*pip, str(torch_wheel)], check=True)
    outcomes: dict[str, str] = {}
    for name, peer in PEERS.items():
        done = subprocess.run([*pip, *peer.requirements], capture_output=True, text=True)
        error_lines = [line for line in done.stderr.splitlines() if "ERROR" in line]
        outcomes[name] = "ok" if done.returncode == 0 else " | ".join(error_lines[-2:])
        print(f"{name}: {outcomes[name]}", flush=True)
    (venv / INSTALL_LOG).write_text(json.dumps(outcomes, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="the peers' venv")
    parser.add_argument("--peer-python", help="the peers' interpreter (default: VENV/bin/python)")
    parser.add_argument("--peers", nargs="+", choices=list(PEERS), default=list(PEERS))
    parser.add_argument("--steps", type=int, default=STEPS, help="steps per timed call")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="alternated rounds")
    parser.add_argument("--setup", action="store_true", help="make the venv and install peers")
    parser.add_argument("--torch-wheel", type=Path, help="with --setup: a CPU torch wheel")
    parser.add_argument("--worker", choices=list(PEERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.steps)
        return
    if args.setup:
        setup(args.venv, args.torch_wheel)
        return

    python = args.peer_python or str(args.venv / "bin" / "python")
    results = run_peers(args.peers, python, _install_failures(args.venv), args.steps, args.repeats)
    settings = {"steps": args.steps, "repeats": args.repeats, "peer_python": python}
    if args.json:
        write_results(args.json, {"settings": settings, "peers": results})


if __name__ == "__main__":
    main()
