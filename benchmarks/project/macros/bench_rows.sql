-- The two adapter-specific parts of bench_visitors.sql: the series of row numbers i and a
-- number of seconds as an interval (DuckDB's range() and to_seconds(); PostgreSQL's
-- generate_series, bigint so that i * 7919 does not overflow at 10M rows).
{% macro bench_series(rows) %}{{ return(adapter.dispatch('bench_series')(rows)) }}{% endmacro %}

{% macro default__bench_series(rows) %}range(1, {{ rows }} + 1) as t(i){% endmacro %}

{% macro postgres__bench_series(rows) %}generate_series(1::bigint, {{ rows }}::bigint) as t(i){% endmacro %}

{% macro bench_seconds(expr) %}{{ return(adapter.dispatch('bench_seconds')(expr)) }}{% endmacro %}

{% macro default__bench_seconds(expr) %}to_seconds({{ expr }}){% endmacro %}

{% macro postgres__bench_seconds(expr) %}({{ expr }}) * interval '1 second'{% endmacro %}
