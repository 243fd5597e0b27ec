\echo Use "CREATE EXTENSION rollout" to load this file. \quit

/*
 * rollout: the full install script of the current version.
 *
 * Built by the Makefile from the section files in extension/sql/, in the
 * order listed there (types, data model, requests, decision, events and
 * statistics, admin API, accounts, roles); edit those, not the built
 * extension/rollout--X.Y.Z.sql.  An installation of an older version gets
 * here through the upgrade scripts extension/rollout--A--B.sql, and
 * test/t/009_install_equals_upgrade.pl holds both to the same catalog.
 */
