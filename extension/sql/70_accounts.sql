/*
 * Accounts: password hashing and tokens (C), admin accounts, login, bearer
 * and API tokens, who am I, password changes, live websocket tickets.
 */

-- ---------------------------------------------------------------------
-- C helpers: passwords and tokens
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.hash_password(password text) RETURNS text
	AS 'MODULE_PATHNAME', 'rollout_hash_password' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.hash_password(text) IS
	'salted PBKDF2-HMAC-SHA256 hash (100,000 iterations) of a password, for storage';
CREATE FUNCTION rollout.verify_password(password text, stored text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'rollout_verify_password' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.verify_password(text, text) IS
	'whether the password matches a stored hash (constant-time comparison)';
CREATE FUNCTION rollout.random_token() RETURNS text
	AS 'MODULE_PATHNAME', 'rollout_random_token' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.random_token() IS '32 random bytes from a strong source, hex-encoded';

-- ---------------------------------------------------------------------
-- Admins, login and tokens
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.create_admin(username text, password text, role text DEFAULT 'admin', project text DEFAULT NULL)
	RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	pid bigint;
	id bigint;
BEGIN
	PERFORM require_role('admin', NULL);
	IF username IS NULL OR username !~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$' THEN
		PERFORM invalid_argument('username', format('invalid username: "%s"', left(username, 100)));
	END IF;
	IF password IS NULL OR length(password) < 8 THEN
		PERFORM invalid_argument('password', 'password must be at least 8 characters');
	END IF;
	IF role IS NULL OR role NOT IN ('admin', 'maintainer', 'viewer') THEN
		PERFORM invalid_argument('role', 'role must be admin, maintainer or viewer');
	END IF;
	IF project IS NOT NULL THEN
		pid := (project_by_slug(project)).id;
	ELSIF role = 'maintainer' THEN
		PERFORM invalid_argument('project', 'a maintainer needs a project');
	END IF;
	INSERT INTO admins (username, password_hash, role, project_id)
	VALUES (username, hash_password(password), role, pid)
	RETURNING admins.id INTO id;
	RETURN get_admin(id);
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'username already exists: "%"', username USING ERRCODE = '23505', COLUMN = 'username', CONSTRAINT = 'exists';
END
$$;
COMMENT ON FUNCTION rollout.create_admin(text, text, text, text) IS
	'creates an admin account (role admin, maintainer of one project, or viewer); returns it without its password hash';

CREATE FUNCTION rollout.admin_json(a rollout.admins) RETURNS jsonb
	LANGUAGE sql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT to_jsonb(a) - 'password_hash' || jsonb_build_object('project', (SELECT slug FROM projects WHERE id = a.project_id)) $$;
COMMENT ON FUNCTION rollout.admin_json(rollout.admins) IS 'an account as returned by the API: no password hash, its project''s slug';

CREATE FUNCTION rollout.list_admins() RETURNS jsonb
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM require_role('admin', NULL);
	RETURN (SELECT coalesce(jsonb_agg(admin_json(a) ORDER BY a.id), '[]') FROM admins a);
END
$$;
COMMENT ON FUNCTION rollout.list_admins() IS 'admin accounts (without password hashes)';

CREATE FUNCTION rollout.login(username text, password text, ttl interval DEFAULT '12 hours') RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins;
	tok text;
	exp timestamptz;
BEGIN
	IF ttl IS NULL OR ttl < interval '1 minute' OR ttl > interval '90 days' THEN
		PERFORM invalid_argument('ttl', 'ttl must be between 1 minute and 90 days');
	END IF;
	SELECT * INTO a FROM admins x WHERE x.username = login.username AND x.is_active;
	-- the same work whether or not the account exists
	IF NOT verify_password(coalesce(password, ''),
						   coalesce(a.password_hash, 'pbkdf2-sha256$100000$00000000000000000000000000000000$0000000000000000000000000000000000000000000000000000000000000000'))
	   OR a.id IS NULL THEN
		RAISE EXCEPTION 'invalid username or password' USING ERRCODE = '28P01', CONSTRAINT = 'login_failed';
	END IF;
	tok := random_token();
	exp := now() + ttl;
	INSERT INTO api_tokens (admin_id, token_hash, name, expires_at)
	VALUES (a.id, sha256(convert_to(tok, 'UTF8')), 'login', exp);
	INSERT INTO audit_log (actor, action, object_type, object_id) VALUES (a.username, 'login', 'admins', a.id);
	RETURN jsonb_build_object('token', tok, 'expires_at', exp, 'username', a.username, 'role', a.role,
							  'project', (SELECT slug FROM projects WHERE id = a.project_id));
END
$$;
COMMENT ON FUNCTION rollout.login(text, text, interval) IS
	'checks a password and returns a new bearer token {token, expires_at, username, role, project}; 28P01 on failure';

CREATE FUNCTION rollout.authenticate(token text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	t api_tokens;
	a admins;
BEGIN
	IF token IS NULL OR token !~ '^[0-9a-f]{64}$' THEN
		RAISE EXCEPTION 'invalid token' USING ERRCODE = '28000', CONSTRAINT = 'invalid_token';
	END IF;
	SELECT * INTO t FROM api_tokens WHERE token_hash = sha256(convert_to(token, 'UTF8'));
	IF NOT FOUND OR t.revoked_at IS NOT NULL OR t.expires_at <= now() THEN
		RAISE EXCEPTION '%', CASE WHEN t.id IS NULL THEN 'invalid token'
								  WHEN t.revoked_at IS NOT NULL THEN 'token revoked' ELSE 'token expired' END
			USING ERRCODE = '28000',
				  CONSTRAINT = CASE WHEN t.id IS NULL THEN 'invalid_token'
									WHEN t.revoked_at IS NOT NULL THEN 'token_revoked' ELSE 'token_expired' END;
	END IF;
	SELECT * INTO a FROM admins WHERE id = t.admin_id AND is_active;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'account disabled' USING ERRCODE = '28000', CONSTRAINT = 'account_disabled';
	END IF;
	UPDATE api_tokens SET last_used_at = now() WHERE id = t.id AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');
	RETURN jsonb_build_object('admin_id', a.id, 'username', a.username, 'role', a.role,
							  'db_role', 'rollout_' || CASE a.role WHEN 'viewer' THEN 'reader' ELSE a.role END,
							  'project', (SELECT slug FROM projects WHERE id = a.project_id),
							  'expires_at', t.expires_at);
END
$$;
COMMENT ON FUNCTION rollout.authenticate(text) IS
	'the account behind a bearer token {admin_id, username, role, db_role, project}; 28000 if invalid, expired or revoked';

/*
 * The HTTP server's pre-request function (as PostgREST's): the first
 * statement of each admin request's transaction.  With a token it
 * authenticates it and acts as its account; without, as a client (login).
 * Sets rollout.actor and the database role for the rest of the transaction,
 * so a request is one round trip: this, then the route's function, then the
 * Sync.  Not SECURITY DEFINER: the role is set for the caller's session.
 */
CREATE FUNCTION rollout.begin_request(token text) RETURNS void
	LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	a jsonb;
	db_role text := 'rollout_client';
	actor text := '';
BEGIN
	IF token IS NOT NULL THEN
		a := rollout.authenticate(token);
		actor := a ->> 'username';
		-- only our own roles, whatever the account says
		db_role := CASE WHEN a ->> 'db_role' IN ('rollout_admin', 'rollout_maintainer', 'rollout_reader')
						THEN a ->> 'db_role' ELSE 'rollout_reader' END;
	END IF;
	PERFORM pg_catalog.set_config('rollout.actor', actor, true), pg_catalog.set_config('role', db_role, true);
END
$$;
COMMENT ON FUNCTION rollout.begin_request(text) IS
	'starts an HTTP request: authenticates the bearer token (NULL: no login) and sets rollout.actor and the role for the transaction';

/*
 * After CREATE or ALTER EXTENSION: NOTIFY rollout_schema, so that running
 * HTTP servers read the functions' signatures again (no restart needed).
 */
CREATE FUNCTION rollout.notify_schema_changed() RETURNS event_trigger
	LANGUAGE plpgsql
AS $$
BEGIN
	PERFORM pg_catalog.pg_notify('rollout_schema',
								 (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'rollout'));
END
$$;
COMMENT ON FUNCTION rollout.notify_schema_changed() IS
	'event trigger: NOTIFY rollout_schema after an extension is altered, so HTTP servers reload signatures';

CREATE EVENT TRIGGER rollout_schema_changed ON ddl_command_end
	WHEN TAG IN ('ALTER EXTENSION')
	EXECUTE FUNCTION rollout.notify_schema_changed();

CREATE FUNCTION rollout.revoke_token(token text) RETURNS boolean
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE api_tokens SET revoked_at = now()
	WHERE token_hash = sha256(convert_to(coalesce(token, ''), 'UTF8')) AND revoked_at IS NULL;
	RETURN FOUND;
END
$$;
COMMENT ON FUNCTION rollout.revoke_token(text) IS 'revokes a bearer token (logout); false if it was not active';

-- The account acting now (from rollout.actor), or 22023 for a caller without one.
CREATE FUNCTION rollout.acting_account() RETURNS rollout.admins
	LANGUAGE plpgsql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins;
BEGIN
	SELECT * INTO a FROM admins WHERE username = nullif(current_setting('rollout.actor', true), '') AND is_active;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'this needs an account: log in, or set rollout.actor to a username'
			USING ERRCODE = '22023', CONSTRAINT = 'invalid', COLUMN = 'actor';
	END IF;
	RETURN a;
END
$$;
COMMENT ON FUNCTION rollout.acting_account() IS 'the admin account named by rollout.actor, or 22023';

CREATE FUNCTION rollout.create_api_token(name text, ttl interval DEFAULT '90 days') RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins := acting_account();
	tok text := random_token();
	t api_tokens;
BEGIN
	IF name IS NULL OR length(name) NOT BETWEEN 1 AND 100 THEN
		PERFORM invalid_argument('name', 'name must be 1 to 100 characters');
	END IF;
	IF ttl IS NULL OR ttl < interval '1 minute' OR ttl > interval '366 days' THEN
		PERFORM invalid_argument('ttl', 'ttl must be between 1 minute and 366 days');
	END IF;
	INSERT INTO api_tokens (admin_id, token_hash, name, expires_at)
	VALUES (a.id, sha256(convert_to(tok, 'UTF8')), create_api_token.name, now() + ttl)
	RETURNING * INTO t;
	INSERT INTO audit_log (actor, action, object_type, object_id, project_id, after)
	VALUES (a.username, 'insert', 'api_tokens', t.id, a.project_id, jsonb_build_object('name', t.name, 'expires_at', t.expires_at));
	RETURN jsonb_build_object('id', t.id, 'token', tok, 'name', t.name, 'expires_at', t.expires_at);
END
$$;
COMMENT ON FUNCTION rollout.create_api_token(text, interval) IS
	'a long-lived bearer token of the acting account (for automation); only shown once, stored as SHA-256';

CREATE FUNCTION rollout.list_api_tokens() RETURNS jsonb
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins := acting_account();
BEGIN
	RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('id', t.id, 'username', x.username, 'name', t.name,
					'created_at', t.created_at, 'expires_at', t.expires_at, 'revoked_at', t.revoked_at,
					'last_used_at', t.last_used_at) ORDER BY t.id), '[]')
			FROM api_tokens t JOIN admins x ON x.id = t.admin_id
			WHERE a.role = 'admin' OR t.admin_id = a.id);
