//! The Lua scripts the backplane runs in Redis, one per cluster operation, so that each
//! operation is atomic and costs one round trip: a nickname claimed only if no live node
//! holds it, a message numbered, stored and published in one step (every node sees room
//! messages in id order), a dead node's users reaped with their LEFT notices.
//!
//! The data model (all keys under `chatd:`; rooms and nicknames folded):
//! - `nodes`: sorted set, node -> lease expiry (ms, Redis's clock);
//! - `nick:<nick>`: the node holding a nickname; `users`: hash nick -> display name;
//!   `node:<node>:nicks`: set of a node's nicknames; `user:<nick>:rooms`: set of its rooms;
//! - `accounts`: hash nick -> password hash (PHC string), written by the account store
//!   (`accounts::RedisStore`), read here so a guest never claims a registered nickname;
//! - `room:<room>:members`: hash nick -> display name; `room:<room>:topic`: hash with
//!   `topic` and `by`; `room:<room>:seq`: the last message id; `room:<room>:log`: a stream
//!   whose entry `<id>-0` holds fields `t` (time), `f` (from), `x` (text); `rooms`: sorted set
//!   of room names (score 0, listed by name);
//! - `files:<node>`: hash name -> size, the node's shared folder as it last listed it
//!   (replaced whole each time, removed when the node is reaped);
//! - a room's moderation, kept while the room has members or history and a week after:
//!   `room:<room>:ops`: set of (folded) accounts; `room:<room>:bans`: hash account -> who
//!   banned it (as displayed);
//!   `room:<room>:invites`: list of invited nicknames, oldest first (at most 64, each used
//!   up by the JOIN it admits); `room:<room>:mode`: `1` while the room is invite-only.
//!
//! Channels: `chatd:ch:room:<room>` (room events), `chatd:ch:node:<node>` (private
//! messages to a node's users, downloads across nodes: `remote_get`), `chatd:ch:all`
//! (shared files). Payloads are a kind letter,
//! then fields separated by NUL bytes, free text last: `M id time from text`, `J nick`,
//! `L nick reason`, `T by topic`, `K folded nick by reason` (kicked), `B account by` (banned),
//! `O on by` (mode), `P to from text`, `S size from name`, `I room to nick by` (invited, on the
//! invitee's node channel).
//!
//! Scripts are loaded with SCRIPT LOAD when the connection comes up and run with EVALSHA;
//! the SHA-1 that names them is computed here. Keys are built inside the scripts (one Redis,
//! not a Redis Cluster: see docs/SCALING.md for what sharding would change).

use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};

