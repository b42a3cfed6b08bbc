-- wrk script: optional posting of varied comments or reads of random posts, and a JSON summary
-- line for bench/run.py.
local mode = os.getenv("BENCH_MODE") or "get"
local token = os.getenv("BENCH_FORM_TOKEN") or ""
local posts = tonumber(os.getenv("BENCH_POSTS") or "1000")
local counter = 0
-- Every comment from its own address (as many readers would), unique across runs.
local seed = os.time()

if mode == "random" then
  -- Any of the seeded posts: the long tail of a blog's pages, mostly not in the cache.
  request = function()
    return wrk.format("GET", string.format("/api/posts/post-%06d/comments", math.random(0, posts - 1)))
  end
end

if mode == "post" then
  request = function()
    counter = counter + 1
    local slug = string.format("post-%06d", math.random(0, posts - 1))
    local body = string.format(
      '{"name":"Bench reader","email":"bench%d-%d@example.org","website":"https://example.org",' ..
      '"body":"Benchmark comment %d: *emphasis*, `code` and a link https://example.org/%d",' ..
      '"form_token":"%s"}', seed, counter, counter, counter, token)
    return wrk.format("POST", "/api/posts/" .. slug .. "/comments",
      {["Content-Type"] = "application/json"}, body)
  end
end

if mode == "isso-post" then
  -- Isso's API (POST /new?uri=...): the same comment, to threads made beforehand (bench/isso.py).
  request = function()
    counter = counter + 1
    local uri = string.format("/post-%06d", math.random(0, posts - 1))
    local body = string.format(
      '{"author":"Bench reader","email":"bench%d-%d@example.org","website":"https://example.org",' ..
      '"text":"Benchmark comment %d: *emphasis*, `code` and a link https://example.org/%d",' ..
      '"title":"Bench thread"}', seed, counter, counter, counter)
    return wrk.format("POST", "/new?uri=" .. uri, {["Content-Type"] = "application/json"}, body)
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"socket_errors":%d,"status_errors":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status,
    e.connect, e.read, e.write, e.timeout))
end