END
$$;
COMMENT ON FUNCTION rollout.list_api_tokens() IS 'the acting account''s tokens (an admin sees all), without their hashes';

CREATE FUNCTION rollout.revoke_api_token(token_id bigint) RETURNS boolean
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins := acting_account();
	owner bigint;
BEGIN
	SELECT admin_id INTO owner FROM api_tokens WHERE id = token_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'token not found: %', token_id USING ERRCODE = 'P0002', COLUMN = 'token_id', CONSTRAINT = 'not_found';
	END IF;
	IF owner <> a.id AND a.role <> 'admin' THEN
		RAISE EXCEPTION 'permission denied: only its owner or an admin may revoke a token'
			USING ERRCODE = '42501', CONSTRAINT = 'forbidden';
	END IF;
	UPDATE api_tokens SET revoked_at = now() WHERE id = token_id AND revoked_at IS NULL;
	RETURN FOUND;
END
$$;
COMMENT ON FUNCTION rollout.revoke_api_token(bigint) IS 'revokes a token by id (its owner, or an admin)';

-- ---------------------------------------------------------------------
-- Accounts: who am I, changes, passwords
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.whoami() RETURNS jsonb
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins := acting_account();
BEGIN
	RETURN jsonb_build_object('admin_id', a.id, 'username', a.username, 'role', a.role,
							  'project', (SELECT slug FROM projects WHERE id = a.project_id));
