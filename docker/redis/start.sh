#!/bin/sh
# The compose Redis container's command: renders the ACL users (users.acl.template) with
# their passwords from the environment (REDIS_*_PASSWORD in .env), then starts Redis through
# the image's entrypoint, which drops to the redis user.
#
# The users: default is off; healthcheck may only PING; gateway, worker and helpdesk get the
# connection handshake, their own key prefixes (runtime/redis.py) and the commands their
# code sends (Lua scripts included), nothing administrative. The gateway only reads the
# workers' answer cache (%R~).
set -eu
TEMPLATE=/techgear/redis/users.acl.template
ACL_DIR=/run/redis-acl

check_password() {
    case $2 in
        *[!A-Za-z0-9_-]*) ;;
        *) [ ${#2} -ge 16 ] && return 0 ;;
    esac
    echo "$1 must be at least 16 letters, digits, '-' or '_' (secrets.token_urlsafe)" >&2
    exit 1
}
check_password REDIS_GATEWAY_PASSWORD "${REDIS_GATEWAY_PASSWORD-}"
check_password REDIS_WORKER_PASSWORD "${REDIS_WORKER_PASSWORD-}"
check_password REDIS_HELPDESK_PASSWORD "${REDIS_HELPDESK_PASSWORD-}"

mkdir -p "$ACL_DIR"
(umask 077 && sed -e "s/\${REDIS_GATEWAY_PASSWORD}/$REDIS_GATEWAY_PASSWORD/" \
    -e "s/\${REDIS_WORKER_PASSWORD}/$REDIS_WORKER_PASSWORD/" \
    -e "s/\${REDIS_HELPDESK_PASSWORD}/$REDIS_HELPDESK_PASSWORD/" \
    "$TEMPLATE" >"$ACL_DIR/users.acl")
chown -R redis:redis "$ACL_DIR"

exec docker-entrypoint.sh redis-server --aclfile "$ACL_DIR/users.acl" --appendonly yes
