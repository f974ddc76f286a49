-- wrk sends GET without a body unless told: the method and body come from the environment (bench/wrk.ts).
wrk.method = os.getenv("BENCH_WRK_METHOD") or "GET"
local body = os.getenv("BENCH_WRK_BODY")
if body ~= nil and body ~= "" then wrk.body = body end
