-- var('rows') synthetic visitors. Rows with i <= var('bump') get another score, so a rebuild
-- with bump = rows / 100 changes exactly 1% of the rows (and their fingerprints).
-- The series and the seconds are macros (macros/bench_rows.sql): DuckDB and PostgreSQL.
-- Column types, and the Pendo field Type bench_sync.py gives the emulator for each:
--   plan varchar (string), score integer (integer), is_active boolean (boolean),
--   mrr numeric(12,2) (float; whole values go out as JSON integers), signup_date date (time),
--   last_seen_at timestamp (time), seats bigint (integer)
select
    'v-' || lpad(cast(i as varchar), 8, '0') as visitor_id,
    case i % 4 when 0 then 'free' when 1 then 'starter' when 2 then 'pro' else 'enterprise' end as plan,
    cast((i * 7919) % 100000 + case when i <= {{ var('bump', 0) }} then 100000 else 0 end as integer) as score,
    i % 3 <> 0 as is_active,
    cast((i % 100000) / 4.0 as numeric(12, 2)) as mrr,
    cast(date '2020-01-01' + cast(i % 1826 as integer) as date) as signup_date,
    cast(timestamp '2024-01-01 00:00:00' + {{ bench_seconds('i * 17') }} as timestamp) as last_seen_at,
    cast(i % 250 + 1 as bigint) as seats
from {{ bench_series(var('rows', 1000)) }}
