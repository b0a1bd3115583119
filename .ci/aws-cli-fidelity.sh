#!/usr/bin/env bash
# Emulator fidelity: drive a running ssm-emulator with the AWS CLI, which
# parses every response against SSM's service model; any response it cannot
# parse (or any error) fails this script.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! command -v aws >/dev/null 2>&1; then
    python3 -m pip install --quiet awscli
fi

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
export AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true
# No config or credential files of the machine's user.
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

FIXTURE=chatdeploy-aws/tests/fixtures/deploy-app.yml
WORK=$(mktemp -d)
EMULATOR_PID=""
cleanup() {
    if [[ -n "$EMULATOR_PID" ]]; then
        kill "$EMULATOR_PID" 2>/dev/null || true
        wait "$EMULATOR_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

cargo build -q -p chatdeploy-aws --features emulator --bin ssm-emulator
# Run the built binary directly so that $! is the emulator itself.
BIN="${CARGO_TARGET_DIR:-target}/debug/ssm-emulator"
"$BIN" --step-delay-ms 100 >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
EMULATOR_PID=$!

URL=""
for _ in $(seq 1 100); do
    URL=$(sed -n 's/^listening on //p' "$WORK/emulator.out")
    [[ -n "$URL" ]] && break
    kill -0 "$EMULATOR_PID" 2>/dev/null || { cat "$WORK/emulator.err" >&2; exit 1; }
    sleep 0.1
done
[[ -n "$URL" ]] || { echo "ssm-emulator did not start" >&2; exit 1; }
echo "emulator at $URL"

# Runs one CLI command; its JSON output must parse (the CLI prints nothing
# for an empty result, such as send-automation-signal's).
ssm() {
    local out="$WORK/last.json"
    aws --endpoint-url "$URL" --output json ssm "$@" >"$out"
    if [[ -s "$out" ]]; then
        python3 -m json.tool "$out" >/dev/null
    fi
    cat "$out"
}

# Polls get-automation-execution until the status is $2.
wait_status() {
    local id=$1 want=$2 status=""
    for _ in $(seq 1 100); do
        status=$(ssm get-automation-execution --automation-execution-id "$id" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["AutomationExecution"]["AutomationExecutionStatus"])')
        [[ "$status" == "$want" ]] && return 0
        sleep 0.1
    done
    echo "execution $id is $status, expected $want" >&2
    return 1
}

ssm create-document --name Deploy-App --document-type Automation --document-format YAML \
    --content "file://$FIXTURE" >/dev/null
ssm describe-document --name Deploy-App >/dev/null
ID=$(ssm start-automation-execution --document-name Deploy-App \
        --parameters ReleaseVersion=r-99.1.0 \
        --client-token "$(python3 -c 'import uuid; print(uuid.uuid4())')" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["AutomationExecutionId"])')
echo "execution $ID"
wait_status "$ID" Waiting
ssm send-automation-signal --automation-execution-id "$ID" --signal-type Approve \
    --payload Comment="approved from the AWS CLI" >/dev/null
wait_status "$ID" Success
ssm get-automation-execution --automation-execution-id "$ID" >/dev/null
ssm describe-automation-executions \
    --filters Key=ExecutionId,Values="$ID" >"$WORK/list.json"
python3 - "$WORK/list.json" "$ID" <<'PY'
import json, sys
listing = json.load(open(sys.argv[1]))["AutomationExecutionMetadataList"]
assert [e["AutomationExecutionId"] for e in listing] == [sys.argv[2]], listing
assert listing[0]["AutomationExecutionStatus"] == "Success", listing
PY

# Errors must parse too: the CLI must name the modelled error and fail.
if aws --endpoint-url "$URL" ssm describe-document --name Missing >/dev/null 2>"$WORK/err"; then
    echo "describe-document of a missing document succeeded" >&2
    exit 1
fi
grep -q "InvalidDocument" "$WORK/err" || { cat "$WORK/err" >&2; exit 1; }

echo "AWS CLI fidelity: ok"
