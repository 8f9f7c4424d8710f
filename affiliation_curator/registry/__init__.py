"""The registry: importing ROR dumps and own institution lists, keeping them, finding institutions.

    from affiliation_curator.registry import RegistryCatalog, load_active_registry
    catalog = RegistryCatalog()
    catalog.import_file("v2.9-2026-06-23-ror-data.zip")   # now active
    registry = catalog.load()                             # or load_active_registry()
    registry.get("02kkvpp62"); registry.find("TUM")
"""

from affiliation_curator.institution import Institution, Name, Relationship, normalize_ror_id
from affiliation_curator.registry.catalog import (
    NAME_RULE,
    RegistryCatalog,
    load_active_registry,
    slugify,
    validate_name,
)
from affiliation_curator.registry.countries import country_name, resolve_country
from affiliation_curator.registry.parse import ParsedRegistry, parse_registry_file
from affiliation_curator.registry.registry import (
    DEMO_NAME,
    DEMO_NOTICE,
    Registry,
    RegistryMeta,
    compute_stats,
    text_key,
)
from affiliation_curator.registry.sources import ProgressFn

__all__ = [
    "DEMO_NAME",
    "DEMO_NOTICE",
    "NAME_RULE",
    "Institution",
    "Name",
    "ParsedRegistry",
    "ProgressFn",
    "Registry",
    "RegistryCatalog",
    "RegistryMeta",
    "Relationship",
    "compute_stats",
    "country_name",
    "load_active_registry",
    "normalize_ror_id",
    "parse_registry_file",
    "resolve_country",
    "slugify",
    "text_key",
    "validate_name",
]
