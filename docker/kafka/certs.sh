#!/usr/bin/env bash
# Compose's one-shot `kafka-certs`: a private CA and the broker's TLS key store, made with the
# JRE's keytool inside the Kafka image, so nothing is downloaded. The CA's key lives only
# while this runs; clients get its certificate (ca.pem). Runs again as a no-op; to issue new
# certificates remove the kafka-secrets and kafka-ca volumes.
set -euo pipefail

SECRETS_DIR=/etc/kafka/secrets # the broker's alone: key store and its password
CA_DIR=/etc/kafka/ca           # every client's: ca.pem
BROKER_HOST=kafka              # the advertised host name, checked by every client
VALID_DAYS=825

if [[ -s $SECRETS_DIR/kafka.keystore.p12 && -s $CA_DIR/ca.pem ]]; then
    echo "kafka-certs: the broker's key store exists"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
password=$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
keystore=(-storetype PKCS12 -storepass "$password")

keytool -genkeypair "${keystore[@]}" -keystore "$work/ca.p12" -alias ca \
    -keyalg EC -groupname secp256r1 -validity 3650 -dname "CN=TechGear compose Kafka CA" \
    -ext bc:c=ca:true -ext ku:c=keyCertSign,cRLSign
keytool -exportcert "${keystore[@]}" -keystore "$work/ca.p12" -alias ca -rfc -file "$work/ca.pem"

keytool -genkeypair "${keystore[@]}" -keystore "$work/kafka.keystore.p12" -alias kafka \
    -keyalg EC -groupname secp256r1 -validity "$VALID_DAYS" -dname "CN=$BROKER_HOST"
keytool -certreq "${keystore[@]}" -keystore "$work/kafka.keystore.p12" -alias kafka \
    -file "$work/kafka.csr"
keytool -gencert "${keystore[@]}" -keystore "$work/ca.p12" -alias ca -rfc \
    -infile "$work/kafka.csr" -outfile "$work/kafka.pem" -validity "$VALID_DAYS" \
    -ext "san=dns:$BROKER_HOST,dns:localhost" -ext ku:c=digitalSignature \
    -ext eku=serverAuth,clientAuth
# The CA first, so that keytool accepts the signed certificate as a chain to it.
keytool -importcert "${keystore[@]}" -keystore "$work/kafka.keystore.p12" -alias ca \
    -file "$work/ca.pem" -noprompt
keytool -importcert "${keystore[@]}" -keystore "$work/kafka.keystore.p12" -alias kafka \
    -file "$work/kafka.pem"

printf '%s' "$password" >"$work/keystore-password"
install -m 0600 -o appuser "$work/kafka.keystore.p12" "$work/keystore-password" "$SECRETS_DIR/"
install -m 0644 "$work/ca.pem" "$CA_DIR/"
echo "kafka-certs: made a CA and the broker's key store for $BROKER_HOST"