END
$$;
COMMENT ON FUNCTION rollout.whoami() IS 'the acting account {admin_id, username, role, project} (GET /me)';

/*
 * Change an account's role, project or activity (admin).  The last active
 * admin can neither be demoted nor disabled: 22023 naming the field, with
 * key last_admin.  Audited by the admins table's trigger.
 */
CREATE FUNCTION rollout.update_admin(admin_id bigint, role text DEFAULT NULL, project text DEFAULT NULL,
									 is_active boolean DEFAULT NULL, clear text[] DEFAULT '{}')
	RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins;
	new_role text;
	new_pid bigint;
	new_active boolean;
BEGIN
	PERFORM require_role('admin', NULL);
	IF NOT clear <@ ARRAY['project'] THEN
		PERFORM invalid_argument('clear', 'clear may name project');
	END IF;
	-- the active admins, locked: two demotions at once cannot both pass the check below
	PERFORM 1 FROM admins x WHERE x.role = 'admin' AND x.is_active FOR UPDATE;
	SELECT * INTO a FROM admins x WHERE x.id = update_admin.admin_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'account not found: %', admin_id USING ERRCODE = 'P0002', COLUMN = 'admin_id', CONSTRAINT = 'not_found';
	END IF;
	IF role IS NOT NULL AND role NOT IN ('admin', 'maintainer', 'viewer') THEN
		PERFORM invalid_argument('role', 'role must be admin, maintainer or viewer');
	END IF;
	new_role := coalesce(role, a.role);
	new_active := coalesce(is_active, a.is_active);
	new_pid := CASE WHEN 'project' = ANY (clear) THEN NULL
					WHEN project IS NOT NULL THEN (project_by_slug(project)).id ELSE a.project_id END;
	IF new_role = 'maintainer' AND new_pid IS NULL THEN
		PERFORM invalid_argument('project', 'a maintainer needs a project');
	END IF;
	IF a.role = 'admin' AND a.is_active AND (new_role <> 'admin' OR NOT new_active)
	   AND NOT EXISTS (SELECT 1 FROM admins x WHERE x.role = 'admin' AND x.is_active AND x.id <> a.id) THEN
		RAISE EXCEPTION 'the last active admin cannot be %', CASE WHEN new_active THEN 'demoted' ELSE 'disabled' END
			USING ERRCODE = '22023', COLUMN = CASE WHEN new_active THEN 'role' ELSE 'is_active' END, CONSTRAINT = 'last_admin';
	END IF;
	UPDATE admins x SET role = new_role, project_id = new_pid, is_active = new_active
	WHERE x.id = a.id RETURNING * INTO a;
	RETURN admin_json(a);
