"""The ``techgear`` command."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import click
from pydantic import ValidationError

from runtime.errors import ConfigurationError, KeyConfigError
from runtime.logs import configure_logging
from techgear.answers_cli import answers


class _Commands(click.Group):
    """Configuration a process cannot run with ends it with one clear line, not a trace."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ConfigurationError, ValidationError) as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Commands)
def main() -> None:
    """TechGear Support Streams: gateway, stream workers and operator tools."""


main.add_command(answers)


@main.command()
def gateway() -> None:
    """Run the HTTP gateway (GATEWAY_HOST, GATEWAY_PORT)."""
    from gateway.server import run_gateway
    from gateway.settings import GatewaySettings

    settings = GatewaySettings()
    configure_logging(settings)
    run_gateway(settings)


@main.command()
def worker() -> None:
    """Run a stream worker (Faust) answering support.requests."""
    from streams.settings import WorkerSettings
    from streams.worker import run_worker

    settings = WorkerSettings()
    configure_logging(settings)
    run_worker(settings)


@main.command()
@click.argument(
    "path", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--rebuild", is_flag=True, help="Drop the collection and embed everything again.")
def ingest(path: Path | None, quiet: bool, rebuild: bool) -> None:
    """Embed the knowledge base at PATH (default KNOWLEDGE_PATH) into the vector store."""
    from streams.settings import WorkerSettings
    from streams.worker import ingest as run_ingest

    settings = WorkerSettings()
    configure_logging(settings)
    report = run_ingest(settings, path, show_progress=not quiet, rebuild=rebuild)
    click.echo(
        f"added {report.added}, removed {report.removed}, unchanged {report.unchanged}; "
        f"knowledge-base version {report.version}"
    )


@main.command("eval")
@click.option(
    "--train",
    "train_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("data/classifier"),
    show_default=True,
    help="Folder whose train*.jsonl files train the classifier.",
)
@click.option(
    "--eval",
    "eval_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("data/classifier/eval.jsonl"),
    show_default=True,
    help="Labelled questions for the classifier.",
)
@click.option(
    "--retrieval",
    "retrieval_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("data/eval/retrieval.jsonl"),
    show_default=True,
    help="Questions and the document that answers each.",
)
@click.option(
    "--cases",
    "cases_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("data/eval/understanding.jsonl"),
    show_default=True,
    help="Single questions and what the whole workflow must do with them.",
)
@click.option(
    "--conversations",
    "conversations_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("data/eval/conversations.jsonl"),
    show_default=True,
    help="Conversations of several turns, with what each turn must get.",
)
@click.option(
    "--oos-file",
    "oos_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON or JSONL of questions that must all be declined (e.g. CLINC150's data_full.json).",
)
@click.option(
    "--oos-key",
    help="The key of the --oos-file JSON object that holds the questions (CLINC150: oos_test).",
)
@click.option("--verbose", "-v", is_flag=True, help="List every workflow case that failed.")
@click.option(
    "--tune",
    is_flag=True,
    help="Instead: cross-validate the classifier's hyperparameters on the training files.",
)
def evaluate(
    train_dir: Path,
    eval_path: Path,
    retrieval_path: Path,
    cases_path: Path,
    conversations_path: Path,
    oos_path: Path | None,
    oos_key: str | None,
    verbose: bool,
    tune: bool,
) -> None:
    """Classifier (per kind, out of scope), retrieval (recall@1/@5) and the whole workflow
    (per kind, follow-ups) on the knowledge base as ingested."""
    from streams.settings import WorkerSettings

    settings = WorkerSettings()
    configure_logging(settings)
    if tune:
        from streams.classifier import load_training_examples
        from streams.components import build_embedder
        from streams.tuning import cross_validate, render

        examples = load_training_examples(train_dir)
        vectors = build_embedder(settings, threads=0).embed([e.text for e in examples])
        click.echo(render(cross_validate(examples, vectors)))
        return
    from techgear.evaluate import EvaluationFiles, evaluate_all

    files = EvaluationFiles(
        train_dir=train_dir,
        classifier=eval_path,
        retrieval=retrieval_path,
        cases=cases_path,
        conversations=conversations_path,
        out_of_scope=oos_path,
        out_of_scope_key=oos_key,
    )
    click.echo(evaluate_all(settings, files, verbose=verbose))


@main.group()
def models() -> None:
    """The embedding models."""


@models.command("build")
def models_build() -> None:
    """Quantise the shipped all-MiniLM-L6-v2 to int8 into MODELS_DIR (what `make install`
    and the image build run); does nothing when it is there for the same source model."""
    from streams.embeddings import build_int8_model
    from streams.settings import WorkerSettings

    settings = WorkerSettings()
    configure_logging(settings)
    built = build_int8_model(settings.models_dir)
    click.echo(f"{'built' if built.built else 'up to date'}: {built.path}")


_SCOPES = click.Choice(["chat", "escalations:read", "admin", "agent"])


@main.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.option(
    "--scope", "granted", multiple=True, type=_SCOPES, default=["chat"], show_default=True
)
@click.option(
    "--publishable",
    is_flag=True,
    help="A browser key (chat only), accepted only from the --origin pages.",
)
@click.option(
    "--origin", "origins", multiple=True, help="An origin a publishable key may be used from."
)
def keys_create(granted: tuple[str, ...], publishable: bool, origins: tuple[str, ...]) -> None:
    """Print a new API key and the API_KEY_DIGESTS entry that accepts it."""
    from gateway.keys import create_key

    if publishable != bool(origins):
        raise click.UsageError("--publishable needs at least one --origin, and --origin needs it")
    try:
        key, entry = create_key(frozenset(granted), frozenset(origins))
    except KeyConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"key (give it to the client; it is not stored): {key}")
    click.echo(f"API_KEY_DIGESTS entry (add it, comma-separated): {entry}")


