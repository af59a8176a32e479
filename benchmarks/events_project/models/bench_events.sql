-- `rows` deterministic product events, one a second back from var('anchor') (epoch seconds):
-- 10,000 events span under 3 hours, well inside the 7 days Pendo still processes. Every
-- column but the id, event, visitor, account and time columns is a property (plan, seats).
select
    'e-' || lpad(cast(i as varchar), 8, '0') as event_id,
    'u-' || lpad(cast(i % 500 as varchar), 4, '0') as user_id,
    'w-' || cast(i % 40 as varchar) as workspace_id,
    case when i % 3 = 0 then 'Plan Upgraded' else 'Report Run' end as event_name,
    to_timestamp({{ var('anchor') }}) - i * interval '1 second' as occurred_at,
    case when i % 2 = 0 then 'pro' else 'free' end as plan,
    i % 25 + 1 as seats
from {{ 'generate_series(1, ' ~ var('rows') ~ ') as t(i)' }}
