"""The ``mailerlogic`` console script."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mailerlogic.config import Settings
from mailerlogic.wiring import configure_logging


def _settings() -> Settings:
    settings = Settings.from_env()
    configure_logging(settings)
    return settings


@click.group()
def main() -> None:
    """MailerLogic: email delivery and analytics."""
    from mailerlogic.private_files import restrict_process

    restrict_process()


@main.group()
def customers() -> None:
    """Operator commands for customer accounts."""


@main.group()
def domains() -> None:
    """Operator commands for sending domains."""


@domains.command("claim-verified")
def claim_verified_domains() -> None:
    """Claim the verified domain names that no customer holds yet (after an upgrade)."""
    from mailerlogic.claims_backfill import claim_verified
    from mailerlogic.claims_backfill import counts
    from mailerlogic.wiring import build_bus
    from mailerlogic.wiring import build_events

    settings = _settings()
    events = build_events(settings)
    with click.progressbar(length=1, label="customers with domains", file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        outcomes = claim_verified(events, build_bus(settings, events), progress)
    for customer_id, name, outcome in outcomes:
        if outcome == "taken":
            click.echo(f"{name}: verified by customer {customer_id} too, but held by another customer "
                       "(the earlier one); remove it from one of them")
    total = counts(outcomes)
    click.echo(f"claimed {total['claimed']}, already held {total['held']}, held by another customer "
               f"{total['taken']}")


@customers.command("create")
@click.option("--name", required=True)
@click.option("--email", required=True)
@click.option("--tier", type=click.Choice(["starter", "professional", "enterprise"]),
              default="starter", show_default=True)
@click.option("--domain", "domains", multiple=True,
              help="A sending domain the operator vouches for (added as verified).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
def create_customer(name: str, email: str, tier: str, domains: tuple[str, ...],
                    as_json: bool) -> None:
    """Create a customer and print its API key (shown only this once)."""
    from commands.messages import CreateCustomer
    from event_store.errors import DomainError
    from mailerlogic.wiring import build_bus
    from mailerlogic.wiring import build_events

    settings = _settings()
    try:
        customer, key = build_bus(settings, build_events(settings)).handle(
            CreateCustomer(name, email, tier, domains))
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    out = {"customer": {"id": str(customer.id), "name": customer.name, "email": customer.email,
                        "tier": customer.tier, "status": customer.status,
                        "domains": sorted(d["domain"] for d in customer.domains.values())},
           "api_key": key}
    if as_json:
        click.echo(json.dumps(out))
        return
    click.echo(f"customer {customer.id} ({customer.name}, {customer.tier})")
    click.echo(f"API key (shown once, store it now): {key}")


@main.command()
@click.option("--workers", type=int, default=None, help="gunicorn workers (MAILERLOGIC_API_WORKERS).")
def api(workers: int | None) -> None:
    """Serve the REST API with gunicorn."""
    from mailerlogic.processes import run_api

    run_api(_settings(), workers)


@main.command()
def relay() -> None:
    """Publish the event store's notification log to Kafka."""
    from mailerlogic.processes import run_relay
    from mailerlogic.processes import stop_on_signals

    run_relay(_settings(), stop_on_signals())


def _shard(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, int]:
    if value is None:
        return (0, 1)
    index, _, count = value.partition("/")
    if not (index.isdigit() and count.isdigit() and 0 <= int(index) < int(count)):
        raise click.BadParameter(f"K/N with 0 <= K < N, not {value!r}")
    return int(index), int(count)


@main.command()
@click.argument("name", type=click.Choice(["projector", "delivery", "webhooks", "exports"]))
@click.option("--shard", metavar="K/N", callback=_shard,
              help="delivery on the embedded default: only messages whose id mod N is K "
                   "(run-all starts these for MAILERLOGIC_DELIVERY_PROCESSES)")
def consume(name: str, shard: tuple[int, int]) -> None:
    """Run a consumer of the event stream: projector (ClickHouse), delivery (SMTP), webhooks or exports."""
    from mailerlogic.processes import stop_on_signals

    if shard != (0, 1) and name != "delivery":
        raise click.UsageError("--shard is for `consume delivery` only")

    if name == "exports":
        from mailerlogic.exports import run_exports

        run_exports(_settings(), stop_on_signals())
        return
    if name == "webhooks":
        from mailerlogic.webhooks import run_webhooks

        run_webhooks(_settings(), stop_on_signals())
        return
    if name == "delivery":
        from mailerlogic.delivery import run_delivery

        try:
            run_delivery(_settings(), stop_on_signals(), shard=shard)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        return
    from mailerlogic.processes import run_projector

    run_projector(_settings(), stop_on_signals())


