select
    cast(user_id as varchar)            as user_id,
    cast(first_name as varchar)         as first_name,
    cast(last_name as varchar)          as last_name,
    lower(trim(email))                  as email,
    cast(role as varchar)               as role,
    cast(signup_date as date)           as signup_date,
    cast(last_active_at as timestamp)   as last_active_at,
    cast(company_id as varchar)         as company_id
from {{ ref('users') }}
