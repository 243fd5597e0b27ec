/*
 * rollout_cache.h
 *		The per-backend cache of each project's configuration that the update
 *		decision (rollout_decide.c) reads: channels, published versions with
 *		their artifacts, mirrors and enabled rules, loaded by rollout_cache.c.
 */
#ifndef ROLLOUT_CACHE_H
#define ROLLOUT_CACHE_H

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "semver.h"

typedef enum VersionStatus
{
	VS_PUBLISHED,
	VS_PAUSED,
	VS_YANKED
} VersionStatus;

typedef struct CachedChannel
{
	int64		id;
	char	   *name;
	int32		rank;
	bool		is_active;
	Numeric		pct;
	int32		threshold;		/* rollout.rollout_threshold(pct): buckets below are in */
} CachedChannel;

typedef struct CachedFile
{
	char	   *os;				/* NULL: the version's own file */
	char	   *arch;
	char	   *url;
	bool		has_size;
	int64		size;
	char	   *checksum;
} CachedFile;

typedef struct CachedVersion
{
	int64		id;
	struct varlena *version;
	SemVerView	key;
	char	   *salt;			/* "project@version", the rollout bucket's salt */
	char	   *tag;
	VersionStatus status;
	CachedChannel *channel;
	Numeric		pct;			/* NULL: the rule's or the channel's */
	int32		threshold;
	struct varlena *min_upgrade;	/* NULL: none */
	SemVerView	min_key;
	char	   *min_text;
	bool		is_forced;
	TimestampTz publish_time;
	bool		has_texts;		/* the five below: read when first offered */
	char	   *title;
	Jsonb	   *title_i18n;
	char	   *notes;
	Jsonb	   *notes_i18n;
	char	   *breaking;
	CachedFile	file;			/* the version's own file fields */
	int			nartifacts;
	CachedFile *artifacts;
} CachedVersion;

typedef struct CachedRule
{
	int64		id;
	char	   *name;
	int32		priority;
	char	   *region;			/* NULL: any */
	char	   *os;
	char	   *arch;
	RangeCache *range;			/* NULL: any version */
	bool		block;
	struct varlena *pin;		/* NULL: no pin */
	SemVerView	pin_key;
	Numeric		pct;			/* NULL: no percentage */
	int32		threshold;
	bool		has_channel;
	char	   *channel;		/* NULL with has_channel: JSON null */
} CachedRule;

typedef struct CachedMirror
{
	char	   *region;
	char	   *base_url;
} CachedMirror;

typedef struct CachedProject
{
	MemoryContext cxt;			/* everything below lives here */
	int64		id;
	char	   *slug;
	char	   *default_channel;
	bool		record_check_events;
	int			nchannels;
	CachedChannel *channels;
	int			nversions;
	CachedVersion *versions;	/* not drafts, newest first */
	int			nrules;
	CachedRule *rules;			/* enabled, by priority desc, id */
	int			nmirrors;
	CachedMirror *mirrors;
	/* signed answers (rollout_sign.c), read by the first signed check */
	bool		has_signing;
	int64		metadata_version;	/* as stored; plus the scheduled publishes passed */
	int			nscheduled;
	TimestampTz *scheduled;		/* the publish times still ahead when it was stored */
	Interval	answer_lifetime;	/* expires_at - issued_at */
	char		keyid[17];		/* the active signing key's id ("": none) */
	void	   *signer;			/* its EVP_PKEY (NULL: none), freed with cxt */
} CachedProject;

/*
 * The cached project with this slug, loaded (as the owner of fn_oid, the
 * calling check_update) if needed; NULL if no project has this slug.
 */
extern CachedProject *rollout_project_by_slug(const char *slug, Oid fn_oid);

/* Read a version's titles and notes into the cache (they are loaded when first offered). */
extern void rollout_load_texts(CachedProject *p, CachedVersion *v, Oid fn_oid);

/* Read a project's signing key and metadata version into the cache (rollout_load_texts' way). */
extern void rollout_load_signing(CachedProject *p, Oid fn_oid);

/* rollout_decide.c: check_update's answer with the signed answer's fields, its project, a standby's record */
extern Jsonb *rollout_decide_signed(FunctionCallInfo fcinfo, CachedProject **project, Jsonb **record);

/* rollout_sign.c: Ed25519 signers (EVP_PKEY) and the signed answer's fields */
extern void *rollout_signer_new(const uint8 *private_key);
extern void rollout_signer_free(void *signer);
extern void rollout_signed_fields(const CachedProject *p, TimestampTz now, char *issued, char *expires,
								  int64 *metadata_version);

#endif							/* ROLLOUT_CACHE_H */
