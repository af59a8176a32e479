select
    cast(company_id as varchar)  as company_id,
    cast(name as varchar)        as company_name,
    cast(plan as varchar)        as plan,
    cast(seats as integer)       as seats,
    cast(industry as varchar)    as industry,
    cast(created_at as date)     as created_at
from {{ ref('companies') }}
