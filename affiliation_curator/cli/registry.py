"""``registry`` commands: import, download, check, list, use, show, find, remove."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from affiliation_curator.cli import command_group
from affiliation_curator.errors import RegistryNotFoundError
from affiliation_curator.institution import Institution
from affiliation_curator.registry import (
    DEMO_NOTICE,
    NAME_RULE,
    Registry,
    RegistryCatalog,
)
from affiliation_curator.registry.download import check_for_newer_release, download_registry


def register(subparsers: argparse._SubParsersAction) -> None:
    sub = command_group(
        subparsers,
        "registry",
        help="import, list, choose and search institution registries (ROR dumps, own CSVs)",
        description="Manage the institution registries matched against: ROR data dumps and own institution lists.",
    )

    p = sub.add_parser(
        "import",
        help="import a ROR dump (.zip, .json, .json.gz) or a CSV of institutions",
        description=(
            "Import a registry file: an official ROR data dump zip (vX.Y-YYYY-MM-DD-ror-data.zip), "
            "a .json/.json.gz array of ROR schema-2 records, the ROR CSV, or a CSV of your own "
            "institutions with the columns id,name[,aliases,acronyms,city,country] (aliases and "
            "acronyms separated by ';' or '|'; country as a code or a name). The imported registry "
            "becomes the active one unless --no-activate is given."
        ),
    )
    p.add_argument("path", metavar="PATH", help="the file to import")
    p.add_argument("--name", help=f"registry name (default: ror-<version> or the file name); {NAME_RULE}")
    p.add_argument("--no-activate", action="store_true", help="import without making it the active registry")
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser(
        "download",
        help="download the newest (or a named) ROR data dump from Zenodo, import it and make it active",
        description=(
            "Fetch the newest ROR data dump (or the one named with --version) from ROR's Zenodo "
            "community through the Zenodo records API (set AFFILIATION_CURATOR_ROR_RELEASES_URL to "
            "use a mirror), verify its md5 checksum, import it and make it the active registry. An "
            "interrupted download resumes when run again; a failure leaves the active registry as it was."
        ),
    )
    p.add_argument("--version", metavar="vX.Y", help="the release to fetch, e.g. v2.9 (default: the newest)")
    p.add_argument("--name", help=f"registry name (default: ror-<version>); {NAME_RULE}")
    p.add_argument("--no-activate", action="store_true", help="import without making it the active registry")
    p.set_defaults(handler=cmd_download)

    p = sub.add_parser(
        "check",
        help="is there a newer ROR release than the active registry?",
        description="Ask the Zenodo records API for the newest ROR data dump and compare it with the imported registries.",
    )
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("list", help="list imported registries (* marks the active one)",
                       description="List imported registries; * marks the active one.")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("use", help="make an imported registry the active one",
                       description="Make an imported registry the active one (the one matched against).")
    p.add_argument("name", metavar="NAME", help="registry name (see `registry list`)")
    p.set_defaults(handler=cmd_use)

    p = sub.add_parser("show", help="show one institution's record",
                       description="Show one institution's record: names, location, types, status, relations, ids, links.")
    p.add_argument("id", metavar="ID", help="ROR id in any spelling (02kkvpp62, ror.org/..., https://...) or an own id")
    p.add_argument("--registry", metavar="NAME", help="registry to look in (default: the active one)")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("find", help="find institutions by name, acronym or id",
                       description="Find institutions by name, acronym, ROR id or external id (GRID, ISNI, Wikidata).")
    p.add_argument("query", metavar="QUERY", help="a name, acronym or id")
    p.add_argument("--registry", metavar="NAME", help="registry to search (default: the active one)")
    p.add_argument("--limit", type=int, default=10, help="most results to print (default 10)")
    p.set_defaults(handler=cmd_find)

    p = sub.add_parser("remove", help="delete an imported registry",
                       description="Delete an imported registry from the data directory.")
    p.add_argument("name", metavar="NAME", help="registry name")
    p.set_defaults(handler=cmd_remove)


class _StderrProgress:
    """Progress on stderr: a rewritten line on a terminal, a line every 10% otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = -1

    def __call__(self, fraction: float, message: str) -> None:
        percent = int(fraction * 100)
        if self.tty:
            print(f"\r{percent:3d}%  {message[:70]:<70}", end="", file=sys.stderr, flush=True)
            if fraction >= 1.0:
                print(file=sys.stderr)
        elif percent // 10 > self.last // 10 or fraction >= 1.0 and self.last < 100:
            self.last = percent
            print(f"{percent:3d}%  {message}", file=sys.stderr, flush=True)


