-- One row per user, shaped for Pendo Visitor metadata.
-- events_30d counts events in the 30 days before var('pendo_reference_date')
-- (a fixed date, never current_date) so the output is deterministic.
with users as (
    select * from {{ ref('stg_users') }}
),

companies as (
    select * from {{ ref('stg_companies') }}
),

recent_events as (
    select
        user_id,
        count(*) as event_count
    from {{ ref('stg_product_events') }}
    where occurred_at >= cast('{{ var("pendo_reference_date") }}' as timestamp) - interval '30 days'
      and occurred_at <  cast('{{ var("pendo_reference_date") }}' as timestamp)
    group by user_id
)

select
    cast(u.user_id as varchar)                        as visitor_id,
    u.email                                           as email,
    u.first_name || ' ' || u.last_name                as full_name,
    u.role                                            as role,
    u.role = 'admin'                                  as is_admin,
    u.signup_date                                     as signup_date,
    u.last_active_at                                  as last_active_at,
    cast(coalesce(e.event_count, 0) as integer)       as events_30d,
    c.plan                                            as plan_tier
from users as u
left join companies as c
    on c.company_id = u.company_id
left join recent_events as e
    on e.user_id = u.user_id
order by u.user_id
