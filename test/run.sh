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

step 'Node.js 24 and 22, the supported lines: from the npm registry when this machine has another version'
# The official binaries as npm publishes them (node-<platform>-<arch>, no install script), kept in .tools/.
NODE24_VERSION=24.22.3
NODE22_VERSION=22.23.5
node_bin() {
  local major=${1%%.*} version=$1
  if [ "$(node -p 'process.versions.node.split(".")[0]')" = "$major" ]; then dirname "$(command -v node)"; return; fi
  local package dir="$PWD/.tools/node-$version"
  package="node-$(node -p process.platform)-$(node -p process.arch)"
  if [ ! -x "$dir/node_modules/$package/bin/node" ]; then
    npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund "$package@$version" >/dev/null || return 1
  fi
  echo "$dir/node_modules/$package/bin"
}
node24=$(node_bin $NODE24_VERSION) || fail "installing Node $NODE24_VERSION from the npm registry"
node22=$(node_bin $NODE22_VERSION) || fail "installing Node $NODE22_VERSION from the npm registry"
export PATH="$node24:$PATH"
echo "node $(node -v) (whole suite), $("$node22/node" -v) (unit tests)"

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

step 'build: dist/ of the gateway and of @streamgate/client (the CLI the tests spawn runs dist/)'
npm run build || fail 'npm run build'
npm run client:build || fail 'npm run client:build'

step "unit tests on Node $NODE22_VERSION"
mkdir -p test/.tmp
PATH="$node22:$PATH" npx vitest run --project unit --reporter=default --reporter=json --outputFile.json=test/.tmp/vitest-node22.json
unit=$?

step "every test on Node $NODE24_VERSION"
npx vitest run --reporter=default --reporter=json --outputFile.json=test/.tmp/vitest.json
node test/summary.mjs test/.tmp/vitest.json $? test/.tmp/vitest-node22.json $unit
