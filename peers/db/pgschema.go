package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofswitch/cofswitch/cof"
)

// pgSchemaVersion is the version of pgSchema, kept in schema_version:
//   - 1 (no schema_version table): rrset_rdata holds every rdata value
//     but addresses, verbatim; no rrset_rname;
//   - 2: rrset_rdata holds IndexedOf's Values, rrset_rname its Names.
const pgSchemaVersion = 2

// pgSchema creates what is missing of the current schema.
const pgSchema = `
CREATE TABLE IF NOT EXISTS rrset (
	rrkey           bytea PRIMARY KEY,
	rrname          text NOT NULL,
	rev             text NOT NULL,
	rrtype          integer NOT NULL,
	rdata           text[] NOT NULL,
	time_first      bigint NOT NULL,
	time_last       bigint NOT NULL,
	has_zone        boolean NOT NULL DEFAULT false,
	zone_time_first bigint NOT NULL DEFAULT 0,
	zone_time_last  bigint NOT NULL DEFAULT 0,
	count           bigint NOT NULL,
	bailiwick       text NOT NULL DEFAULT '',
	sensors         text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS rrset_name ON rrset (rrname text_pattern_ops);
CREATE INDEX IF NOT EXISTS rrset_rev ON rrset (rev text_pattern_ops);
CREATE TABLE IF NOT EXISTS rrset_rdata (rrset bytea NOT NULL, value text NOT NULL);
CREATE INDEX IF NOT EXISTS rrset_rdata_value ON rrset_rdata (value text_pattern_ops);
CREATE TABLE IF NOT EXISTS rrset_rname (rrset bytea NOT NULL, name text NOT NULL, rev text NOT NULL);
CREATE INDEX IF NOT EXISTS rrset_rname_name ON rrset_rname (name text_pattern_ops);
CREATE INDEX IF NOT EXISTS rrset_rname_rev ON rrset_rname (rev text_pattern_ops);
CREATE TABLE IF NOT EXISTS rrset_ip (rrset bytea NOT NULL, ip inet NOT NULL);
CREATE INDEX IF NOT EXISTS rrset_ip_ip ON rrset_ip (ip);
CREATE TABLE IF NOT EXISTS applied (stream text NOT NULL, seq bigint NOT NULL, PRIMARY KEY (stream, seq));
CREATE TABLE IF NOT EXISTS applied_floor (stream text PRIMARY KEY, floor bigint NOT NULL);
CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL);
`

// pgUpgradeBatch is how many rrsets one transaction of the upgrade from
// version 1 indexes (a variable for the tests).
var pgUpgradeBatch = 10000

// pgSchemaLock is the advisory lock, per schema, that one opener at a time
// holds while it reads, creates or upgrades the schema.
const pgSchemaLock = `hashtext('cofswitch pdnsdb schema ' || current_schema())`

// pgEnsureSchema brings the database to pgSchemaVersion: it creates the
// schema in an empty one and upgrades an older one, holding the schema
// lock so that two processes opening it at once do this once.
func pgEnsureSchema(ctx context.Context, pool *pgxpool.Pool) (err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pdnsdb: postgres: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+pgSchemaLock+`)`); err != nil {
		return fmt.Errorf("pdnsdb: postgres: taking the schema lock: %w", err)
	}
	defer func() {
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+pgSchemaLock+`)`); uerr != nil {
			// A session that keeps the lock must not go back to the pool.
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	version, err := pgReadVersion(ctx, conn.Conn())
	if err != nil {
		return err
	}
	switch {
	case version > pgSchemaVersion:
		return fmt.Errorf("pdnsdb: postgres: the database has schema version %d, newer than this program's %d", version, pgSchemaVersion)
	case version == 1:
		if err := pgUpgradeFrom1(ctx, conn.Conn()); err != nil {
			return err
		}
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, pgSchema); err != nil {
			return fmt.Errorf("pdnsdb: postgres: creating the schema: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM schema_version`); err != nil {
			return fmt.Errorf("pdnsdb: postgres: recording the schema version: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, pgSchemaVersion); err != nil {
			return fmt.Errorf("pdnsdb: postgres: recording the schema version: %w", err)
		}
		return nil
	})
}

