-- Headless Ardour 7 session (ardour7-lua, Ardour's own dummy audio backend): one mono track
-- with ACE Noise (a Lua DSP generator, so the track has a signal) and mgr.vst3 after it;
-- bounce MGR_SECONDS of it with processing (Track:bounce_range, faster than real time; the
-- VST3 process mode stays realtime), save the session, close it.
--
-- Driven by ardour_bounce.py, which sets the environment and reads mgr's saved state back
-- out of the session file. The realtime engine feeds the plugin too, before and after the
-- bounce (not during it: the bounce holds the process lock); the engine's sample counter
-- around each phase is printed so that the check can add exactly that pre- and post-roll.

local dir = assert(os.getenv("MGR_SESSION_DIR"), "MGR_SESSION_DIR")
local name = os.getenv("MGR_SESSION_NAME") or "mgr-bounce"
local seconds = tonumber(os.getenv("MGR_SECONDS") or "60")
local rate = 48000

local backend = AudioEngine:set_backend("None (Dummy)", "", "")
assert(backend, "no dummy backend")
backend:set_sample_rate(rate)
backend:set_buffer_size(1024)

local s = create_session(dir, name, rate)
assert(s, "create_session failed")

local tracks = Session:new_audio_track(1, 1, nil, 1, "music",
	ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true)
local track = tracks:front()

local noise = ARDOUR.LuaAPI.new_luaproc(Session, "ACE Noise")
assert(not noise:isnil(), "ACE Noise not found")
track:add_processor_by_index(noise, 0, nil, true)

local mgr = ARDOUR.LuaAPI.new_plugin(Session, "mgr", ARDOUR.PluginType.VST3, "")
assert(not mgr:isnil(), "mgr.vst3 not found (is it in ~/.vst3 and scanned?)")
track:add_processor_by_index(mgr, 1, nil, true)
print("MGR inserted: " .. mgr:display_name())
local inserted = AudioEngine:processed_samples()

-- Let the engine run the plugin in real time for a moment (it activates, starts its worker).
ARDOUR.LuaAPI.usleep(2000000)

local n = math.floor(seconds * rate)
local before = AudioEngine:processed_samples()
local t0 = os.time()
local clock0 = os.clock()
local region = track:bounce_range(0, n, ARDOUR.InterThreadInfo(), track:main_outs(), false, "mgr-bounce")
assert(not region:isnil(), "bounce_range failed")
local after = AudioEngine:processed_samples()
print(string.format("MGR bounced %d samples (%.1f s of audio) in about %d s wall, %.2f s CPU",
	n, seconds, os.time() - t0, os.clock() - clock0))

-- The worker finishes the bounced audio and saves its result into the plugin state, which
-- Ardour stores with the session.
ARDOUR.LuaAPI.usleep(5000000)
print(string.format("MGR engine pre_roll=%d during=%d post_roll=%d",
	before - inserted, after - before, AudioEngine:processed_samples() - after))
Session:save_state("", false, false, false, false, false)
print("MGR saved " .. Session:path())
close_session()
quit()