@main.group()
def users() -> None:
    """Users who get JWTs from POST /v1/auth/token."""


@users.command("add")
@click.argument("username")
@click.option(
    "--scope", "granted", multiple=True, type=_SCOPES, default=["chat"], show_default=True
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_add(username: str, granted: tuple[str, ...], password_stdin: bool) -> None:
    """Add or update USERNAME in USERS_FILE with a bcrypt-hashed password."""
    from gateway.settings import GatewaySettings
    from gateway.users import UserStore

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise click.ClickException("the password must have at least 8 characters")
    path = GatewaySettings().users_file
    try:
        UserStore(path).add(username, password, frozenset(granted))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{username} saved in {path} with scopes {', '.join(sorted(granted))}")


@main.group()
def tokens() -> None:
    """Tokens signed with the gateways' JWT key."""


@tokens.command("customer")
@click.argument("customer_id")
@click.option("--name")
@click.option("--email")
@click.option("--phone")
@click.option("--ttl-s", type=click.IntRange(min=60), default=3600, show_default=True)
def tokens_customer(
    customer_id: str, name: str | None, email: str | None, phone: str | None, ttl_s: int
) -> None:
    """Print a chat JWT for CUSTOMER_ID whose claims make its customer verified: what a
    customer's site signs for its signed-in visitors (README, "Verified customers")."""
    from gateway.app import token_service
    from gateway.settings import GatewaySettings
    from schemas import Customer

    if not (name or email or phone):
        raise click.UsageError("give at least one of --name, --email, --phone")
    settings = GatewaySettings()
    if settings.jwt_algorithm == "HS256" and settings.jwt_secret is None:
        raise click.UsageError("JWT_SECRET is not set: the gateways could not verify the token")
    customer = Customer(name=name, email=email, phone=phone)
    click.echo(
        token_service(settings).issue(
            customer_id, frozenset({"chat"}), customer=customer, ttl_s=ttl_s
        )
    )


@main.group()
def schemas() -> None:
    """Event schemas."""


@schemas.command("export")
@click.option("--check", is_flag=True, help="Fail if the committed files are stale; write nothing.")
def schemas_export(check: bool) -> None:
    """Write the events' JSON Schemas (schemas/json/) and the AsyncAPI document
    (schemas/asyncapi.json)."""
    from schemas.export import export, stale_files

    if check:
        stale = stale_files()
        if stale:
            raise click.ClickException(
                f"stale contract files: {', '.join(stale)}; run `techgear schemas export`"
            )
        click.echo("JSON Schema and AsyncAPI files are up to date")
        return
    for path in export():
        click.echo(f"wrote {path}")


@main.group()
def topics() -> None:
    """Kafka topics."""


@topics.command("create")
def topics_create() -> None:
    """Create the missing topics with their partitions and retention."""
    import asyncio

    from runtime.kafka import verify_connection
    from runtime.settings import RuntimeSettings
    from runtime.topics import ensure_topics

    settings = RuntimeSettings()

    async def create() -> list[str]:
        await verify_connection(settings.kafka)
        return await ensure_topics(
            settings.kafka, replication_factor=settings.kafka_replication_factor
        )

    created = asyncio.run(create())
    click.echo(f"created: {', '.join(created)}" if created else "all topics exist")


@main.group()
def kafka() -> None:
    """Kafka access control."""


@kafka.command("acls")
@click.option("--bootstrap-server", default="localhost:9092", show_default=True)
@click.option(
    "--command-config",
    default="admin.properties",
    show_default=True,
    help="The cluster admin's client properties (SASL and TLS settings).",
)
def kafka_acls(bootstrap_server: str, command_config: str) -> None:
    """Print the kafka-acls.sh command lines that give each service's principal (gateway,
    worker, helpdesk, ops) its least-privilege ACLs."""
    from techgear.kafka_access import kafka_acls_commands

    for line in kafka_acls_commands(bootstrap_server, command_config):
        click.echo(line)


@main.command()
@click.option("--target", type=click.Choice(["zendesk", "freshdesk"]), required=True)
def helpdesk(target: Literal["zendesk", "freshdesk"]) -> None:
    """Create helpdesk tickets from support.escalations (runs until SIGINT/SIGTERM)."""
    import asyncio
    import signal

    from prometheus_client import start_http_server

    from helpdesk.bridge import BridgeConfig, HelpdeskBridge
    from helpdesk.settings import HelpdeskSettings
    from runtime.kafka import verify_connection

    settings = HelpdeskSettings()
    configure_logging(settings)
    try:
        chosen, base_url = settings.target(target)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    config = BridgeConfig(
        kafka=settings.kafka,
        base_url=base_url,
        redis=settings,
        backoff_s=settings.helpdesk_backoff_s,
        tickets_per_principal_per_hour=settings.helpdesk_tickets_per_principal_per_hour,
        conversation_ttl_s=settings.conversation_ttl_s,
    )
    if settings.helpdesk_metrics_port:
        start_http_server(settings.helpdesk_metrics_port, settings.helpdesk_metrics_host)

    async def run() -> None:
        await verify_connection(settings.kafka)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await HelpdeskBridge(chosen, config).run(stop)

    asyncio.run(run())


@main.group()
def dlq() -> None:
    """Dead letters of support.requests."""


@dlq.command("list")
def dlq_list() -> None:
    """Show the retained dead letters: id, when, source, size (and whether the letter holds
    only a prefix), error, attempts, and when it was last replayed."""
    import asyncio

    from runtime.settings import RuntimeSettings
    from techgear.dlq import list_dead_letters

    letters = asyncio.run(list_dead_letters(RuntimeSettings().kafka))
    if not letters:
        click.echo("no dead letters")
    for stored in letters:
        letter = stored.letter
        truncated = " truncated" if letter.original_truncated else ""
        replayed = (
            f"  replayed {stored.replayed.replayed_at:%Y-%m-%d %H:%M:%S}Z"
            if stored.replayed
            else ""
        )
        click.echo(
            f"{letter.dead_letter_id}  {letter.occurred_at:%Y-%m-%d %H:%M:%S}Z  "
            f"{letter.source_topic}/{letter.source_partition}@{letter.source_offset}  "
            f"{stored.size} bytes{truncated}  "
            f"request {letter.request_id}  attempts {letter.attempts}  "
            f"{letter.error_class}: {letter.error_message[:120]}{replayed}"
        )


class _Moment(click.ParamType):
    """An ISO-8601 timestamp, or a duration ago (``2h``, ``7d``)."""

    name = "when"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        from techgear.moments import parse_moment

        if isinstance(value, datetime):
            return value
        try:
            return parse_moment(str(value), now=datetime.now(UTC))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@dlq.command("replay")
@click.option("--id", "ids", multiple=True, help="A dead letter id to replay (repeatable).")
@click.option("--since", type=_Moment(), help="Letters from this time on: ISO-8601, or 2h, 7d ago.")
@click.option("--until", type=_Moment(), help="Letters before this time: ISO-8601, or 2h, 7d ago.")
@click.option("--all", "everything", is_flag=True, help="Every retained dead letter.")
@click.option("--again", "--force", "again", is_flag=True, help="Also letters replayed before.")
@click.option("--dry-run", is_flag=True, help="List what would be replayed; change nothing.")
def dlq_replay(
    ids: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    everything: bool,
    again: bool,
    dry_run: bool,
) -> None:
    """Republish chosen dead letters' original messages to their source topics.

    Choose by --id, by --since/--until (both may be given; with --id too, a letter must
    match all), or --all. Each replay is recorded on support.deadletter-replays, so a
    letter is replayed once unless --again. Exits with 1 when a chosen letter could not be
    replayed (its source record is gone, its bytes do not match its hash, an unknown id).
    """
    import asyncio

    from runtime.settings import RuntimeSettings
    from techgear.dlq import Outcome, Selection, replay

    try:
        selection = Selection(frozenset(ids), since, until, everything)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    settings = RuntimeSettings()
    results = asyncio.run(
        replay(
            settings.kafka,
            selection,
            again=again,
            dry_run=dry_run,
            create_topics=settings.kafka_create_topics,
            replication_factor=settings.kafka_replication_factor,
        )
    )
    for result in results:
        line = f"{result.outcome.value} {result.dead_letter_id}: {result.detail}"
        click.echo(line, err=result.outcome.failed)
    done = sum(r.outcome in (Outcome.REPLAYED, Outcome.WOULD_REPLAY) for r in results)
    skipped = sum(r.outcome is Outcome.ALREADY_REPLAYED for r in results)
    failed = sum(r.outcome.failed for r in results)
    click.echo(
        f"{done} dead letter(s) {'would be ' if dry_run else ''}replayed, "
        f"{skipped} already replayed (skipped), {failed} failed"
    )
    if failed:
        sys.exit(1)


@main.group()
def report() -> None:
    """Reports for the support team."""


@report.command("gaps")
@click.option(
    "--since", type=_Moment(), required=True, help="From this time on: ISO-8601, or 2h, 7d ago."
)
@click.option("--until", type=_Moment(), help="Before this time (default: now).")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report, with a chart, as one self-contained HTML page.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the groups as JSON (for `techgear answers approve --from-report`).",
)
@click.option(
    "--min-similarity",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="How alike (cosine, on average) a group's questions must be "
    "(default 0.35, measured: docs/operations.md, Knowledge-gap report).",
)
@click.option(
    "--top", type=click.IntRange(min=1), default=20, show_default=True, help="Largest groups shown."
)
def report_gaps(
    since: datetime,
    until: datetime | None,
    html_path: Path | None,
    json_path: Path | None,
    min_similarity: float | None,
    top: int,
) -> None:
    """Questions that escalated for missing knowledge or were rated down, grouped by
    similarity, largest groups first: what the knowledge base should say next."""
    import asyncio

    from runtime.kafka import verify_connection
    from streams.components import build_embedder
    from streams.settings import WorkerSettings
    from techgear.gaps import DEFAULT_MIN_SIMILARITY, GapReport, Window, gap_report
    from techgear.gaps_render import render_html, render_json, render_table

    now = datetime.now(UTC)
    try:
        window = Window(since, until or now)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    settings = WorkerSettings()

    async def read() -> GapReport:
        await verify_connection(settings.kafka)
        return await gap_report(
            settings.kafka,
            build_embedder(settings, threads=0),
            window,
            now=now,
            min_similarity=min_similarity or DEFAULT_MIN_SIMILARITY,
            top=top,
        )

    gaps = asyncio.run(read())
    click.echo(render_table(gaps))
    for path, render in ((html_path, render_html), (json_path, render_json)):
        if path is not None:
            path.write_text(render(gaps), encoding="utf-8")
            click.echo(f"wrote {path}")


