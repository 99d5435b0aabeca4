#!/usr/bin/env bash
# Compose's one-shot `kafka-setup`, as the admin principal: the services' SCRAM users with
# their passwords from .env (set on every run, so a changed password takes effect), then
# their ACLs (acls.sh).
set -euo pipefail
# shellcheck source=/dev/null  # docker/kafka/admin-client.sh, mounted at /techgear/kafka
. /techgear/kafka/admin-client.sh
check_password KAFKA_ADMIN_PASSWORD "${ADMIN_PASSWORD-}"

ADMIN_CONFIG=$(mktemp)
export ADMIN_CONFIG BOOTSTRAP_SERVER=kafka:9092
trap 'rm -f "$ADMIN_CONFIG"' EXIT
write_admin_client_config "$ADMIN_CONFIG" "$ADMIN_PASSWORD"

for user in gateway worker helpdesk ops; do
    variable=KAFKA_${user^^}_PASSWORD
    check_password "$variable" "${!variable-}"
    /opt/kafka/bin/kafka-configs.sh --bootstrap-server "$BOOTSTRAP_SERVER" \
        --command-config "$ADMIN_CONFIG" --alter --entity-type users --entity-name "$user" \
        --add-config "SCRAM-SHA-512=[password=${!variable}]"
done

bash /techgear/kafka/acls.sh
