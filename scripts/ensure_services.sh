#!/usr/bin/env bash
# Make sure the local PostgreSQL and Redis the tests use are up (they normally are).
set -u
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  echo "starting local Redis on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/jwtmesh-redis.log || echo "warning: could not start Redis"
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  echo "starting local PostgreSQL on 127.0.0.1:5432"
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start \
      || echo "warning: could not start PostgreSQL"
  else
    echo "warning: PostgreSQL is not running and pg_ctlcluster is not installed"
  fi
fi
exit 0
