#!/usr/bin/env bash
# Emulator fidelity: drive a running ssm-emulator with the AWS CLI, which
# parses every response against SSM's service model; any response it cannot
# parse (or any error) fails this script. Covered: documents, a release
# approved by the default identity, a second principal (bob) approving by
# his access key while the bot is refused, parameter constraints, stops
# through Cancelling, filtered and paged listings, step listings,
# get-document, STS get-caller-identity and IAM simulate-principal-policy
# (paged, a denied action, the simulation itself refused) on the same
# endpoint.
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

BOB=arn:aws:iam::123456789012:user/bob
# Approved by bob only; the release tag must look like r-1.2.3.
cat >"$WORK/release-bob.yml" <<YAML
schemaVersion: '0.3'
parameters:
  ReleaseVersion:
    type: String
    allowedPattern: '^r-\d+\.\d+\.\d+\$'
mainSteps:
  - name: Approve
    action: aws:approve
    timeoutSeconds: 600
    inputs:
      Message: 'Release {{ ReleaseVersion }}?'
      MinRequiredApprovals: 1
      Approvers:
        - $BOB
  - name: Rollout
    action: aws:sleep
    inputs:
      Duration: PT0.2S
YAML

cargo build -q -p chatdeploy-aws --features emulator --bin ssm-emulator
# Run the built binary directly so that $! is the emulator itself. Stops
# stay Cancelling for 6 s, long enough for two CLI calls to see it.
BIN="${CARGO_TARGET_DIR:-target}/debug/ssm-emulator"
"$BIN" --step-delay-ms 100 --cancel-delay-ms 6000 \
    --identity "BOBKEY=$BOB" --document "Release-Bob=$WORK/release-bob.yml" \
    --deny-action ssm:StopAutomationExecution \
    >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
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

# Like ssm, for `aws sts`; recorded for the model check as sts-<command>.
sts() {
    local out="$WORK/last-sts.json"
    aws --endpoint-url "$URL" --output json sts "$@" >"$out"
    python3 -m json.tool "$out" >/dev/null
    cp "$out" "$WORK/response-$(date +%s%N)-sts-$1.json"
    cat "$out"
}

# Like ssm, for `aws iam`; recorded for the model check as iam-<command>.
iam() {
    local out="$WORK/last-iam.json"
    aws --endpoint-url "$URL" --output json iam "$@" >"$out"
    python3 -m json.tool "$out" >/dev/null
    cp "$out" "$WORK/response-$(date +%s%N)-iam-$1.json"
    cat "$out"
}

# Tells the emulator what to do (its /_emulator/ test control).
control() {
    python3 - "$URL/_emulator/$1" "$2" <<'PY'
import sys, urllib.request
request = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST")
assert urllib.request.urlopen(request).status == 204
PY
}

# Runs a CLI command that must fail with the error code $1.
expect_error() {
    local code=$1
    shift
    if aws --endpoint-url "$URL" --output json "$@" >/dev/null 2>"$WORK/err"; then
        echo "expected $code from: aws $*" >&2
        exit 1
    fi
    grep -q "($code)" "$WORK/err" || { echo "expected $code from: aws $*" >&2; cat "$WORK/err" >&2; exit 1; }
}

