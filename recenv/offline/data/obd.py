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

import numpy as np
import pandas as pd

from recenv.offline.data.logs import (
    LoggedImpressions,
    LogValidationError,
    cell_value,
    cut_rows,
    read_table,
    validate_impressions,
)

N_POSITIONS = 3
LOG_COLUMNS = ("timestamp", "item_id", "position", "click", "propensity_score")


def load_obd(folder: str | Path, on_error: str = "raise") -> LoggedImpressions:
    """Load ``folder/<campaign>.csv`` and ``folder/item_context.csv``.

    Log rows are validated like ``load_event_log`` (positions as the file counts them,
    1..3); the item table must be whole: ids 0..n-1 once each, features present and the
    numeric one finite, or it raises.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no Open Bandit Dataset campaign folder at {folder}")
    campaign = folder.name
    log_path, item_path = folder / f"{campaign}.csv", folder / "item_context.csv"
    for path in (log_path, item_path):
        if not path.is_file():
            raise FileNotFoundError(f"{folder} is not an OBD campaign folder: {path} is missing")
    raw = read_table(log_path, index_col=0)
    missing = [column for column in LOG_COLUMNS if column not in raw.columns]
    if missing:
        raise LogValidationError(
            f"{log_path}: missing column(s) {missing}; present: {list(raw.columns)}"
        )
    items = _item_table(read_table(item_path, index_col=0), item_path)
    frame = pd.DataFrame(
        {
            "session": raw.index.to_numpy(),
            "timestamp": raw["timestamp"].to_numpy(),
            "item": raw["item_id"].to_numpy(),
            "position": raw["position"].to_numpy(),
            "click": raw["click"].to_numpy(),
            "propensity": raw["propensity_score"].to_numpy(),
        }
    )
    user_columns = sorted(c for c in raw.columns if c.startswith("user_feature_"))
    for column in user_columns:
        frame[column] = raw[column].to_numpy()
    frame, report = validate_impressions(
        frame,
        len(items),
        N_POSITIONS,
        on_error,
        str(log_path),
        position_base=1,  # the files count positions from 1
        cut=cut_rows(log_path, len(raw)),
    )
    for column in user_columns:
        frame[column] = frame[column].astype(str)  # hashes are shared across campaigns
    return LoggedImpressions(frame, items, N_POSITIONS, campaign, report)


def _item_table(items: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Check the item file (ids 0..n-1, finite numeric feature, no missing hash) and index
    it by item id, the hashed features as integer codes."""
    missing = [c for c in ("item_id", "item_feature_0") if c not in items.columns]
    if missing:
        raise LogValidationError(f"{path}: missing column(s) {missing}")
    hashed = [c for c in ("item_feature_1", "item_feature_2", "item_feature_3") if c in items]
    numeric = pd.to_numeric(items["item_feature_0"], errors="coerce").to_numpy(dtype=float)
    for column, broken, rule in [
        ("item_feature_0", ~np.isfinite(numeric), "is not a finite number"),
        *[(column, items[column].isna().to_numpy(), "is missing") for column in hashed],
    ]:
        if broken.any():
            row = int(broken.nonzero()[0][0])
            raise LogValidationError(
                f"{path}: row {row} (line {row + 2}), column {column!r} = "
                f"{cell_value(items[column].iloc[row])!r} {rule}"
            )
    ids = pd.to_numeric(items["item_id"], errors="coerce")
    if sorted(ids.tolist()) != list(range(len(items))):
        raise LogValidationError(
            f"{path}: column 'item_id' must hold each id 0..{len(items) - 1} once"
        )
    items = items.assign(item_id=ids.astype(np.int64), item_feature_0=numeric)
    items = items.set_index("item_id").sort_index()
    for column in hashed:
        items[column] = items[column].astype("category").cat.codes.astype(int)
    return items
