#!/usr/bin/env bash
# The tests need a real Redis. Use the one at TEST_REDIS_URL (default 127.0.0.1:6379);
# if none answers, start a local redis-server; if that is impossible, fail clearly.
set -euo pipefail
python="${1:-python3}"
url="${TEST_REDIS_URL:-redis://127.0.0.1:6379/13}"
ping() {
  "$python" - "$url" <<'PY' >/dev/null 2>&1
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()
PY
}
if ping; then exit 0; fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "Redis is not reachable at $url and redis-server is not installed." >&2
  echo "Install Redis (e.g. apt-get install redis-server) or set TEST_REDIS_URL." >&2
  exit 1
fi
echo "starting redis-server on 127.0.0.1:6379 for the tests"
mkdir -p var
redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
  --dir "$(pwd)/var" --logfile "$(pwd)/var/redis-test.log"
for _ in $(seq 1 50); do
  if ping; then exit 0; fi
  sleep 0.1
done
echo "redis-server did not come up; see var/redis-test.log" >&2
exit 1
