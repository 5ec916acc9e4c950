#!/bin/sh
# The make demo tour. It runs inside `jit dev`: a fake AWS STS on loopback,
# a throwaway policy repository, a sandbox user. Nothing leaves the machine.
set -u

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

step "Who am I, as the policy sees me?" "jit whoami"
jit whoami

step "What may I elevate to, and for how long?" "jit targets"
jit targets

step "The policy, at the commit jit reads it from, passes its own tests" "jit policy test"
jit policy test

step "A grant: 15 minutes of sandbox admin, for one command" \
  'jit elevate sandbox-admin --for 15m --reason "demo: rotate keys" -- jit whoami'
jit elevate sandbox-admin --for 15m --reason "demo: rotate keys" -- jit whoami

step "The same credentials for the current shell" \
  'eval "$(jit env sandbox-readonly --for 1h --reason demo)"'
(
  eval "$(jit env sandbox-readonly --for 1h --reason demo)"
  echo "JIT_TARGET=$JIT_TARGET JIT_EXPIRES_AT=$JIT_EXPIRES_AT AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID (secret and token set, not shown)"
)

step "A denial, with its reason: production allows at most an hour" \
  'jit elevate prod --for 2h --reason "demo" --ticket CHG-42 -- true'
jit elevate prod --for 2h --reason "demo" --ticket CHG-42 -- true
echo "exit status: $? (denied by policy; nothing was asked of AWS)"

step "A requirement the rule states: production needs a change ticket" \
  'jit elevate prod --for 30m --reason "demo" -- true'
jit elevate prod --for 30m --reason "demo" -- true
echo "exit status: $? (usage; on a terminal jit would have asked for the ticket)"

step "And a denial by policy (exit 3): no rule grants billing" \
  'jit elevate billing --for 15m --reason "demo" -- true'
jit elevate billing --for 15m --reason "demo" -- true
echo "exit status: $?"

step "Azure: a PIM activation of Contributor, for 30 minutes" \
  'jit elevate azure-contributor --for 30m --reason "demo" -- sh -c '"'"'echo "subscription $AZURE_SUBSCRIPTION_ID"'"'"
jit elevate azure-contributor --for 30m --reason "demo" -- sh -c 'echo "subscription $AZURE_SUBSCRIPTION_ID"'

step "Azure: Owner needs an approver — jit does not wait (exit 5)" \
  'jit elevate azure-owner --for 1h --reason "demo" -- true'
jit elevate azure-owner --for 1h --reason "demo" -- true
echo "exit status: $? (pending approval)"

step "GCP: a time-bound IAM binding, then a service account's token" \
  'jit elevate gcp-iam-reviewer --for 1h -r demo -- true; jit env gcp-deployer --for 15m -r demo'
jit elevate gcp-iam-reviewer --for 1h -r demo -- true && echo "binding added, with the condition request.time < its expiry"
jit env gcp-deployer --for 15m -r demo | sed -n 's/^export \([A-Z_]*TOKEN\)=.*/export \1=(a short-lived token, not shown)/p'

step "What is active, and what revoke can do about it" 'jit status; jit revoke gcp-iam-reviewer'
jit status
jit revoke gcp-iam-reviewer

step "Why? jit explains the decision rule by rule" \
  'jit policy explain prod --for 2h --reason demo --ticket CHG-42'
jit policy explain prod --for 2h --reason demo --ticket CHG-42

step "The audit trail: every step, hash-chained" "jit audit tail -n 0"
jit audit tail -n 0

step "Tamper-evident: the chain verifies" "jit audit verify"
jit audit verify
