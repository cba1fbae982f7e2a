"""The `chatlens` command: the server and site management, on the same functions."""

from __future__ import annotations

import argparse
import errno
import gc
import json
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from chatlens import __version__
from chatlens.config import ConfigError, Settings, read_config
from chatlens.engine._compiled import describe, stale_builds
from chatlens.engine.skills import SHIPPED, SkillError, load_skills
from chatlens.sites import normalize_origin
from chatlens.store.base import CreatedSite
from chatlens.store.duckdb_store import DuckDBStore, StoreError

DEFAULT_DB = "chatlens.duckdb"


class CliError(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except (CliError, StoreError) as exc:
        print(f"chatlens: error: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatlens", description="Webchat tracking and proactive engagement.")
    parser.add_argument("--version", action="version", version=f"chatlens {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--db", default=DEFAULT_DB, help=f"DuckDB file (default ./{DEFAULT_DB})")
    defaults = Settings()
    serve.add_argument("--rate-limit", type=int, default=defaults.rate_limit_per_minute, metavar="N",
                       help="requests per minute per session on /v1/batch (0: no limit)")
    serve.add_argument("--max-body", type=int, default=defaults.max_body_bytes, metavar="BYTES",
                       help="largest /v1/batch body accepted")
    serve.add_argument("--keep-bots", action="store_true", help="store bot traffic (flagged) instead of dropping it")
    serve.add_argument("--trust-proxy", action="store_true",
                       help="take the client address from X-Forwarded-For (only behind your own proxy)")
    serve.add_argument("--dedupe-capacity", type=int, default=defaults.dedupe_capacity, metavar="N",
                       help="event ids kept in memory for dedupe (~150 bytes each); older ones are looked up")
    serve.add_argument("--load-interval", type=float, default=defaults.load_interval, metavar="SECONDS",
                       help="how often acknowledged events move from the journal into the database (reads load what is waiting first)")
    serve.add_argument("--background-priority", choices=("idle", "normal"), default=defaults.background_priority,
                       help="idle: loads into the database use only CPU time the event loop leaves (Linux); "
                            "normal: every thread equal")
    serve.add_argument("--config", metavar="PATH", help="a TOML file: custom session data keys (docs/lifecycle.md)")
    serve.add_argument("--max-attachment", type=int, default=defaults.max_attachment_bytes, metavar="BYTES",
                       help="store attachment content up to this size; larger files keep only their description")
    serve.add_argument("--skills", metavar="PATH",
                       help="the skills file (default: the shipped one; `chatlens skills` prints it)")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument("--noop-endpoint", action="store_true", help="add POST /v1/noop (benchmark reference)")
    serve.set_defaults(handler=cmd_serve)

    skills = commands.add_parser("skills", help="print the shipped skills file, or check one")
    skills.add_argument("--check", metavar="PATH", help="check a skills file and list its skills")
    skills.set_defaults(handler=cmd_skills)

    site = commands.add_parser("site", help="manage sites").add_subparsers(metavar="COMMAND")
    create = site.add_parser("create", help="create a site and print its keys")
    create.add_argument("name")
    create.add_argument("--origin", action="append", default=[], metavar="URL",
                        help="an origin allowed to send events (repeat; none: any origin)")
    create.add_argument("--db", default=DEFAULT_DB)
    create.add_argument("--json", action="store_true", help="print only the ids and keys as JSON")
    create.set_defaults(handler=cmd_site_create)

    origins = site.add_parser("origins", help="show or change the origins allowed to send a site's events")
    origins.add_argument("site_id", metavar="SITE_ID")
    origins.add_argument("--add", action="append", default=[], metavar="URL", help="allow this origin (repeat)")
    origins.add_argument("--remove", action="append", default=[], metavar="URL", help="stop allowing it (repeat)")
    origins.add_argument("--db", default=DEFAULT_DB)
    origins.add_argument("--json", action="store_true", help='print {"site_id": ..., "origins": [...]}')
    origins.set_defaults(handler=cmd_site_origins)

    listing = site.add_parser("list", help="list sites")
    listing.add_argument("--db", default=DEFAULT_DB)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_site_list)

    demo = commands.add_parser("demo", help="fill a database with realistic demo traffic (docs/demo-data.md)")
    demo.add_argument("--visitors", type=int, default=2000, metavar="N", help="visitors to simulate (default 2000)")
    demo.add_argument("--days", type=int, default=30, metavar="D", help="spread over the last D days (default 30)")
    demo.add_argument("--db", default=DEFAULT_DB, metavar="PATH", help=f"DuckDB file (default ./{DEFAULT_DB}); not while a server uses it")
    demo.add_argument("--seed", type=int, default=1, metavar="S", help="the same seed gives the same traffic (default 1)")
    demo.set_defaults(handler=cmd_demo)

    export = commands.add_parser("export", help="write raw events or a report's table as CSV, Parquet or JSON (docs/analytics.md)")
    export.add_argument("what", metavar="WHAT", help="events, or a report: " + ", ".join(_report_names()))
    export.add_argument("--db", default=DEFAULT_DB, help="DuckDB file; not while a server uses it (use the API then)")
    export.add_argument("--site", metavar="ID", help="the site (default: the only or first one)")
    export.add_argument("--from", dest="since", metavar="TIME", help="ISO 8601 or epoch ms (default: 30 days ago)")
    export.add_argument("--to", dest="until", metavar="TIME", help="ISO 8601 or epoch ms, exclusive (default: now)")
    export.add_argument("--filter", action="append", default=[], metavar="NAME=VALUE",
                        help="device, source, language, page_type, url or trait.NAME (repeat)")
    export.add_argument("--breakdown", metavar="DIMENSION")
    export.add_argument("--table", metavar="KEY", help="which table of the report (default: its headline metrics)")
    export.add_argument("--type", action="append", default=[], metavar="TYPE", help="events only: these types (repeat)")
    export.add_argument("--format", choices=("csv", "parquet", "json"), default="csv")
    export.add_argument("-o", "--output", metavar="FILE", help="default: chatlens-SITE-WHAT[-TABLE].FORMAT here")
    export.set_defaults(handler=cmd_export)
    return parser


