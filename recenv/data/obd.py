"""The Open Bandit Dataset (ZOZOTOWN; Saito et al., 2021) in the canonical log format.

A campaign folder holds ``<campaign>.csv`` (one row per (impression, position): item,
position 1..3, click, propensity, 4 hashed user features, user-item affinities) and
``item_context.csv`` (one numeric and three hashed categorical item features). Rows of
one impression cannot be regrouped (see the data README), so each row is its own session.
User features stay as their hash strings (the same across campaigns); the hashed item
features become integer codes (their hashes are specific to each file).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recenv.data.logs import LoggedImpressions, LogValidationError, validate_impressions

N_POSITIONS = 3


def load_obd(folder: str | Path, on_error: str = "raise") -> LoggedImpressions:
    """Load ``folder/<campaign>.csv`` and ``folder/item_context.csv``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no Open Bandit Dataset campaign folder at {folder}")
    campaign = folder.name
    log_path, item_path = folder / f"{campaign}.csv", folder / "item_context.csv"
    for path in (log_path, item_path):
        if not path.is_file():
            raise FileNotFoundError(f"{folder} is not an OBD campaign folder: {path} is missing")
    raw = pd.read_csv(log_path, index_col=0)
    items = pd.read_csv(item_path, index_col=0)
    missing = [c for c in ("item_id", "item_feature_0") if c not in items.columns]
    if missing:
        raise LogValidationError(f"{item_path}: missing column(s) {missing}")
    items = items.set_index("item_id").sort_index()
    if list(items.index) != list(range(len(items))):
        raise LogValidationError(f"{item_path}: item ids must be 0..{len(items) - 1}")
    for column in ("item_feature_1", "item_feature_2", "item_feature_3"):
        if column in items.columns:
            items[column] = items[column].astype("category").cat.codes.astype(int)
    frame = pd.DataFrame(
        {
            "session": raw.index.to_numpy(),
            "timestamp": pd.to_datetime(raw["timestamp"]),
            "item": raw["item_id"],
            "position": raw["position"] - 1,  # the files count positions from 1
            "click": raw["click"],
            "propensity": raw["propensity_score"],
        }
    )
    for column in sorted(c for c in raw.columns if c.startswith("user_feature_")):
        frame[column] = raw[column].astype(str)  # hashes are shared across campaigns
    frame, report = validate_impressions(frame, len(items), N_POSITIONS, on_error, str(log_path))
    return LoggedImpressions(frame, items, N_POSITIONS, campaign, report)
