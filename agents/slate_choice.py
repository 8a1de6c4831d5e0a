"""The value of a slate under a conditional-logit choice, and three ways to pick the best one.

SlateQ (Ie et al., 2019) decomposes a slate's long-term value into item values. With
``v(s, i)`` the attraction of item i at the top position, ``w_k > 0`` the weight of position
k (``exp`` of the position utility: the simulator's ``-position_bias * log(1 + k)``) and
``v0`` the no-click attraction, the shopper picks position k of slate ``A`` with

    P(k | s, A) = w_k v(s, A_k) / (v0 + sum_j w_j v(s, A_j))

(``recenv.sim.choice``: ``exp(u_k) / (exp(u_none) + sum_j exp(u_j))``), and the slate is worth

    Q(s, A) = (v0 Q0 + sum_k w_k v(s, A_k) Q(s, A_k)) / (v0 + sum_k w_k v(s, A_k))

with ``Q0`` the value of no click: 0 in the paper's treatment (only consumed items carry
value). Optimisers, all batched over shoppers (``(n, M)`` attraction and item values):

* ``exact_slate``: the linear-fractional program solved exactly by Dinkelbach's method.
  For a guess ``lam``, ``max_A N(A) - lam D(A)`` is a sum ``sum_k w_k c(A_k)`` with
  ``c_i = v_i (Q_i - lam)``: the K largest ``c`` with the largest on the heaviest position
  (rearrangement inequality; all ``w_k > 0``). ``lam <- Q(s, A)`` then rises to the optimum
  in finitely many steps (the maximum of ``N - lam D`` is 0 exactly there).
* ``greedy_slate``: the paper's adaptive greedy (GS): fill positions by weight, each with the
  item that most raises the value of the slate so far.
* ``top_k_slate``: the paper's top-K (TS): rank by ``v Q``.
* ``brute_force_slate``: every ordered slate, the reference for tiny catalogs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch

BRUTE_FORCE_LIMIT = 200_000  # ordered slates brute force may enumerate

SlateOptimiser = Callable[..., torch.Tensor]


def _no_click_terms(
    no_click_attraction: torch.Tensor | float,
    no_click_value: torch.Tensor | float,
    like: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``v0`` and ``Q0`` as ``(n,)`` tensors shaped after ``like``'s rows."""
    rows = like.shape[0]
    v0 = torch.as_tensor(no_click_attraction, dtype=like.dtype, device=like.device)
    q0 = torch.as_tensor(no_click_value, dtype=like.dtype, device=like.device)
    return v0.expand(rows), q0.expand(rows)


def choice_probabilities(
    attraction: torch.Tensor,
    slate: torch.Tensor,
    position_weight: torch.Tensor,
    no_click_attraction: torch.Tensor | float = 1.0,
) -> torch.Tensor:
    """``(n, K + 1)``: ``P(k | s, A)`` for each position, then ``P(no click)``."""
    v0, _ = _no_click_terms(no_click_attraction, 0.0, attraction)
    weighted = position_weight * attraction.gather(1, slate)  # (n, K)
    masses = torch.cat([weighted, v0[:, None]], dim=1)
    return masses / masses.sum(dim=1, keepdim=True)


