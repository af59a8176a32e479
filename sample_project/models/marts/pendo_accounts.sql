-- One row per company, shaped for Pendo Account metadata.
-- mrr_usd is a list-price estimate: team = $12.50/seat, enterprise = $39/seat
-- (10% volume discount from 200 seats), free = 0.
with companies as (
    select * from {{ ref('stg_companies') }}
)

select
    cast(company_id as varchar)                       as account_id,
    company_name                                      as name,
    plan                                              as plan,
    cast(
        case plan
            when 'enterprise' then seats * 39.00 * (case when seats >= 200 then 0.9 else 1.0 end)
            when 'team'       then seats * 12.50
            else 0
        end
    as numeric(12, 2))                                as mrr_usd,
    cast(seats as integer)                            as seats,
    plan <> 'free'                                    as is_paying,
    created_at                                        as created_at,
    industry                                          as industry,
    cast(
        case
            when plan = 'free' and seats >= 8 then 'Upsell candidate: free plan with ' || cast(seats as varchar) || ' seats'
            when plan = 'enterprise' then 'Named CSM assigned; renewal reviewed quarterly'
            else 'No notes'
        end
    as varchar)                                       as internal_notes
from companies
order by company_id
