#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, then runs every check and every test.
# The README's test command and CI (.ci/run) both run exactly this.
set -uo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAILED: $*"; exit 1; }

step 'system packages (Debian): Chromium, Redis, protoc and Python gRPC for the tests'
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
[ -x /usr/bin/protoc ] || missing+=(protobuf-compiler)
[ -x /usr/bin/grpc_python_plugin ] || missing+=(protobuf-compiler-grpc)
/usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null || missing+=(python3-grpcio python3-protobuf)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || fail "apt-get install ${missing[*]}"
  else
    fail "missing ${missing[*]}: install with 'sudo apt-get install -y ${missing[*]}'"
  fi
fi

step 'npm ci'
npm ci --no-audit --no-fund || fail 'npm ci'

step 'contract: buf lint, generated code up to date, no breaking change against the last release'
npx buf lint || fail 'buf lint'
generated='gateway/gen gateway/transports/connect/gen clients/typescript/gen clients/python/gen'
npx buf generate || fail 'buf generate'
npx buf generate --template clients/buf.gen.yaml || fail 'buf generate (clients)'
npx buf generate --template third_party/proto/buf.gen.yaml || fail 'buf generate (reflection)'
[ -z "$(git status --porcelain -- $generated)" ] || { git status --short -- $generated; fail "generated code differs from 'buf generate': run the three buf generate commands in test/run.sh and commit"; }
release=$(ls proto/releases/*.binpb | sort -V | tail -n 1)
npx buf breaking --against "$release" || fail "breaking change against $release"

step 'typecheck'
npx tsc --noEmit -p . || fail 'tsc'

step 'tests'
mkdir -p test/.tmp
npx vitest run --reporter=default --reporter=json --outputFile.json=test/.tmp/vitest.json
node test/summary.mjs test/.tmp/vitest.json $?
