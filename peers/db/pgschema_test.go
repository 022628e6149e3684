package db

import (
	"context"
	"crypto/sha256"
	"net/netip"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db/pgtest"
)

// pgSchemaV1 is the schema before schema_version (git history of
// pgstore.go): rrset_rdata held every value but addresses verbatim, and
// nothing indexed the names inside rdata.
const pgSchemaV1 = `
CREATE TABLE rrset (
	rrkey bytea PRIMARY KEY, rrname text NOT NULL, rev text NOT NULL, rrtype integer NOT NULL,
	rdata text[] NOT NULL, time_first bigint NOT NULL, time_last bigint NOT NULL,
	has_zone boolean NOT NULL DEFAULT false, zone_time_first bigint NOT NULL DEFAULT 0,
	zone_time_last bigint NOT NULL DEFAULT 0, count bigint NOT NULL,
	bailiwick text NOT NULL DEFAULT '', sensors text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX rrset_name ON rrset (rrname text_pattern_ops);
CREATE INDEX rrset_rev ON rrset (rev text_pattern_ops);
CREATE TABLE rrset_rdata (rrset bytea NOT NULL, value text NOT NULL);
CREATE INDEX rrset_rdata_value ON rrset_rdata (value text_pattern_ops);
CREATE TABLE rrset_ip (rrset bytea NOT NULL, ip inet NOT NULL);
CREATE INDEX rrset_ip_ip ON rrset_ip (ip);
CREATE TABLE applied (stream text NOT NULL, seq bigint NOT NULL, PRIMARY KEY (stream, seq));
CREATE TABLE applied_floor (stream text PRIMARY KEY, floor bigint NOT NULL);
`

