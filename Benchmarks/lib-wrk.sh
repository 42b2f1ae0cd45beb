# Shared by the wrk benchmarks of the v1 API (sourced; needs WORK and DURATION set): the Lua
# scripts and one measured row.

# One Lua script per operation in $WORK; every request names one of 1000 keys so the store
# does real work. METHOD and PREFIX come from the environment (see wrk_run).
cat >"$WORK/set.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format(os.getenv("METHOD"), os.getenv("PREFIX") .. (n % 1000), {["Content-Type"] = "application/x-www-form-urlencoded"}, "value=benchmark-value")
end
LUA
cat >"$WORK/get.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", os.getenv("PREFIX") .. (n % 1000))
end
LUA

# wrk_run URL PREFIX METHOD SCRIPT CONNECTIONS -> "requests/s p99-ms"
wrk_run() {
    local threads=$(( $5 < 2 ? 1 : 2 ))
    METHOD=$3 PREFIX=$2 wrk -t"$threads" -c"$5" -d"${DURATION}s" --latency -s "$WORK/$4.lua" "$1" >"$WORK/wrk.out" 2>&1
    local rps p99
    rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
    p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$WORK/wrk.out")
    if grep -q "Non-2xx" "$WORK/wrk.out"; then echo "warning: non-2xx answers: $(grep Non-2xx "$WORK/wrk.out")" >&2; fi
    echo "$rps $p99"
}
