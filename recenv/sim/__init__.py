"""The simulator core: world building (catalog, shoppers), the model's parts (choice, funnel,
dynamics), the shoppers' state, the batched step, spaces, the single and the vector env.

Nothing here imports ``recenv.offline``: a calibrated world is read from its JSON file
(``recenv.sim.calibrated``), never fitted on the fly.
"""
