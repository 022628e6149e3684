package cof

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkPeerConstraints asserts what the strictest consumers require of a
// record: the pdns-qof JSON schema (required fields; rrtype, rrname,
// bailiwick, sensor_id, origin strings; rdata an array of strings; times
// and count numbers) and dnsdbq (times and count JSON integers).
func checkPeerConstraints(line []byte) error {
	if !json.Valid(line) {
		return fmt.Errorf("not valid JSON: %s", line)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return err
	}
	for _, k := range []string{KeyTimeFirst, KeyTimeLast, KeyRRName, KeyRRType, KeyRData} {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("required field %s missing", k)
		}
	}
	for k, v := range m {
		switch k {
		case KeyRRName, KeyRRType, KeyBailiwick, KeySensorID, KeyOrigin:
			if _, ok := v.(string); !ok {
				return fmt.Errorf("%s is %T, want string", k, v)
			}
		case KeyRData:
			arr, ok := v.([]any)
			if !ok || len(arr) == 0 {
				return fmt.Errorf("rdata is %T, want a non-empty array", v)
			}
			for _, e := range arr {
				if _, ok := e.(string); !ok {
					return fmt.Errorf("rdata element is %T, want string", e)
				}
			}
		case KeyTimeFirst, KeyTimeLast, KeyZoneTimeFirst, KeyZoneTimeLast, KeyTimeFirstMS, KeyTimeLastMS, KeyCount:
			n, ok := v.(json.Number)
			if !ok || strings.ContainsAny(string(n), ".eE-") {
				return fmt.Errorf("%s is %v, want a non-negative JSON integer", k, v)
			}
		}
	}
	return nil
}

func TestEncodingSatisfiesPeers(t *testing.T) {
	goldens, _ := filepath.Glob("testdata/golden/*.golden")
	n := 0
	for _, g := range goldens {
		data, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(data, []byte{'\n'}) {
			if len(line) == 0 || line[0] == '#' {
				continue
			}
			n++
			if err := checkPeerConstraints(line); err != nil {
				t.Errorf("%s: %v", g, err)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d canonical lines checked", n)
	}
}

func TestAppendJSONHandBuilt(t *testing.T) {
	// Records built in code (by a policy transform, say) rather than
	// parsed: encoding must still be valid JSON whatever the strings hold.
	r := Record{
		RRName:   "a.example",
		RRType:   TypeTXT,
		RData:    []string{"\"quoted\" \\ back\nnew\x01ctl\xffbad"},
		SensorID: "s\x7f",
		Extra:    []Field{{Name: "added", Value: `{"k":1}`}},
	}
	got := string(r.AppendJSON(nil))
	want := `{"rrname":"a.example","rrtype":"TXT","rdata":["\"quoted\" \\ back\nnew\u0001ctl\ufffdbad"],"time_first":0,"time_last":0,"sensor_id":"s` + "\x7f" + `","added":{"k":1}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Error("not valid JSON")
	}
}
