#!/usr/bin/env bash
# The services' Kafka ACLs (least privilege; docs/deployment.md, "Kafka principals"), one
# kafka-acls.sh call per principal and resource. techgear/kafka_access.py holds the same
# table, and a test keeps the two equal. Adding an ACL that exists changes nothing.
# Needs BOOTSTRAP_SERVER and ADMIN_CONFIG (the admin's client properties): see setup.sh.
set -euo pipefail
PATH=/opt/kafka/bin:$PATH
admin=(--bootstrap-server "$BOOTSTRAP_SERVER" --command-config "$ADMIN_CONFIG")

# gateway: writes questions and agent actions; reads answers, their deltas, dead letters
# and conversation events by manual assignment (no group); keeps transcripts in its own
# group; /ready asks whether the worker group has members.
kafka-acls.sh "${admin[@]}" --add --allow-principal User:gateway --topic support.requests --operation Write --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:gateway --topic support.answers --operation Read --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:gateway --topic support.answer-deltas --operation Read --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:gateway --topic support.deadletter --operation Read --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:gateway --topic support.conversation-events --operation Read --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:gateway --group techgear-gateway-transcripts --operation Read --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:gateway --group techgear-worker --operation Describe

# worker: reads questions, and for the outcome figures the transcript and the ratings,
# in its group, and approved answers by manual assignment (no group); writes answers,
# escalations, dead letters and conversation events, and owns Faust's changelog topics
# (created by Faust, named after the group).
kafka-acls.sh "${admin[@]}" --add --allow-principal User:worker --topic support.requests --operation Read --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:worker --topic support.approved-answers --operation Read --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:worker --topic support.conversation-events --operation Read
kafka-acls.sh "${admin[@]}" --add --allow-principal User:worker --topic support.feedback --operation Read --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:worker --group techgear-worker --operation Read --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:worker --topic support.answers --operation Write --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:worker --topic support.answer-deltas --operation Write --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:worker --topic support.escalations --operation Write --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:worker --topic support.deadletter --operation Write --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:worker --topic support.conversation-events --operation Write --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:worker --resource-pattern-type prefixed --topic techgear-worker- --operation Create --operation Read --operation Write --operation Describe --operation DescribeConfigs --operation AlterConfigs

# helpdesk: reads escalations in its per-target group, writes refused tickets.
kafka-acls.sh "${admin[@]}" --add --allow-principal User:helpdesk --topic support.escalations --operation Read --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:helpdesk --resource-pattern-type prefixed --group techgear-helpdesk- --operation Read --operation Describe
kafka-acls.sh "${admin[@]}" --add --allow-principal User:helpdesk --topic support.helpdesk-deadletter --operation Write --operation Describe

# ops: `techgear topics create|describe` and `techgear dlq list|replay`.
kafka-acls.sh "${admin[@]}" --add --allow-principal User:ops --resource-pattern-type prefixed --topic support. --operation Create --operation Describe --operation DescribeConfigs --operation AlterConfigs --operation Read --operation Write
kafka-acls.sh "${admin[@]}" --add --allow-principal User:ops --group techgear-worker --operation Describe
