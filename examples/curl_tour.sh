#!/usr/bin/env bash
# A walk through the stepd HTTP API with curl: create a session, step with JSON and with a
# binary file, read the parameters, preview the schedule, read the history, change the
# learning rate, see an error as problem+json, delete. Every call checks its status code; the
# script exits non-zero on the first unexpected one.
#
#   STEPD_URL=http://127.0.0.1:8080 bash examples/curl_tour.sh
#
# Needs bash, curl and printf; STEPD_TOKEN, if set, is sent as a bearer token.
set -euo pipefail

URL="${STEPD_URL:-http://127.0.0.1:8080}"
URL="${URL%/}"
ID="tour-$$-${RANDOM}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
AUTH=()
if [[ -n "${STEPD_TOKEN:-}" ]]; then AUTH=(-H "Authorization: Bearer ${STEPD_TOKEN}"); fi

# call EXPECTED_STATUS METHOD PATH [curl args...]: prints the exchange, checks the status.
call() {
  local expected="$1" method="$2" path="$3"
  shift 3
  local status
  status="$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X "$method" "${AUTH[@]}" "$@" "$URL$path")"
  echo "\$ curl -X $method $URL$path $*"
  echo "< HTTP $status $(grep -i '^content-type:' "$WORK/headers" | tr -d '\r' | cut -d' ' -f2-)"
  if [[ -s "$WORK/body" ]]; then
    if grep -qi '^content-type: *application/octet-stream' "$WORK/headers"; then
      echo "< ($(wc -c <"$WORK/body") bytes of float32)"
    else
      head -c 600 "$WORK/body"; echo
    fi
  fi
  echo
  if [[ "$status" != "$expected" ]]; then
    echo "FAIL: $method $path answered $status, expected $expected" >&2
    exit 1
  fi
}

# expect_body PATTERN: the last response body contains PATTERN (a fixed string).
expect_body() {
  if ! grep -qF -- "$1" "$WORK/body"; then
    echo "FAIL: the response does not contain $1" >&2
    exit 1
  fi
}

echo "== stepd at $URL, session $ID"
call 200 GET /healthz

echo "== 1. Create a session: AdamW, warmup then cosine decay, clipping, two tensors"
call 201 POST /v1/sessions -H 'Content-Type: application/json' -d '{
  "id": "'"$ID"'",
  "optimizer": {"type": "adamw", "lr": 0.01, "betas": [0.9, 0.999], "weight_decay": 0.01},
  "schedule": {"type": "warmup_cosine", "warmup_steps": 2, "total_steps": 100, "min_lr_ratio": 0.1},
  "clip": {"max_norm": 1.0},
  "params": [
    {"name": "w", "shape": [2, 2], "values": [0.5, -0.5, 0.25, 1.0]},
    {"name": "b", "shape": [2], "init": "zeros"}
  ]
}'
grep -qi "^location: /v1/sessions/$ID" "$WORK/headers" || { echo "FAIL: no Location header" >&2; exit 1; }

echo "== 2. One step with a JSON body (loss is optional)"
call 200 POST "/v1/sessions/$ID/steps" -H 'Content-Type: application/json' \
  -d '{"grads": {"w": [0.1, -0.2, 0.3, -0.4], "b": [0.5, 0.5]}, "loss": 1.25}'
expect_body '"step":1'

echo "== 3. One step with a binary body: little-endian float32, w then b (declared order)"
# 0.5 = 00 00 00 3f, -0.5 = 00 00 00 bf, 1.0 = 00 00 80 3f, 0 = 00 00 00 00
printf '\x00\x00\x00\x3f\x00\x00\x00\xbf\x00\x00\x80\x3f\x00\x00\x00\x00\x00\x00\x00\x3f\x00\x00\x00\x3f' >"$WORK/grads.f32"
call 200 POST "/v1/sessions/$ID/steps?loss=1.0" -H 'Content-Type: application/octet-stream' \
  -H 'Idempotency-Key: tour-step-3' --data-binary @"$WORK/grads.f32"
expect_body '"step":2'

echo "== 4. The same request again (same Idempotency-Key): the stored answer, nothing applied twice"
call 200 POST "/v1/sessions/$ID/steps?loss=1.0" -H 'Content-Type: application/octet-stream' \
  -H 'Idempotency-Key: tour-step-3' --data-binary @"$WORK/grads.f32"
expect_body '"replayed":true'
expect_body '"step":2'

echo "== 5. Parameters as JSON, then as raw float32 (ETag is the step)"
call 200 GET "/v1/sessions/$ID/params" -H 'Accept: application/json'
expect_body '"step":2'
call 200 GET "/v1/sessions/$ID/params?names=w" -H 'Accept: application/octet-stream'
[[ "$(wc -c <"$WORK/body" | tr -d ' ')" == 16 ]] || { echo "FAIL: w should be 16 bytes" >&2; exit 1; }
grep -qi '^etag: "2"' "$WORK/headers" || { echo "FAIL: ETag should be \"2\"" >&2; exit 1; }

echo "== 6. The learning-rate schedule, with the next 3 steps previewed"
call 200 GET "/v1/sessions/$ID/schedule?preview=3"
expect_body '"preview"'

echo "== 7. History: one record per step, and a health verdict"
call 200 GET "/v1/sessions/$ID/history?last=5"
expect_body '"health"'

echo "== 8. Change the learning rate mid-run (a JSON merge patch)"
call 200 PATCH "/v1/sessions/$ID" -H 'Content-Type: application/merge-patch+json' -d '{"optimizer": {"lr": 0.05}}'
expect_body '"lr":0.05'

echo "== 9. Errors are application/problem+json with a precise detail"
call 422 POST "/v1/sessions/$ID/steps" -H 'Content-Type: application/json' -d '{"grads": {"w": [1, 2, 3]}}'
grep -qi '^content-type: application/problem+json' "$WORK/headers" || { echo "FAIL: not problem+json" >&2; exit 1; }
expect_body '"detail"'
call 412 POST "/v1/sessions/$ID/steps" -H 'Content-Type: application/octet-stream' -H 'If-Match: "0"' \
  --data-binary @"$WORK/grads.f32"
call 404 GET /v1/sessions/no-such-session

echo "== 10. List sessions, delete ours, and it is gone"
call 200 GET /v1/sessions
expect_body "\"$ID\""
call 204 DELETE "/v1/sessions/$ID"
call 404 GET "/v1/sessions/$ID"

echo "curl tour: all statuses as expected"
