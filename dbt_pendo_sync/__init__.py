"""dbt-pendo-sync: sync dbt models into Pendo Visitor and Account custom metadata."""
__version__ = "0.1.0"
