-- wrk script for bench/ingest.py: POST one Slack-signed event body, then print one machine-readable line.
--
-- Inputs come from the environment, set by bench/ingest.py:
--   BENCH_BODY_FILE          path of the raw request body (signed byte for byte)
--   BENCH_SLACK_TIMESTAMP    X-Slack-Request-Timestamp
--   BENCH_SLACK_SIGNATURE    X-Slack-Signature ("v0=" + hex HMAC-SHA256)
-- Every request is identical: the signature stays valid for Slack's 300 s window from the timestamp.

local function read_file(path)
  local f = assert(io.open(path, "rb"), "cannot open BENCH_BODY_FILE: " .. tostring(path))
  local data = f:read("*a")
  f:close()
  return data
end

local function required(name)
  local value = os.getenv(name)
  assert(value and value ~= "", name .. " is not set (run bench/ingest.py, not wrk directly)")
  return value
end

wrk.method = "POST"
wrk.body = read_file(required("BENCH_BODY_FILE"))
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Slack-Request-Timestamp"] = required("BENCH_SLACK_TIMESTAMP")
wrk.headers["X-Slack-Signature"] = required("BENCH_SLACK_SIGNATURE")

-- Latencies are in microseconds. errors.status counts responses with a status >= 400.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d "
      .. "connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout
  ))
end
