#!/usr/bin/env bash
# Start a production Prefect server on PostgreSQL with the settings of server.env.
# Usage: CIRASA_PREFECT_DATABASE_URL=postgresql+asyncpg://user:pw@host:5432/prefect infra/prefect/start-server.sh
# Runs in the foreground (for a process supervisor or a container); stop it with SIGTERM.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${CIRASA_PREFECT_DATABASE_URL:?set CIRASA_PREFECT_DATABASE_URL to a postgresql+asyncpg:// URL}"
case "$CIRASA_PREFECT_DATABASE_URL" in
    postgresql+asyncpg://*) ;;
    *) echo "start-server.sh: CIRASA_PREFECT_DATABASE_URL must be postgresql+asyncpg://..." >&2; exit 2 ;;
esac
while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    export "${line%%=*}=$(eval "printf '%s' \"${line#*=}\"")"
done < "$here/server.env"
prefect="${PREFECT_BIN:-prefect}"
exec "$prefect" server start --analytics-off
