# shellcheck shell=bash
# Sourced by setup-security.sh and setup.sh: the client properties of the admin principal
# (SCRAM over TLS, trusting the compose CA), which only the broker's health check and the
# kafka-setup job use.

# Refuses a password that the SCRAM, JAAS and Redis ACL syntaxes cannot carry as it is.
check_password() {
    if [[ ! ${2-} =~ ^[A-Za-z0-9_-]{16,}$ ]]; then
        echo "$1 must be at least 16 letters, digits, '-' or '_' (secrets.token_urlsafe)" >&2
        exit 1
    fi
}

write_admin_client_config() {
    local file=$1 password=$2
    (umask 077 && cat >"$file") <<PROPERTIES
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$password";
ssl.truststore.type=PEM
ssl.truststore.location=/etc/kafka/ca/ca.pem
PROPERTIES
}