// pgV1Database makes a version 1 database in a fresh schema, with rows
// written as version 1's Apply wrote them, and returns its DSN and a
// connection to it.
func pgV1Database(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	dsn := pgtest.DSN(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(t.Context(), pgSchemaV1); err != nil {
		t.Fatal(err)
	}
	rows := []struct {
		name  string
		typ   cof.Type
		rdata []string
	}{
		{name: "www.example.org", typ: cof.TypeCNAME, rdata: []string{"Agg.Example.COM."}},
		{name: "example.org", typ: cof.TypeMX, rdata: []string{"10 mx1.example.org.", "20 mx2.example.org."}},
		{name: "example.org", typ: cof.TypeNS, rdata: []string{"ns1.example.net.", "ns2.example.net."}},
		{name: "example.org", typ: cof.TypeTXT, rdata: []string{`"v=spf1 -all"`}},
		{name: "a.example.org", typ: cof.TypeA, rdata: []string{"192.0.2.1"}},
	}
	for _, r := range rows {
		sum := sha256.Sum256([]byte(Key(r.name, r.typ, r.rdata)))
		key := sum[:16]
		if _, err := conn.Exec(t.Context(), `INSERT INTO rrset (rrkey, rrname, rev, rrtype, rdata, time_first, time_last, count, sensors)
			VALUES ($1, $2, $3, $4, $5, 10, 20, 3, '{s1}')`, key, r.name, reverseName(r.name), int(r.typ), r.rdata); err != nil {
			t.Fatal(err)
		}
		for _, v := range r.rdata {
			insert := `INSERT INTO rrset_rdata (rrset, value) VALUES ($1, $2)`
			if _, err := netip.ParseAddr(v); err == nil && r.typ == cof.TypeA {
				insert = `INSERT INTO rrset_ip (rrset, ip) VALUES ($1, $2::inet)`
			}
			if _, err := conn.Exec(t.Context(), insert, key, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dsn, conn
}

// TestPGUpgradeFrom1: OpenPG upgrades a version 1 database, whose rrsets
// then answer rdata queries as the contract says, and go on merging.
func TestPGUpgradeFrom1(t *testing.T) {
	dsn, conn := pgV1Database(t)
	defer func(n int) { pgUpgradeBatch = n }(pgUpgradeBatch)
	pgUpgradeBatch = 2 // three batches
	st, err := OpenPG(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkUpgraded(t, st, conn)

	// New records merge into the old rrsets and index as new ones do.
	recs := records(t,
		`{"rrname":"www.example.org","rrtype":"CNAME","rdata":["Agg.Example.COM."],"time_first":5,"time_last":30,"count":2,"sensor_id":"s2"}`,
		`{"rrname":"new.example.org","rrtype":"CNAME","rdata":["agg.example.com."],"time_first":5,"time_last":30}`)
	if _, err := st.Apply(t.Context(), "s", 1, recs); err != nil {
		t.Fatal(err)
	}
	got, err := st.Lookup(t.Context(), Query{RData: "agg.example.com"})
	if err != nil || names(got) != "new.example.org/CNAME www.example.org/CNAME" {
		t.Fatalf("after a merge: %q %v", names(got), err)
	}
	for _, s := range got {
		if s.RRName == "www.example.org" && (s.Count != 5 || s.TimeFirst != 5 || s.TimeLast != 30 || len(s.Sensors) != 2) {
			t.Errorf("merged into an upgraded rrset: %+v", s)
		}
	}
	// Opening it again changes nothing.
	again, err := OpenPG(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
	var rnames int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM rrset_rname`).Scan(&rnames); err != nil || rnames != 6 {
		t.Errorf("rrset_rname holds %d rows after a second open, want 6: 5 upgraded, 1 new (%v)", rnames, err)
	}
}

// TestPGUpgradeResumes: an upgrade that stopped after its first batch
// resumes there, and indexes each rrset once.
func TestPGUpgradeResumes(t *testing.T) {
	dsn, conn := pgV1Database(t)
	defer func(n int) { pgUpgradeBatch = n }(pgUpgradeBatch)
	pgUpgradeBatch = 2
	walked, err := pgUpgradePrepare(t.Context(), conn)
	if err != nil {
		t.Fatal(err)
	}
	if n, _, err := pgUpgradeStep(t.Context(), conn, walked); err != nil || n != 2 {
		t.Fatalf("first step: %d rrsets, %v", n, err)
	}
	st, err := OpenPG(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkUpgraded(t, st, conn)
}

// checkUpgraded checks what pgV1Database holds, upgraded.
func checkUpgraded(t *testing.T, st *PGStore, conn *pgx.Conn) {
	t.Helper()
	tests := []struct {
		rdata, want string
	}{
		{rdata: "agg.example.com", want: "www.example.org/CNAME"},
		{rdata: "AGG.example.com.", want: "www.example.org/CNAME"},
		{rdata: "*.example.com", want: "www.example.org/CNAME"},
		{rdata: "*.example.net", want: "example.org/NS"},
		{rdata: "ns2.example.*", want: "example.org/NS"},
		{rdata: "mx1.example.org", want: "example.org/MX"},
		{rdata: "10 mx1.example.org.", want: "example.org/MX"},
		{rdata: `"v=spf1 -all"`, want: "example.org/TXT"},
		{rdata: "192.0.2.1", want: "a.example.org/A"},
	}
	for _, tt := range tests {
		got, err := st.Lookup(t.Context(), Query{RData: tt.rdata})
		if err != nil || names(got) != tt.want {
			t.Errorf("RData %q: %q %v, want %q", tt.rdata, names(got), err, tt.want)
		}
	}
	if got, err := st.Lookup(t.Context(), Query{Name: "WWW.Example.org."}); err != nil || names(got) != "www.example.org/CNAME" {
		t.Errorf("Name: %q %v", names(got), err)
	}
	var version, rnames, values int
	var leftover bool
	err := conn.QueryRow(t.Context(), `SELECT (SELECT max(version) FROM schema_version), (SELECT count(*) FROM rrset_rname),
		(SELECT count(*) FROM rrset_rdata), to_regclass('schema_upgrade') IS NOT NULL OR to_regclass('rrset_rdata_v2') IS NOT NULL`).
		Scan(&version, &rnames, &values, &leftover)
	if err != nil {
		t.Fatal(err)
	}
	// Names: agg, mx1, mx2, ns1, ns2. Values: the two MX and the TXT.
	if version != pgSchemaVersion || rnames != 5 || values != 3 || leftover {
		t.Errorf("upgraded: version %d, %d rdata names (want 5), %d values (want 3), upgrade tables left: %v", version, rnames, values, leftover)
	}
}

// TestPGRefusesANewerSchema: a database of a later version is not
// touched.
func TestPGRefusesANewerSchema(t *testing.T) {
	dsn := pgtest.DSN(t)
	st, err := OpenPG(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.pool.Exec(t.Context(), `UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err := OpenPG(t.Context(), dsn); err == nil {
		st.Close()
		t.Fatal("a database of schema version 99 was opened")
	}
}
