package main

import (
	"compress/gzip"
	"context"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/peers/db"
	"github.com/cofswitch/cofswitch/peers/db/pgtest"
)

func TestDBImport(t *testing.T) {
	store := t.TempDir()
	twice := `{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":100,"time_last":200,"count":3}
{"rrname":"WWW.example.com.","rrtype":"A","rdata":"192.0.2.1","time_first":50,"time_last":150,"count":4}
`
	plain := writeTemp(t, "twice.ndjson", []byte(twice))
	gz := filepath.Join(t.TempDir(), "twice.ndjson.gz")
	fh, err := os.Create(gz)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(fh)
	zw.Write([]byte(`{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":300,"time_last":400}` + "\n"))
	zw.Close()
	fh.Close()

	got := runCLI(t, nil, "db", "import", "--store", store, plain, gz)
	if got.code != exitOK || got.stdout != "imported 3 records from 2 files (0 invalid lines skipped)\n" {
		t.Fatalf("import = %+v", got)
	}
	st := openDB(t, store)
	rs, err := st.Store.Lookup(t.Context(), db.Query{Name: "www.example.com"})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Merged across lines and files: min first, max last, counts added
	// (an absent count is 1).
	if len(rs) != 1 || rs[0].TimeFirst != 50 || rs[0].TimeLast != 400 || rs[0].Count != 8 {
		t.Fatalf("rrsets = %+v, want one: 50..400 count 8", rs)
	}

	// Invalid lines are named and skipped; the valid ones are merged and
	// the exit code says some were not.
	got = runCLI(t, nil, "db", "import", "--store", store, "../../testdata/cof/invalid.ndjson")
	if got.code != exitFailure || !strings.Contains(got.stderr, "invalid.ndjson:2: ") ||
		!strings.Contains(got.stdout, "imported 1 records from 1 files (7 invalid lines skipped)") {
		t.Fatalf("import of invalid lines = %+v", got)
	}
	st = openDB(t, store)
	defer st.Close()
	if u, _ := st.Usage(t.Context()); u.RRsets != 2 {
		t.Fatalf("store holds %d rrsets after the second import, want 2", u.RRsets)
	}
}

// openDB opens the disk store in dir (the command must have closed it).
func openDB(t *testing.T, dir string) *db.Opened {
	t.Helper()
	st, err := db.Open(t.Context(), db.OpenOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestDBImportErrors(t *testing.T) {
	store := t.TempDir()
	lock, err := db.LockDir(store)
	if err != nil {
		t.Fatal(err)
	}
	got := runCLI(t, nil, "db", "import", "--store", store, sampleFile)
	lock.Close()
	if got.code != exitFailure || !strings.Contains(got.stderr, "in use by another process") {
		t.Fatalf("import into a store in use = %+v", got)
	}

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no files", []string{"db", "import", "--store", store}, exitUsage, "takes one or more FILEs"},
		{"missing file", []string{"db", "import", "--store", store, "/nonexistent/x.ndjson"}, exitUsage, "no such file"},
		{"store is a file", []string{"db", "import", "--store", sampleFile, sampleFile}, exitUsage, "not a directory"},
		{"bad postgres DSN", []string{"db", "import", "--postgres", "postgres://nobody@127.0.0.1:1/x?connect_timeout=2", sampleFile}, exitFailure, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runCLI(t, nil, tt.args...)
			if got.code != tt.code || !strings.Contains(got.stderr, tt.want) {
				t.Fatalf("%q = %+v, want exit %d and %q", tt.args, got, tt.code, tt.want)
			}
		})
	}
}

// TestDBImportPostgres imports into a fresh schema of the server that
// .ci/run starts, and reads the merged rrset back through the store.
func TestDBImportPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)

	in := writeTemp(t, "in.ndjson", []byte(`{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":100,"time_last":200,"count":3}
{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":50,"time_last":150}
not json
`))
	got := runCLI(t, nil, "db", "import", "--postgres", dsn, in)
	if got.code != exitFailure || got.stdout != "imported 2 records from 1 files (1 invalid lines skipped)\n" || !strings.Contains(got.stderr, "in.ndjson:3: ") {
		t.Fatalf("import = %+v", got)
	}
	pg, err := db.OpenPG(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	rs, err := pg.Lookup(t.Context(), db.Query{IPFrom: netip.MustParseAddr("192.0.2.0"), IPTo: netip.MustParseAddr("192.0.2.255")})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].TimeFirst != 50 || rs[0].TimeLast != 200 || rs[0].Count != 4 {
		t.Fatalf("rrsets = %+v, want one: 50..200 count 4", rs)
	}
}

