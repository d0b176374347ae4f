#!/usr/bin/env bash
# First start of the containerised shop: secrets, database, service clients, accounts.
# Run from the repository root: bash deploy/bootstrap.sh
set -euo pipefail
cd "$(dirname "$0")"
compose=(docker compose -f compose.yaml)
mkdir -p secrets && chmod 700 secrets
rand() { python3 -c 'import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'; }
[ -f secrets/kek ] || rand > secrets/kek
[ -f secrets/pg_password ] || rand > secrets/pg_password
printf 'JWTMESH_DATABASE_URL=postgresql+psycopg://jwtmesh:%s@postgres:5432/jwtmesh\n' \
  "$(cat secrets/pg_password)" > secrets/authority.env
chmod 600 secrets/*
"${compose[@]}" build
"${compose[@]}" up -d postgres redis
admin() { "${compose[@]}" run --rm -T --no-deps --entrypoint jwtmesh authority "$@"; }
client() {  # name audiences grant-types roles
  local secret
  secret=$(admin clients add "$1" --audiences "$2" --grant-types "$3" --roles "$4")
  printf 'JWTMESH_GUARD_CLIENT_SECRET=%s\n' "$secret" > "secrets/$1.env"
}
client gateway gateway client_credentials ""
client users users client_credentials ""
client catalog catalog client_credentials ""
client orders catalog,users "client_credentials,urn:ietf:params:oauth:grant-type:token-exchange" svc-orders
for who in admin:admin alice:user bob:user guest:guest; do
  password=$(rand)
  printf '%s\n' "$password" | admin users add "${who%%:*}" --roles "${who##*:}" --password-stdin
  printf '%s:%s\n' "${who%%:*}" "$password" >> secrets/accounts.txt
done
chmod 600 secrets/accounts.txt
echo "demo accounts and their passwords: deploy/secrets/accounts.txt"
"${compose[@]}" up -d
