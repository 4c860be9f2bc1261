"""The near-real-time lane: BigCommerce webhooks → intake → re-fetch by id → the sync core → People.

- `intake`: the append-only SQLite journal (WAL) beside the DuckDB file, and why;
- `verify`: size, Standard Webhooks signature or shared header, freshness, payload shape;
- `receiver`: ``bc2people listen`` (Starlette/uvicorn, answers 200 after the durable append);
- `drain`: ``bc2people drain`` (collapse, re-fetch, stage, push, record fates; the locking);
- `settings`: the lane's configuration.

The nightly run stays the reconciliation: its incremental window catches whatever the lane
missed, and it takes the same run lock as the drain.
"""
