-- One row per product event, sent to Pendo as a Track Event. The seed's events end before the
-- fixed reference date; they are moved forward by the time from that date to the build, so
-- the week before the build holds the last 14 of them: inside Pendo's 7-day window whenever
-- the demo runs. Times are UTC without a time zone, as dbt-pendo-sync reads naive values.
select
    'evt-' || cast(e.event_id as varchar) as event_id,
    e.user_id as visitor_id,
    u.company_id as account_id,
    e.event_name,
    e.occurred_at
        + (timezone('UTC', current_timestamp) - cast('{{ var("pendo_reference_date") }}' as timestamp))
        as occurred_at,
    u.role
from {{ ref('stg_product_events') }} as e
left join {{ ref('stg_users') }} as u on u.user_id = e.user_id
