#!/usr/bin/env bash
# HireLedger's database roles (issue 6), created when the postgres container initialises an empty
# data directory: the image runs every file in /docker-entrypoint-initdb.d once, as POSTGRES_USER
# (a superuser), against POSTGRES_DB. docker-compose.yml mounts this folder there.
#
#   hireledger_app    NOLOGIN; the migrations grant it what the API and the worker may do
#   hireledger_owner  LOGIN, owns POSTGRES_DB and so everything the migrations create (migrate service)
#   hireledger_api    LOGIN, member of hireledger_app, owns nothing (api and worker services)
#
# Passwords come from the environment (HIRELEDGER_OWNER_PASSWORD, HIRELEDGER_API_PASSWORD) and are
# read by psql itself (\getenv), so they never appear on a command line. HIRELEDGER_OWNER_ROLE and
# HIRELEDGER_API_ROLE change the two login names (the tests use throwaway ones); the Compose file
# assumes the defaults. Idempotent. On a data directory that already exists the image skips this
# file: run `npm run db:roles` instead (docs/operations.md, "Database roles").
#
# Works both executed and sourced (the image sources files without the executable bit).
set -e

if [ -z "${HIRELEDGER_OWNER_PASSWORD:-}" ] || [ -z "${HIRELEDGER_API_PASSWORD:-}" ]; then
  echo "10-hireledger-roles.sh: HIRELEDGER_OWNER_PASSWORD and HIRELEDGER_API_PASSWORD must be set" >&2
  exit 1
fi

HIRELEDGER_OWNER_ROLE="${HIRELEDGER_OWNER_ROLE:-hireledger_owner}" \
HIRELEDGER_API_ROLE="${HIRELEDGER_API_ROLE:-hireledger_api}" \
HIRELEDGER_DATABASE="${POSTGRES_DB:-postgres}" \
  psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" <<'SQL'
\getenv owner HIRELEDGER_OWNER_ROLE
\getenv api HIRELEDGER_API_ROLE
\getenv db HIRELEDGER_DATABASE
\getenv owner_password HIRELEDGER_OWNER_PASSWORD
\getenv api_password HIRELEDGER_API_PASSWORD

SELECT 'CREATE ROLE hireledger_app NOLOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hireledger_app') \gexec

SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', :'owner')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'owner', :'owner_password') \gexec

SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT', :'api')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'api') \gexec
SELECT format('ALTER ROLE %I LOGIN INHERIT PASSWORD %L', :'api', :'api_password') \gexec
SELECT format('GRANT hireledger_app TO %I', :'api')
 WHERE NOT pg_has_role(:'api', 'hireledger_app', 'MEMBER') \gexec

-- The owner of the database owns schema public (PostgreSQL 15: pg_database_owner), where the
-- migrations create the ledger.
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'owner') \gexec
-- No temporary tables for anyone but the owner: a temporary table named like a ledger table must
-- never be what a SECURITY DEFINER append function reads.
SELECT format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', :'db') \gexec
-- hireledger_app is cluster-wide: only this database's own logins may connect to it.
SELECT format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC', :'db') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', :'db', :'api') \gexec
SQL
