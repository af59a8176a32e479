select
    row_number() over (order by occurred_at, user_id, event_name) as event_id,
    cast(user_id as varchar)          as user_id,
    cast(event_name as varchar)       as event_name,
    cast(occurred_at as timestamp)    as occurred_at
from {{ ref('product_events') }}