// TestDBServeRefusesBadLimits: the query API's limits and users file are
// checked before anything is opened, and refused as usage errors.
func TestDBServeRefusesBadLimits(t *testing.T) {
	t.Setenv("COFSWITCH_DB_API_KEYS", "k")
	apr1 := writeTemp(t, "users", []byte("alice:$apr1$8zVpL0Qk$2d6SgS4y7Ck7n9z8m3m0a/\n"))
	if err := os.Chmod(apr1, 0o600); err != nil { // a secret file: its owner's alone
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no burst with a rate", []string{"--burst", "0"}, "burst 0: want 1 or more"},
		{"a rate in an unknown unit", []string{"--rate-limit", "10/fortnight"}, `invalid value "10/fortnight" for flag -rate-limit`},
		{"a negative connection cap", []string{"--max-conns", "-1"}, "max conns -1"},
		{"a negative timeout", []string{"--idle-timeout", "-1s"}, "negative timeout"},
		{"an apr1 users file", []string{"--users", apr1}, `users:1: user "alice": api: password format: apr1 (MD5, htpasswd -m) hashes are not accepted`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"db", "serve", "--peer", "p", "--store", t.TempDir(), "--nats-url", "nats://127.0.0.1:1"}, tt.args...)
			got := runCLI(t, nil, args...)
			if got.code != exitUsage || !strings.Contains(got.stderr, tt.want) {
				t.Fatalf("%q = %+v, want exit %d and %q", tt.args, got, exitUsage, tt.want)
			}
		})
	}
}

// TestDBServeOffline: a store filled by 'db import' is answered by 'db
// serve --offline' with no exchange anywhere (no --peer, no NATS URL that
// answers): ready at once, both APIs, the OpenAPI document.
func TestDBServeOffline(t *testing.T) {
	t.Setenv("COFSWITCH_DB_API_KEYS", "k3y")
	store := t.TempDir()
	in := writeTemp(t, "in.ndjson", []byte(`{"rrname":"www.example.org","rrtype":"CNAME","rdata":["Agg.Example.COM."],"time_first":10,"time_last":20}
{"rrname":"example.org","rrtype":"MX","rdata":["10 mx1.example.org."],"time_first":10,"time_last":20}
`))
	if got := runCLI(t, nil, "db", "import", "--store", store, in); got.code != exitOK {
		t.Fatalf("import: %+v", got)
	}
	httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	exited, stderr := runInBackground(ctx, "db", "serve", "--offline", "--store", store, "--http", httpAddr, "--metrics", metricsAddr,
		"--nats-url", "nats://127.0.0.1:1")
	checkFor(t, "ready without a feed", func() bool {
		code, _ := httpGet(t, "http://"+metricsAddr+"/readyz", nil)
		return code == http.StatusOK
	})
	key := map[string]string{"X-Api-Key": "k3y"}
	for path, want := range map[string]string{
		"/dnsdb/v2/lookup/rdata/name/agg.example.com": `"rrname":"www.example.org"`,
		"/dnsdb/v2/lookup/rdata/name/mx1.example.org": `"rrtype":"MX"`,
		"/pdns/query/%2A.example.org":                 `"rrname":"www.example.org"`,
	} {
		if code, body := httpGet(t, "http://"+httpAddr+path, key); code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("%s: %d %q, want %s", path, code, body, want)
		}
	}
	if code, body := httpGet(t, "http://"+httpAddr+"/openapi.json", nil); code != http.StatusOK || !strings.Contains(body, `"openapi": "3.1`) {
		t.Errorf("/openapi.json: %d %.100q", code, body)
	}
	cancel()
	if c := <-exited; c != exitOK {
		t.Errorf("db serve --offline exited %d: %s", c, stderr.String())
	}
	// Without --offline, --peer is still required.
	if got := runCLI(t, nil, "db", "serve", "--store", store); got.code != exitUsage || !strings.Contains(got.stderr, "--offline") {
		t.Errorf("db serve without --peer: %+v", got)
	}
}
