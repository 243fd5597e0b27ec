\echo Use "ALTER EXTENSION rollout UPDATE TO '0.4.0'" to load this file. \quit

/*
 * rollout 0.4.0: what 0.4.0 adds to 0.3.0's catalog.  Each change is made in
 * the section files of extension/sql/ (which build rollout--0.4.0.sql) and
 * repeated here as a delta; test/t/009_install_equals_upgrade.pl checks that
 * both give the same catalog.
 */