// pgReadVersion returns the schema version of the database: 0 when it has
// no rrset table, 1 when it has one but no schema_version.
func pgReadVersion(ctx context.Context, conn *pgx.Conn) (int, error) {
	var hasVersion, hasRRset bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_version') IS NOT NULL, to_regclass('rrset') IS NOT NULL`).
		Scan(&hasVersion, &hasRRset); err != nil {
		return 0, fmt.Errorf("pdnsdb: postgres: reading the schema version: %w", err)
	}
	switch {
	case hasVersion:
		var v *int
		if err := conn.QueryRow(ctx, `SELECT max(version) FROM schema_version`).Scan(&v); err != nil {
			return 0, fmt.Errorf("pdnsdb: postgres: reading the schema version: %w", err)
		}
		if v == nil {
			// The table was made but the version not yet written: the
			// last opener stopped in its final transaction, which then
			// made nothing.
			return 0, errors.New("pdnsdb: postgres: schema_version is empty: the schema's state is unknown")
		}
		return *v, nil
	case hasRRset:
		return 1, nil
	}
	return 0, nil
}

// pgUpgradeFrom1 indexes the rdata of a version 1 database as version 2
// does: it walks rrset in key order, pgUpgradeBatch rrsets a transaction,
// writing their rrset_rname rows and their Values into a new rdata table
// (which then replaces rrset_rdata, whose name values go with it). The
// walk's position is kept with each batch, so an upgrade that stops
// resumes where it was. Writers of the old version must be stopped: the
// rrsets they add behind the walk would not be indexed.
func pgUpgradeFrom1(ctx context.Context, conn *pgx.Conn) error {
	walked, err := pgUpgradePrepare(ctx, conn)
	if err != nil {
		return err
	}
	slog.Info("pdnsdb: postgres: upgrading the schema from version 1 to 2 (indexing the names inside rdata)", "resumed", len(walked) > 0)
	total := 0
	for {
		n, last, err := pgUpgradeStep(ctx, conn, walked)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		total, walked = total+n, last
		if total%(100*pgUpgradeBatch) < n {
			slog.Info("pdnsdb: postgres: schema upgrade 1 to 2", "indexed", total)
		}
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			DROP TABLE rrset_rdata;
			ALTER TABLE rrset_rdata_v2 RENAME TO rrset_rdata;
			DROP TABLE schema_upgrade;`+pgSchema+`
			INSERT INTO schema_version (version) VALUES (2)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("pdnsdb: postgres: schema upgrade 1 to 2: replacing rrset_rdata: %w", err)
	}
	slog.Info("pdnsdb: postgres: schema upgraded to version 2", "indexed", total)
	return nil
}

// pgUpgradePrepare creates the tables of the upgrade from version 1 and
// returns the key of the last rrset it indexed (empty: none yet).
func pgUpgradePrepare(ctx context.Context, conn *pgx.Conn) (walked []byte, err error) {
	if _, err := conn.Exec(ctx, `
		CREATE TABLE IF NOT EXISTS rrset_rname (rrset bytea NOT NULL, name text NOT NULL, rev text NOT NULL);
		CREATE TABLE IF NOT EXISTS rrset_rdata_v2 (rrset bytea NOT NULL, value text NOT NULL);
		CREATE TABLE IF NOT EXISTS schema_upgrade (walked bytea NOT NULL);
		INSERT INTO schema_upgrade (walked) SELECT '\x'::bytea WHERE NOT EXISTS (SELECT 1 FROM schema_upgrade)`); err != nil {
		return nil, fmt.Errorf("pdnsdb: postgres: schema upgrade 1 to 2: preparing: %w", err)
	}
	if err := conn.QueryRow(ctx, `SELECT walked FROM schema_upgrade`).Scan(&walked); err != nil {
		return nil, fmt.Errorf("pdnsdb: postgres: schema upgrade 1 to 2: reading its position: %w", err)
	}
	return walked, nil
}

// pgUpgradeStep indexes the rrsets that follow key walked, at most
// pgUpgradeBatch of them, and records the last one's key, in one
// transaction. It returns how many it indexed and the last key.
func pgUpgradeStep(ctx context.Context, conn *pgx.Conn, walked []byte) (n int, last []byte, err error) {
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT rrkey, rrtype, rdata FROM rrset WHERE rrkey > $1 ORDER BY rrkey LIMIT $2`, walked, pgUpgradeBatch)
		if err != nil {
			return err
		}
		var ix pgIndexRows
		for rows.Next() {
			var key []byte
			var s RRset
			var t int32
			if err := rows.Scan(&key, &t, &s.RData); err != nil {
				rows.Close()
				return err
			}
			s.RRType = cof.Type(t)
			ix.add(key, &s)
			n, last = n+1, key
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		// Addresses are indexed already, in rrset_ip.
		ix.ipKeys, ix.ips = nil, nil
		if err := ix.copyIn(ctx, tx, "rrset_rdata_v2"); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE schema_upgrade SET walked = $1`, last)
		return err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("pdnsdb: postgres: schema upgrade 1 to 2: indexing the rrsets after %x: %w", walked, err)
	}
	return n, last, nil
}
