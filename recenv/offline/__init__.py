"""Offline data work: log loaders, click-model and session calibration, off-policy
estimators, synthetic logs and stylized facts. It builds on ``recenv.sim``, never the reverse.
"""
