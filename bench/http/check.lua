-- wrk script: POST /api/v1/check-update for random existing clients, each
-- as bench/decision/setup.sql stored it (its version and region), so that
-- every check is a returning client's: one that moved (a new region) costs
-- the recorder more, and only the first server a run measures would pay for it
math.randomseed(os.time())
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local regions = {"cn", "us", "eu", "jp"}
request = function()
  local p = math.random(0, 9)
  local c = math.random(1, 100000)
  local cur = string.format("%d.%d.0", 1 + math.floor((c % 200) / 50), c % 50)
  local body = string.format('{"project":"p%d","current_version":"%s","client_id":"client-%d-%d","region":"%s","os":"linux","arch":"amd64"}',
    p, cur, p, c, regions[1 + c % 4])
  return wrk.format(nil, "/api/v1/check-update", nil, body)
end
