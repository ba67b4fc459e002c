#!/usr/bin/env bash
# scripts/helm-check.sh — the Helm chart checks run by `make test`.
#
# 1. Installs the helm CLI (HELM_VERSION) with `go install` into a cache
#    directory when it is not there yet.
# 2. `helm lint --strict` and `helm template` of helm/hookflash for the
#    default values and for helm/ci/values-full.yaml (every optional feature).
#    values.schema.json is enforced by both.
# 3. Renders a few broken values sets and expects each to be refused.
# 4. helm/check (its own Go module) decodes every rendered manifest strictly
#    into its Kubernetes API type, checks the Deployment's operational
#    promises, and checks that the env vars the chart sets are exactly the
#    HOOKFLASH_* variables `hookflash serve --help` documents, and that the
#    chart README documents every value.
#
# Knobs: HELM_VERSION, KUBE_VERSION (capabilities to render against),
# HOOKFLASH_CACHE_BIN (where helm is installed).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'helm-check.sh: %s\n' "$*" >&2; exit 1; }

HELM_VERSION=${HELM_VERSION:-v3.22.0}
KUBE_VERSION=${KUBE_VERSION:-1.31.0}
BIN=${HOOKFLASH_CACHE_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/hookflash/bin}
CHART=helm/hookflash
FULL=helm/ci/values-full.yaml

command -v go >/dev/null || die "Go is not installed: get Go 1.26+ from https://go.dev/dl"
[ -d cmd/hookflash ] || die "cmd/hookflash does not exist: the env-var check needs \`hookflash serve --help\`"

HELM=$BIN/helm
# A `go install`ed helm reports only its minor version, so the installed
# version is remembered in a stamp file next to it.
STAMP=$BIN/helm.version
if [ ! -x "$HELM" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$HELM_VERSION" ]; then
  say "installing helm $HELM_VERSION into $BIN"
  mkdir -p "$BIN"
  # Outside the main module, so its go.mod is neither read nor touched.
  (cd "$BIN" && GOBIN="$BIN" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION") \
    || die "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION failed (needs the Go module proxy)"
  echo "$HELM_VERSION" >"$STAMP"
fi

WORK=$(mktemp -d /tmp/hookflash-helm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

say "helm lint (default values, $FULL)"
"$HELM" lint --strict --kube-version "$KUBE_VERSION" "$CHART"
"$HELM" lint --strict --kube-version "$KUBE_VERSION" -f "$FULL" "$CHART"

say "helm template (default values, $FULL)"
"$HELM" template hookflash "$CHART" --namespace hookflash --kube-version "$KUBE_VERSION" >"$WORK/default.yaml"
"$HELM" template hookflash "$CHART" --namespace hookflash --kube-version "$KUBE_VERSION" -f "$FULL" >"$WORK/full.yaml"

say "values the chart must refuse"
refuse() {
  local why=$1; shift
  if "$HELM" template hookflash "$CHART" --kube-version "$KUBE_VERSION" "$@" >/dev/null 2>"$WORK/refused.txt"; then
    die "helm template accepted $* ($why)"
  fi
}
refuse "a single replica cannot hand PBXes over" --set replicaCount=1
refuse "unknown value" --set no.such.value=1
refuse "not a duration" --set config.leaseTTL=soon
refuse "grace period shorter than preStop + drain" --set terminationGracePeriodSeconds=10
refuse "writable root filesystem" --set securityContext.readOnlyRootFilesystem=false
refuse "created Secret without credentials" --set secret.create=true
refuse "bad secret key" --set secret.create=true --set secret.secretKey=short

say "hookflash serve --help"
go build -o "$WORK/hookflash" ./cmd/hookflash || die "cannot build cmd/hookflash for the env-var check"
# --help may exit 0 or 2 (flag.ErrHelp); only the text matters.
"$WORK/hookflash" serve --help >"$WORK/help.txt" 2>&1 || true
grep -q 'HOOKFLASH_[A-Z]' "$WORK/help.txt" \
  || die "\`hookflash serve --help\` printed no HOOKFLASH_* variable:"$'\n'"$(cat "$WORK/help.txt")"

say "strict decode and env check (helm/check)"
cd "$ROOT/helm/check"
go vet ./...
go test ./...
go run . -env "$WORK/help.txt" \
  -readme "$ROOT/$CHART/README.md" -values "$ROOT/$CHART/values.yaml" \
  "$WORK/default.yaml" "$WORK/full.yaml"
say "helm checks passed"