@main.command()
def scheduler() -> None:
    """Run the daily jobs (health scores, retention) at start and once per UTC day, until SIGTERM."""
    from mailerlogic.processes import stop_on_signals
    from mailerlogic.scheduler import run_scheduler

    run_scheduler(_settings(), stop_on_signals())


@main.command("run-all")
def run_all() -> None:
    """API, relay and consumers in one process (the embedded default)."""
    from mailerlogic.processes import run_all as run
    from mailerlogic.processes import stop_on_signals

    settings = _settings()
    run(settings, stop_on_signals(), ready=lambda: _print_quickstart(settings))


@main.command()
@click.option("--projectors", type=click.IntRange(1, 64), default=1, show_default=True,
              help="projector processes (with Kafka they share the topic's partitions)")
@click.option("--delivery", type=click.IntRange(1, 64), default=1, show_default=True,
              help="delivery processes (Kafka partitions, or shards of the log without Kafka)")
@click.option("--webhooks", type=click.IntRange(1, 64), default=1, show_default=True,
              help="webhook processes")
def supervise(projectors: int, delivery: int, webhooks: int) -> None:
    """Run the process table (api, relay, consumers, scheduler), restarting any process that exits.

    With CLICKHOUSE_URL and KAFKA_BOOTSTRAP_SERVERS this is the real-services deployment on one
    machine; on the embedded default it supervises `run-all`. SIGTERM stops every process.
    """
    from mailerlogic.config import child_environment
    from mailerlogic.processes import stop_on_signals
    from mailerlogic.supervisor import process_table
    from mailerlogic.supervisor import supervise as run

    settings = _settings()
    try:
        children = process_table(kafka=bool(settings.kafka_bootstrap_servers),
                                 clickhouse_server=settings.clickhouse_url is not None,
                                 projectors=projectors, delivery=delivery, webhooks=webhooks)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo("supervising: " + ", ".join(child.name for child in children), err=True)
    run(children, child_environment(settings), stop_on_signals())


@main.command("init-clickhouse")
def init_clickhouse() -> None:
    """Create or upgrade the ClickHouse schema."""
    from mailerlogic.wiring import build_clickhouse

    build_clickhouse(_settings()).close()
    click.echo("ClickHouse schema is up to date")


@main.command()
@click.option("--dry-run", is_flag=True, help="List the partitions that would go; drop nothing.")
def retention(dry_run: bool) -> None:
    """Drop the monthly event partitions older than the longest retention (aggregates stay)."""
    from datetime import UTC
    from datetime import datetime

    from mailerlogic.retention_job import drop_expired
    from mailerlogic.retention_job import report_lines
    from mailerlogic.wiring import build_clickhouse

    settings = _settings()
    try:
        client = build_clickhouse(settings)
    except RuntimeError as exc:  # chdb opens in one process only
        if settings.clickhouse_url is not None:
            raise
        raise click.ClickException(
            f"cannot open the embedded ClickHouse in {settings.data_dir} ({exc}); if "
            "`mailerlogic run-all` is running, its scheduler applies retention daily") from None
    try:
        run = drop_expired(client, settings, datetime.now(UTC), dry_run=dry_run)
    finally:
        client.close()
    for line in report_lines(run):
        click.echo(line)


@main.command()
@click.option("--kind", type=click.Choice(["events", "stats"]), required=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "ndjson"]), default="csv", show_default=True)
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE",
              help="A filter of the export, repeatable (events: type, recipient, from, tag, email_id, "
                   "from_timestamp, to_timestamp; stats: fromdate, todate, domain_id, tag, filter, "
                   "interval, timezone).")
@click.option("--output", type=click.Path(dir_okay=False, writable=True, path_type=Path), required=True)
@click.option("--api-url", help="The running API (default MAILERLOGIC_API_URL, else http://127.0.0.1:$PORT).")
@click.option("--api-key", help="The customer's API key (default MAILERLOGIC_API_KEY).")
@click.option("--timeout", type=click.FloatRange(1, 86400), default=3600, show_default=True,
              help="Seconds to wait for the file.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def export(kind: str, fmt: str, filters: tuple[str, ...], output: Path, api_url: str | None,
           api_key: str | None, timeout: float, quiet: bool) -> None:
    """Run a bulk export job through the API and save its file, with progress bars."""
    from mailerlogic import export_cli
    from mailerlogic.config import api_client

    default_url, default_key = api_client()
    key = api_key or default_key
    if not key:
        raise click.UsageError("give --api-key or set MAILERLOGIC_API_KEY")
    try:
        done = export_cli.run(export_cli.Api(api_url or default_url, key), kind, fmt,
                              export_cli.parse_filters(filters), output, timeout_s=timeout, show=not quiet)
    except export_cli.ExportError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"export {done.export_id}: {done.rows} rows, {done.size} bytes written to {done.path}")


