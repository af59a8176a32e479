{#-
  The audit's SQL (readback/audit.py), dispatched as ledger.sql's macros are; T-SQL's
  versions are in tsql.sql.
-#}


{#- The first `n` rows of `relation` where `where` holds, in the order of `order_by`, with
    these `columns` (SQL text, the caller's). -#}
{% macro pendo_sync_select_first(columns, relation, where, order_by, n) %}
  {{ return(adapter.dispatch('pendo_sync_select_first', 'dbt_pendo_sync')(columns, relation, where, order_by, n)) }}
{% endmacro %}

{% macro default__pendo_sync_select_first(columns, relation, where, order_by, n) -%}
  select {{ columns }} from {{ relation }} where {{ where }} order by {{ order_by }} limit {{ n }}
{%- endmacro %}
