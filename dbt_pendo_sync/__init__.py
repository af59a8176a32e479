"""dbt-pendo-sync: sync dbt models into Pendo Visitor and Account custom metadata.

The Python API, as the CLI: `from dbt_pendo_sync import sync` (also `ls`, `RetryPolicy`,
`SyncResults`; `exposures` and `validate` are in `dbt_pendo_sync.api`, as modules of the
package have those names). They load on first use, so `import dbt_pendo_sync` stays cheap:
dbt is imported only when a command runs.
"""

__version__ = "0.1.0"

_LAZY = {
    "sync": "api",
    "ls": "api",
    "RetryPolicy": "pendo.policy",
    "SyncResults": "results",
    "ModelResult": "results",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