def _report_names() -> list[str]:
    from chatlens.analytics import REPORTS

    return sorted(REPORTS)


def cmd_export(args: argparse.Namespace) -> int:
    from chatlens.analytics import BadParameter, parse_report_query
    from chatlens.analytics.export import write_export
    from chatlens.ingest.validate import parse_timestamp

    params: dict[str, str] = {}
    for item in args.filter:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CliError(f"--filter {item!r}: give NAME=VALUE, e.g. device=mobile")
        params[name] = value
    for name, value in (("from", args.since), ("to", args.until), ("breakdown", args.breakdown)):
        if value:
            params[name] = value
    store = DuckDBStore(args.db)
    try:
        sites = store.list_sites()
        site = next((s for s in sites if s.site_id == args.site), None) if args.site else (sites[0] if sites else None)
        if site is None:
            known = ", ".join(s.site_id for s in sites) or "none yet"
            raise CliError(f"--site {args.site}: no such site (sites: {known})" if args.site else "no site yet: nothing to export")
        try:
            query = parse_report_query(site.site_id, params, parse_timestamp)
            suffix = f"-{args.table}" if args.table and args.what != "events" else ""
            output = Path(args.output or f"chatlens-{site.site_id}-{args.what}{suffix}.{args.format}")
            rows = write_export(store, query, args.what, args.format, output, table=args.table, types=args.type)
        except BadParameter as exc:
            raise CliError(str(exc)) from None
    finally:
        store.close()
    print(f"{output}: {rows:,} rows", file=sys.stderr)
    return 0


def _origins(flag: str, values: list[str]) -> list[str]:
    try:
        return [normalize_origin(o) for o in values]
    except ValueError as exc:
        raise CliError(f"{flag} {exc}") from None


def cmd_site_create(args: argparse.Namespace) -> int:
    origins = _origins("--origin", args.origin)
    store = DuckDBStore(args.db)
    try:
        created = store.create_site(args.name, origins)
    finally:
        store.close()
    if args.json:
        print(json.dumps(_keys(created)))
    else:
        _print_created(created, script_base=None)
    return 0


