{#-
  The ledger's SQL, per warehouse: macros dispatched through the `dbt_pendo_sync` namespace
  and rendered by the user's own adapter, as dbt-utils' macros are. dbt-pendo-sync adds them
  to the project's macros when it builds the adapter (dbt/compat.py), so dbt's own macros
  (create_table_as, hash, concat, type_string) and the project's overrides of those apply.

  A project overrides one for its adapter the way it overrides dbt-utils: a macro named
  `<adapter>__<name>` in the project, and in dbt_project.yml
      dispatch:
        - macro_namespace: dbt_pendo_sync
          search_order: [my_project, dbt_pendo_sync]

  Arguments named `relation`, `state`, `journal`, `snapshot`, `lock` are Relations; the
  others are SQL text (literals already quoted, conditions already written).
-#}


{#- Whether the warehouse takes no DELETE or UPDATE on our tables, so that a table loses
    rows by being rewritten (ledger/dialect.py's RewritingDialect). -#}
{% macro pendo_sync_rewrites_tables() %}
  {{ return(adapter.dispatch('pendo_sync_rewrites_tables', 'dbt_pendo_sync')()) }}
{% endmacro %}

{% macro default__pendo_sync_rewrites_tables() %}
  {{ return(false) }}
{% endmacro %}

{#- Plain Spark tables (parquet, no Delta or Iceberg) take INSERT only. -#}
{% macro spark__pendo_sync_rewrites_tables() %}
  {{ return(true) }}
{% endmacro %}

{#- Databricks tables are Delta tables: DELETE and UPDATE work. -#}
{% macro databricks__pendo_sync_rewrites_tables() %}
  {{ return(false) }}
{% endmacro %}


{#- CREATE TABLE IF NOT EXISTS with these column definitions. -#}
{% macro pendo_sync_create_table(relation, columns) %}
  {{ return(adapter.dispatch('pendo_sync_create_table', 'dbt_pendo_sync')(relation, columns)) }}
{% endmacro %}

{% macro default__pendo_sync_create_table(relation, columns) -%}
  create table if not exists {{ relation }} ({{ columns }})
{%- endmacro %}

{#- Parquet, not the Hive text format Spark picks without USING: text cannot hold every
    string (a newline splits the row), and a datasource table's CREATE TABLE AS registers the
    table only once its files are written. -#}
{% macro spark__pendo_sync_create_table(relation, columns) -%}
  create table if not exists {{ relation }} ({{ columns }}) using parquet
{%- endmacro %}

{% macro databricks__pendo_sync_create_table(relation, columns) -%}
  {{ dbt_pendo_sync.default__pendo_sync_create_table(relation, columns) }}
{%- endmacro %}


{#- A table made from a query. -#}
{% macro pendo_sync_create_table_as(relation, sql) %}
  {{ return(adapter.dispatch('pendo_sync_create_table_as', 'dbt_pendo_sync')(relation, sql)) }}
{% endmacro %}

{% macro default__pendo_sync_create_table_as(relation, sql) -%}
  {{ create_table_as(false, relation, sql) }}
{%- endmacro %}

{% macro spark__pendo_sync_create_table_as(relation, sql) -%}
  create table {{ relation }} using parquet as {{ sql }}
{%- endmacro %}

{#- Not dbt-databricks' create_table_as, which reads the model being built (its `model`
    is a macro here, and it fails: 'Macro' object has no attribute 'database'). A Delta
    table, Databricks' default. -#}
{% macro databricks__pendo_sync_create_table_as(relation, sql) -%}
  create table {{ relation }} as {{ sql }}
{%- endmacro %}


{#- Remove the rows that match `where`. -#}
{% macro pendo_sync_delete(relation, where) %}
  {{ return(adapter.dispatch('pendo_sync_delete', 'dbt_pendo_sync')(relation, where)) }}
{% endmacro %}

{% macro default__pendo_sync_delete(relation, where) -%}
  delete from {{ relation }} where {{ where }}
{%- endmacro %}


{#- The rows of `relation` that a DELETE ... WHERE `where` keeps (rows where `where` is
    null are kept, as DELETE keeps them): what a rewriting warehouse writes instead. -#}
{% macro pendo_sync_rows_kept(relation, where) %}
  {{ return(adapter.dispatch('pendo_sync_rows_kept', 'dbt_pendo_sync')(relation, where)) }}
{% endmacro %}

{% macro default__pendo_sync_rows_kept(relation, where) -%}
  select * from {{ relation }} where not coalesce(({{ where }}), false)
{%- endmacro %}


{#- Refresh a run's claim on a model's lock; readers take the latest heartbeat per owner. -#}
{% macro pendo_sync_heartbeat(lock, model_id, owner, now) %}
  {{ return(adapter.dispatch('pendo_sync_heartbeat', 'dbt_pendo_sync')(lock, model_id, owner, now)) }}
{% endmacro %}

{% macro default__pendo_sync_heartbeat(lock, model_id, owner, now) -%}
  update {{ lock }} set heartbeat = {{ now }} where model_id = {{ model_id }} and owner = {{ owner }}
{%- endmacro %}

{#- No UPDATE: a new row per beat; the run's rows all go when it releases the lock. -#}
{% macro spark__pendo_sync_heartbeat(lock, model_id, owner, now) -%}
  insert into {{ lock }} (model_id, owner, heartbeat) values ({{ model_id }}, {{ owner }}, {{ now }})
{%- endmacro %}

{% macro databricks__pendo_sync_heartbeat(lock, model_id, owner, now) -%}
  {{ dbt_pendo_sync.default__pendo_sync_heartbeat(lock, model_id, owner, now) }}
{%- endmacro %}


{#- A row's fingerprint: a hash of `prefix` and, per field, `tag` and the value as text, or
    `if_null` when the value is null. `fields` is a list of {column, tag, if_null}. -#}
{% macro pendo_sync_fingerprint(prefix, fields) %}
  {{ return(adapter.dispatch('pendo_sync_fingerprint', 'dbt_pendo_sync')(prefix, fields)) }}
{% endmacro %}

{% macro default__pendo_sync_fingerprint(prefix, fields) %}
  {%- set parts = [prefix] -%}
  {%- for f in fields -%}
    {%- set value = dbt.concat([f.tag, "cast(" ~ f.column ~ " as " ~ (dbt.type_string() | trim) ~ ")"]) | trim -%}
    {%- do parts.append("case when " ~ f.column ~ " is null then " ~ f.if_null ~ " else " ~ value ~ " end") -%}
  {%- endfor -%}
  {{ return(dbt.hash(dbt.concat(parts) | trim) | trim) }}
{% endmacro %}


{#- The statements that fold a run's confirmed progress into the state, to run as one
    transaction: the confirmed snapshot rows (`confirmed`, a condition on snapshot row `s`)
    replace the model's state rows (all of them with `replace_all`), except those that leave
    the state once confirmed (`stays` is false for them: a record cleared or removed in Pendo);
    with `forget_dropped`, the records whose snapshot row is `dropped` (a condition on `s`:
    they left the model) are forgotten; the model's journal is emptied. The snapshot holds
    only the rows that differ from the state: a record it lacks keeps its state. -#}
{% macro pendo_sync_merge(state, journal, snapshot, model_id, confirmed, now, replace_all, forget_dropped, stays, dropped) %}
  {{ return(adapter.dispatch('pendo_sync_merge', 'dbt_pendo_sync')(state, journal, snapshot, model_id, confirmed, now, replace_all, forget_dropped, stays, dropped)) }}
{% endmacro %}

{% macro default__pendo_sync_merge(state, journal, snapshot, model_id, confirmed, now, replace_all, forget_dropped, stays, dropped) %}
  {%- set statements = [] -%}
  {%- if replace_all -%}
    {%- do statements.append("delete from " ~ state ~ " where model_id = " ~ model_id) -%}
  {%- else -%}
    {%- do statements.append(
      "delete from " ~ state ~ " where model_id = " ~ model_id ~ " and record_id in "
      ~ "(select s.__rid from " ~ snapshot ~ " s where " ~ confirmed ~ ")") -%}
  {%- endif -%}
  {%- do statements.append(
    "insert into " ~ state ~ " (model_id, record_id, fingerprint, synced_at) select "
    ~ model_id ~ ", s.__rid, s.__fp, " ~ now ~ " from " ~ snapshot ~ " s where " ~ confirmed
    ~ " and " ~ stays) -%}
  {%- if forget_dropped -%}
    {%- do statements.append(
      "delete from " ~ state ~ " where model_id = " ~ model_id ~ " and record_id in "
      ~ "(select s.__rid from " ~ snapshot ~ " s where " ~ dropped ~ ")") -%}
  {%- endif -%}
  {%- do statements.append("delete from " ~ journal ~ " where model_id = " ~ model_id) -%}
  {{ return(statements) }}
{% endmacro %}

{#- dbt-bigquery's begin and commit do nothing: the statements go as one script inside
    BigQuery's own multi-statement transaction, which commits all of them or none. -#}
{% macro bigquery__pendo_sync_merge(state, journal, snapshot, model_id, confirmed, now, replace_all, forget_dropped, stays, dropped) %}
  {%- set statements = dbt_pendo_sync.default__pendo_sync_merge(state, journal, snapshot, model_id, confirmed, now, replace_all, forget_dropped, stays, dropped) -%}
  {{ return(["begin transaction;\n" ~ (statements | join(";\n")) ~ ";\ncommit transaction;"]) }}
{% endmacro %}


{#- For a rewriting warehouse: the whole state table after the merge, as one query (the other
    models' rows, the model's rows kept, the rows confirmed now). -#}
{% macro pendo_sync_state_after_merge(state, snapshot, model_id, confirmed, now, replace_all, forget_dropped, stays, dropped) %}
  {{ return(adapter.dispatch('pendo_sync_state_after_merge', 'dbt_pendo_sync')(state, snapshot, model_id, confirmed, now, replace_all, forget_dropped, stays, dropped)) }}
{% endmacro %}

{% macro default__pendo_sync_state_after_merge(state, snapshot, model_id, confirmed, now, replace_all, forget_dropped, stays, dropped) -%}
  select * from {{ state }} where model_id <> {{ model_id }}
  {%- if not replace_all %}
  union all
  select st.* from {{ state }} st
  where st.model_id = {{ model_id }}
    and not exists (select 1 from {{ snapshot }} s where s.__rid = st.record_id and {{ confirmed }})
    {%- if forget_dropped %}
    and not exists (select 1 from {{ snapshot }} s where s.__rid = st.record_id and {{ dropped }})
    {%- endif %}
  {%- endif %}
  union all
  select {{ model_id }} as model_id, s.__rid as record_id, s.__fp as fingerprint,
    cast({{ now }} as {{ dbt.type_timestamp() | trim }}) as synced_at
  from {{ snapshot }} s where {{ confirmed }} and {{ stays }}
{%- endmacro %}

{#- Spark plans anti and semi joins better than correlated subqueries. -#}
{% macro spark__pendo_sync_state_after_merge(state, snapshot, model_id, confirmed, now, replace_all, forget_dropped, stays, dropped) -%}
  select * from {{ state }} where model_id <> {{ model_id }}
  {%- if not replace_all %}
  union all
  select st.* from {{ state }} st
  left anti join (select s.__rid from {{ snapshot }} s where {{ confirmed }}) c on c.__rid = st.record_id
  {%- if forget_dropped %}
  left anti join (select s.__rid from {{ snapshot }} s where {{ dropped }}) d on d.__rid = st.record_id
  {%- endif %}
  where st.model_id = {{ model_id }}
  {%- endif %}
  union all
  select {{ model_id }} as model_id, s.__rid as record_id, s.__fp as fingerprint,
    cast({{ now }} as timestamp) as synced_at
  from {{ snapshot }} s where {{ confirmed }} and {{ stays }}
{%- endmacro %}