/// Functions every script may call.
const PRELUDE: &str = r#"
local P = 'chatd:'
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Whether a write whose node gave up on it at deadline (Redis's ms; 0: none) runs too late.
local function stale(deadline, now)
  return deadline > 0 and now > deadline
end
local STALE = 'STALE run after its deadline: not done'
local function live(node, now)
  local e = redis.call('ZSCORE', P..'nodes', node)
  return e and tonumber(e) > now
end
-- What a stored message counts for the history bounds: its sender and text, and 32 for
-- its id, time and the stream's overhead (the single server counts its frames likewise).
local function entry_size(from, text) return #from + #text + 32 end
-- A room with neither members nor history is forgotten whole: its id counter and topic too
-- (a room made again starts at id 1, as on one server), so rooms cannot pile up in Redis.
local function forget_if_unused(room)
  local r = P..'room:'..room
  if redis.call('EXISTS', r..':members') == 0 and redis.call('XLEN', r..':log') == 0 then
    redis.call('DEL', r..':log', r..':seq', r..':topic', r..':bytes')
    redis.call('ZREM', P..'rooms', room)
    redis.call('ZREM', P..'history:age', room)
    -- Its moderation outlives it a week (a room emptied and made again keeps its bans), not
    -- for ever: rooms are free to make, so kept moderation must not pile up.
    for _, key in ipairs({r..':ops', r..':bans', r..':invites', r..':mode'}) do
      redis.call('EXPIRE', key, 604800)
    end
  end
end
-- Drops `room`'s oldest message, keeping the counts and the age index right. False when
-- the room holds none.
local function drop_oldest(room)
  local r = P..'room:'..room
  local oldest = redis.call('XRANGE', r..':log', '-', '+', 'COUNT', 1)
  if #oldest == 0 then return false end
  local f = oldest[1][2]
  local fields = {}
  for i = 1, #f, 2 do fields[f[i]] = f[i + 1] end
  local size = entry_size(fields['f'] or '', fields['x'] or '')
  redis.call('XDEL', r..':log', oldest[1][1])
  redis.call('DECRBY', r..':bytes', size)
  redis.call('DECRBY', P..'history:bytes', size)
  local next_one = redis.call('XRANGE', r..':log', '-', '+', 'COUNT', 1)
  if #next_one > 0 then
    local t = 0
    local g = next_one[1][2]
    for i = 1, #g, 2 do if g[i] == 't' then t = tonumber(g[i + 1]) end end
    redis.call('ZADD', P..'history:age', t, room)
  else
    redis.call('ZREM', P..'history:age', room)
    forget_if_unused(room)
  end
  return true
end
local function leave_room(nick, display, room, reason)
  local removed = redis.call('HDEL', P..'room:'..room..':members', nick)
  redis.call('SREM', P..'user:'..nick..':rooms', room)
  if removed == 1 then
    redis.call('PUBLISH', P..'ch:room:'..room, 'L\0'..display..'\0'..reason)
    forget_if_unused(room)
  end
end
local function enter_room(nick, display, room)
  local r = P..'room:'..room
  for _, key in ipairs({r..':ops', r..':bans', r..':invites', r..':mode'}) do
    redis.call('PERSIST', key)
  end
  local added = redis.call('HSET', P..'room:'..room..':members', nick, display)
  redis.call('SADD', P..'user:'..nick..':rooms', room)
  redis.call('ZADD', P..'rooms', 0, room)
  if added == 1 then
    redis.call('PUBLISH', P..'ch:room:'..room, 'J\0'..display)
  end
end
local function release(node, nick, reason)
  if redis.call('GET', P..'nick:'..nick) ~= node then
    redis.call('SREM', P..'node:'..node..':nicks', nick)
    return 0
  end
  local display = redis.call('HGET', P..'users', nick) or nick
  for _, room in ipairs(redis.call('SMEMBERS', P..'user:'..nick..':rooms')) do
    leave_room(nick, display, room, reason)
  end
  redis.call('DEL', P..'nick:'..nick, P..'user:'..nick..':rooms')
  redis.call('HDEL', P..'users', nick)
  redis.call('SREM', P..'node:'..node..':nicks', nick)
  return 1
end
-- Releases up to 256 of a dead node's users (a script must stay short: Redis serves nobody
-- while it runs); the node is forgotten once none is left. True when it is.
local function reap(node)
  local nicks = P..'node:'..node..':nicks'
  for _, nick in ipairs(redis.call('SPOP', nicks, 256)) do
    release(node, nick, 'connection to its server lost')
  end
  if redis.call('SCARD', nicks) > 0 then return false end
  redis.call('DEL', P..'files:'..node)
  redis.call('ZREM', P..'nodes', node)
  return true
end
-- Whether account ('' for a guest) is one of room's operators.
local function is_op(room, account)
  return account ~= '' and redis.call('SISMEMBER', P..'room:'..room..':ops', account) == 1
end
local function take(node, nick, display)
  redis.call('SET', P..'nick:'..nick, node)
  redis.call('HSET', P..'users', nick, display)
  redis.call('SADD', P..'node:'..node..':nicks', nick)