def cmd_site_origins(args: argparse.Namespace) -> int:
    """Show a site's allowed origins, or add and remove some (a server must not hold the
    database: stop it, change, start it again)."""
    added, removed = _origins("--add", args.add), _origins("--remove", args.remove)
    store = DuckDBStore(args.db)
    try:
        site = next((s for s in store.list_sites() if s.site_id == args.site_id), None)
        if site is None:
            raise CliError(f"no site {args.site_id!r} (`chatlens site list` shows them)")
        if missing := [o for o in removed if o not in site.origins]:
            raise CliError(f"--remove {missing[0]}: not an origin of site {site.site_id!r}")
        if added or removed:
            origins = [o for o in dict.fromkeys([*site.origins, *added]) if o not in removed]
            site = store.set_site_origins(site.site_id, origins)
    finally:
        store.close()
    if args.json:
        print(json.dumps({"site_id": site.site_id, "origins": list(site.origins)}))
    else:
        print("\n".join(site.origins) if site.origins else "(any origin)")
    return 0


def cmd_site_list(args: argparse.Namespace) -> int:
    store = DuckDBStore(args.db)
    try:
        sites = store.list_sites()
    finally:
        store.close()
    if args.json:
        print(json.dumps([{"site_id": s.site_id, "name": s.name, "public_key": s.public_key,
                           "origins": list(s.origins)} for s in sites]))
        return 0
    for s in sites:
        print(f"{s.site_id}\t{s.public_key}\t{s.name}\t{' '.join(s.origins) or '(any origin)'}")
    return 0


