"""Examples that train third-party RL libraries on recenv as is (CleanRL-style single
files, stable-baselines3 and sb3-contrib, Tianshou, TorchRL). Each file runs on its own
(``python -m experiments.examples.<name>``) and reports its speed and its return against
random on the same evaluation shoppers (``experiments.examples.scoring``)."""
