{#-
  Redshift's versions of the package's macros (ledger.sql): only what Redshift does
  differently from PostgreSQL, whose SQL dbt-redshift otherwise renders. The ledger uses no
  MERGE (Redshift has had one only since 2023), so its DELETE and INSERT in one transaction
  apply as they are.

  Proven through dbt-redshift and redshift_connector against PostgreSQL
  (tests/functional/test_incremental.py, `redshift`), and rendered in
  tests/functional/test_rendered_sql.py.
-#}


{#- dbt-redshift's type_string is TEXT, which Redshift makes VARCHAR(256): its hash, an md5
    of the row's text cast to TEXT, would see only the first 256 characters of a row (a change
    past them unseen). VARCHAR(65535) is Redshift's longest text (and valid PostgreSQL). -#}
{% macro redshift__pendo_sync_fingerprint(prefix, fields) %}
  {%- set parts = [prefix] -%}
  {%- for f in fields -%}
    {%- set value = f.tag ~ " || cast(" ~ f.column ~ " as varchar(65535))" -%}
    {%- do parts.append("case when " ~ f.column ~ " is null then " ~ f.if_null ~ " else " ~ value ~ " end") -%}
  {%- endfor -%}
  {{ return("md5(" ~ (parts | join(" || ")) ~ ")") }}
{% endmacro %}