def cmd_import(args: argparse.Namespace) -> int:
    catalog = RegistryCatalog()
    meta = catalog.import_file(args.path, name=args.name, progress=_StderrProgress(), activate=not args.no_activate)
    for warning in meta.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    state = "not active (use `registry use " + meta.name + "`)" if args.no_activate else "now the active registry"
    print(
        f"imported registry {meta.name!r}: {meta.count:,} institutions, version {meta.version or '-'} "
        f"({meta.source_format}); {state}"
    )
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    meta, release = download_registry(
        args.version, name=args.name, progress=_StderrProgress(), activate=not args.no_activate
    )
    for warning in meta.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    state = "not active (use `registry use " + meta.name + "`)" if args.no_activate else "now the active registry"
    print(
        f"downloaded ROR {release.version} ({release.published}, {release.file_name}, md5 verified) and imported "
        f"it as {meta.name!r}: {meta.count:,} institutions; {state}"
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    status = check_for_newer_release()
    print(status.message)
    return 0


def _when(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


def cmd_list(args: argparse.Namespace) -> int:
    catalog = RegistryCatalog()
    try:
        active = catalog.active_name()
    except RegistryNotFoundError as err:
        active = ""
        print(f"note: {err}", file=sys.stderr)
    metas = catalog.list()
    if not metas:
        print("no registries imported yet: python -m affiliation_curator registry import PATH")
        return 0
    rows = [("", "NAME", "VERSION", "RECORDS", "FORMAT", "SOURCE", "IMPORTED")]
    for meta in metas:
        source = meta.source if len(meta.source) <= 48 else "..." + meta.source[-45:]
        rows.append(("*" if meta.name == active else "", meta.name, meta.version or "-", f"{meta.count:,}",
                     meta.source_format, source, _when(meta.imported_at)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.rjust(widths[i]) if i == 3 else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        print("  ".join(cells).rstrip())
    if active == "demo":
        print(f"\n{DEMO_NOTICE}")
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    meta = RegistryCatalog().use(args.name)
    print(f"active registry: {meta.name} ({meta.count:,} institutions, version {meta.version or '-'})")
    return 0


def _load(name: str | None) -> Registry:
    registry = RegistryCatalog().load(name)
    if registry.is_demo:
        print(f"note: {DEMO_NOTICE}", file=sys.stderr)
    return registry


def _rel_line(registry: Registry, rel_id: str, label: str) -> str:
    other = registry.get(rel_id)
    name = other.name if other else (label or "(not in this registry)")
    return f"{name} ({rel_id})"


def format_institution(registry: Registry, inst: Institution) -> str:
    """A readable, multi-line view of a record (what `registry show` prints)."""
    lines = [inst.name, f"  id:          {inst.id}"]
    status = inst.status
    if inst.successors:
        status += " -> successor: " + "; ".join(_rel_line(registry, r.id, r.label) for r in inst.successors)
    lines.append(f"  status:      {status}")
    if inst.types:
        lines.append(f"  types:       {', '.join(inst.types)}")
    location = inst.location()
    if inst.country_code:
        location += f" ({inst.country_code})"
    if location:
        lines.append(f"  location:    {location}")
    if inst.established:
        lines.append(f"  established: {inst.established}")
    if inst.ror_url:
        lines.append(f"  ror.org:     {inst.ror_url}")
    lines.append("  names:")
    for name in inst.names:
        lang = f" ({name.lang})" if name.lang else ""
        lines.append(f"    {name.value}  [{', '.join(name.types)}]{lang}")
    for rel_type, title in (("parent", "parents"), ("child", "children"), ("related", "related"),
                            ("predecessor", "predecessors"), ("successor", "successors")):
        rels = inst.related(rel_type)
        if rels:
            lines.append(f"  {title} ({len(rels)}):")
            lines.extend(f"    {_rel_line(registry, r.id, r.label)}" for r in rels)
    if inst.external_ids:
        lines.append("  external ids:")
        lines.extend(f"    {kind}: {', '.join(values)}" for kind, values in inst.external_ids.items())
    if inst.links:
        lines.append("  links:")
        lines.extend(f"    {link}" for link in inst.links)
    # Registry text is printed as plain text; drop control characters so it cannot drive the terminal.
    return "\n".join("".join(ch for ch in line if ch >= " " or ch == "\t") for line in lines)


def cmd_show(args: argparse.Namespace) -> int:
    registry = _load(args.registry)
    inst = registry.get(args.id)
    if inst is None:
        raise RegistryNotFoundError(f"no institution with id {args.id!r} in registry {registry.name!r}")
    print(format_institution(registry, inst))
    return 0


def cmd_find(args: argparse.Namespace) -> int:
    registry = _load(args.registry)
    results = registry.find(args.query, limit=max(1, args.limit))
    if not results:
        print(f"nothing found for {args.query!r} in registry {registry.name!r}", file=sys.stderr)
        return 1
    for inst in results:
        where = inst.location()
        status = "" if inst.status == "active" else f" [{inst.status}]"
        line = "".join(ch for ch in f"{inst.id}  {inst.name}" if ch >= " ")
        if len(line) > 150:
            line = line[:147] + "..."
        print(line + (f"  ({where})" if where else "") + status)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    RegistryCatalog().remove(args.name)
    print(f"removed registry {args.name!r}")
    return 0
