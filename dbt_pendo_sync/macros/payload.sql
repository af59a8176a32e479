{#-
  Records built by the warehouse: each row's JSON text, exactly as the Python side would
  build it (dbt_pendo_sync/pendo/fields.py), so that Python only joins texts into request
  bodies. An adapter without an implementation returns none, and Python builds every record.

  `id` and each field are dicts:
    id:     {column, kind}                      kind: text or whole (an integer type)
    fields: [{column, kind, key, clear}]        key: the SQL literal '"<field>":'
  Value kinds (decided from the Pendo field's type and the column's, fields.Coercion):
    text      a string column into a text field (at most 1,500 characters)
    whole     an integer column into a number or integer field
    double    a double column into a number field (finite)
    decimal   an exact numeric column into a number field (through its text, as Python reads it)
    boolean   a boolean column into a boolean field
    date      a date into a time field (UTC, RFC 3339)
    timestamp a timestamp without time zone into a time field (UTC, RFC 3339)
  Returns {"json": SQL of the record's text, "valid": SQL true where that text is the record};
  a row where `valid` is not true (a long text, a blank id, a year outside 1000-9999) is built
  by Python, which also gives the reason a row is invalid.
-#}

{% macro pendo_sync_record_json(id_key, id, fields, blank) %}
  {{ return(adapter.dispatch('pendo_sync_record_json', 'dbt_pendo_sync')(id_key, id, fields, blank)) }}
{% endmacro %}

{% macro default__pendo_sync_record_json(id_key, id, fields, blank) %}
  {{ return(none) }}
{% endmacro %}

{#- `blank`: a regular expression character class of the characters Python's str.strip()
    removes, so that an id of only those is left to Python (which calls it blank). -#}
{% macro duckdb__pendo_sync_record_json(id_key, id, fields, blank) %}
  {%- set valid = [] -%}
  {%- if id.kind == 'text' -%}
    {%- set id_json = 'to_json(' ~ id.column ~ ')' -%}
    {%- do valid.append('regexp_matches(' ~ id.column ~ ', ' ~ blank ~ ')') -%}
  {%- elif id.kind == 'whole' -%}
    {%- set id_json = "'\"' || cast(" ~ id.column ~ " as varchar) || '\"'" -%}
  {%- else -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set parts = [] -%}
  {%- for f in fields -%}
    {%- set c = f.column -%}
    {%- if f.kind == 'text' -%}
      {%- set value = 'to_json(' ~ c ~ ')' -%}
      {%- do valid.append('(' ~ c ~ ' is null or length(' ~ c ~ ') <= 1500)') -%}
    {%- elif f.kind == 'whole' -%}
      {%- set value = 'cast(' ~ c ~ ' as varchar)' -%}
    {%- elif f.kind == 'double' -%}
      {%- set value = 'cast(' ~ c ~ ' as varchar)' -%}
      {%- do valid.append('(' ~ c ~ ' is null or isfinite(' ~ c ~ '))') -%}
    {%- elif f.kind == 'decimal' -%}
      {%- set d = 'cast(cast(' ~ c ~ ' as varchar) as double)' -%}
      {%- set value = 'case when trunc(' ~ d ~ ') = ' ~ d ~ ' and abs(' ~ d ~ ') < 9007199254740992 then cast(cast(' ~ d ~ ' as bigint) as varchar) else cast(' ~ d ~ ' as varchar) end' -%}
    {%- elif f.kind == 'boolean' -%}
      {%- set value = "case when " ~ c ~ " then 'true' when not " ~ c ~ " then 'false' end" -%}
    {%- elif f.kind == 'date' -%}
      {%- set value = "'\"' || strftime(" ~ c ~ ", '%Y-%m-%d') || 'T00:00:00+00:00\"'" -%}
      {%- do valid.append('(' ~ c ~ ' is null or year(' ~ c ~ ') between 1000 and 9999)') -%}
    {%- elif f.kind == 'timestamp' -%}
      {%- set value = "'\"' || case when microsecond(" ~ c ~ ") % 1000000 = 0 then strftime(" ~ c ~ ", '%Y-%m-%dT%H:%M:%S') else strftime(" ~ c ~ ", '%Y-%m-%dT%H:%M:%S.%f') end || '+00:00\"'" -%}
      {%- do valid.append('(' ~ c ~ ' is null or year(' ~ c ~ ') between 1000 and 9999)') -%}
    {%- else -%}
      {{ return(none) }}
    {%- endif -%}
    {%- if f['clear'] -%}  {#- not f.clear: a dict's own clear() -#}
      {%- do parts.append(f.key ~ ' || coalesce(' ~ value ~ ", 'null')") -%}
    {%- else -%}
      {%- do parts.append('case when ' ~ c ~ ' is not null then ' ~ f.key ~ ' || ' ~ value ~ ' end') -%}
    {%- endif -%}
  {%- endfor -%}
  {%- set values = "concat_ws(',', " ~ (parts | join(', ')) ~ ")" if parts else "''" -%}
  {%- set json = id_key ~ ' || ' ~ id_json ~ " || ',\"values\":{' || " ~ values ~ " || '}}'" -%}
  {{ return({"json": json, "valid": (valid | join(' and ')) if valid else 'true'}) }}
{% endmacro %}
