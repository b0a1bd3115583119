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
        # Unique per call, also from the subshells of $(ssm …).
        cp "$out" "$WORK/response-$(date +%s%N)-$1.json"
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

# Stricter than the CLI's parser: every member of every response is one the
# model defines, with its type, enum value and no nulls.
python3 - "$WORK" <<'PY'
import glob, json, os, re, sys
import botocore.session
model = botocore.session.get_session().get_service_model("ssm")
problems = []
def check(shape, value, path):
    if value is None:
        problems.append(f"{path}: null (members are left out instead)")
        return
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return problems.append(f"{path}: not an object")
        for key, member in value.items():
            if key not in shape.members:
                problems.append(f"{path}.{key}: not in {shape.name}")
            else:
                check(shape.members[key], member, f"{path}.{key}")
    elif kind == "list":
        if not isinstance(value, list):
            return problems.append(f"{path}: not a list")
        for i, item in enumerate(value):
            check(shape.member, item, f"{path}[{i}]")
    elif kind == "map":
        if not isinstance(value, dict):
            return problems.append(f"{path}: not a map")
        for key, item in value.items():
            check(shape.value, item, f"{path}.{key}")
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: not a string")
        elif shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of {shape.name}'s values")
    elif kind == "timestamp":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{path}: timestamps are epoch seconds")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: not an integer")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: not a boolean")
for path in sorted(glob.glob(os.path.join(sys.argv[1], "response-*.json"))):
    command = re.match(r"response-\d+-(.+)\.json", os.path.basename(path)).group(1)
    op = "".join(part.capitalize() for part in command.split("-"))
    check(model.operation_model(op).output_shape, json.load(open(path)), op)
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"checked {len(glob.glob(os.path.join(sys.argv[1], 'response-*.json')))} responses against the model")
PY

# Errors must parse too: the CLI must name the modelled error and fail.
if aws --endpoint-url "$URL" ssm describe-document --name Missing >/dev/null 2>"$WORK/err"; then
    echo "describe-document of a missing document succeeded" >&2
    exit 1
fi
grep -q "InvalidDocument" "$WORK/err" || { cat "$WORK/err" >&2; exit 1; }

echo "AWS CLI fidelity: ok"
