"""The CUDA path (``recenv.sim.cuda``) against the CPU path, without a GPU.

* Under numba-cuda's simulator (``NUMBA_ENABLE_CUDASIM=1``, in a child process: the
  variable must be set before numba.cuda is imported) the kernels' launch logic runs on
  the CPU: several blocks, a partial last block, restarts and slates; every outcome,
  observation and state array must equal the CPU simulator's, step by step.
* ``compile_ptx`` compiles the same step for a real device (sm_90, an H200) from the
  same functions, so a typing or lowering error of the CUDA target fails here.
* On a machine with a CUDA device, the same comparison runs on the device.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import recenv
from recenv.sim.core import Simulator

needs_numba_cuda = pytest.mark.skipif(
    importlib.util.find_spec("numba_cuda") is None, reason="needs numba-cuda (the gpu extra)"
)
SCENARIOS = {
    "slates_and_restarts": {"slate_size": 3},
    "returning_shoppers": {"episode": "shopper", "max_visits": 3},
    "complements_and_shops": {  # the complement table and the reputation terms
        "catalog": {"complements": "random", "n_complements": 2, "n_shops": 4},
        "dynamics": {"satiation": 0.5, "complement_boost": 0.5},
    },
}
N_SHOPPERS, STEPS = 11, 25  # 11 shoppers: three blocks of 4 simulated threads, one partial

TRAJECTORY = textwrap.dedent(
    """
    import sys
    import numpy as np
    import recenv
    from recenv.sim import cuda as recenv_cuda
    from recenv.sim.core import Simulator

    def trajectory(simulator, to_host, overrides, n, steps):
        config = recenv.make_config("small", **overrides)
        rng = np.random.default_rng(7)
        simulator.seed(11)
        simulator.start_sessions(np.arange(n))
        record = {}
        for step in range(steps):
            slates = rng.integers(0, config.catalog.n_items, (n, config.slate_size))
            restart = rng.random(n) < 0.15
            outcome, observation = simulator.step_and_observe(slates, restart)
            for name, value in zip(outcome._fields, outcome):
                record[f"{step}/outcome/{name}"] = to_host(value)
            for name, value in observation.items():
                record[f"{step}/observation/{name}"] = to_host(value)
        state = simulator.state if hasattr(simulator.state, "_fields") else simulator.host_state()
        for name in state._fields:
            record[f"state/{name}"] = np.asarray(getattr(state, name))
        return record

    if __name__ == "__main__":
        import json
        overrides, out = json.loads(sys.argv[1]), sys.argv[4]
        n, steps = int(sys.argv[2]), int(sys.argv[3])
        config = recenv.make_config("small", **overrides)
        device = recenv_cuda.CudaSimulator(config, n)
        np.savez(out, **trajectory(device, recenv_cuda.to_host, overrides, n, steps))
    """
)


def cpu_trajectory(overrides: dict, tmp_path: Path) -> dict[str, np.ndarray]:
    namespace: dict = {}
    exec(compile(TRAJECTORY, "trajectory", "exec"), namespace)
    config = recenv.make_config("small", **overrides)
    simulator = Simulator(config, N_SHOPPERS)
    return namespace["trajectory"](simulator, np.asarray, overrides, N_SHOPPERS, STEPS)


def device_trajectory(overrides: dict, tmp_path: Path, simulate: bool) -> dict[str, np.ndarray]:
    script, out = tmp_path / "trajectory.py", tmp_path / "device.npz"
    script.write_text(TRAJECTORY)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    if simulate:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    import json

    done = subprocess.run(
        [sys.executable, str(script), json.dumps(overrides), str(N_SHOPPERS), str(STEPS), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(out))


def assert_same(cpu: dict[str, np.ndarray], device: dict[str, np.ndarray]) -> None:
    assert cpu.keys() == device.keys()
    for name, expected in cpu.items():
        got = device[name]
        assert got.dtype == expected.dtype and got.shape == expected.shape, name
        if np.issubdtype(expected.dtype, np.floating):
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(got, expected, err_msg=name)


@needs_numba_cuda
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_simulated_cuda_trajectories_equal_the_cpu_path(scenario: str, tmp_path: Path) -> None:
    overrides = SCENARIOS[scenario]
    cpu = cpu_trajectory(overrides, tmp_path)
    restarts = sum(
        int(np.count_nonzero(cpu[f"{step}/outcome/terminated"])) for step in range(STEPS)
    )
    assert restarts > 0, "no session ended: the restart path is not exercised"
    assert_same(cpu, device_trajectory(overrides, tmp_path, simulate=True))


@needs_numba_cuda
def test_a_wrong_action_changes_the_device_trajectory(tmp_path: Path) -> None:
    """The comparison can fail: a CPU run with other slates differs from the device's."""
    cpu = cpu_trajectory(SCENARIOS["slates_and_restarts"], tmp_path)
    other = cpu_trajectory({**SCENARIOS["slates_and_restarts"], "catalog_seed": 1}, tmp_path)
    with pytest.raises(AssertionError):
        assert_same(cpu, other)


