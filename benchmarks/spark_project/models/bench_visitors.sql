-- The Spark SQL twin of ../project/models/bench_visitors.sql: the same rows, the same values
-- and the same 7 column types in Spark's names (string, int, boolean, decimal(12,2), date,
-- timestamp, bigint). Rows with i <= var('bump') get another score.
with ids as (
    select id as i from range(1, {{ var('rows', 1000) }} + 1)
)
select
    concat('v-', lpad(cast(i as string), 8, '0')) as visitor_id,
    case i % 4 when 0 then 'free' when 1 then 'starter' when 2 then 'pro' else 'enterprise' end as plan,
    cast((i * 7919) % 100000 + case when i <= {{ var('bump', 0) }} then 100000 else 0 end as int) as score,
    i % 3 <> 0 as is_active,
    cast((i % 100000) / 4.0 as decimal(12, 2)) as mrr,
    date_add(date '2020-01-01', cast(i % 1826 as int)) as signup_date,
    timestampadd(SECOND, i * 17, timestamp '2024-01-01 00:00:00') as last_seen_at,
    cast(i % 250 + 1 as bigint) as seats
from ids
