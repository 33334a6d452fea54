-- wrk script for bench/run.sh.
--
-- With RANGE_SIZE set (the file's size in bytes), every request asks for
-- RANGE_LEN bytes (default 65536) at a random offset in [0, RANGE_SIZE -
-- RANGE_LEN]; RANGE_ALIGN=1 rounds the offset down to a multiple of
-- RANGE_LEN (default: not aligned, as players seek). A response must be
-- 206. Without RANGE_SIZE the request is a plain GET and must be 200.
--
-- done() prints one line that bench/run.sh parses:
--   WRK requests=N duration_us=D bytes=B p50_us=.. p99_us=.. unexpected=U
--       errors=E
-- unexpected counts responses with the wrong status; errors sums wrk's
-- connect/read/write/timeout errors.
--
-- WRK_CHECK=aggregate checks the statuses without a per-response Lua
-- callback, which costs wrk 11-13 µs of CPU per response, more the more
-- headers a response has (wrk builds a Lua table of them): on two shared
-- CPUs that client cost is taken from the server under test. The check
-- then uses wrk's own counts: a status of 400 or more is counted by wrk,
-- and a 200 instead of a 206 (a Range ignored) would carry the whole file,
-- so every response must be between len and len + 2 KiB long on average.

local size = tonumber(os.getenv("RANGE_SIZE") or "")
local len = tonumber(os.getenv("RANGE_LEN") or "65536")
local align = os.getenv("RANGE_ALIGN") == "1"
local want = size and 206 or 200

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  unexpected = 0
  -- Each thread has its own Lua state; seed each one differently.
  math.randomseed(os.time() * 1000 + id)
  if not size then
    req = wrk.format("GET", wrk.path)
  end
end

function request()
  if not size then
    return req
  end
  local off = math.random(0, size - len)
  if align then
    off = off - off % len
  end
  return wrk.format("GET", wrk.path,
    { ["Range"] = "bytes=" .. off .. "-" .. (off + len - 1) })
end

local aggregate = os.getenv("WRK_CHECK") == "aggregate"

if not aggregate then
  function response(status, headers, body)
    if status ~= want then
      unexpected = unexpected + 1
    end
  end
end

function done(summary, latency, requests)
  local bad = 0
  local e = summary.errors
  if aggregate then
    local per = summary.bytes / math.max(summary.requests, 1)
    bad = e.status
    if per < len or per > len + 2048 then
      bad = bad + summary.requests
    end
  else
    for _, t in ipairs(threads) do
      bad = bad + t:get("unexpected")
    end
  end
  io.write(string.format(
    "WRK requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d unexpected=%d errors=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), bad,
    e.connect + e.read + e.write + e.timeout))
end