@needs_numba_cuda
def test_the_step_compiles_for_a_real_device() -> None:
    """numba-cuda compiles the CPU path's own functions into the step kernel's PTX for
    sm_90. Compiling device functions asks the current device for its compute capability;
    with no device here it is given (9, 0)."""
    from types import SimpleNamespace

    import numba
    from numba.cuda import compile_ptx
    from numba.cuda import dispatcher as cuda_dispatcher

    from recenv.sim import cuda as recenv_cuda
    from recenv.sim.core import OBSERVATION_KEYS, StepOutcome, new_observation, observation_shapes

    config = recenv.make_config("small", slate_size=3)
    simulator = Simulator(config, 4)
    observation = new_observation(observation_shapes(config, 4))
    arguments = (
        (np.zeros((4, 3), np.int64), np.zeros(4, np.bool_)),
        *simulator._model,
        tuple(StepOutcome.allocate(4)),
        tuple(observation[key] for key in OBSERVATION_KEYS),
    )
    signature = tuple(numba.typeof(argument) for argument in arguments)
    original = cuda_dispatcher.get_current_device
    cuda_dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=(9, 0))
    try:
        ptx, _ = compile_ptx(recenv_cuda._step_kernel, signature, cc=(9, 0))
    finally:
        cuda_dispatcher.get_current_device = original
    assert ".target sm_90" in ptx
    assert "_step_kernel" in ptx


def _device_present() -> bool:
    if importlib.util.find_spec("numba_cuda") is None or os.environ.get("NUMBA_ENABLE_CUDASIM"):
        return False
    from numba import cuda

    return bool(cuda.is_available())


@pytest.mark.cuda
@pytest.mark.skipif(not _device_present(), reason="needs a CUDA device")
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_device_trajectories_equal_the_cpu_path(scenario: str, tmp_path: Path) -> None:
    overrides = SCENARIOS[scenario]
    assert_same(cpu_trajectory(overrides, tmp_path), device_trajectory(overrides, tmp_path, False))


TORCH_CONTRACT = textwrap.dedent(
    """
    import numpy as np, torch
    import recenv
    from recenv.sim import cuda as recenv_cuda
    config = recenv.make_config("small", slate_size=2)
    runs = []
    for as_torch in (False, True):
        simulator = recenv_cuda.CudaSimulator(config, 5)
        simulator.seed(2)
        simulator.start_sessions(torch.arange(5) if as_torch else np.arange(5))
        rng = np.random.default_rng(0)
        rewards = []
        for _ in range(6):
            slates = rng.integers(0, config.catalog.n_items, (5, 2))
            restart = rng.random(5) < 0.2
            if as_torch:
                slates, restart = torch.as_tensor(slates), torch.as_tensor(restart)
            outcome, observation = simulator.step_and_observe(slates, restart)
            rewards.append(recenv_cuda.to_host(outcome.reward).copy())
            shared = torch.as_tensor(observation["history"])  # shares the buffer
            assert shared.shape == (5, config.history_length)
        runs.append(np.stack(rewards))
    assert np.array_equal(runs[0], runs[1])
    print("ok")
    """
)


@needs_numba_cuda
def test_torch_tensors_are_accepted_as_actions_and_rows(tmp_path: Path) -> None:
    """The device contract with CPU tensors (no CUDA here): torch slates, restart flags and
    rows give the same trajectory as numpy ones."""
    run_simulated(TORCH_CONTRACT, [], tmp_path)


def run_simulated(source: str, arguments: list[str], tmp_path: Path) -> None:
    """Run ``source`` in a child under numba-cuda's simulator; it must print ``ok``."""
    script = tmp_path / "child.py"
    script.write_text(source)
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "NUMBA_ENABLE_CUDASIM": "1",
    }
    done = subprocess.run(
        [sys.executable, str(script), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


ENV_SCRIPT = (Path(__file__).parent / "cuda_env_trajectory.py").read_text()


@needs_numba_cuda
@pytest.mark.parametrize("mode", ["NEXT_STEP", "SAME_STEP"])
@pytest.mark.parametrize("episode", ["session", "shopper"])
def test_simulated_device_env_equals_the_cpu_env(mode: str, episode: str, tmp_path: Path) -> None:
    """``ShoppingVectorEnv(device="cuda")`` under the simulator against the CPU env, step
    by step: observations, rewards, ends, info fields, repeats replaced, final_obs."""
    run_simulated(ENV_SCRIPT, [mode, episode], tmp_path)


def test_device_repeat_rule_is_the_cpu_rule() -> None:
    """The batched torch version of the repeat rule against the CPU rule, slate by slate,
    on slates full of repeats (and ids near the wrap-around)."""
    import torch

    from recenv.sim.device_env import replace_repeats
    from recenv.sim.spaces import replace_repeats as cpu_rule

    rng = np.random.default_rng(0)
    slates = rng.integers(95, 100, (500, 5))  # 5 positions over 5 ids: many repeats
    fixed, counts = replace_repeats(torch.as_tensor(slates), 100)
    for row, slate in enumerate(slates):
        expected, replaced = cpu_rule(slate, 100)
        assert fixed[row].tolist() == expected.tolist()
        assert counts[row].item() == replaced
