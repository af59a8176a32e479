{#-
  T-SQL's versions of the package's macros (ledger.sql, audit.sql): SQL Server
  (dbt-sqlserver), Microsoft Fabric's warehouse (dbt-fabric) and Azure Synapse's dedicated SQL
  pools (dbt-synapse, whose dispatch falls back on the fabric__ versions). Only what T-SQL
  writes differently is here: T-SQL has no CREATE TABLE IF NOT EXISTS, no LIMIT (TOP), no
  boolean values (a condition cannot be coalesced), no `||` (`+`), and SQL Server no
  CREATE TABLE AS (SELECT ... INTO). DELETE, UPDATE and transactions work as elsewhere, so the
  default merge, delete and heartbeat apply.

  Rendered in the tests (tests/functional/test_rendered_sql.py), never run: no SQL Server,
  Fabric or Synapse runs here.
-#}


{#- `relation`'s name as a string literal, for OBJECT_ID (which takes quoted parts). -#}
{% macro pendo_sync_tsql_name_literal(relation) -%}
  '{{ dbt.escape_single_quotes(relation | string) }}'
{%- endmacro %}


{% macro sqlserver__pendo_sync_create_table(relation, columns) -%}
  if object_id({{ dbt_pendo_sync.pendo_sync_tsql_name_literal(relation) }}, 'U') is null create table {{ relation }} ({{ columns }})
{%- endmacro %}

{% macro fabric__pendo_sync_create_table(relation, columns) -%}
  {{ dbt_pendo_sync.sqlserver__pendo_sync_create_table(relation, columns) }}
{%- endmacro %}


{#- SQL Server has no CREATE TABLE AS. dbt-sqlserver's own create_table_as goes through a
    view it makes and drops with statements of its own; the package's queries need no view
    (no CTE, no ORDER BY), so SELECT ... INTO takes them whole. -#}
{% macro sqlserver__pendo_sync_create_table_as(relation, sql) -%}
  select * into {{ relation }} from ({{ sql }}) as pendo_sync_rows
{%- endmacro %}

{#- Fabric's warehouse and Synapse have CREATE TABLE AS SELECT (Synapse with its table
    options, as dbt-synapse's defaults). -#}
{% macro fabric__pendo_sync_create_table_as(relation, sql) -%}
  create table {{ relation }} as {{ sql }}
{%- endmacro %}

{% macro synapse__pendo_sync_create_table_as(relation, sql) -%}
  create table {{ relation }} with (distribution = round_robin, clustered columnstore index) as {{ sql }}
{%- endmacro %}


{#- T-SQL has no boolean values: whether `where` holds is a CASE (unknown keeps the row,
    as DELETE keeps it). -#}
{% macro sqlserver__pendo_sync_rows_kept(relation, where) -%}
  select * from {{ relation }} where case when ({{ where }}) then 0 else 1 end = 1
{%- endmacro %}

{% macro fabric__pendo_sync_rows_kept(relation, where) -%}
  {{ dbt_pendo_sync.sqlserver__pendo_sync_rows_kept(relation, where) }}
{%- endmacro %}


{#- The fingerprint in T-SQL, not through dbt's hash and concat: those cast to varchar(8000),
    which cuts a long row's text (a change past it would go unseen) and, outside a UTF-8
    collation, turns characters of no code page into '?'; CONCAT takes at most 254 arguments.
    Here: `+` over texts of `text_type` (never null: each part is a CASE), each value through
    CONVERT style 126, which writes floats with 16 digits (style 0 keeps 6) and datetimes to
    the second and beyond (style 0 drops the seconds), and SHA2_256 (MD5 is deprecated). -#}
{% macro pendo_sync_tsql_fingerprint(prefix, fields, text_type) %}
  {%- set parts = ["cast(" ~ prefix ~ " as " ~ text_type ~ ")"] -%}
  {%- for f in fields -%}
    {%- set value = f.tag ~ " + convert(" ~ text_type ~ ", " ~ f.column ~ ", 126)" -%}
    {%- do parts.append("case when " ~ f.column ~ " is null then " ~ f.if_null ~ " else " ~ value ~ " end") -%}
  {%- endfor -%}
  {{ return("lower(convert(varchar(64), hashbytes('SHA2_256', " ~ (parts | join(" + ")) ~ "), 2))") }}
{% endmacro %}

{% macro sqlserver__pendo_sync_fingerprint(prefix, fields) %}
  {{ return(dbt_pendo_sync.pendo_sync_tsql_fingerprint(prefix, fields, "nvarchar(max)")) }}
{% endmacro %}

{#- Fabric's warehouse has no nvarchar; its varchar is UTF-8, so it loses no character. -#}
{% macro fabric__pendo_sync_fingerprint(prefix, fields) %}
  {{ return(dbt_pendo_sync.pendo_sync_tsql_fingerprint(prefix, fields, "varchar(max)")) }}
{% endmacro %}

{% macro synapse__pendo_sync_fingerprint(prefix, fields) %}
  {{ return(dbt_pendo_sync.sqlserver__pendo_sync_fingerprint(prefix, fields)) }}
{% endmacro %}


{% macro sqlserver__pendo_sync_select_first(columns, relation, where, order_by, n) -%}
  select top ({{ n }}) {{ columns }} from {{ relation }} where {{ where }} order by {{ order_by }}
{%- endmacro %}

{% macro fabric__pendo_sync_select_first(columns, relation, where, order_by, n) -%}
  {{ dbt_pendo_sync.sqlserver__pendo_sync_select_first(columns, relation, where, order_by, n) }}
{%- endmacro %}
