-- wrk script: POST /api/v1/check-update for random existing clients
math.randomseed(os.time())
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local p = math.random(0, 9)
  local c = math.random(1, 100000)
  local cur = string.format("%d.%d.0", 1 + math.floor((c % 200) / 50), c % 50)
  local body = string.format('{"project":"p%d","current_version":"%s","client_id":"client-%d-%d","region":"cn","os":"linux","arch":"amd64"}', p, cur, p, c)
  return wrk.format(nil, "/api/v1/check-update", nil, body)
end
