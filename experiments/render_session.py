"""Render one session as a PNG sequence: what a person sees of a shopper and an agent.

``python -m experiments.render_session --preset small --slate-size 4 --out outputs/session``
plays one session of the rule baseline (``agents.rule.RuleAgent``) on a shopper whose
hidden state is exposed (patience and budget bars), and writes ``frame_000.png``,
``frame_001.png``, ... with the env's ``rgb_array`` render (``recenv.sim.render``).
``--highlight PATH`` also copies one frame (``--frame``, default the first with a click):
the README's picture is ``--seed 4 --frame 2 --highlight benchmarks/results/session.png``.
An existing output folder is never written into unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from agents.rule import RuleAgent
from recenv import ShoppingEnv


def batched(observation: dict[str, Any]) -> dict[str, np.ndarray]:
    """One shopper's observation with a batch axis of 1 (agents act on batches)."""
    return {key: np.asarray(value)[None] for key, value in observation.items()}


def render_session(
    out: Path, preset: str, slate_size: int, seed: int, session: int
) -> list[dict[str, Any]]:
    """Play one session, write a PNG per step into ``out``; returns each step's events."""
    env = ShoppingEnv(
        preset=preset, slate_size=slate_size, expose_hidden_state=True, render_mode="rgb_array"
    )
    agent = RuleAgent(env_config=env.config, seed=seed)
    observation, _ = env.reset(seed=seed, options={"session_index": session})
    frames = [env.render()]
    steps: list[dict[str, Any]] = []
    done = False
    while not done:
        action = agent.act(batched(observation), deterministic=True)[0]
        observation, reward, terminated, truncated, info = env.step(action)
        frames.append(env.render())
        steps.append({"reward": reward, "click": info["click"], "purchase": info["purchase"]})
        done = terminated or truncated
    out.mkdir(parents=True)
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(out / f"frame_{index:03d}.png")
    return steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--slate-size", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--session", type=int, default=0, help="session index to play")
    parser.add_argument("--out", type=Path, default=Path("outputs/session"))
    parser.add_argument("--highlight", type=Path, help="copy one frame here (the README's)")
    parser.add_argument("--frame", type=int, help="frame to copy (default: first click)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    args = parser.parse_args(argv)
    if args.out.exists():
        if not args.overwrite:
            parser.error(f"{args.out} exists; pass --overwrite to replace it")
        shutil.rmtree(args.out)
    steps = render_session(args.out, args.preset, args.slate_size, args.seed, args.session)
    clicked = [index + 1 for index, step in enumerate(steps) if step["click"]]
    print(f"{len(steps)} steps, {len(clicked)} clicks; frames in {args.out}")
    if args.highlight is not None:
        chosen = args.frame if args.frame is not None else (clicked[0] if clicked else 0)
        if not 0 <= chosen <= len(steps):
            parser.error(f"--frame = {chosen} is out of range; allowed: [0, {len(steps)}]")
        args.highlight.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.out / f"frame_{chosen:03d}.png", args.highlight)
        print(f"frame {chosen} copied to {args.highlight}")


if __name__ == "__main__":
    main()
