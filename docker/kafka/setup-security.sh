#!/usr/bin/env bash
# The compose Kafka container's command; it ends by running the image's own entrypoint
# (/etc/kafka/docker/run). That entrypoint formats the storage but cannot add SCRAM
# credentials, while the broker's own inter-broker login (admin, SCRAM-SHA-512) must be in
# the metadata before the broker serves. So on first start this formats the storage with
# admin's credential (`kafka-storage format --add-scram`), and the image's format then finds
# it formatted. On every start it writes the broker's SASL logins (JAAS) and the admin client
# properties of the health check.
set -euo pipefail
# shellcheck source=/dev/null  # docker/kafka/admin-client.sh, mounted at /techgear/kafka
. /techgear/kafka/admin-client.sh
check_password KAFKA_ADMIN_PASSWORD "${ADMIN_PASSWORD-}"
: "${CLUSTER_ID:?CLUSTER_ID is not set}"

config_dir=/opt/kafka/config
# sasl_ssl: clients and the broker's inter-broker connections (SCRAM);
# controller: the broker-to-controller link on localhost (PLAIN, the same admin).
(umask 077 && cat >"$config_dir/jaas.conf") <<JAAS
sasl_ssl.KafkaServer {
    org.apache.kafka.common.security.scram.ScramLoginModule required
    username="admin" password="$ADMIN_PASSWORD";
};
controller.KafkaServer {
    org.apache.kafka.common.security.plain.PlainLoginModule required
    username="admin" password="$ADMIN_PASSWORD" user_admin="$ADMIN_PASSWORD";
};
JAAS
write_admin_client_config "$config_dir/admin-client.properties" "$ADMIN_PASSWORD"

# The broker configuration from the KAFKA_* variables, named as the image names them
# (KAFKA_A_B__C___D is a.b_c-d): all the storage tool needs.
storage_config=$(mktemp)
for name in $(compgen -e | grep '^KAFKA_'); do
    key=${name#KAFKA_}
    key=${key,,}
    key=${key//_/.}
    key=${key//.../-}
    key=${key//../_}
    printf '%s=%s\n' "$key" "${!name}"
done >"$storage_config"
/opt/kafka/bin/kafka-storage.sh format --config "$storage_config" --cluster-id "$CLUSTER_ID" \
    --ignore-formatted --add-scram "SCRAM-SHA-512=[name=admin,password=$ADMIN_PASSWORD]"
rm -f "$storage_config"

export KAFKA_OPTS="-Djava.security.auth.login.config=$config_dir/jaas.conf"
exec /etc/kafka/docker/run
