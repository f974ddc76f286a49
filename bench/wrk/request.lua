-- Two modes (bench/wrk.ts). One request: wrk sends GET without a body unless told, so the method and body come
-- from the environment and the headers from -H. A rotation: BENCH_WRK_REQUESTS_FILE names a file of requests,
-- one a line, fields separated by tabs (method, path, body or nothing, then header names and values), sent in turn.
local requests_file = os.getenv("BENCH_WRK_REQUESTS_FILE")

if requests_file == nil or requests_file == "" then
  wrk.method = os.getenv("BENCH_WRK_METHOD") or "GET"
  local body = os.getenv("BENCH_WRK_BODY")
  if body ~= nil and body ~= "" then wrk.body = body end
else
  local requests = {}
  local turn = 0

  -- After wrk has set its Host header (wrk.init runs this), so that wrk.format copies it into each request.
  init = function(args)
    for line in io.lines(requests_file) do
      local fields = {}
      for field in (line .. "\t"):gmatch("([^\t]*)\t") do fields[#fields + 1] = field end
      local headers = { Host = wrk.headers["Host"] }
      for i = 4, #fields - 1, 2 do headers[fields[i]] = fields[i + 1] end
      local body = fields[3] ~= "" and fields[3] or nil
      requests[#requests + 1] = wrk.format(fields[1], fields[2], headers, body)
    end
    if #requests == 0 then error("no requests in " .. requests_file) end
  end

  request = function()
    turn = turn % #requests + 1
    return requests[turn]
  end
end
