"""Child script of tests/test_cuda.py: the device env against the CPU env (CUDASIM)."""

import sys

import numpy as np
import torch

import recenv
from recenv import ShoppingVectorEnv

mode = sys.argv[1]
cfg = recenv.make_config("small", slate_size=2, episode=sys.argv[2])
N = 7
cpu = ShoppingVectorEnv(N, config=cfg, autoreset_mode=mode)
dev = ShoppingVectorEnv(N, config=cfg, autoreset_mode=mode, device="cuda")
oc, _ = cpu.reset(seed=4)
od, _ = dev.reset(seed=4)
for k in oc:
    assert np.array_equal(oc[k], od[k].numpy()), k
rng = np.random.default_rng(0)
ends = 0
for t in range(40):
    a = rng.integers(0, 100, (N, 2))
    a[t % N, 1] = a[t % N, 0]  # a repeat every step
    r1 = cpu.step(a)
    r2 = dev.step(torch.as_tensor(a))
    for k in r1[0]:
        assert np.array_equal(r1[0][k], r2[0][k].numpy()), (t, k)
    for i in (1, 2, 3):
        assert np.array_equal(r1[i], r2[i].numpy()), (t, i)
    for k in (
        "click",
        "clicked_item",
        "cart",
        "purchase",
        "revenue",
        "items_bought",
        "session_index",
        "slate_repeats",
    ):
        assert np.array_equal(r1[4][k], r2[4][k].numpy()), (t, k)
    if mode == "SAME_STEP" and r1[4].get("_final_obs") is not None and r1[4]["_final_obs"].any():
        rows = np.flatnonzero(r1[4]["_final_obs"])
        assert np.array_equal(rows, np.flatnonzero(r2[4]["_final_obs"].numpy()))
        for row in rows:
            for k in r1[4]["final_obs"][row]:
                assert np.array_equal(
                    r1[4]["final_obs"][row][k], r2[4]["final_obs"][k][row].numpy()
                ), (t, k)
    ends += int((r1[2] | r1[3]).sum())
assert ends > 0
try:
    ShoppingVectorEnv(2, config=cfg, device="cuda", interface={"observation": "features"})
except ValueError as error:
    assert "interface.observation" in str(error), error
else:
    raise AssertionError("features on the device did not fail")
print("ok")
