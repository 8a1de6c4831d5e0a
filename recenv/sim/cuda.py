"""The simulator's step on CUDA, compiled from the same per-shopper functions as the CPU
kernels: one GPU thread per shopper runs ``core.step_row`` (choice, funnel, dynamics,
restart draws) and ``shoppers.draw_shopper``, which numba-cuda compiles for the device
from the very ``@njit`` functions the CPU loop uses. There is no second copy of the
dynamics; the counter-based streams (``recenv.sim.streams``) make a shopper's draws
independent of where it runs.

``CudaSimulator`` keeps the state, the item table and the population in device memory;
``step_and_observe`` takes slates as a torch CUDA tensor, any ``__cuda_array_interface__``
array or a numpy array, and leaves outcome and observation in device buffers that it
reuses (``torch.as_tensor(buffer, device="cuda")`` shares them without a copy).

Under numba-cuda's simulator (``NUMBA_ENABLE_CUDASIM=1``) the kernels run on the CPU one
thread at a time with the state in host arrays, so the launch logic (thread indexing, the
bounds guard, restarts, buffers) is tested without a GPU; ``compile_ptx`` checks that the
step compiles for a real device (``tests/test_cuda.py``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recenv.sim.config import EnvConfig
from recenv.sim.core import (
    OBSERVATION_KEYS,
    Simulator,
    StepOutcome,
    new_observation,
    observation_shapes,
    restart_row,
    step_row,
)
from recenv.sim.params import ItemTable, ModelParams
from recenv.sim.shoppers import Population, draw_shopper
from recenv.sim.state import ShopperState, observe_row

THREADS_PER_BLOCK = 128
SIMULATED_THREADS_PER_BLOCK = 4  # the simulator runs one Python thread per GPU thread

try:  # numba-cuda (the gpu extra); numba alone has no CUDA target any more
    from numba import cuda
except ImportError:  # pragma: no cover - depends on the install
    cuda = None


def simulated() -> bool:
    """Whether numba-cuda's CPU simulator stands in for a device."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "") == "1"


def available() -> bool:
    """A CUDA device (or the simulator) and numba-cuda are there."""
    if cuda is None:
        return False
    return simulated() or bool(cuda.is_available())


# Every array argument travels inside a tuple: the simulator passes tuples through as they
# are (host arrays the CPU-compiled functions accept) and wraps bare arrays.
def _step_kernel(actions, state, items, population, params, outcome, observation):
    slates, restart = actions
    n = cuda.grid(1)
    if n < slates.shape[0]:
        step_row(
            n,
            slates,
            restart,
            ShopperState(*state),
            ItemTable(*items),
            Population(*population),
            ModelParams(*params),
            outcome,
            observation,
            observation[0].shape[0] > 0,
        )


def _draw_kernel(selection, state, items, population, params):
    rows = selection[0]
    index = cuda.grid(1)
    if index < rows.shape[0]:
        draw_shopper(
            rows[index],
            ShopperState(*state),
            ItemTable(*items),
            Population(*population),
            ModelParams(*params),
        )


def _restart_kernel(selection, state, items, population, params, observation):
    restart = selection[0]
    n = cuda.grid(1)
    history, events, cart, session, query = observation
    if n < restart.shape[0]:
        shoppers = ShopperState(*state)
        if restart[n]:
            restart_row(
                n, shoppers, ItemTable(*items), Population(*population), ModelParams(*params)
            )
        query[n] = observe_row(n, shoppers, history, events, cart, session)


def _observe_kernel(state, observation):
    n = cuda.grid(1)
    history, events, cart, session, query = observation
    if n < history.shape[0]:
        query[n] = observe_row(n, ShopperState(*state), history, events, cart, session)


_KERNELS: dict[str, Any] = {}


def kernel(name: str) -> Any:
    """The compiled (or simulated) kernel ``name``: ``step``, ``draw`` or ``observe``."""
    if cuda is None:
        raise RuntimeError("the CUDA path needs numba-cuda: pip install -e '.[gpu]'")
    if name not in _KERNELS:
        source = {
            "step": _step_kernel,
            "draw": _draw_kernel,
            "observe": _observe_kernel,
            "restart": _restart_kernel,
        }[name]
        _KERNELS[name] = cuda.jit(source)
    return _KERNELS[name]


def to_device(array: Any) -> Any:
    """A device copy of a host array (the array itself, copied, under the simulator, whose
    kernels call the CPU-compiled functions with host arrays)."""
    if simulated():
        return np.array(array, copy=True)
    return cuda.to_device(np.ascontiguousarray(array))


def as_device(array: Any, dtype: type) -> Any:
    """Slates or rows from the caller: a torch CUDA tensor or any ``__cuda_array_interface__``
    array is used in place (no copy); host arrays are copied to the device."""
    if simulated():
        if hasattr(array, "detach"):  # a torch tensor (on CPU where CUDA is absent)
            array = array.detach().cpu().numpy()
        return np.ascontiguousarray(array, dtype=dtype)
    if hasattr(array, "__cuda_array_interface__"):
        return cuda.as_cuda_array(array)
    return cuda.to_device(np.ascontiguousarray(array, dtype=dtype))


