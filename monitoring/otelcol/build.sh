#!/usr/bin/env bash
# Build the test collector once into $1 (default: ~/.cache/sahab/otelcol). Slow the first time.
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-$HOME/.cache/sahab/otelcol}"
[ -x "$out" ] && exit 0
mkdir -p "$(dirname "$out")"
[ -f go.mod ] || go mod init sahab/otelcol
go get go.opentelemetry.io/collector/otelcol@v0.165.0 go.opentelemetry.io/collector/receiver/otlpreceiver@v0.165.0 \
  go.opentelemetry.io/collector/exporter/debugexporter@v0.165.0 go.opentelemetry.io/collector/confmap/provider/fileprovider@v1.71.0
go mod tidy
go build -o "$out" .