END
$$;
COMMENT ON FUNCTION rollout.update_admin(bigint, text, text, boolean, text[]) IS
	'changes an account''s role, project (clear => {project} removes it) or is_active; never demotes or disables the last active admin';

CREATE FUNCTION rollout.reset_password(admin_id bigint, password text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins;
	revoked integer;
BEGIN
	PERFORM require_role('admin', NULL);
	SELECT * INTO a FROM admins x WHERE x.id = reset_password.admin_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'account not found: %', admin_id USING ERRCODE = 'P0002', COLUMN = 'admin_id', CONSTRAINT = 'not_found';
	END IF;
	IF password IS NULL OR length(password) < 8 THEN
		PERFORM invalid_argument('password', 'password must be at least 8 characters');
	END IF;
	UPDATE admins SET password_hash = hash_password(password) WHERE id = a.id;
	-- the sessions of the old password end; API tokens for automation stay
	UPDATE api_tokens SET revoked_at = now() WHERE api_tokens.admin_id = a.id AND name = 'login' AND revoked_at IS NULL;
	GET DIAGNOSTICS revoked = ROW_COUNT;
	INSERT INTO audit_log (actor, action, object_type, object_id, project_id, after)
	VALUES (current_actor(), 'reset_password', 'admins', a.id, a.project_id, jsonb_build_object('revoked_tokens', revoked));
	RETURN jsonb_build_object('admin_id', a.id, 'username', a.username, 'revoked_tokens', revoked);
END
$$;
COMMENT ON FUNCTION rollout.reset_password(bigint, text) IS
	'sets an account''s password (admin) and revokes its login tokens: {admin_id, username, revoked_tokens}';

CREATE FUNCTION rollout.change_password(current_password text, new_password text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins := acting_account();
BEGIN
	IF NOT verify_password(coalesce(current_password, ''), a.password_hash) THEN
		RAISE EXCEPTION 'the current password is wrong' USING ERRCODE = '28P01', CONSTRAINT = 'login_failed';
	END IF;
	IF new_password IS NULL OR length(new_password) < 8 THEN
		PERFORM invalid_argument('new_password', 'new_password must be at least 8 characters');
	END IF;
	UPDATE admins SET password_hash = hash_password(new_password) WHERE id = a.id;
	INSERT INTO audit_log (actor, action, object_type, object_id, project_id)
	VALUES (a.username, 'change_password', 'admins', a.id, a.project_id);
	RETURN jsonb_build_object('admin_id', a.id, 'username', a.username, 'changed', true);
END
$$;
COMMENT ON FUNCTION rollout.change_password(text, text) IS
	'changes the acting account''s own password, given the current one (28P01 if it is wrong)';

-- ---------------------------------------------------------------------
-- Live websocket tickets: the socket's URL carries a ticket, never a token
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.live_ticket() RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	a admins := acting_account();
	t text := random_token();
	exp timestamptz := clock_timestamp() + interval '30 seconds';
BEGIN
	DELETE FROM live_tickets WHERE expires_at < clock_timestamp();
	INSERT INTO live_tickets (ticket_hash, admin_id, expires_at) VALUES (sha256(convert_to(t, 'UTF8')), a.id, exp);
	RETURN jsonb_build_object('ticket', t, 'expires_at', exp);
END
$$;
COMMENT ON FUNCTION rollout.live_ticket() IS
	'a ticket for GET /admin/api/v1/live?ticket=: random, single use, valid 30 seconds {ticket, expires_at}';

CREATE FUNCTION rollout.redeem_live_ticket(ticket text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	t live_tickets;
	a admins;
BEGIN
	IF ticket IS NULL OR ticket !~ '^[0-9a-f]{64}$' THEN
		RAISE EXCEPTION 'invalid ticket' USING ERRCODE = '28000', CONSTRAINT = 'invalid_token';
	END IF;
	-- used once: gone whether or not it was still valid
	DELETE FROM live_tickets x WHERE x.ticket_hash = sha256(convert_to(ticket, 'UTF8')) RETURNING * INTO t;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'invalid ticket' USING ERRCODE = '28000', CONSTRAINT = 'invalid_token';
	END IF;
	IF t.expires_at < clock_timestamp() THEN
		RAISE EXCEPTION 'ticket expired' USING ERRCODE = '28000', CONSTRAINT = 'token_expired';
	END IF;
	SELECT * INTO a FROM admins WHERE id = t.admin_id AND is_active;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'account disabled' USING ERRCODE = '28000', CONSTRAINT = 'account_disabled';
	END IF;
	RETURN jsonb_build_object('admin_id', a.id, 'username', a.username, 'role', a.role,
							  'project', (SELECT slug FROM projects WHERE id = a.project_id), 'project_id', a.project_id);
END
$$;
COMMENT ON FUNCTION rollout.redeem_live_ticket(text) IS
	'uses up a live ticket: the account it was issued to {admin_id, username, role, project, project_id}; 28000 if unknown, used or expired';

-- One account by id, so that creating one can answer with the object.
CREATE FUNCTION rollout.get_admin(admin_id bigint) RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$ SELECT admin_json(a) FROM admins a WHERE a.id = admin_id $$;
COMMENT ON FUNCTION rollout.get_admin(bigint) IS 'one admin account by id, without its password hash';
