#!/usr/bin/env bash
# Creates the Secrets the manifests reference (they never hold one): random passwords and keys, as
# scripts/generate-env.sh writes for compose. Existing Secrets are kept, so re-running never rotates one
# under a running stack; delete a Secret to regenerate it.
#   deploy/kubernetes/create-secrets.sh [--print] [--self-signed]
# --print writes the Secrets as YAML to stdout instead of creating them (no cluster needed; the tests use it).
# --self-signed adds gatehouse-tls, a self-signed certificate for PUBLIC_HOSTNAME (without cert-manager).
# DB_HOST and REDIS_HOST name managed services (defaults: the in-cluster gatehouse-db-rw and gatehouse-redis).
# Needs bash, kubectl and openssl. Backup credentials (gatehouse-backup-credentials) are the team's to create.
set -euo pipefail
umask 077

print=false self_signed=false
for arg in "$@"; do
  case "$arg" in
    --print) print=true ;;
    --self-signed) self_signed=true ;;
    *) echo "unknown argument: $arg" >&2; exit 64 ;;
  esac
done
db_host="${DB_HOST:-gatehouse-db-rw:5432}"
redis_host="${REDIS_HOST:-gatehouse-redis:6379}"
hostname="${PUBLIC_HOSTNAME:-localhost}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

random_hex () { openssl rand -hex "$1"; }

# Hex only: the values go into URLs unescaped.
owner_password="$(random_hex 24)"
app_password="$(random_hex 24)"
redis_password="$(random_hex 24)"

# apply NAMESPACE NAME kubectl-create-arguments…: prints, or creates unless the Secret exists.
apply () {
  local namespace="$1" name="$2"; shift 2
  if $print; then
    echo "---"
    kubectl create secret "$@" --namespace "$namespace" --dry-run=client -o yaml
  elif kubectl get secret "$name" --namespace "$namespace" >/dev/null 2>&1; then
    echo "kept $namespace/$name" >&2
  else
    kubectl create secret "$@" --namespace "$namespace" >/dev/null
    echo "created $namespace/$name" >&2
  fi
}

apply gatehouse gatehouse-identity generic gatehouse-identity --from-literal=secret="$(random_hex 32)"
apply gatehouse gatehouse-db-owner generic gatehouse-db-owner --type=kubernetes.io/basic-auth \
  --from-literal=username=gatehouse_owner --from-literal=password="$owner_password" \
  --from-literal=uri="postgresql://gatehouse_owner:$owner_password@$db_host/gatehouse"
apply gatehouse gatehouse-db-app generic gatehouse-db-app --type=kubernetes.io/basic-auth \
  --from-literal=username=gatehouse_app --from-literal=password="$app_password" \
  --from-literal=uri="postgresql://gatehouse_app:$app_password@$db_host/gatehouse"
apply gatehouse gatehouse-redis generic gatehouse-redis --from-literal=password="$redis_password" \
  --from-literal=url="redis://:$redis_password@$redis_host"
# Logins: add them with  htpasswd -B <file> user@tenant,  then replace the Secret's `htpasswd` key.
: > "$work/htpasswd"
apply gatehouse gatehouse-htpasswd generic gatehouse-htpasswd --from-file=htpasswd="$work/htpasswd"
apply gatehouse-logging gatehouse-log-shipping generic gatehouse-log-shipping --from-literal=token="$(random_hex 24)"

if $self_signed; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 397 \
    -subj "/CN=$hostname" -addext "subjectAltName=DNS:$hostname,DNS:localhost,IP:127.0.0.1" \
    -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
  apply gatehouse gatehouse-tls tls gatehouse-tls --cert="$work/tls.crt" --key="$work/tls.key"
fi
