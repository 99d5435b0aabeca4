#!/usr/bin/env bash
# Deploy TechGear Support Streams, check it, and roll back automatically when it is not ready.
#
#   docker/deploy.sh compose TAG     docker compose with image tag TAG
#   docker/deploy.sh k8s TAG         Kubernetes (kubectl, overlay OVERLAY) with image tag TAG
#   docker/deploy.sh rollback MODE   back to the tag deployed before the current one
#
# Environment: IMAGE (default techgear-support-streams), READY_URL (default
# http://127.0.0.1:8080/ready), READY_TIMEOUT_S (120), OVERLAY (docker/k8s/overlays/production),
# STATE_DIR (.local/deploy: remembers the current and previous tags).
set -euo pipefail

cd "$(dirname "$0")/.."
IMAGE="${IMAGE:-techgear-support-streams}"
READY_URL="${READY_URL:-http://127.0.0.1:8080/ready}"
READY_TIMEOUT_S="${READY_TIMEOUT_S:-120}"
OVERLAY="${OVERLAY:-docker/k8s/overlays/production}"
STATE_DIR="${STATE_DIR:-.local/deploy}"
mkdir -p "$STATE_DIR"

die() { echo "deploy: $*" >&2; exit 1; }
log() { echo "deploy: $*"; }

precheck_compose() {
    [ -f .env ] || die ".env is missing: cp .env.example .env and fill it in"
    for name in JWT_SECRET API_KEY_DIGESTS; do
        grep -Eq "^${name}=.+" .env || die "$name is empty in .env"
    done
    docker compose config --quiet || die "docker-compose.yml does not validate"
    docker image inspect "$IMAGE:$1" >/dev/null 2>&1 || die "image $IMAGE:$1 is not built (docker compose build)"
}

precheck_k8s() {
    command -v kubectl >/dev/null || die "kubectl not found"
    kubectl get secret techgear-secrets >/dev/null || die "Secret techgear-secrets is missing (docker/k8s/base/secret.example.yaml)"
    kubectl kustomize "$OVERLAY" >/dev/null || die "$OVERLAY does not build"
}

deploy_compose() { TECHGEAR_IMAGE="$IMAGE:$1" docker compose up -d --remove-orphans; }

deploy_k8s() {
    # The overlay with every container of ours at IMAGE:TAG, the Jobs' included.
    local release="$STATE_DIR/k8s-release"
    mkdir -p "$release"
    {
        echo "apiVersion: kustomize.config.k8s.io/v1beta1"
        echo "kind: Kustomization"
        echo "resources: [\"$(cd "$OVERLAY" && pwd)\"]"
        echo "images: [{name: techgear-support-streams, newName: \"$IMAGE\", newTag: \"$1\"}]"
    } >"$release/kustomization.yaml"
    # A Job's pods cannot change: the previous release's topics and ingestion Jobs make way.
    kubectl delete job techgear-topics techgear-ingest --ignore-not-found --wait=true
    kubectl apply -k "$release"
    # The services may not create topics (KAFKA_CREATE_TOPICS=false): ops does it first.
    kubectl wait --for=condition=complete job/techgear-topics --timeout="${READY_TIMEOUT_S}s"
    for deployment in techgear-gateway techgear-worker techgear-helpdesk; do
        kubectl rollout status "deployment/$deployment" --timeout="${READY_TIMEOUT_S}s"
    done
}

ready() {
    local deadline=$((SECONDS + READY_TIMEOUT_S))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if curl -fsS --max-time 3 "$READY_URL" >/dev/null 2>&1; then
            return 0
        fi
        sleep 2
    done
    return 1
}

remember() {
    if [ -f "$STATE_DIR/current" ]; then
        cp "$STATE_DIR/current" "$STATE_DIR/previous"
    fi
    echo "$1" >"$STATE_DIR/current"
}

rollback() {
    local mode="$1"
    [ -f "$STATE_DIR/previous" ] || die "no previous deployment to roll back to"
    local previous
    previous="$(cat "$STATE_DIR/previous")"
    log "rolling back to $IMAGE:$previous"
    "deploy_$mode" "$previous"
    echo "$previous" >"$STATE_DIR/current"
}

deploy() {
    local mode="$1" tag="$2"
    "precheck_$mode" "$tag"
    log "deploying $IMAGE:$tag ($mode)"
    "deploy_$mode" "$tag"
    remember "$tag"
    if ready; then
        log "$IMAGE:$tag is ready at $READY_URL"
        return 0
    fi
    log "$IMAGE:$tag did not become ready within ${READY_TIMEOUT_S}s"
    rollback "$mode"
    ready || die "the rolled-back deployment is not ready either"
    die "deployment of $IMAGE:$tag failed and was rolled back"
}

case "${1:-}" in
    compose | k8s) [ -n "${2:-}" ] || die "usage: $0 $1 TAG"; deploy "$1" "$2" ;;
    rollback) [ -n "${2:-}" ] || die "usage: $0 rollback compose|k8s"; rollback "$2" ;;
    *) die "usage: $0 compose TAG | k8s TAG | rollback compose|k8s" ;;
esac