def cmd_skills(args: argparse.Namespace) -> int:
    if not args.check:
        print(SHIPPED.read_text(), end="")
        return 0
    try:
        skill_set = load_skills(Path(args.check))
    except SkillError as exc:
        print(f"chatlens: {exc}", file=sys.stderr)
        return 2
    for skill in sorted(skill_set.skills, key=lambda s: s.priority):
        print(f"{skill.priority}\t{skill.name}\t{len(skill.steps)} steps\t{skill.description}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    if not 1 <= args.visitors <= 1_000_000:
        raise CliError("--visitors: give a number from 1 to 1000000")
    if not 1 <= args.days <= 365:
        raise CliError("--days: give a number from 1 to 365")
    from chatlens.demo.generate import DEMO_SITE, demo_site, run_demo  # loads the server's parts

    db = Path(args.db)
    try:
        store = DuckDBStore(db)
    except StoreError as exc:
        if "in use" in str(exc):  # `chatlens demo` writes the file itself, as a server would
            raise StoreError(f"{exc}. chatlens demo writes to the database directly: stop the server first") from None
        raise
    try:
        site, created = demo_site(store)
        if created is not None:
            print(f"Created the site {DEMO_SITE!r} for the demo data:")
            _print_created(created, script_base=None)
        else:
            print(f"The site {DEMO_SITE!r} exists (site id {site.site_id}): adding the demo data to it.")
        print(f"Simulating {args.visitors:,} visitors over the last {args.days} days (seed {args.seed}) into {db}...",
              flush=True)
        result = run_demo(
            store,
            Settings(db_path=db, rate_limit_per_minute=0),  # a visitor's month arrives in seconds
            site,
            visitors=args.visitors,
            days=args.days,
            seed=args.seed,
            progress=sys.stderr,
        )
    finally:
        store.close()
    offers = f"{result.offers:,} offers ({result.offers_shown:,} shown, {result.offers_accepted:,} accepted)"
    print(f"Done in {result.seconds:.1f} s: {result.visitors:,} visitors, {result.visits:,} visits, "
          f"{result.events:,} events stored, {result.conversations:,} conversations "
          f"({result.agent_chats:,} with an agent), {offers}, {result.purchases:,} purchases.")
    key = "the secret key above" if created is not None else f"the secret key of site {site.site_id} (shown when it was created)"
    print(f"Next: chatlens serve --db {db}, then open http://127.0.0.1:8000/ and log in with {key}.")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn  # the server's dependencies load only when serving

    from chatlens.api.app import create_app

    try:
        from_file = read_config(Path(args.config)) if args.config else {}
        load_skills(Path(args.skills) if args.skills else None)  # a bad file stops here, not mid-start
    except (ConfigError, SkillError) as exc:
        print(f"chatlens: {exc}", file=sys.stderr)
        return 2
    settings = Settings(
        **from_file,
        max_attachment_bytes=args.max_attachment,
        db_path=Path(args.db),
        rate_limit_per_minute=args.rate_limit,
        max_body_bytes=args.max_body,
        drop_bots=not args.keep_bots,
        trust_proxy_headers=args.trust_proxy,
        noop_endpoint=args.noop_endpoint,
        load_interval=args.load_interval,
        background_priority=args.background_priority,
        dedupe_capacity=args.dedupe_capacity,
        skills_path=Path(args.skills) if args.skills else None,
    )
    _log_to_console()
    _tune_interpreter()
    sock = _bind(args.host, args.port)  # before opening the db: fail fast on a busy port
    store = DuckDBStore(settings.db_path, threads=settings.duckdb_threads)
    base = f"http://{args.host}:{args.port}"
    sites = store.list_sites()
    if not sites:
        created = store.create_site("default")
        print("No site yet: created one.")
        _print_created(created, script_base=base)
    else:
        for s in sites:
            print(f"Site {s.site_id}: public key {s.public_key}")
    print(f"Demo shop with proactive offers: {base}/demo")
    if stale := stale_builds():
        print(f"chatlens: warning: the intent engine runs compiled modules older than their source "
              f"(rebuild with `make install`): {', '.join(stale)}", file=sys.stderr)
    print(f"Chatlens {__version__} on {base} (database {settings.db_path}; intent engine {describe()})", flush=True)
    config = uvicorn.Config(
        create_app(settings, store),
        loop="uvloop",
        http="httptools",
        access_log=args.access_log,
        log_level="info",
        server_header=False,
        proxy_headers=False,  # X-Forwarded-For is ours to trust or not (--trust-proxy)
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _tune_interpreter() -> None:
    """Settings for a server whose event loop shares the GIL with I/O threads.

    The journal and loader threads release the GIL for their disk and DuckDB work and
    need it back briefly; with the default 5 ms switch interval each handback waits for
    the busy event loop's time slice, which made a 0.3 ms journal sync take ~5 ms. The
    request path allocates many short-lived, acyclic containers: a larger first GC
    generation and freezing the startup objects cut collector time on the loop. What
    survives (new sessions' engine state) reaches the middle generation, whose collection
    pauses the loop for about 0.3 us per object: collected every 4 young collections
    (not 20) it pauses for about 0.1 s instead of 0.3-0.4 s, for the same total; the
    oldest generation is still considered every 400 young collections.
    """
    sys.setswitchinterval(0.0005)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 4, 100)


def _log_to_console() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logger = logging.getLogger("chatlens")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CliError(f"--port {port}: already in use on {host} (another server?); pick another port") from None
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
            raise CliError(f"--host {host}: not an address of this machine") from None
        if exc.errno == errno.EACCES:
            raise CliError(f"--port {port}: permission denied (ports below 1024 need privileges)") from None
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _keys(created: CreatedSite) -> dict[str, str]:
    return {"site_id": created.site.site_id, "public_key": created.site.public_key, "secret_key": created.secret_key}


def _print_created(created: CreatedSite, script_base: str | None) -> None:
    site = created.site
    print(f"  site id:     {site.site_id}")
    print(f"  public key:  {site.public_key}   (write-only, safe in web pages)")
    print(f"  secret key:  {created.secret_key}   (reads data; shown only now, keep it safe)")
    restrict = f"any (restrict: chatlens site origins {site.site_id} --add https://your.shop)"
    print(f"  origins:     {' '.join(site.origins) or restrict}")
    if script_base:
        print("  Paste into your pages:")
        print(f'    <script src="{script_base}/sdk.js" data-site="{site.public_key}" async></script>')


if __name__ == "__main__":
    sys.exit(main())
