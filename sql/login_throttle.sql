--
-- login_throttle: failed logins slowed per username and per address
-- (temporary lockout), recorded so that the record survives the refusal,
-- audited, counted for /metrics; the owner gets in once the window has
-- passed; an unknown username and a wrong password are one and the same
-- (same answer, same audit, one verify_password each); a locked attempt
-- never looks at its password.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS rollout CASCADE;
CREATE EXTENSION rollout;
RESET client_min_messages;
SET search_path = public, rollout;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text; m text; k text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, k = CONSTRAINT_NAME;
	RETURN s || ' ' || coalesce(k, '-') || ': ' || m;
END $$;
-- an attempt's answer without its token or timestamps
CREATE FUNCTION pg_temp.try(u text, p text, ip inet) RETURNS jsonb LANGUAGE sql AS $$
	SELECT CASE WHEN r ? 'token' THEN jsonb_build_object('token', r ->> 'token' ~ '^[0-9a-f]{64}$', 'username', r -> 'username')
				ELSE r #- '{error,detail}' END
	FROM rollout.try_login(u, p, ip => ip) r $$;

-- the settings: defaults, and only a superuser may change them
SELECT * FROM login_settings();
SET ROLE rollout_client;
SELECT pg_temp.err($$SET rollout.login_window = 1$$) AS client_sets_window;
RESET ROLE;
SET rollout.login_max_failures = 3;
SET rollout.login_address_max_failures = 5;
SET rollout.login_window = '10min';
SELECT * FROM login_settings();

SELECT create_admin('alice', 'alice-password') IS NOT NULL AS alice;

-- three wrong passwords lock the username; an unknown one gets the same answer
SELECT pg_temp.try('alice', 'wrong-1', '10.0.0.1') AS wrong_1,
       pg_temp.try('alice', 'wrong-2', '10.0.0.2') AS wrong_2;
SELECT pg_temp.try('alice', 'wrong-3', '10.0.0.3') = pg_temp.try('nobody', 'wrong-3', '10.0.0.3') AS unknown_same_answer;
-- locked: the right password and a wrong one get the same answer, both refused
SELECT pg_temp.try('alice', 'alice-password', '10.0.0.4') AS right_password_locked,
       pg_temp.try('alice', 'alice-password', '10.0.0.4') = pg_temp.try('alice', 'wrong-4', '10.0.0.4') AS same_when_locked;
SELECT (try_login('alice', 'x', ip => '10.0.0.4') #>> '{error,detail}') ~ '^locked until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$' AS says_until;
-- the lock is the username's, whatever the address; another account is not locked
SELECT create_admin('bob', 'bob-password-1') IS NOT NULL AS bob;
SELECT pg_temp.try('bob', 'bob-password-1', '10.0.0.1') AS bob_gets_in;
-- SQL callers get it raised
SELECT pg_temp.err($$SELECT rollout.login('alice', 'alice-password')$$) AS sql_locked;
SELECT pg_temp.err($$SELECT rollout.login('bob', 'wrong')$$) AS sql_wrong;

-- what was recorded: failures (counted toward locks) and refusals (not)
SELECT username, ip, refused, cleared FROM login_failures ORDER BY id;
-- audited: each failure, with why, and the lockout it began
SELECT actor, action, object_id IS NOT NULL AS known, after - 'locked_until' - 'until' AS after,
       (after ? 'locked_until' OR after ? 'until') AS has_until
FROM audit_log WHERE action LIKE 'login%' ORDER BY id;
-- unknown username and wrong password: the same audit entry but for the account
SELECT (SELECT after FROM audit_log WHERE actor = 'nobody') - 'username' =
       (SELECT after FROM audit_log WHERE actor = 'alice' AND after ->> 'ip' = '10.0.0.3') - 'username' AS same_audit;
-- counted (the failed login() above rolled back its row, not its count)
SELECT login_metrics();

-- the same work: one verify_password (PBKDF2, 100,000 iterations) for an
-- unknown username and for a wrong password, none for a locked attempt
SET track_functions = 'all';
CREATE FUNCTION pg_temp.kdf_calls(u text, p text, ip inet) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE before bigint;
BEGIN
	before := coalesce((SELECT calls FROM pg_stat_xact_user_functions WHERE schemaname = 'rollout' AND funcname = 'verify_password'), 0);
	PERFORM rollout.try_login(u, p, ip => ip);
	RETURN coalesce((SELECT calls FROM pg_stat_xact_user_functions WHERE schemaname = 'rollout' AND funcname = 'verify_password'), 0) - before;
END $$;
SELECT pg_temp.kdf_calls('carol-unknown', 'some-password', '10.0.1.1') AS unknown_user,
       pg_temp.kdf_calls('bob', 'wrong-password', '10.0.1.2') AS wrong_password,
       pg_temp.kdf_calls('bob', 'bob-password-1', '10.0.1.3') AS right_password,
       pg_temp.kdf_calls('alice', 'alice-password', '10.0.1.4') AS locked;
RESET track_functions;

-- the window passes (the failures made older): the owner gets in, and her
-- failures no longer count toward a lock
UPDATE login_failures SET at = at - interval '11 minutes' WHERE username = 'alice';
SELECT pg_temp.try('alice', 'alice-password', '10.0.0.9') AS after_window;
SELECT pg_temp.try('alice', 'wrong-5', '10.0.0.9') AS wrong_again, pg_temp.try('alice', 'wrong-6', '10.0.0.9') AS wrong_again_2,
       pg_temp.try('alice', 'alice-password', '10.0.0.9') AS two_failures_do_not_lock;
SELECT count(*) FILTER (WHERE cleared) AS cleared, count(*) FILTER (WHERE NOT cleared) AS counting
FROM login_failures WHERE username = 'alice' AND NOT refused;

-- an address: five failures, whatever the usernames, lock it for everyone
SELECT array_agg(pg_temp.try('user' || i, 'password', '192.0.2.7') #>> '{error,constraint}' ORDER BY i) AS five_from_one_address
FROM generate_series(1, 6) i;
SELECT pg_temp.try('bob', 'bob-password-1', '192.0.2.7') #>> '{error,constraint}' AS bob_from_locked_address,
       pg_temp.try('bob', 'bob-password-1', '192.0.2.8') ->> 'username' AS bob_from_elsewhere;
SELECT after - 'until' AS address_lock FROM audit_log WHERE action = 'login_locked' AND after ->> 'lock' = 'address';
SELECT login_metrics();
-- and after the window, the address may try again
UPDATE login_failures SET at = at - interval '11 minutes' WHERE ip = '192.0.2.7';
SELECT pg_temp.try('bob', 'bob-password-1', '192.0.2.7') ->> 'username' AS address_unlocked;
SELECT login_metrics() - 'failed_total' - 'refused_total' - 'lockouts_total' AS nothing_locked;

-- the client role may try, not read what was recorded
SET ROLE rollout_client;
SELECT pg_temp.try('bob', 'bob-password-1', '192.0.2.9') ->> 'username' AS client_logs_in;
SELECT pg_temp.err($$SELECT count(*) FROM rollout.login_failures$$) AS client_reads_failures;
SELECT pg_temp.err($$SELECT rollout.login_metrics()$$) AS client_reads_metrics;
SELECT pg_temp.err($$SELECT rollout.login_refusal('bob', NULL, NULL, 'password', NULL, NULL)$$) AS client_forges_failure;
-- nor use login(), whose failures roll back uncounted toward a lock
SELECT pg_temp.err($$SELECT rollout.login('bob', 'bob-password-1')$$) AS client_login_raising;
RESET ROLE;