@topics.command("describe")
def topics_describe() -> None:
    """Partitions, replication, retention and cleanup policy of each topic, and the
    committed lag of every consumer group reading it."""
    import asyncio

    from runtime.settings import RuntimeSettings
    from techgear.topics_report import describe

    for report in asyncio.run(describe(RuntimeSettings().kafka)):
        hours = int(report.retention_ms) / 3_600_000 if report.retention_ms.isdigit() else 0
        click.echo(
            f"{report.name}: {report.partitions} partitions, "
            f"replication {report.replication_factor}, "
            f"retention {hours:g} h, cleanup {report.cleanup_policy}"
        )
        for group, lag in sorted(report.lag_by_group.items()):
            click.echo(f"  group {group}: lag {lag}")


@main.group()
def services() -> None:
    """Local Kafka and Redis for development (no Docker needed)."""


@services.command("start")
def services_start() -> None:
    """Start Kafka and Redis, or reuse running ones; wait until they answer."""
    from techgear.services import services as local_services

    configure_logging()
    for service in local_services():
        handle = service.start()
        state = "started" if handle.started else "already running"
        click.echo(f"{handle.name}: {handle.address} ({state})")


@services.command("stop")
def services_stop() -> None:
    """Stop the Kafka and Redis that `techgear services start` started."""
    from techgear.services import services as local_services

    for service in reversed(local_services()):
        click.echo(f"{service.name}: {'stopped' if service.stop() else 'not started by us'}")


@services.command("status")
def services_status() -> None:
    """Show whether Kafka and Redis answer on their ports."""
    from techgear.services import port_open
    from techgear.services import services as local_services

    for service in local_services():
        state = "up" if port_open(service.port) else "down"
        owner = f", pid {service.running_pid()}" if service.running_pid() else ""
        click.echo(f"{service.name}: {service.address} {state}{owner}")


@main.command()
def run() -> None:
    """Bring the whole system up in the foreground (what `make run` calls)."""
    from techgear.run import run_all

    configure_logging()
    sys.exit(run_all())


if __name__ == "__main__":
    main()
