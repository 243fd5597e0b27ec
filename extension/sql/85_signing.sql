/*
 * Signed answers (SPEC §12): each project's Ed25519 signing keys (made and
 * used through OpenSSL, rollout_sign.c), the metadata version that grows
 * with every change that can alter an answer, and check_update_signed, the
 * signed check-update answer.  The private keys are in signing_secrets,
 * which no role may read but the extension's owner: the functions that use
 * them are SECURITY DEFINER (or read them as the owner, the decision cache)
 * and none returns them.
 */

-- ---------------------------------------------------------------------
-- Ed25519 through OpenSSL
-- ---------------------------------------------------------------------
CREATE FUNCTION rollout.ed25519_generate(OUT private_key bytea, OUT public_key bytea)
	AS 'MODULE_PATHNAME', 'rollout_ed25519_generate' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rollout.ed25519_generate() IS 'a new Ed25519 key pair (raw 32 bytes each), from OpenSSL';
CREATE FUNCTION rollout.ed25519_sign(private_key bytea, message bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'rollout_ed25519_sign' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.ed25519_sign(bytea, bytea) IS 'the Ed25519 signature (64 bytes) of message under a raw private key';
CREATE FUNCTION rollout.ed25519_verify(public_key bytea, message bytea, signature bytea) RETURNS boolean
	AS 'MODULE_PATHNAME', 'rollout_ed25519_verify' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.ed25519_verify(bytea, bytea, bytea) IS
	'whether signature is a valid Ed25519 signature of message under the raw 32-byte public key';
CREATE FUNCTION rollout.ed25519_public_pem(public_key bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'rollout_ed25519_public_pem' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.ed25519_public_pem(bytea) IS 'a raw Ed25519 public key as PEM (SubjectPublicKeyInfo)';
-- the key id of the protocol: hex of the first 8 bytes of SHA-256 over the raw public key
CREATE FUNCTION rollout.signing_key_id(public_key bytea) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $$ SELECT pg_catalog.encode(pg_catalog.substr(pg_catalog.sha256($1), 1, 8), 'hex') $$;
COMMENT ON FUNCTION rollout.signing_key_id(bytea) IS 'lowercase hex of the first 8 bytes of SHA-256 over the raw public key';

-- ---------------------------------------------------------------------
-- Keys and metadata versions
-- ---------------------------------------------------------------------
CREATE TABLE rollout.project_signing (
	project_id bigint PRIMARY KEY REFERENCES rollout.projects ON DELETE CASCADE,
	answer_lifetime interval NOT NULL DEFAULT '7 days'
		CHECK (answer_lifetime BETWEEN interval '1 minute' AND interval '366 days'),
	metadata_version bigint NOT NULL DEFAULT 1 CHECK (metadata_version >= 1),
	scheduled timestamptz[] NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE rollout.project_signing IS 'per project: how long a signed answer holds and its metadata version';
COMMENT ON COLUMN rollout.project_signing.metadata_version IS
	'grows with every change that can alter an answer; an answer says this plus the scheduled publishes that have come';
COMMENT ON COLUMN rollout.project_signing.scheduled IS 'publish times that were still ahead when metadata_version was stored';

CREATE TABLE rollout.signing_keys (
	id bigserial PRIMARY KEY,
	project_id bigint NOT NULL REFERENCES rollout.projects ON DELETE CASCADE,
	keyid text NOT NULL UNIQUE CHECK (keyid ~ '^[0-9a-f]{16}$'),
	algorithm text NOT NULL DEFAULT 'ed25519' CHECK (algorithm = 'ed25519'),
	public_key bytea NOT NULL CHECK (length(public_key) = 32),
	status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'trusted', 'retired')),
	created_at timestamptz NOT NULL DEFAULT now(),
	retired_at timestamptz
);
COMMENT ON TABLE rollout.signing_keys IS
	'public halves of the projects'' Ed25519 keys: one active (signs), trusted ones (listed, no longer sign), retired ones';
CREATE UNIQUE INDEX signing_keys_active ON rollout.signing_keys (project_id) WHERE status = 'active';

CREATE TABLE rollout.signing_secrets (
	key_id bigint PRIMARY KEY REFERENCES rollout.signing_keys ON DELETE CASCADE,
	private_key bytea NOT NULL CHECK (length(private_key) = 32)
);
COMMENT ON TABLE rollout.signing_secrets IS
	'private halves of the active and trusted keys (raw 32 bytes); readable by the extension''s owner only';
REVOKE ALL ON rollout.project_signing, rollout.signing_keys, rollout.signing_secrets FROM PUBLIC,
	rollout_reader, rollout_client, rollout_maintainer, rollout_admin;

SELECT pg_catalog.pg_extension_config_dump('rollout.project_signing', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.signing_keys', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.signing_keys_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.signing_secrets', '');

-- A new key for a project (active, or trusted), its private half kept in signing_secrets.
CREATE FUNCTION rollout.new_signing_key(project_id bigint, status text DEFAULT 'active') RETURNS rollout.signing_keys
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	pair record := ed25519_generate();
	k signing_keys;
BEGIN
	INSERT INTO signing_keys (project_id, keyid, public_key, status)
	VALUES ($1, signing_key_id(pair.public_key), pair.public_key, $2) RETURNING * INTO k;
	INSERT INTO signing_secrets (key_id, private_key) VALUES (k.id, pair.private_key);
	RETURN k;
END
$$;
COMMENT ON FUNCTION rollout.new_signing_key(bigint, text) IS 'makes a project''s new signing key (internal: not callable by the roles)';

-- Every new project gets its signing settings and a key (not a restored one: its keys come with the dump).
CREATE FUNCTION rollout.project_signing_trigger() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
BEGIN
	IF current_setting('check_function_bodies') = 'off' THEN
		RETURN NULL;
	END IF;
	INSERT INTO project_signing (project_id) VALUES (NEW.id);
	PERFORM new_signing_key(NEW.id);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollout.project_signing_trigger() IS 'gives a new project its signing settings and an active key';
CREATE TRIGGER signing AFTER INSERT ON rollout.projects
	FOR EACH ROW EXECUTE FUNCTION rollout.project_signing_trigger();

/*
 * The metadata version grows with every change that can alter an answer.
 * A publish at a later time alters answers when the time comes, without a
 * write: the publish times still ahead are stored with the version, and an
 * answer adds those that have come (rollout_sign.c).  A bump adds one plus
 * every stored time, whether it has come or not, so no later answer can
 * carry a lower version than an earlier one.
 */
CREATE FUNCTION rollout.bump_metadata_version(project_id bigint) RETURNS void
	LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
	UPDATE project_signing s
	SET metadata_version = s.metadata_version + cardinality(s.scheduled) + 1,
		scheduled = ARRAY(SELECT v.publish_time FROM versions v
						  WHERE v.project_id = $1 AND v.status = 'published' AND v.publish_time > now()
						  ORDER BY v.publish_time)
	WHERE s.project_id = $1
$$;
COMMENT ON FUNCTION rollout.bump_metadata_version(bigint) IS 'raises a project''s metadata version (internal)';

CREATE FUNCTION rollout.metadata_trigger() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	row_ record;
	proj bigint;
BEGIN
	-- a restore brings the stored versions along
	IF current_setting('check_function_bodies') = 'off' THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'DELETE' THEN
		row_ := OLD;
	ELSE
		row_ := NEW;
	END IF;
	IF TG_TABLE_NAME = 'artifacts' THEN
		SELECT v.project_id INTO proj FROM versions v WHERE v.id = row_.version_id;
	ELSIF TG_TABLE_NAME = 'projects' THEN
		proj := row_.id;
	ELSE
		proj := row_.project_id;
	END IF;
	PERFORM bump_metadata_version(proj);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollout.metadata_trigger() IS 'raises the metadata version of the changed row''s project';
CREATE TRIGGER metadata AFTER INSERT OR UPDATE OR DELETE ON rollout.channels
	FOR EACH ROW EXECUTE FUNCTION rollout.metadata_trigger();
CREATE TRIGGER metadata AFTER INSERT OR UPDATE OR DELETE ON rollout.versions
	FOR EACH ROW EXECUTE FUNCTION rollout.metadata_trigger();
CREATE TRIGGER metadata AFTER INSERT OR UPDATE OR DELETE ON rollout.artifacts
	FOR EACH ROW EXECUTE FUNCTION rollout.metadata_trigger();
CREATE TRIGGER metadata AFTER INSERT OR UPDATE OR DELETE ON rollout.mirrors
	FOR EACH ROW EXECUTE FUNCTION rollout.metadata_trigger();
CREATE TRIGGER metadata AFTER INSERT OR UPDATE OR DELETE ON rollout.update_rules
	FOR EACH ROW EXECUTE FUNCTION rollout.metadata_trigger();
-- of a project's own settings, the default channel alters answers
CREATE TRIGGER metadata AFTER UPDATE ON rollout.projects
	FOR EACH ROW WHEN (OLD.default_channel IS DISTINCT FROM NEW.default_channel)
	EXECUTE FUNCTION rollout.metadata_trigger();

-- the decision cache holds keys and metadata versions too
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['project_signing', 'signing_keys', 'signing_secrets'] LOOP
		EXECUTE format('CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.%I'
					   ' FOR EACH STATEMENT EXECUTE FUNCTION rollout.config_changed()', t);
	END LOOP;
END
$$;

-- the projects that exist (the seeded default one, or all of an updated installation) get theirs
INSERT INTO rollout.project_signing (project_id) SELECT id FROM rollout.projects ORDER BY id;
SELECT rollout.new_signing_key(id) FROM rollout.projects ORDER BY id;

-- ---------------------------------------------------------------------
-- Signed answers
-- ---------------------------------------------------------------------

-- Not SECURITY DEFINER, as check_update: the key is read as its owner by the decision cache.
CREATE FUNCTION rollout.check_update_signed(request jsonb, lang text DEFAULT NULL,
											OUT body text, OUT signature text, OUT record jsonb)
	AS 'MODULE_PATHNAME', 'rollout_check_update_signed'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rollout.check_update_signed(jsonb, text) IS
	'check_update, recorded, as the exact body of the HTTP answer ({"code":200,"message":...,"data":{... issued_at, expires_at, metadata_version, project}}; message in lang, else the request''s locale) and the X-Rollout-Signature value "keyid=<keyid>,sig=<base64 Ed25519 signature of the body>"; on a hot standby, record is what the check would record (for rollout.record_forwarded on the primary; never in the body), NULL on a primary';

-- rollout-http's form of check_update_signed: one value is cheaper to return than a row.
CREATE FUNCTION rollout.check_update_wire(request jsonb, lang text DEFAULT NULL) RETURNS text
	AS 'MODULE_PATHNAME', 'rollout_check_update_wire'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rollout.check_update_wire(jsonb, text) IS
	'check_update_signed''s answer as one text value, for rollout-http: the X-Rollout-Signature value, a line feed, the record as JSON on one line (empty on a primary), a line feed, then the body byte for byte';

-- A key as the API shows it (never its private half).
CREATE FUNCTION rollout.signing_key_json(k rollout.signing_keys) RETURNS jsonb
	LANGUAGE sql STABLE SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object('keyid', k.keyid, 'algorithm', k.algorithm,
							  'public_key', encode(k.public_key, 'base64'),
							  'public_key_pem', ed25519_public_pem(k.public_key),
							  'status', k.status, 'created_at', k.created_at)
$$;
COMMENT ON FUNCTION rollout.signing_key_json(rollout.signing_keys) IS 'a signing key''s public half as the API returns it';

CREATE FUNCTION rollout.public_keys(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object('project', p.slug, 'keys', coalesce(
		(SELECT jsonb_agg(signing_key_json(k) ORDER BY k.status = 'active' DESC, k.created_at DESC, k.id DESC)
		 FROM signing_keys k WHERE k.project_id = p.id AND k.status <> 'retired'), '[]'))
	FROM project_by_slug(project) p
$$;
COMMENT ON FUNCTION rollout.public_keys(text) IS
	'a project''s keys that clients may trust: the active one first, then the trusted ones (retired ones are not listed)';

CREATE FUNCTION rollout.public_key_pem(project text DEFAULT 'default') RETURNS text
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
	pem text;
BEGIN
	SELECT ed25519_public_pem(k.public_key) INTO pem FROM signing_keys k WHERE k.project_id = p.id AND k.status = 'active';
	IF pem IS NULL THEN
		RAISE EXCEPTION 'project "%" has no active signing key', p.slug
			USING ERRCODE = 'P0002', COLUMN = 'keyid', CONSTRAINT = 'not_found';
	END IF;
	RETURN pem;
END
$$;
COMMENT ON FUNCTION rollout.public_key_pem(text) IS 'the active key of a project as PEM (SubjectPublicKeyInfo)';

/*
 * Whether body is signed as signature ("keyid=...,sig=...") says by a key of
 * the project that is still listed (active or trusted): what a client
 * checks, for SQL callers and tests.
 */
CREATE FUNCTION rollout.verify_answer(body text, signature text, project text DEFAULT 'default') RETURNS boolean
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
	SELECT coalesce(bool_or(ed25519_verify(k.public_key, convert_to(body, 'UTF8'),
										   decode(substring(signature FROM ',sig=([A-Za-z0-9+/=]+)$'), 'base64'))), false)
	FROM signing_keys k
	WHERE k.project_id = (project_by_slug(project)).id AND k.status <> 'retired'
	  AND k.keyid = substring(signature FROM '^keyid=([0-9a-f]{16}),')
$$;
COMMENT ON FUNCTION rollout.verify_answer(text, text, text) IS
	'whether a signed answer''s body verifies under the X-Rollout-Signature value with a listed key of the project';

-- ---------------------------------------------------------------------
-- Admin API: rotation, retirement, the answer lifetime
-- ---------------------------------------------------------------------

-- A project's signing settings and every key, retired ones included.
CREATE FUNCTION rollout.get_signing(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
BEGIN
	PERFORM require_role('viewer', p.id);
	RETURN (SELECT jsonb_build_object('project', p.slug, 'answer_lifetime', s.answer_lifetime::text,
									  'metadata_version', s.metadata_version,
									  'keys', coalesce((SELECT jsonb_agg(signing_key_json(k) || jsonb_build_object('retired_at', k.retired_at)
																		 ORDER BY k.id DESC)
													   FROM signing_keys k WHERE k.project_id = p.id), '[]'))
			FROM project_signing s WHERE s.project_id = p.id);
END
$$;
COMMENT ON FUNCTION rollout.get_signing(text) IS 'a project''s answer lifetime, metadata version and keys (public halves, retired ones too)';

-- Write an audit entry and the event for a key's change (the keys table itself is not audited row by row).
CREATE FUNCTION rollout.audit_key(action text, k rollout.signing_keys, before jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE SET search_path = rollout, pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO audit_log (actor, action, object_type, object_id, project_id, before, after)
	VALUES (current_actor(), action, 'signing_keys', k.id, k.project_id, before, signing_key_json(k) - 'public_key_pem');
	PERFORM pg_notify('rollout_events', json_build_object('type', 'signing_keys.' || action, 'id', k.id,
														  'project_id', k.project_id, 'status', k.status,
														  'actor', current_actor())::text);
END
$$;
COMMENT ON FUNCTION rollout.audit_key(text, rollout.signing_keys, jsonb) IS 'audits a signing key''s rotation or retirement';

CREATE FUNCTION rollout.rotate_signing_key(project text DEFAULT 'default') RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
	prev signing_keys;
	k signing_keys;
BEGIN
	PERFORM require_role('admin', p.id);
	-- (a project made while check_function_bodies was off, as a restore does, has no settings yet)
	INSERT INTO project_signing (project_id) VALUES (p.id) ON CONFLICT DO NOTHING;
	UPDATE signing_keys x SET status = 'trusted' WHERE x.project_id = p.id AND x.status = 'active' RETURNING * INTO prev;
	k := new_signing_key(p.id);
	PERFORM audit_key('rotate_key', k, CASE WHEN prev.id IS NOT NULL THEN signing_key_json(prev) - 'public_key_pem' END);
	RETURN public_keys(p.slug);
END
$$;
COMMENT ON FUNCTION rollout.rotate_signing_key(text) IS
	'a new active key signs the project''s answers; the previous one stays listed as trusted until retired; audited';

CREATE FUNCTION rollout.retire_signing_key(project text DEFAULT 'default', keyid text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
	k signing_keys;
BEGIN
	PERFORM require_role('admin', p.id);
	SELECT * INTO k FROM signing_keys x WHERE x.project_id = p.id AND x.keyid = retire_signing_key.keyid FOR UPDATE;
	IF NOT FOUND OR k.status = 'retired' THEN
		RAISE EXCEPTION 'signing key not found: "%"', keyid USING ERRCODE = 'P0002', COLUMN = 'keyid', CONSTRAINT = 'not_found';
	END IF;
	IF k.status = 'active' THEN
		RAISE EXCEPTION 'the active signing key cannot be retired: rotate first'
			USING ERRCODE = '22023', COLUMN = 'keyid', CONSTRAINT = 'active_key';
	END IF;
	UPDATE signing_keys x SET status = 'retired', retired_at = now() WHERE x.id = k.id RETURNING * INTO k;
	-- a retired key signs nothing ever again: its private half goes
	DELETE FROM signing_secrets WHERE key_id = k.id;
	PERFORM audit_key('retire_key', k, jsonb_build_object('keyid', k.keyid, 'status', 'trusted'));
	RETURN public_keys(p.slug);
END
$$;
COMMENT ON FUNCTION rollout.retire_signing_key(text, text) IS
	'a trusted key is no longer listed and its private half is destroyed; audited';

CREATE FUNCTION rollout.set_answer_lifetime(project text DEFAULT 'default', answer_lifetime interval DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = rollout, pg_catalog, pg_temp
AS $$
DECLARE
	p projects := project_by_slug(project);
	prev_lifetime interval;
BEGIN
	PERFORM require_role('admin', p.id);
	IF answer_lifetime IS NULL OR answer_lifetime NOT BETWEEN interval '1 minute' AND interval '366 days' THEN
		PERFORM invalid_argument('answer_lifetime', 'answer_lifetime must be between 1 minute and 366 days');
	END IF;
	SELECT s.answer_lifetime INTO prev_lifetime FROM project_signing s WHERE s.project_id = p.id FOR UPDATE;
	UPDATE project_signing s SET answer_lifetime = set_answer_lifetime.answer_lifetime WHERE s.project_id = p.id;
	INSERT INTO audit_log (actor, action, object_type, object_id, project_id, before, after)
	VALUES (current_actor(), 'update', 'project_signing', p.id, p.id,
			jsonb_build_object('answer_lifetime', prev_lifetime::text),
			jsonb_build_object('answer_lifetime', set_answer_lifetime.answer_lifetime::text));
	RETURN get_signing(p.slug);
END
$$;
COMMENT ON FUNCTION rollout.set_answer_lifetime(text, interval) IS
	'how long a signed answer of the project holds (expires_at - issued_at; default 7 days); audited';

-- ---------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------
REVOKE ALL ON FUNCTION rollout.ed25519_generate(), rollout.ed25519_sign(bytea, bytea),
	rollout.new_signing_key(bigint, text), rollout.project_signing_trigger(), rollout.bump_metadata_version(bigint),
	rollout.metadata_trigger(), rollout.check_update_signed(jsonb, text), rollout.check_update_wire(jsonb, text),
	rollout.signing_key_json(rollout.signing_keys),
	rollout.public_keys(text), rollout.public_key_pem(text), rollout.get_signing(text),
	rollout.audit_key(text, rollout.signing_keys, jsonb), rollout.rotate_signing_key(text),
	rollout.retire_signing_key(text, text), rollout.set_answer_lifetime(text, interval)
	FROM PUBLIC;
-- verifying is for everyone, like the semver functions
GRANT EXECUTE ON FUNCTION rollout.ed25519_verify(bytea, bytea, bytea), rollout.ed25519_public_pem(bytea),
	rollout.signing_key_id(bytea), rollout.verify_answer(text, text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.check_update_signed(jsonb, text), rollout.check_update_wire(jsonb, text),
	rollout.public_keys(text), rollout.public_key_pem(text)
	TO rollout_client, rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.get_signing(text) TO rollout_reader;
GRANT EXECUTE ON FUNCTION rollout.rotate_signing_key(text), rollout.retire_signing_key(text, text),
	rollout.set_answer_lifetime(text, interval) TO rollout_admin;
