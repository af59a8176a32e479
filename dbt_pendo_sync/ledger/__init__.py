"""The ledger: our sync tables in the warehouse, what Pendo confirmed, per model and record,
as fingerprints (not dbt's --state, which is its artifact folder).

Modules: store (state and journal tables, merge), snapshot (the model frozen and diffed),
journal (progress while a sync runs), lock (one sync of a model at a time), session (how a
sync or a dry run uses them around one model).

What the tables hold: what Pendo confirmed, per model and record, as fingerprints.

Tables (created through the user's adapter, in the state schema):
- `pendo_sync_state` (model_id, record_id, fingerprint, synced_at): one row per record whose
  current payload Pendo confirmed.
- `pendo_sync_journal` (model_id, kind, lo, hi): progress of a running sync, as ranges of
  state keys that were answered (`range`: rows are sent in key order, so a batch is a range,
  and the batches answered in one flush with no batch between them make one) and the keys
  in them that were not confirmed (`skip`). Small rows, so recording progress costs an
  insert or two per flush.
- `pendo_sync_snap_<model>`: the run's snapshot of the model, with each row's state key,
  fingerprint and change kind (new / changed / same). Rows are not numbered: a window over
  the whole table costs more than the rest of the snapshot, and only changed rows need an
  order, which the read that sends them gives.

A run merges the journal into the state (confirmed = inside a range and not skipped) in one
transaction at its end; a run that finds a journal left by a crashed run merges it first.
So the state never claims more than Pendo confirmed, whatever moment a crash happens.
"""
