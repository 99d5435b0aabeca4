"""The ACL table's AclCommand runs grant exactly the table, and the CLI prints them."""

from __future__ import annotations

import shlex

from click.testing import CliRunner

from techgear.cli import main
from techgear.kafka_access import ACCESS, Grant, Operation, Pattern, Resource, acl_invocations

Entry = tuple[str, Resource, str, Operation, Pattern]


def _entries_of_grants(grants: tuple[Grant, ...]) -> set[Entry]:
    return {
        (grant.principal, grant.resource, grant.name, operation, grant.pattern)
        for grant in grants
        for operation in grant.operations
    }


def _entries_of_run(arguments: list[str]) -> set[Entry]:
    """What one AclCommand run grants: every principal x operation x resource."""
    options: dict[str, list[str]] = {}
    for argument in arguments[1:]:
        option, value = argument.removeprefix("--").split("=", 1)
        options.setdefault(option, []).append(value)
    (pattern,) = options["resource-pattern-type"]
    return {
        (principal.removeprefix("User:"), resource, name, Operation(operation), Pattern(pattern))
        for principal in options["allow-principal"]
        for operation in options["operation"]
        for resource in Resource
        for name in options.get(resource, [])
    }


def test_acl_runs_grant_exactly_the_table_and_nothing_more() -> None:
    runs = acl_invocations()
    granted = [_entries_of_run(arguments) for arguments in runs]

    assert all(arguments[0] == "--add" for arguments in runs)
    assert set().union(*granted) == _entries_of_grants(ACCESS)
    assert sum(map(len, granted)) == len(_entries_of_grants(ACCESS))  # no run repeats one
    assert len(runs) == 11  # each run is a JVM start when applied


def test_gateway_may_write_requests_and_read_answers_but_not_read_requests() -> None:
    gateway = {(r, n, o) for p, r, n, o, _ in _entries_of_grants(ACCESS) if p == "gateway"}

    assert (Resource.TOPIC, "support.requests", Operation.WRITE) in gateway
    assert (Resource.TOPIC, "support.answers", Operation.READ) in gateway
    assert (Resource.TOPIC, "support.requests", Operation.READ) not in gateway
    assert (Resource.TOPIC, "support.answers", Operation.WRITE) not in gateway


def test_kafka_acls_prints_one_kafka_acls_command_per_run() -> None:
    result = CliRunner().invoke(
        main, ["kafka", "acls", "--bootstrap-server", "kafka:9093", "--command-config", "a.prop"]
    )

    lines = [shlex.split(line) for line in result.output.splitlines()]
    assert result.exit_code == 0
    assert [line[3:] for line in lines] == acl_invocations()
    assert all(
        line[:3] == ["kafka-acls.sh", "--bootstrap-server=kafka:9093", "--command-config=a.prop"]
        for line in lines
    )
