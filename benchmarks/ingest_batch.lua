-- wrk script for the Chatlens ingestion benchmark (driven by benchmarks/ingest_http.py).
--
-- Every request is a fresh, realistic POST /v1/batch envelope of EVENTS_PER_BATCH events
-- of the six behaviour types, for a visitor/session drawn from a large pool, with
-- browser-like User-Agent and Origin headers. The same script is pointed at /v1/noop
-- (the reference endpoint) and /v1/batch, so both receive identical bytes.
--
-- Event ids are UUIDv7-shaped and unique across the whole benchmark:
--   48-bit time (ms, at thread start) | version 7 | 12-bit wrk thread index
--   | variant | 14-bit run id (from the command line) | 48-bit per-thread counter
-- All connections of one wrk thread share that thread's Lua state and counter, so ids
-- are unique across connections, threads (thread index) and runs (run id + time).
--
-- Usage: wrk -t1 -c32 -d15s -s ingest_batch.lua http://127.0.0.1:PORT/v1/batch -- PUBLIC_KEY RUN_ID
-- At the end it prints one line "CHATLENS_RESULT {json}" with the figures the driver reads.

local EVENTS_PER_BATCH = 20
local VISITORS = 50000
local PRODUCTS = 2000

local USER_AGENTS = {
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
}
local CATEGORIES = { "shoes", "jackets", "shirts", "trousers", "bags", "watches", "hats", "socks" }
local FILTERS = {
  { "price", { "low_to_high", "high_to_low", "under_50", "50_to_100" } },
  { "brand", { "acme", "globex", "initech", "umbrella" } },
  { "size", { "s", "m", "l", "xl" } },
  { "colour", { "black", "white", "red", "blue" } },
}
local WORDS = { "running", "leather", "waterproof", "summer", "winter", "kids", "sale", "wool", "black", "trail" }
local STATUSES = { "in_stock", "out_of_stock", "low_stock" }
local SHOP = "https://shop.example.com"

-- Filled in by init() in each thread's own Lua state.
local public_key, run_id, thread_index, start_ms
local counter = 0

-- -- id and time helpers -------------------------------------------------------------

local function hex16(n)  -- n < 2^16
  return string.format("%04x", n)
end

local function next_event_id()
  counter = counter + 1
  local t = start_ms
  local c = counter
  -- Split into 16-bit pieces: portable across Lua number and string.format limits.
  return table.concat({
    hex16(math.floor(t / 2^32) % 2^16), hex16(math.floor(t / 2^16) % 2^16), "-",
    hex16(t % 2^16), "-",
    string.format("7%03x", thread_index % 4096), "-",
    hex16(0x8000 + run_id % 2^14), "-",
    hex16(math.floor(c / 2^32) % 2^16), hex16(math.floor(c / 2^16) % 2^16), hex16(c % 2^16),
  })
end

local function iso(seconds, millis)
  return os.date("!%Y-%m-%dT%H:%M:%S", seconds) .. string.format(".%03dZ", millis)
end

local function pick(list)
  return list[math.random(#list)]
end

-- -- events ---------------------------------------------------------------------------

local function product()
  local n = math.random(PRODUCTS)
  return string.format("SKU-%05d", n), string.format("Product %d", n), CATEGORIES[n % #CATEGORIES + 1]
end

local function page()
  local r = math.random(10)
  if r <= 5 then
    local id = product()
    return SHOP .. "/p/" .. string.lower(id), "product", id
  elseif r <= 8 then
    return SHOP .. "/c/" .. pick(CATEGORIES) .. "?page=" .. math.random(5), "category", nil
  end
  return SHOP .. "/blog/post-" .. math.random(300), "blog", nil
end

local function str(s)
  return '"' .. s .. '"'  -- our own strings: no characters that need escaping
end

local function fields(event_type)
  if event_type == "page_view" then
    local url, page_type, product_id = page()
    local f = '"url":' .. str(url) .. ',"pageType":' .. str(page_type)
    if product_id then f = f .. ',"productId":' .. str(product_id) end
    return f
  elseif event_type == "dwell" then
    local url, page_type = page()
    return '"url":' .. str(url) .. ',"pageType":' .. str(page_type)
      .. ',"durationSeconds":' .. string.format("%.1f", math.random() * 300)
  elseif event_type == "product_status" then
    local id = product()
    return '"productId":' .. str(id) .. ',"status":' .. str(pick(STATUSES))
  elseif event_type == "filter_usage" then
    local filter = pick(FILTERS)
    return '"category":' .. str(pick(CATEGORIES)) .. ',"filterType":' .. str(filter[1])
      .. ',"filterValue":' .. str(pick(filter[2]))
  elseif event_type == "cart_action" then
    local id, name, category = product()
    return '"action":' .. str(math.random(4) == 1 and "remove" or "add") .. ',"productId":' .. str(id)
      .. ',"productName":' .. str(name) .. ',"category":' .. str(category)
  end
  local query = pick(WORDS) .. " " .. pick(WORDS)
  return '"query":' .. str(query) .. ',"pageContext":' .. str(SHOP .. "/search")
    .. ',"categoryContext":' .. str(pick(CATEGORIES))
end

-- Roughly what a shop page sends: mostly views and dwell times.
local TYPE_MIX = {
  "page_view", "page_view", "page_view", "page_view", "page_view", "page_view", "page_view",
  "dwell", "dwell", "dwell", "dwell", "dwell",
  "product_status", "product_status",
  "filter_usage", "filter_usage",
  "cart_action", "cart_action",
  "search_event", "search_event",
}

local function batch_body(now)
  local visitor = math.random(VISITORS)
  local events = {}
  for i = 1, EVENTS_PER_BATCH do
    local event_type = pick(TYPE_MIX)
    -- Events happened over the last minute, in order, before the batch was sent.
    local ts = iso(now - (EVENTS_PER_BATCH - i) * 3, math.random(0, 999))
    events[i] = '{"type":' .. str(event_type) .. ',"id":' .. str(next_event_id())
      .. ',"timestamp":' .. str(ts) .. "," .. fields(event_type) .. "}"
  end
  return '{"key":' .. str(public_key)
    .. ',"visitor_id":' .. str(string.format("v-%06d", visitor))
    .. ',"session_id":' .. str(string.format("s-%06d-%d", visitor, math.random(3)))
    .. ',"sent_at":' .. str(iso(now, 999))
    .. ',"events":[' .. table.concat(events, ",") .. "]}"
end

-- -- wrk hooks ------------------------------------------------------------------------

local threads = {}

function setup(thread)
  thread:set("wrk_thread_index", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  public_key = assert(args[1], "usage: ... -- PUBLIC_KEY RUN_ID")
  run_id = tonumber(args[2] or "0")
  thread_index = wrk_thread_index or 1
  start_ms = os.time() * 1000 + thread_index
  math.randomseed(os.time() * 7919 + thread_index * 104729 + run_id)
end

function request()
  local headers = {
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["User-Agent"] = pick(USER_AGENTS),
    ["Origin"] = SHOP,
  }
  return wrk.format("POST", nil, headers, batch_body(os.time()))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'CHATLENS_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"non_2xx_3xx":%d,'
      .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,"events_per_request":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    EVENTS_PER_BATCH))
end