def as_torch(array: Any) -> Any:
    """A torch tensor sharing the device buffer (a CPU tensor sharing the host array under
    the simulator): observations and outcomes leave the env without a copy."""
    import torch

    if simulated():
        return torch.from_numpy(array)
    return torch.as_tensor(array, device="cuda")


def to_host(array: Any) -> NDArray:
    """A host copy of a device array (for tests, logging and the CPU fallback)."""
    return np.array(array) if simulated() else array.copy_to_host()


def _launch(name: str, size: int, *args: Any) -> None:
    if size == 0:
        return
    per_block = SIMULATED_THREADS_PER_BLOCK if simulated() else THREADS_PER_BLOCK
    blocks = (size + per_block - 1) // per_block
    kernel(name)[blocks, per_block](*args)


class CudaSimulator:
    """``core.Simulator``'s batched step with every array on the device.

    Built from a CPU ``Simulator`` of the same config (its world, item table and model
    parameters, computed once on the host), then stepped by the CUDA kernels only."""

    def __init__(self, config: EnvConfig, n_shoppers: int, host: Simulator | None = None) -> None:
        if not available():
            raise RuntimeError(
                "device='cuda' needs numba-cuda and a CUDA device (or NUMBA_ENABLE_CUDASIM=1)"
            )
        host = host if host is not None else Simulator(config, n_shoppers)
        self.config, self.n_shoppers, self.host = config, n_shoppers, host
        state, items, population, params = host._model
        self.state = tuple(to_device(array) for array in state)
        self.items = tuple(to_device(array) for array in items)
        self.population = tuple(to_device(array) for array in population)
        self.params = tuple(
            to_device(value) if isinstance(value, np.ndarray) else value for value in params
        )
        self.outcome = StepOutcome(
            *(to_device(array) for array in StepOutcome.allocate(n_shoppers))
        )
        shapes = observation_shapes(config, n_shoppers)
        self.observation = {key: to_device(array) for key, array in new_observation(shapes).items()}
        self._no_restart = to_device(np.zeros(n_shoppers, dtype=np.bool_))
        self.shopper_steps = 0

    @classmethod
    def from_host(cls, host: Simulator) -> CudaSimulator:
        """The device twin of a CPU simulator (its world, items and parameters)."""
        return cls(host.config, host.n_shoppers, host)

    @property
    def _model(self) -> tuple[Any, ...]:
        return self.state, self.items, self.population, self.params

    def seed(self, seed: int, split: str = "train", first_slot: int = 0) -> None:
        """As ``Simulator.seed``: key row r with slot ``first_slot + r``; session 0."""
        self.host.seed(seed, split, first_slot)
        self._upload_keys()

    def _upload_keys(self) -> None:
        names = ShopperState._fields
        for name in ("key", "session"):
            index = names.index(name)
            self.state = (
                *self.state[:index],
                to_device(getattr(self.host.state, name)),
                *self.state[index + 1 :],
            )

    def start_sessions(self, rows: Any) -> None:
        """Draw the shopper of each row's current session index into those rows."""
        rows = as_device(rows, np.int64)
        _launch("draw", rows.shape[0], (rows,), *self._model)

    def observe(self) -> dict[str, Any]:
        """Every row's observation, in the reused device buffers."""
        observation = tuple(self.observation[key] for key in OBSERVATION_KEYS)
        _launch("observe", self.n_shoppers, self.state, observation)
        return self.observation

    def restart_and_observe(self, restart: Any) -> dict[str, Any]:
        """Rows in ``restart`` start their next session; every row is then observed."""
        observation = tuple(self.observation[key] for key in OBSERVATION_KEYS)
        restart = as_device(restart, np.bool_)
        _launch("restart", self.n_shoppers, (restart,), *self._model, observation)
        return self.observation

    def upload_sessions(self, sessions: NDArray[np.uint64]) -> None:
        """Set every row's session index (a reset's ``session_index`` option)."""
        self.host.state.session[:] = sessions
        self._upload_keys()

    def step_and_observe(
        self, slates: Any, restart: Any = None
    ) -> tuple[StepOutcome, dict[str, Any]]:
        """One step of every shopper (rows in ``restart`` start their next session instead,
        blank outcome), each observed after its step; results in the reused device buffers."""
        slates = as_device(slates, np.int64)
        restart = self._no_restart if restart is None else as_device(restart, np.bool_)
        observation = tuple(self.observation[key] for key in OBSERVATION_KEYS)
        _launch(
            "step",
            self.n_shoppers,
            (slates, restart),
            *self._model,
            tuple(self.outcome),
            observation,
        )
        self.shopper_steps += self.n_shoppers
        return self.outcome, self.observation

    def host_state(self) -> ShopperState:
        """The device state copied to the host, as the CPU simulator's ``state``."""
        return ShopperState(*(to_host(array) for array in self.state))
