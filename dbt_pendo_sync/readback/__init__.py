"""Pendo read back: its values copied into the warehouse page by page and compared with the
models' rows through the conversion a sync sends (`dbt-pendo audit`, `sync --adopt`)."""