def slate_value(
    attraction: torch.Tensor,
    item_values: torch.Tensor,
    slate: torch.Tensor,
    position_weight: torch.Tensor,
    no_click_attraction: torch.Tensor | float = 1.0,
    no_click_value: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """``(n,)``: ``Q(s, A) = sum_k P(k | s, A) Q(s, A_k) + P(none | s, A) Q0``."""
    probabilities = choice_probabilities(attraction, slate, position_weight, no_click_attraction)
    _, q0 = _no_click_terms(no_click_attraction, no_click_value, attraction)
    values = torch.cat([item_values.gather(1, slate), q0[:, None]], dim=1)
    return (probabilities * values).sum(dim=1)


def _place(ranked: torch.Tensor, position_weight: torch.Tensor) -> torch.Tensor:
    """Slates with ``ranked[:, r]`` (best first) on the r-th heaviest position."""
    order = torch.argsort(position_weight, descending=True, stable=True)
    slate = torch.empty_like(ranked)
    slate[:, order] = ranked
    return slate


def top_k_slate(
    attraction: torch.Tensor,
    item_values: torch.Tensor,
    slate_size: int,
    position_weight: torch.Tensor,
    no_click_attraction: torch.Tensor | float = 1.0,
    no_click_value: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """The K items of highest ``v Q``, the highest on the heaviest position (TS)."""
    ranked = torch.topk(attraction * item_values, slate_size, dim=1).indices
    return _place(ranked, position_weight)


def greedy_slate(
    attraction: torch.Tensor,
    item_values: torch.Tensor,
    slate_size: int,
    position_weight: torch.Tensor,
    no_click_attraction: torch.Tensor | float = 1.0,
    no_click_value: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """Positions by decreasing weight, each given the unused item that maximises the value
    of the slate built so far (GS: ``(N + w v_i Q_i) / (D + w v_i)``)."""
    v0, q0 = _no_click_terms(no_click_attraction, no_click_value, attraction)
    numerator, denominator = v0 * q0, v0.clone()
    rows = torch.arange(attraction.shape[0], device=attraction.device)
    used = torch.zeros_like(attraction, dtype=torch.bool)
    slate = torch.empty(attraction.shape[0], slate_size, dtype=torch.long, device=attraction.device)
    for position in torch.argsort(position_weight, descending=True, stable=True).tolist():
        mass = position_weight[position] * attraction
        gain = (numerator[:, None] + mass * item_values) / (denominator[:, None] + mass)
        best = gain.masked_fill(used, -torch.inf).argmax(dim=1)
        slate[:, position], used[rows, best] = best, True
        numerator = numerator + (mass * item_values)[rows, best]
        denominator = denominator + mass[rows, best]
    return slate


def exact_slate(
    attraction: torch.Tensor,
    item_values: torch.Tensor,
    slate_size: int,
    position_weight: torch.Tensor,
    no_click_attraction: torch.Tensor | float = 1.0,
    no_click_value: torch.Tensor | float = 0.0,
    max_iterations: int = 100,
) -> torch.Tensor:
    """The slate of highest ``slate_value``, by Dinkelbach's method (module docstring)."""
    arguments = (position_weight, no_click_attraction, no_click_value)
    best = top_k_slate(attraction, item_values, slate_size, *arguments)
    level = slate_value(attraction, item_values, best, *arguments)  # (n,) lam
    for _ in range(max_iterations):
        reduced = attraction * (item_values - level[:, None])
        candidate = _place(torch.topk(reduced, slate_size, dim=1).indices, position_weight)
        value = slate_value(attraction, item_values, candidate, *arguments)
        better = value > level + 1e-9 * level.abs().clamp(min=1.0)
        if not better.any():
            break
        best = torch.where(better[:, None], candidate, best)
        level = torch.where(better, value, level)
    return best


def brute_force_slate(
    attraction: torch.Tensor,
    item_values: torch.Tensor,
    slate_size: int,
    position_weight: torch.Tensor,
    no_click_attraction: torch.Tensor | float = 1.0,
    no_click_value: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """Every ordered slate of distinct items scored, the best kept: the reference."""
    n_items = attraction.shape[1]
    count = 1
    for taken in range(slate_size):
        count *= n_items - taken
    if count > BRUTE_FORCE_LIMIT:
        raise ValueError(
            f"brute force over {count} ordered slates (n_items = {n_items}, slate_size = "
            f"{slate_size}) is out of range; allowed: <= {BRUTE_FORCE_LIMIT}"
        )
    slates = torch.tensor(
        list(itertools.permutations(range(n_items), slate_size)), device=attraction.device
    )  # (P, K)
    rows = attraction.shape[0]
    values = torch.stack(
        [
            slate_value(
                attraction,
                item_values,
                slates[index].expand(rows, -1),
                position_weight,
                no_click_attraction,
                no_click_value,
            )
            for index in range(len(slates))
        ],
        dim=1,
    )  # (n, P)
    return slates[values.argmax(dim=1)]


OPTIMISERS: dict[str, SlateOptimiser] = {
    "exact": exact_slate,
    "greedy": greedy_slate,
    "top_k": top_k_slate,
}
