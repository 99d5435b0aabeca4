"""Least-privilege Kafka ACLs of each service's principal, in one table.

The table is applied to the secured local broker (``apply_access``) and printed as
``kafka-acls.sh`` command lines for self-run clusters (``techgear kafka acls``). Both go
through ``acl_invocations``, which packs the grants into as few AclCommand runs as grant
exactly the table: a run grants every listed principal every listed operation on every
listed resource, so grants are merged only where that product adds nothing.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from runtime.settings import TRANSCRIPT_GROUP_ID, WORKER_GROUP_ID
from schemas.topics import (
    ANSWER_DELTAS,
    ANSWERS,
    APPROVED_ANSWERS,
    CONVERSATION_EVENTS,
    DEADLETTER,
    ESCALATIONS,
    FEEDBACK,
    HELPDESK_DEADLETTER,
    REQUESTS,
)
from techgear.services import LocalSecureKafka

ACL_COMMAND = "org.apache.kafka.tools.AclCommand"

TOPIC_PREFIX = "support."
"""Every topic of the system (``schemas.topics``) starts with it."""
WORKER_CHANGELOG_PREFIX = f"{WORKER_GROUP_ID}-"
"""Faust names its changelog and repartition topics after the app id."""
HELPDESK_GROUP_PREFIX = "techgear-helpdesk-"
"""Each helpdesk bridge's consumer group is this prefix and its target's name."""


class Resource(StrEnum):
    """A resource type, spelled as AclCommand's option for it."""

    TOPIC = "topic"
    GROUP = "group"


class Pattern(StrEnum):
    LITERAL = "literal"
    PREFIXED = "prefixed"


class Operation(StrEnum):
    READ = "Read"
    WRITE = "Write"
    CREATE = "Create"
    DESCRIBE = "Describe"
    DESCRIBE_CONFIGS = "DescribeConfigs"
    ALTER_CONFIGS = "AlterConfigs"


@dataclass(frozen=True, slots=True)
class Grant:
    """``principal`` (a user name) may do ``operations`` on the resource ``name`` (or, with
    a prefixed pattern, on every resource whose name starts with it)."""

    principal: str
    resource: Resource
    name: str
    operations: frozenset[Operation]
    pattern: Pattern = Pattern.LITERAL


def _grants(
    principal: str,
    resource: Resource,
    names: Iterable[str],
    *operations: Operation,
    pattern: Pattern = Pattern.LITERAL,
) -> tuple[Grant, ...]:
    return tuple(Grant(principal, resource, name, frozenset(operations), pattern) for name in names)


_R, _W, _C, _D = Operation.READ, Operation.WRITE, Operation.CREATE, Operation.DESCRIBE
_DC, _AC = Operation.DESCRIBE_CONFIGS, Operation.ALTER_CONFIGS
_TOPIC, _GROUP, _PREFIXED = Resource.TOPIC, Resource.GROUP, Pattern.PREFIXED

ACCESS: tuple[Grant, ...] = (
    # The gateway publishes questions and agent actions, reads answers and conversation
    # events with manually assigned consumers (no group), keeps transcripts in its own
    # group; its /ready checks that the worker group has members.
    *_grants("gateway", _TOPIC, [REQUESTS], _W, _D),
    *_grants("gateway", _TOPIC, [ANSWERS, ANSWER_DELTAS, DEADLETTER, CONVERSATION_EVENTS], _R, _D),
    *_grants("gateway", _GROUP, [TRANSCRIPT_GROUP_ID], _R, _D),
    *_grants("gateway", _GROUP, [WORKER_GROUP_ID], _D),
    *_grants("worker", _TOPIC, [REQUESTS], _R, _D),
    # Approved answers are read whole by every worker with an assigned consumer (no group).
    *_grants("worker", _TOPIC, [APPROVED_ANSWERS], _R, _D),
    # The outcome agents read the ratings and the transcript (described already, as the
    # worker writes it) in the worker's group.
    *_grants("worker", _TOPIC, [FEEDBACK], _R, _D),
    *_grants("worker", _TOPIC, [CONVERSATION_EVENTS], _R),
    *_grants("worker", _GROUP, [WORKER_GROUP_ID], _R, _D),
    *_grants(
        "worker",
        _TOPIC,
        [ANSWERS, ANSWER_DELTAS, ESCALATIONS, DEADLETTER, CONVERSATION_EVENTS],
        _W,
        _D,
    ),
    *_grants(
        "worker", _TOPIC, [WORKER_CHANGELOG_PREFIX], _C, _R, _W, _D, _DC, _AC, pattern=_PREFIXED
    ),
    *_grants("helpdesk", _TOPIC, [ESCALATIONS], _R, _D),
    *_grants("helpdesk", _GROUP, [HELPDESK_GROUP_PREFIX], _R, _D, pattern=_PREFIXED),
    *_grants("helpdesk", _TOPIC, [HELPDESK_DEADLETTER], _W, _D),
    # `techgear topics create|describe` and `techgear dlq list|replay`.
    *_grants("ops", _TOPIC, [TOPIC_PREFIX], _C, _D, _DC, _AC, _R, _W, pattern=_PREFIXED),
    *_grants("ops", _GROUP, [WORKER_GROUP_ID], _D),
)


def acl_invocations(grants: Iterable[Grant] = ACCESS) -> list[list[str]]:
    """AclCommand arguments (after the connection options) that add exactly ``grants``.

    A principal's grants with the same operations and pattern become one run over all
    their resources (topics and groups together: every operation a group accepts, a topic
    accepts too); then principals with identical runs share one."""
    resources: defaultdict[tuple[str, frozenset[Operation], Pattern], set[tuple[str, str]]]
    resources = defaultdict(set)
    for grant in grants:
        key = (grant.principal, grant.operations, grant.pattern)
        resources[key].add((grant.resource, grant.name))
    principals: defaultdict[
        tuple[frozenset[Operation], Pattern, frozenset[tuple[str, str]]], set[str]
    ] = defaultdict(set)
    for (principal, operations, pattern), targets in resources.items():
        principals[(operations, pattern, frozenset(targets))].add(principal)
    return sorted(
        [
            "--add",
            *(f"--allow-principal=User:{principal}" for principal in sorted(users)),
            *(f"--operation={operation}" for operation in sorted(operations)),
            *(f"--{resource}={name}" for resource, name in sorted(targets)),
            f"--resource-pattern-type={pattern}",
        ]
        for (operations, pattern, targets), users in principals.items()
    )


def apply_access(broker: LocalSecureKafka, grants: Iterable[Grant] = ACCESS) -> None:
    """Add ``grants`` to the secured local broker as its super user, one JVM per run."""
    for arguments in acl_invocations(grants):
        broker.run_tool(
            ACL_COMMAND,
            f"--bootstrap-server={broker.address}",
            f"--command-config={broker.admin_config}",
            *arguments,
        )


def kafka_acls_commands(
    bootstrap_server: str, command_config: str, grants: Iterable[Grant] = ACCESS
) -> list[str]:
    """Shell command lines of Kafka's ``kafka-acls.sh`` that add ``grants``."""
    connection = [f"--bootstrap-server={bootstrap_server}", f"--command-config={command_config}"]
    return [
        shlex.join(["kafka-acls.sh", *connection, *arguments])
        for arguments in acl_invocations(grants)
    ]