@main.group()
def projections() -> None:
    """Rebuild read models from the event store; reset consumer offsets."""


@projections.command("rebuild")
@click.option("--table", "tables", multiple=True, metavar="TABLE",
              help="Rebuild only this table (repeatable): stats_hourly, health_history or "
                   "suppressions; default: every table.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def rebuild_projections(tables: tuple[str, ...], quiet: bool) -> None:
    """Replay the event store into shadow tables, swap them in, catch up (the API keeps serving)."""
    from mailerlogic import rebuild_cli
    from mailerlogic.config import api_client
    from warehouse.schema import SchemaOutdated

    settings = _settings()
    try:
        done = rebuild_cli.run(settings, api_client()[0], tables, show=not quiet)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except (rebuild_cli.RebuildError, SchemaOutdated) as exc:
        raise click.ClickException(str(exc)) from None
    rate = done["replayed"] / done["replay_s"] if done["replay_s"] else 0.0
    click.echo(f"rebuilt {', '.join(done['tables'])}: {done['replayed']:,} rows replayed up to "
               f"position {done['head']:,} in {done['replay_s']:.1f} s ({rate:,.0f} events/s), "
               f"{done['caught_up']:,} caught up to {done['caught_up_to']:,}; "
               f"{done['total_s']:.1f} s in all")
    if done["dropped_partitions"]:
        click.echo(f"expired events partitions left out: {', '.join(done['dropped_partitions'])}")


@projections.command("reset-offsets")
@click.option("--group", required=True, type=click.Choice(["projector", "delivery", "webhooks",
                                                           "exports"]),
              help="The consumer (as in `mailerlogic consume NAME`).")
@click.option("--to-earliest", "to", flag_value="earliest", default=True,
              help="Re-read everything (default; consumers are exact under redelivery).")
@click.option("--to-latest", "to", flag_value="latest", help="Skip to the end.")
def reset_offsets(group: str, to: str) -> None:
    """Reset a consumer group's committed offsets (its consumers must be stopped)."""
    from mailerlogic import rebuild_cli
    from mailerlogic.config import api_client

    try:
        lines = rebuild_cli.reset_offsets(_settings(), api_client()[0], group, to)
    except rebuild_cli.RebuildError as exc:
        raise click.ClickException(str(exc)) from None
    for line in lines:
        click.echo(line)


def _print_quickstart(settings: Settings) -> None:
    base = f"http://127.0.0.1:{settings.port}"
    click.echo(f"""
MailerLogic is serving on {base} (embedded: data in {settings.data_dir})
Try it from another terminal in this folder:

1. Create a customer; the API key is printed once:
   KEY=$(.venv/bin/mailerlogic customers create --name Acme --email ops@acme.test \\
         --domain acme.test --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
2. Send a first email:
   curl -s {base}/api/send -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \\
     -d '{{"to": "ada@example.org", "subject": "Hello", "text": "Hi Ada", "from": "hi@acme.test"}}'
3. Read it in {settings.data_dir}/maildir/new, and open it as a mail client would:
   .venv/bin/mailerlogic tracking-links MESSAGE_ID      # prints the open and click URLs
   curl -s -o /dev/null -A 'Mozilla/5.0 Thunderbird/128.0' 'OPEN_URL'
4. See it in the statistics:
   curl -s {base}/api/stats/outbound -H "X-API-Key: $KEY"
""", err=True)


@main.command("tracking-links")
@click.argument("message_id")
@click.option("--url", default="https://example.org/", show_default=True,
              help="The link target for the click URL.")
def tracking_links(message_id: str, url: str) -> None:
    """Print a message's signed open-pixel and click URLs (as the delivered mail has them)."""
    from uuid import UUID

    from security import tokens

    settings = _settings()
    try:
        email_id = UUID(message_id)
    except ValueError:
        raise click.BadParameter("not a message id (UUID)") from None
    base = settings.public_url
    click.echo(f"open:  {base}/track/o/{tokens.mint(settings.secret_key, 'o', email_id)}")
    click.echo(f"click: {base}/track/c/{tokens.mint(settings.secret_key, 'c', email_id, url)}")
