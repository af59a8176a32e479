"""`python -m dbt_pendo_sync` runs the CLI."""

from .cli import main

main()
