\echo Use "ALTER EXTENSION rollout UPDATE TO '0.3.0'" to load this file. \quit

/*
 * rollout 0.3.0: no change to the catalog.  0.3.0 reorganizes the source:
 * the full install script rollout--0.3.0.sql is built from the section files
 * in extension/sql/ and holds exactly what 0.1.0 and 0.1.0--0.2.0 make
 * (test/t/009_install_equals_upgrade.pl compares both), so an installation
 * of 0.2.0 only takes the new version number.
 */