# Reads a JSON file's value at a Python expression over `d`.
jq_py() {
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
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

# A start whose parameter breaks allowedPattern is refused.
expect_error InvalidAutomationExecutionParametersException \
    ssm start-automation-execution --document-name Release-Bob --parameters ReleaseVersion=1.2.3
grep -q 'Parameter "ReleaseVersion" failed to satisfy constraint: allowedPattern' "$WORK/err" \
    || { cat "$WORK/err" >&2; exit 1; }

# Bob approves with his own access key; the bot, not listed, is refused.
BOB_ID=$(ssm start-automation-execution --document-name Release-Bob \
        --parameters ReleaseVersion=r-1.2.3 \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["AutomationExecutionId"])')
wait_status "$BOB_ID" Waiting
expect_error InvalidAutomationSignalException \
    ssm send-automation-signal --automation-execution-id "$BOB_ID" --signal-type Approve
AWS_ACCESS_KEY_ID=BOBKEY ssm send-automation-signal --automation-execution-id "$BOB_ID" \
    --signal-type Approve --payload Comment="bob approves" >/dev/null
wait_status "$BOB_ID" Success
ssm get-automation-execution --automation-execution-id "$BOB_ID" >"$WORK/bob.json"
python3 - "$WORK/bob.json" "$BOB" <<'PY'
import json, sys
execution = json.load(open(sys.argv[1]))["AutomationExecution"]
approve = next(s for s in execution["StepExecutions"] if s["StepName"] == "Approve")
assert approve["Outputs"]["ApprovalStatus"] == ["Approved"], approve
decisions = [json.loads(d) for d in approve["Outputs"]["ApproverDecisions"]]
assert decisions == [{**decisions[0], "Approver": sys.argv[2], "Decision": "Approve",
                      "Comment": "bob approves"}], decisions
assert decisions[0]["ApprovalDecisionTime"].endswith("Z"), decisions
assert approve["TimeoutSeconds"] == 600, approve
PY

# A stop: Cancelling first, then Cancelled with end times.
STOP_ID=$(ssm start-automation-execution --document-name Release-Bob \
        --parameters ReleaseVersion=r-1.2.4 \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["AutomationExecutionId"])')
wait_status "$STOP_ID" Waiting
ssm stop-automation-execution --automation-execution-id "$STOP_ID" >/dev/null
ssm get-automation-execution --automation-execution-id "$STOP_ID" >"$WORK/stopping.json"
[[ $(jq_py "$WORK/stopping.json" 'd["AutomationExecution"]["AutomationExecutionStatus"]') == Cancelling ]] \
    || { cat "$WORK/stopping.json" >&2; exit 1; }
expect_error InvalidAutomationStatusUpdateException \
    ssm stop-automation-execution --automation-execution-id "$STOP_ID"
wait_status "$STOP_ID" Cancelled
ssm get-automation-execution --automation-execution-id "$STOP_ID" >"$WORK/stopped.json"
python3 - "$WORK/stopped.json" <<'PY'
import json, sys
execution = json.load(open(sys.argv[1]))["AutomationExecution"]
assert "ExecutionEndTime" in execution, execution
approve = next(s for s in execution["StepExecutions"] if s["StepName"] == "Approve")
assert approve["StepStatus"] == "Cancelled" and "ExecutionEndTime" in approve, approve
PY

# Listings: filters, the CLI's own paging (--page-size sends MaxResults and
# follows NextToken), and --max-items with its resume token.
for version in 2.0.0 2.0.1 2.0.2 2.0.3; do
    ssm start-automation-execution --document-name Release-Bob \
        --parameters ReleaseVersion=r-$version >/dev/null
done
ssm describe-automation-executions --page-size 2 \
    --filters Key=DocumentNamePrefix,Values=Release- >"$WORK/paged.json"
[[ $(jq_py "$WORK/paged.json" 'len(d["AutomationExecutionMetadataList"])') == 6 ]] \
    || { cat "$WORK/paged.json" >&2; exit 1; }
ssm describe-automation-executions --max-items 3 \
    --filters Key=ExecutionStatus,Values=Waiting >"$WORK/first.json"
[[ $(jq_py "$WORK/first.json" 'len(d["AutomationExecutionMetadataList"])') == 3 ]]
TOKEN=$(jq_py "$WORK/first.json" 'd["NextToken"]')
ssm describe-automation-executions --max-items 3 --starting-token "$TOKEN" \
    --filters Key=ExecutionStatus,Values=Waiting >"$WORK/rest.json"
python3 - "$WORK/first.json" "$WORK/rest.json" <<'PY'
import json, sys
first, rest = (json.load(open(p))["AutomationExecutionMetadataList"] for p in sys.argv[1:])
ids = [e["AutomationExecutionId"] for e in first + rest]
assert len(ids) == 4 and len(set(ids)) == 4, ids
assert all(e["AutomationExecutionStatus"] == "Waiting" for e in first + rest)
starts = [e["ExecutionStartTime"] for e in first + rest]
assert starts == sorted(starts, reverse=True), starts
PY
expect_error InvalidFilterKey \
    ssm describe-automation-executions --filters Key=Colour,Values=blue
expect_error InvalidFilterValue \
    ssm describe-automation-executions --filters Key=StartTimeBefore,Values=yesterday
expect_error InvalidNextToken \
    ssm describe-automation-executions --starting-token "$(printf '{"NextToken": "forged"}' | base64)"
ssm describe-automation-executions \
    --filters Key=StartTimeAfter,Values=2020-01-01T00:00:00Z Key=AutomationType,Values=Local >/dev/null

# Step executions, one page at a time and filtered.
ssm describe-automation-step-executions --automation-execution-id "$BOB_ID" --page-size 1 \
    >"$WORK/steps.json"
[[ $(jq_py "$WORK/steps.json" '[s["StepName"] for s in d["StepExecutions"]]') == "['Approve', 'Rollout']" ]] \
    || { cat "$WORK/steps.json" >&2; exit 1; }
ssm describe-automation-step-executions --automation-execution-id "$BOB_ID" --reverse-order \
    --filters Key=StepExecutionStatus,Values=Success Key=Action,Values=aws:sleep >"$WORK/steps.json"
[[ $(jq_py "$WORK/steps.json" '[s["StepName"] for s in d["StepExecutions"]]') == "['Rollout']" ]]

# Documents as created, and converted.
ssm get-document --name Release-Bob >"$WORK/doc.json"
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["Content"] == open(sys.argv[2]).read()' \
    "$WORK/doc.json" "$WORK/release-bob.yml"
ssm get-document --name Deploy-App --document-format JSON >"$WORK/doc.json"
jq_py "$WORK/doc.json" 'json.loads(d["Content"])["mainSteps"][0]["name"]' | grep -qx UpdateParameter
expect_error InvalidDocumentVersion ssm get-document --name Deploy-App --document-version 7

# STS on the same endpoint: the ARN each access key is mapped to.
AWS_ACCESS_KEY_ID=BOBKEY sts get-caller-identity >"$WORK/me.json"
[[ $(jq_py "$WORK/me.json" 'd["Arn"]') == "$BOB" ]] || { cat "$WORK/me.json" >&2; exit 1; }
[[ $(jq_py "$WORK/me.json" 'd["Account"]') == 123456789012 ]]
sts get-caller-identity | grep -q 'role/chatdeploy'

# IAM on the same endpoint: the bot's role simulated; the emulator allows
# everything but the action it was started to deny. The CLI sends the
# context entries and pages by MaxItems and Marker itself (--max-items).
ROLE=arn:aws:iam::123456789012:role/chatdeploy
EXECUTIONS=arn:aws:ssm:us-east-1:123456789012:automation-execution/*
iam simulate-principal-policy --policy-source-arn "$ROLE" \
    --action-names ssm:GetAutomationExecution ssm:StopAutomationExecution \
    --resource-arns "$EXECUTIONS" arn:aws:ssm:us-east-1:123456789012:document/Deploy-App \
    --context-entries "ContextKeyName=aws:ResourceTag/chatdeploy:service,ContextKeyValues=app,ContextKeyType=string" \
    >"$WORK/simulated.json"
python3 - "$WORK/simulated.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["EvaluationResults"]
decisions = {r["EvalActionName"]: r["EvalDecision"] for r in results}
assert decisions == {"ssm:GetAutomationExecution": "allowed",
                     "ssm:StopAutomationExecution": "implicitDeny"}, decisions
specific = results[1]["ResourceSpecificResults"]
assert [s["EvalResourceDecision"] for s in specific] == ["implicitDeny"] * 2, specific
PY
iam simulate-principal-policy --policy-source-arn "$ROLE" --max-items 2 \
    --action-names ssm:DescribeDocument ssm:GetDocument ssm:SendAutomationSignal \
    >"$WORK/first-simulated.json"
TOKEN=$(jq_py "$WORK/first-simulated.json" 'd["NextToken"]')
[[ $(jq_py "$WORK/first-simulated.json" 'len(d["EvaluationResults"])') == 2 ]]
iam simulate-principal-policy --policy-source-arn "$ROLE" --max-items 2 --starting-token "$TOKEN" \
    --action-names ssm:DescribeDocument ssm:GetDocument ssm:SendAutomationSignal \
    >"$WORK/rest-simulated.json"
[[ $(jq_py "$WORK/rest-simulated.json" '[r["EvalActionName"] for r in d["EvaluationResults"]]') \
    == "['ssm:SendAutomationSignal']" ]] || { cat "$WORK/rest-simulated.json" >&2; exit 1; }
expect_error InvalidInput iam simulate-principal-policy \
    --policy-source-arn arn:aws:sts::123456789012:assumed-role/chatdeploy/s --action-names ssm:GetDocument
control deny '{"Operation": "SimulatePrincipalPolicy", "Denied": true}'
expect_error AccessDenied iam simulate-principal-policy --policy-source-arn "$ROLE" \
    --action-names ssm:GetDocument
control deny '{"Operation": "SimulatePrincipalPolicy", "Denied": false}'

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
models = {service: botocore.session.get_session().get_service_model(service)
          for service in ("ssm", "sts", "iam")}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "response-*.json"))):
    command = re.match(r"response-\d+-(.+)\.json", os.path.basename(path)).group(1)
    service, command = (command.split("-", 1) if command.startswith(("sts-", "iam-"))
                        else ("ssm", command))
    op = "".join(part.capitalize() for part in command.split("-"))
    response = json.load(open(path))
    # The CLI's own resume token (--max-items) of operations that page by
    # another name (IAM's Marker) is no member of the response.
    paginators = botocore.session.get_session().get_paginator_model(service)
    try:
        if paginators.get_paginator(op)["output_token"] != "NextToken":
            response.pop("NextToken", None)
    except ValueError:
        pass
    check(models[service].operation_model(op).output_shape, response, op)
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