end
-- The room's ids held and up to count+1 entries of the asked range, flat:
-- {first, next, id, time, from, text, ...}; newest first when after is 0.
local function page(room, after, before, count)
  local log = P..'room:'..room..':log'
  local nxt = tonumber(redis.call('GET', P..'room:'..room..':seq') or '0') + 1
  local first = nxt
  local head = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
  if #head > 0 then first = tonumber(string.match(head[1][1], '^(%d+)')) end
  local stop = nxt
  if before > 0 and before < nxt then stop = before end
  local lo = first
  if after + 1 > lo then lo = after + 1 end
  local out = {first, nxt}
  if lo >= stop or count == 0 then return out end
  local entries
  if after > 0 then
    entries = redis.call('XRANGE', log, lo..'-0', (stop - 1)..'-0', 'COUNT', count + 1)
  else
    entries = redis.call('XREVRANGE', log, (stop - 1)..'-0', lo..'-0', 'COUNT', count + 1)
  end
  for _, e in ipairs(entries) do
    local f = e[2]
    local fields = {}
    for i = 1, #f, 2 do fields[f[i]] = f[i + 1] end
    out[#out + 1] = tonumber(string.match(e[1], '^(%d+)'))
    out[#out + 1] = fields['t']
    out[#out + 1] = fields['f']
    out[#out + 1] = fields['x']
  end
  return out
end
"#;

/// ARGV: node, lease ms, most dead nodes to reap. Renews the node's lease and reaps nodes
/// whose lease ran out. Returns {1 if the node was not registered (it must register its
/// users again), nodes whose last users were reaped, Redis's time in ms}. A dead node's users
/// are reaped 256 at a time, a few nodes per heartbeat.
const HEARTBEAT: &str = r#"
local node, lease, most = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local dead = redis.call('ZRANGEBYSCORE', P..'nodes', '-inf', now, 'LIMIT', 0, most)
local reaped = 0
for _, d in ipairs(dead) do
  if d ~= node and reap(d) then reaped = reaped + 1 end
end
local fresh = redis.call('ZADD', P..'nodes', now + lease, node)
return {fresh, reaped, now}
"#;

/// ARGV: node, nick, display, guest (`1` if the claimant proved no account). 1 if the
/// nickname is now the node's, 0 if a live node holds it, 2 if a guest asks for a
/// registered account's nickname (`accounts`: hash nick -> password hash, the account
/// store's). A dead holder lets it go first (its other users are reaped by heartbeats).
const CLAIM: &str = r#"
local node, nick, display, guest = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if guest == '1' and redis.call('HEXISTS', P..'accounts', nick) == 1 then return 2 end
local holder = redis.call('GET', P..'nick:'..nick)
if holder and holder ~= node then
  if live(holder, now_ms()) then return 0 end
  -- Its dead holder's other users are the heartbeats' to reap, a batch at a time.
  release(holder, nick, 'connection to its server lost')
elseif holder == node then
  -- A session of this node whose release never reached Redis: its rooms go with it.
  release(node, nick, 'left')
end
take(node, nick, display)
return 1
"#;

/// ARGV: node, nick, reason. The node's user left: nickname freed, rooms left.
const RELEASE: &str = r#"
return release(ARGV[1], ARGV[2], ARGV[3])
"#;

/// ARGV: room, from, text, most messages kept per room, deadline, most bytes per room, most
/// bytes in all rooms, most rooms holding history. Returns {id, time}. The oldest messages go first: the room's own past
/// its bounds, then the cluster's oldest anywhere past the total (a few per message, so one
/// run stays short).
const SAY: &str = r#"
local room, from, text, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local time = now_ms()
if stale(tonumber(ARGV[5]), time) then return redis.error_reply(STALE) end
local room_max, total_max = tonumber(ARGV[6]), tonumber(ARGV[7])
local r = P..'room:'..room
local id = redis.call('INCR', r..':seq')
redis.call('XADD', r..':log', id..'-0', 't', time, 'f', from, 'x', text)
local size = entry_size(from, text)
local bytes = redis.call('INCRBY', r..':bytes', size)
redis.call('INCRBY', P..'history:bytes', size)
redis.call('ZADD', P..'history:age', 'NX', time, room)
while redis.call('XLEN', r..':log') > tonumber(keep)
    or (bytes > room_max and redis.call('XLEN', r..':log') > 1) do
  drop_oldest(room)
  bytes = tonumber(redis.call('GET', r..':bytes') or '0')
end
local rooms_max = tonumber(ARGV[8])
local budget = 16
while budget > 0 and (tonumber(redis.call('GET', P..'history:bytes') or '0') > total_max
    or redis.call('ZCARD', P..'history:age') > rooms_max) do
  local oldest = redis.call('ZRANGE', P..'history:age', 0, 0)
  if #oldest == 0 or not drop_oldest(oldest[1]) then break end
  budget = budget - 1
end
redis.call('PUBLISH', P..'ch:room:'..room, 'M\0'..id..'\0'..time..'\0'..from..'\0'..text)
return {id, time}
"#;

/// ARGV: to, payload, deadline. 1 if a live node holds nickname `to` (the payload is
/// published to it), else 0.
const PRIVATE: &str = r#"
local now = now_ms()
if stale(tonumber(ARGV[3]), now) then return redis.error_reply(STALE) end
local holder = redis.call('GET', P..'nick:'..ARGV[1])
if not holder or not live(holder, now) then return 0 end
-- Delivered only if its node listens (it may be reconnecting).
if redis.call('PUBLISH', P..'ch:node:'..holder, ARGV[2]) > 0 then return 1 end
return 0
"#;

/// ARGV: room, nick, display, after, count, account ('' for a guest). Returns {topic,
/// members, first, next, entries...}, or an error BANNED or INVITE_ONLY (a member joining
/// again is not checked). A registered joiner of a room without operators becomes one.
const JOIN: &str = r#"
local room, nick, display, account = ARGV[1], ARGV[2], ARGV[3], ARGV[6]
local R = P..'room:'..room
if redis.call('HEXISTS', R..':members', nick) == 0 then
  if account ~= '' and redis.call('HEXISTS', R..':bans', account) == 1 then
    return redis.error_reply('BANNED')
  end
  if redis.call('GET', R..':mode') == '1' and not is_op(room, account)
     and redis.call('LREM', R..':invites', 1, nick) == 0 then
    return redis.error_reply('INVITE_ONLY')
  end
end
if account ~= '' and redis.call('SCARD', R..':ops') == 0 then
  redis.call('SADD', R..':ops', account)
end
enter_room(nick, display, room)
local topic = redis.call('HGET', P..'room:'..room..':topic', 'topic') or ''
local members = redis.call('HLEN', P..'room:'..room..':members')
local out = {topic, members}
for _, v in ipairs(page(room, tonumber(ARGV[4]), 0, tonumber(ARGV[5]))) do out[#out + 1] = v end
return out
"#;

/// ARGV: room, nick, display, reason.
const PART: &str = r#"
leave_room(ARGV[2], ARGV[3], ARGV[1], ARGV[4])
return 1
"#;

/// ARGV: room, after, before, count. Returns page()'s list.
const HISTORY: &str = r#"
return page(ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
"#;

/// ARGV: room, by, topic, deadline, account ('' for a guest): NOT_OPERATOR in a room with
/// operators if the account is not one.
const TOPIC: &str = r#"
if stale(tonumber(ARGV[4]), now_ms()) then return redis.error_reply(STALE) end
if redis.call('SCARD', P..'room:'..ARGV[1]..':ops') > 0 and not is_op(ARGV[1], ARGV[5]) then
  return redis.error_reply('NOT_OPERATOR')
end
redis.call('HSET', P..'room:'..ARGV[1]..':topic', 'topic', ARGV[3], 'by', ARGV[2])
redis.call('PUBLISH', P..'ch:room:'..ARGV[1], 'T\0'..ARGV[2]..'\0'..ARGV[3])
return 1
"#;

/// ARGV: room, account ('' for a guest), by, act, then the act's: `K` nick reason, `B`
/// account most-bans, `I` nick most-invitations, `M` on (`1`/`0`). Refused (an error naming
/// the refusal) unless the account is one of the room's operators. Returns 1, or for `I` the
/// invitee's display name.
const MODERATE: &str = r#"
local room, account, by, act = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local R = P..'room:'..room
if not is_op(room, account) then
  if redis.call('SCARD', R..':ops') == 0 then return redis.error_reply('NO_OPERATORS') end
  return redis.error_reply('NOT_OPERATOR')
end
local function kick(nick, reason)
  local display = redis.call('HGET', R..':members', nick)
  if not display then return false end
  redis.call('HDEL', R..':members', nick)
  redis.call('SREM', P..'user:'..nick..':rooms', room)
  redis.call('PUBLISH', P..'ch:room:'..room, 'K\0'..nick..'\0'..display..'\0'..by..'\0'..reason)
  return true
end
if act == 'K' then
  if not kick(ARGV[5], ARGV[6]) then return redis.error_reply('NOT_IN_ROOM') end
elseif act == 'B' then
  local banned = ARGV[5]
  if redis.call('HEXISTS', P..'accounts', banned) == 0 then
    return redis.error_reply('NO_SUCH_ACCOUNT')
  end
  if redis.call('HEXISTS', R..':bans', banned) == 0 then
    if redis.call('HLEN', R..':bans') >= tonumber(ARGV[6]) then
      return redis.error_reply('LIST_FULL')
    end
    redis.call('HSET', R..':bans', banned, by)
  end
  redis.call('PUBLISH', P..'ch:room:'..room, 'B\0'..banned..'\0'..by)
  kick(banned, 'banned')
elseif act == 'I' then
  local nick = ARGV[5]
  local holder = redis.call('GET', P..'nick:'..nick)
  if not holder or not live(holder, now_ms()) then return redis.error_reply('UNKNOWN_USER') end
  local display = redis.call('HGET', P..'users', nick) or nick
  local key = R..':invites'
  redis.call('LREM', key, 0, nick)
  redis.call('RPUSH', key, nick)
  redis.call('LTRIM', key, -tonumber(ARGV[6]), -1)
  redis.call('PUBLISH', P..'ch:node:'..holder, 'I\0'..room..'\0'..nick..'\0'..display..'\0'..by)
  return display
elseif act == 'M' then
  if ARGV[5] == '1' then redis.call('SET', R..':mode', '1') else redis.call('DEL', R..':mode') end
  redis.call('PUBLISH', P..'ch:room:'..room, 'O\0'..ARGV[5]..'\0'..by)
end
return 1
"#;

/// ARGV: room. The members' display names, or false when the room does not exist.
const NAMES: &str = r#"
local members = redis.call('HVALS', P..'room:'..ARGV[1]..':members')
if #members == 0 and redis.call('EXISTS', P..'room:'..ARGV[1]..':log') == 0 then return false end
return members
"#;

/// ARGV: after, most. Returns {more, name, members, topic, ...}; forgets rooms with neither
/// members nor history.
const ROOMS: &str = r#"
local after, most = ARGV[1], tonumber(ARGV[2])
local from = '-'
if after ~= '' then from = '('..after end
local names = redis.call('ZRANGEBYLEX', P..'rooms', from, '+', 'LIMIT', 0, most + 1)
local out = {0}
local listed = 0
for _, room in ipairs(names) do
  local members = redis.call('HLEN', P..'room:'..room..':members')
  if members == 0 and redis.call('EXISTS', P..'room:'..room..':log') == 0 then
    redis.call('ZREM', P..'rooms', room)
  elseif listed == most then
    out[1] = 1
    break
  else
    listed = listed + 1
    out[#out + 1] = room
    out[#out + 1] = members
    out[#out + 1] = redis.call('HGET', P..'room:'..room..':topic', 'topic') or ''
  end
end
-- Names forgotten above may have left the page short: more may follow all the same.
if #names > most then out[1] = 1 end
return out
"#;

/// ARGV: node, lease ms, room count, per room: room, newest id the node heard there; then
/// per user: nick, display, room count, rooms. Makes Redis hold exactly this node's users
/// and their rooms (after an outage), announcing what changed, and no room's counter below
/// an id the node heard (a Redis restarted empty would number from 1 again). A user whose
/// account was banned from one of its rooms meanwhile does not enter it again. Returns
/// {the nicknames another live node took meanwhile, {nick, display, room, banned by, ...}}.
const RESYNC: &str = r#"
local node, lease, floors = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
redis.call('ZADD', P..'nodes', now + lease, node)
for k = 0, floors - 1 do
  local seq, last = P..'room:'..ARGV[4 + 2 * k]..':seq', ARGV[5 + 2 * k]
  if tonumber(redis.call('GET', seq) or '0') < tonumber(last) then
    redis.call('SET', seq, last)
  end
end
local wanted = {}
local i = 4 + 2 * floors
while i <= #ARGV do
  local nick, display, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local rooms = {}
  for k = 1, n do rooms[ARGV[i + 2 + k]] = true end
  wanted[nick] = {display, rooms}
  i = i + 3 + n
end
for _, nick in ipairs(redis.call('SMEMBERS', P..'node:'..node..':nicks')) do
  if not wanted[nick] then release(node, nick, 'left while the cluster was unreachable') end
end
local lost, banned = {}, {}
for nick, w in pairs(wanted) do
  local holder = redis.call('GET', P..'nick:'..nick)
  if holder and holder ~= node and live(holder, now) then
    lost[#lost + 1] = nick
  else
    take(node, nick, w[1])
    for _, room in ipairs(redis.call('SMEMBERS', P..'user:'..nick..':rooms')) do
      if not w[2][room] then leave_room(nick, w[1], room, 'left while the cluster was unreachable') end
    end
    for room, _ in pairs(w[2]) do
      local by = redis.call('HGET', P..'room:'..room..':bans', nick)
      if by then
        for _, v in ipairs({nick, w[1], room, by}) do banned[#banned + 1] = v end
      else
        enter_room(nick, w[1], room)
      end
    end
  end
end
return {lost, banned}
"#;

/// ARGV: node, answer (`1`: the other nodes' files are wanted), rewrite (`1`: the listing
/// changed), then name, size of each file the node shares. Replaces the node's listing if it
/// changed; returns {name, size, ...} of every other live node's files (a name may come
/// more than once), or {} unless asked.
const FILES: &str = r#"
local node, key = ARGV[1], P..'files:'..ARGV[1]
if ARGV[3] == '1' then
  redis.call('DEL', key)
  for i = 4, #ARGV, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
end
local out = {}
if ARGV[2] ~= '1' then return out end
for _, other in ipairs(redis.call('ZRANGEBYSCORE', P..'nodes', '('..now_ms(), '+inf')) do
  if other ~= node then
    for _, v in ipairs(redis.call('HGETALL', P..'files:'..other)) do out[#out + 1] = v end
  end
end
return out
"#;

/// ARGV: node, name, payload. Publishes the payload (a download request) to a live node
/// other than `node` whose listing holds `name`. Returns that node's name, or 0 if no
/// other live node lists it, or 2 if those that do are not subscribed (dead, not yet reaped).
const LOCATE: &str = r#"
local node, name = ARGV[1], ARGV[2]
local found = 0
for _, other in ipairs(redis.call('ZRANGEBYSCORE', P..'nodes', '('..now_ms(), '+inf')) do
  if other ~= node and redis.call('HEXISTS', P..'files:'..other, name) == 1 then
    if redis.call('PUBLISH', P..'ch:node:'..other, ARGV[3]) > 0 then return other end
    found = 2
  end
end
return found
"#;

/// The scripts, each with the SHA-1 that EVALSHA names it by.
pub struct Script {
    pub source: String,
    pub sha1: String,
}

impl Script {
    fn new(body: &str) -> Script {
        let source = format!("{PRELUDE}{body}");
        let sha1 = digest(&SHA1_FOR_LEGACY_USE_ONLY, source.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Script { source, sha1 }
    }
}

/// Every script the backplane runs.
pub struct Scripts {
    pub heartbeat: Script,
    pub claim: Script,
    pub release: Script,
    pub say: Script,
    pub private: Script,
    pub join: Script,
    pub part: Script,
    pub history: Script,
    pub topic: Script,
    pub moderate: Script,
    pub names: Script,
    pub rooms: Script,
    pub resync: Script,
    pub files: Script,
    pub locate: Script,
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            heartbeat: Script::new(HEARTBEAT),
            claim: Script::new(CLAIM),
            release: Script::new(RELEASE),
            say: Script::new(SAY),
            private: Script::new(PRIVATE),
            join: Script::new(JOIN),
            part: Script::new(PART),
            history: Script::new(HISTORY),
            topic: Script::new(TOPIC),
            moderate: Script::new(MODERATE),
            names: Script::new(NAMES),
            rooms: Script::new(ROOMS),
            resync: Script::new(RESYNC),
            files: Script::new(FILES),
            locate: Script::new(LOCATE),
        }
    }

    /// All of them, for SCRIPT LOAD.
    pub fn all(&self) -> [&Script; 15] {
        [
            &self.heartbeat,
            &self.claim,
            &self.release,
            &self.say,
            &self.private,
            &self.join,
            &self.part,
            &self.history,
            &self.topic,
            &self.moderate,
            &self.names,
            &self.rooms,
            &self.resync,
            &self.files,
            &self.locate,
        ]
    }
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts::new()
    }
}
