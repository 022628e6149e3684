package cof

import (
	"errors"
	"strings"
	"testing"
)

// base is a valid record; tests vary one member at a time.
const base = `"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":1700000000,"time_last":1700000100`

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // canonical encoding
	}{
		{
			name: "seed example from the SIG update",
			in:   `{"time_first": 1625639658.6788542, "time_last": 1625639658.6788542, "rrtype": "AAAA", "rrname": "storyportal.ch", "rdata": "2a00:d70:0:b:2002:0:d91a:3dc6", "sensor_id": "circl-feed-ipv6-ct-newlyseen-aaaa"}`,
			want: `{"rrname":"storyportal.ch","rrtype":"AAAA","rdata":["2a00:d70:0:b:2002:0:d91a:3dc6"],"time_first":1625639658,"time_last":1625639658,"time_first_ms":1625639658678,"time_last_ms":1625639658678,"sensor_id":"circl-feed-ipv6-ct-newlyseen-aaaa"}`,
		},
		{
			name: "draft example with count and bailiwick",
			in:   `{"count": 97167, "time_first": 1277353744, "rrtype": "A", "rrname": "www.example.com", "bailiwick": "example.com", "rdata": ["93.184.216.34"], "time_last": 1381590607}`,
			want: `{"rrname":"www.example.com","rrtype":"A","rdata":["93.184.216.34"],"time_first":1277353744,"time_last":1381590607,"count":97167,"bailiwick":"example.com"}`,
		},
		{
			name: "draft example with zone times only",
			in:   `{"count": 5, "zone_time_first": 1374250920, "rrtype": "NS", "rrname": "example.com", "bailiwick": "com", "rdata": ["a.iana-servers.net.", "b.iana-servers.net."], "zone_time_last": 1468253883}`,
			want: `{"rrname":"example.com","rrtype":"NS","rdata":["a.iana-servers.net.","b.iana-servers.net."],"time_first":1374250920,"time_last":1468253883,"zone_time_first":1374250920,"zone_time_last":1468253883,"count":5,"bailiwick":"com"}`,
		},
		{
			name: "seen and zone times together",
			in:   `{` + base + `,"zone_time_first":1,"zone_time_last":2}`,
			want: `{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":1700000000,"time_last":1700000100,"zone_time_first":1,"zone_time_last":2}`,
		},
		{
			name: "rdata as a single string becomes an array",
			in:   `{"rrname":"a.example","rrtype":"CNAME","rdata":"b.example.","time_first":1,"time_last":1}`,
			want: `{"rrname":"a.example","rrtype":"CNAME","rdata":["b.example."],"time_first":1,"time_last":1}`,
		},
		{
			name: "numeric rrtype with a mnemonic",
			in:   `{"rrname":"a.example","rrtype":28,"rdata":"2001:db8::1","time_first":1,"time_last":1}`,
			want: `{"rrname":"a.example","rrtype":"AAAA","rdata":["2001:db8::1"],"time_first":1,"time_last":1}`,
		},
		{
			name: "numeric rrtype without a mnemonic (RFC 3597)",
			in:   `{"rrname":"a.example","rrtype":65280,"rdata":"\\# 0","time_first":1,"time_last":1}`,
			want: `{"rrname":"a.example","rrtype":"TYPE65280","rdata":["\\# 0"],"time_first":1,"time_last":1}`,
		},
		{
			name: "rrtype TYPEnnn form of a known type",
			in:   `{"rrname":"a.example","rrtype":"TYPE15","rdata":"10 mx.example.","time_first":1,"time_last":1}`,
			want: `{"rrname":"a.example","rrtype":"MX","rdata":["10 mx.example."],"time_first":1,"time_last":1}`,
		},
		{
			name: "lower-case mnemonic",
			in:   `{"rrname":"a.example","rrtype":"https","rdata":"1 . alpn=h2","time_first":1,"time_last":1}`,
			want: `{"rrname":"a.example","rrtype":"HTTPS","rdata":["1 . alpn=h2"],"time_first":1,"time_last":1}`,
		},
		{
			name: "rrname case, trailing dot",
			in:   `{"rrname":"WWW.Example.COM.","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`,
			want: `{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":1}`,
		},
		{
			name: "IDN to A-labels, in rrname and bailiwick",
			in:   `{"rrname":"Bücher.example","bailiwick":"ÉCOLE.fr.","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`,
			want: `{"rrname":"xn--bcher-kva.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":1,"bailiwick":"xn--cole-9oa.fr"}`,
		},
		{
			name: "escaped IDN in JSON",
			in:   `{"rrname":"b\u00fccher.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`,
			want: `{"rrname":"xn--bcher-kva.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":1}`,
		},
		{
			name: "root name",
			in:   `{"rrname":".","rrtype":"NS","rdata":["a.root-servers.net."],"time_first":1,"time_last":1,"bailiwick":"."}`,
			want: `{"rrname":".","rrtype":"NS","rdata":["a.root-servers.net."],"time_first":1,"time_last":1,"bailiwick":"."}`,
		},
		{
			name: "underscore and wildcard labels",
			in:   `{"rrname":"*._TCP.Example","rrtype":"SRV","rdata":"0 5 443 a.example.","time_first":1,"time_last":1}`,
			want: `{"rrname":"*._tcp.example","rrtype":"SRV","rdata":["0 5 443 a.example."],"time_first":1,"time_last":1}`,
		},
		{
			name: "space in a label becomes a \\DDD escape",
			in:   `{"rrname":"a b.example","rrtype":"TXT","rdata":"\"x\"","time_first":1,"time_last":1}`,
			want: `{"rrname":"a\\032b.example","rrtype":"TXT","rdata":["\"x\""],"time_first":1,"time_last":1}`,
		},
		{
			name: "escaped dot inside a label",
			in:   `{"rrname":"a\\.b.example.","rrtype":"TXT","rdata":"\"x\"","time_first":1,"time_last":1}`,
			want: `{"rrname":"a\\.b.example","rrtype":"TXT","rdata":["\"x\""],"time_first":1,"time_last":1}`,
		},
		{
			name: "escapes of ordinary characters are written plainly",
			in:   `{"rrname":"A\\065b.\\E\\x\\097mple.","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`,
			want: `{"rrname":"aab.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":1}`,
		},
		{
			name: "escapes that must stay escapes",
			in:   `{"rrname":"a\\046b\\092c\\ d\\000e\\255.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`,
			want: `{"rrname":"a\\.b\\\\c\\032d\\000e\\255.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":1}`,
		},
		{
			name: "AAAA rewritten in RFC 5952 form",
			in:   `{"rrname":"a.example","rrtype":"AAAA","rdata":["2001:DB8:0:0:0:0:0:1","::ffff:192.0.2.1"],"time_first":1,"time_last":1}`,
			want: `{"rrname":"a.example","rrtype":"AAAA","rdata":["2001:db8::1","::ffff:192.0.2.1"],"time_first":1,"time_last":1}`,
		},
		{
			name: "fraction of zero still yields milliseconds",
			in:   `{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":10.0,"time_last":11.5}`,
			want: `{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":10,"time_last":11,"time_first_ms":10000,"time_last_ms":11500}`,
		},
		{
			name: "exponent notation, exact",
			in:   `{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":1.6e9,"time_last":16000000005E-1,"count":1e2}`,
			want: `{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1600000000,"time_last":1600000000,"time_last_ms":1600000000500,"count":100}`,
		},
		{
			name: "milliseconds given explicitly",
			in:   `{` + base + `,"time_first_ms":1700000000123,"time_last_ms":1700000100999}`,
			want: `{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":1700000000,"time_last":1700000100,"time_first_ms":1700000000123,"time_last_ms":1700000100999}`,
		},
		{
			name: "integral count written as 2.0",
			in:   `{` + base + `,"count":2.0}`,
			want: `{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":1700000000,"time_last":1700000100,"count":2}`,
		},
		{
			name: "count zero",
			in:   `{` + base + `,"count":0}`,
			want: `{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":1700000000,"time_last":1700000100,"count":0}`,
		},
		{
			name: "null optional fields read as absent",
			in:   `{` + base + `,"count":null,"bailiwick":null,"sensor_id":null,"origin":null}`,
			want: `{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":1700000000,"time_last":1700000100}`,
		},
		{
			name: "unknown fields kept byte-exact, in order",
			in:   `{"futureField": {"a" : [1, 2.50, "x"]},` + base + `, "z":null, "\u0078y": true}`,
			want: `{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":1700000000,"time_last":1700000100,"futureField":{"a" : [1, 2.50, "x"]},"z":null,"\u0078y":true}`,
		},
		{
			name: "origin and sensor_id with escapes",
			in:   `{` + base + `,"sensor_id":"s\/1 \u00e9","origin":"https://pdns.example/\"q\""}`,
			want: `{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":1700000000,"time_last":1700000100,"sensor_id":"s/1 é","origin":"https://pdns.example/\"q\""}`,
		},
		{
			name: "escaped known key",
			in:   `{"rr\u006eame":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`,
			want: `{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":1}`,
		},
		{
			name: "whitespace around everything",
			in:   " \t{ \"rrname\" : \"a.example\" , \"rrtype\" : \"A\" , \"rdata\" : [ \"192.0.2.1\" , \"192.0.2.2\" ] , \"time_first\" : 1 , \"time_last\" : 1 } \r",
			want: `{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1","192.0.2.2"],"time_first":1,"time_last":1}`,
		},
		{
			name: "63-octet label and 253-octet name",
			in:   `{"rrname":"` + strings.Repeat("a", 63) + `.` + name253[64:] + `","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`,
			want: `{"rrname":"` + strings.Repeat("a", 63) + `.` + name253[64:] + `","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":1}`,
		},
		{
			name: "latest time accepted",
			in:   `{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":0,"time_last":253402300799}`,
			want: `{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":0,"time_last":253402300799}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := string(r.AppendJSON(nil)); got != tt.want {
				t.Errorf("encoding\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

// name253 is a 253-octet name of 63-octet labels.
var name253 = strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("e", 61)

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		sentinel error
		field    string
		reason   string // a substring of the reason
	}{
		{name: "empty line", in: ``, sentinel: ErrSyntax, reason: "empty line"},
		{name: "array", in: `[1,2]`, sentinel: ErrSyntax, reason: "JSON array, not an object"},
		{name: "string", in: `"x"`, sentinel: ErrSyntax, reason: "JSON string, not an object"},
		{name: "not JSON", in: `hello`, sentinel: ErrSyntax, reason: "invalid JSON at byte 1"},
		{name: "two objects", in: `{` + base + `}{` + base + `}`, sentinel: ErrSyntax, reason: "data after the JSON object"},
		{name: "trailing comma", in: `{` + base + `,}`, sentinel: ErrSyntax, reason: "expected string"},
		{name: "unterminated", in: `{` + base, sentinel: ErrSyntax, reason: "expected ',' or '}'"},
		{name: "single quotes", in: `{'rrname':'a'}`, sentinel: ErrSyntax},
		{name: "invalid UTF-8", in: `{"rrname":"a` + "\xff" + `.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrSyntax, reason: "invalid UTF-8"},
		{name: "raw control character", in: "{\"rrname\":\"a\x01b\"}", sentinel: ErrSyntax, reason: "control character"},
		{name: "bad escape", in: `{"rrname":"a\qb"}`, sentinel: ErrSyntax, reason: "unknown escape"},
		{name: "lone surrogate", in: `{"rrname":"a\ud800b","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrBadField, field: "rrname", reason: "surrogate"},
		{name: "leading zero number", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1","time_first":01,"time_last":1}`, sentinel: ErrSyntax},
		{name: "NaN", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1","time_first":NaN,"time_last":1}`, sentinel: ErrType, field: "time_first"},
		{name: "deep nesting in unknown field", in: `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `,` + base + `}`, sentinel: ErrSyntax, reason: "nesting deeper than 64"},

		{name: "missing rrname", in: `{"rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrMissingField, field: "rrname", reason: "missing"},
		{name: "missing rrtype", in: `{"rrname":"a","rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrMissingField, field: "rrtype"},
		{name: "missing rdata", in: `{"rrname":"a","rrtype":"A","time_first":1,"time_last":1}`, sentinel: ErrMissingField, field: "rdata"},
		{name: "missing all times", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1"}`, sentinel: ErrMissingField, field: "time_first"},
		{name: "missing time_last", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1","time_first":1}`, sentinel: ErrMissingField, field: "time_last"},
		{name: "missing time_first", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1","time_last":1}`, sentinel: ErrMissingField, field: "time_first"},
		{name: "missing zone_time_last", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1","zone_time_first":1}`, sentinel: ErrMissingField, field: "zone_time_last"},
		{name: "ms without seconds", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1","zone_time_first":1,"zone_time_last":1,"time_first_ms":1000}`, sentinel: ErrMissingField, field: "time_first"},

		{name: "rrname number", in: `{"rrname":5,"rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrType, field: "rrname", reason: "want string, got number"},
		{name: "rrtype bool", in: `{"rrname":"a","rrtype":true,"rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrType, field: "rrtype", reason: "want string or number, got boolean"},
		{name: "rdata object", in: `{"rrname":"a","rrtype":"A","rdata":{},"time_first":1,"time_last":1}`, sentinel: ErrType, field: "rdata"},
		{name: "rdata element number", in: `{"rrname":"a","rrtype":"A","rdata":["192.0.2.1",7],"time_first":1,"time_last":1}`, sentinel: ErrType, field: "rdata[1]", reason: "want string, got number"},
		{name: "time string", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1","time_first":"1","time_last":1}`, sentinel: ErrType, field: "time_first", reason: "want number, got string"},
		{name: "time null", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1","time_first":null,"time_last":1}`, sentinel: ErrType, field: "time_first", reason: "got null"},
		{name: "count string (CIRCL style)", in: `{` + base + `,"count":"12"}`, sentinel: ErrType, field: "count", reason: "want number, got string"},
		{name: "bailiwick number", in: `{` + base + `,"bailiwick":1}`, sentinel: ErrType, field: "bailiwick"},
		{name: "sensor_id array", in: `{` + base + `,"sensor_id":["a"]}`, sentinel: ErrType, field: "sensor_id"},
		{name: "origin number", in: `{` + base + `,"origin":1}`, sentinel: ErrType, field: "origin"},
		{name: "zone time string", in: `{` + base + `,"zone_time_first":"1","zone_time_last":2}`, sentinel: ErrType, field: "zone_time_first"},

		{name: "duplicate known key", in: `{` + base + `,"rrname":"b"}`, sentinel: ErrDuplicateKey, field: "rrname"},
		{name: "duplicate via escape", in: `{` + base + `,"rr\u006eame":"b"}`, sentinel: ErrDuplicateKey, field: "rrname"},
		{name: "duplicate unknown key", in: `{` + base + `,"x":1,"x":2}`, sentinel: ErrDuplicateKey, field: "x"},
		{name: "duplicate null optional", in: `{` + base + `,"count":null,"count":3}`, sentinel: ErrDuplicateKey, field: "count"},

		{name: "time order", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1","time_first":2,"time_last":1}`, sentinel: ErrBadTime, field: "time_first", reason: "2 is after time_last 1"},
		{name: "zone time order", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1","zone_time_first":2,"zone_time_last":1}`, sentinel: ErrBadTime, field: "zone_time_first"},
		{name: "ms order in one second", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1","time_first":1.9,"time_last":1.1}`, sentinel: ErrBadTime, field: "time_first_ms"},
		{name: "ms disagree", in: `{` + base + `,"time_first_ms":1600000000000}`, sentinel: ErrBadTime, field: "time_first_ms", reason: "disagrees with time_first"},
		{name: "negative time", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1","time_first":-1,"time_last":1}`, sentinel: ErrBadTime, field: "time_first", reason: "negative"},
		{name: "negative fractional time", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1","time_first":-0.5,"time_last":1}`, sentinel: ErrBadTime, field: "time_first", reason: "negative"},
		{name: "time after 9999", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":253402300800}`, sentinel: ErrBadTime, field: "time_last", reason: "beyond 9999"},
		{name: "time overflow (non-finite as float)", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1e400}`, sentinel: ErrBadTime, field: "time_last"},
		{name: "huge exponent", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1e99999999999999999999}`, sentinel: ErrBadTime, field: "time_last"},

		{name: "negative count", in: `{` + base + `,"count":-3}`, sentinel: ErrBadCount, field: "count", reason: "negative"},
		{name: "fractional count", in: `{` + base + `,"count":1.5}`, sentinel: ErrBadCount, field: "count", reason: "not an integer"},
		{name: "huge count", in: `{` + base + `,"count":9007199254740992}`, sentinel: ErrBadCount, field: "count", reason: "exceeds"},

		{name: "empty rrname", in: `{"rrname":"","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrBadName, field: "rrname", reason: "empty name"},
		{name: "empty label", in: `{"rrname":"a..b","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrBadName, field: "rrname", reason: "empty label"},
		{name: "leading dot", in: `{"rrname":".a","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrBadName, field: "rrname", reason: "empty label"},
		{name: "two trailing dots", in: `{"rrname":"a..","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrBadName, field: "rrname", reason: "empty label"},
		{name: "64-octet label", in: `{"rrname":"` + strings.Repeat("a", 64) + `.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrBadName, field: "rrname", reason: "longer than 63"},
		{name: "254-octet name", in: `{"rrname":"x.` + name253 + `","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrBadName, field: "rrname", reason: "longer than 253"},
		{name: "escape above 255", in: `{"rrname":"a\\256.b","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrBadName, field: "rrname", reason: "above 255"},
		{name: "short DDD escape", in: `{"rrname":"a\\25","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrBadName, field: "rrname", reason: "bad \\DDD"},
		{name: "dangling backslash", in: `{"rrname":"a\\","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrBadName, field: "rrname", reason: "dangling"},
		{name: "invalid IDN", in: `{"rrname":"\u0300ab.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrBadName, field: "rrname", reason: "invalid internationalised label"},
		{name: "bad bailiwick", in: `{` + base + `,"bailiwick":"a..b"}`, sentinel: ErrBadName, field: "bailiwick"},

		{name: "unknown mnemonic", in: `{"rrname":"a","rrtype":"BOGUS","rdata":"x","time_first":1,"time_last":1}`, sentinel: ErrBadRRType, field: "rrtype", reason: `unknown type "BOGUS"`},
		{name: "type 0", in: `{"rrname":"a","rrtype":0,"rdata":"x","time_first":1,"time_last":1}`, sentinel: ErrBadRRType, field: "rrtype"},
		{name: "TYPE0", in: `{"rrname":"a","rrtype":"TYPE0","rdata":"x","time_first":1,"time_last":1}`, sentinel: ErrBadRRType, field: "rrtype"},
		{name: "type 65536", in: `{"rrname":"a","rrtype":65536,"rdata":"x","time_first":1,"time_last":1}`, sentinel: ErrBadRRType, field: "rrtype"},
		{name: "fractional type", in: `{"rrname":"a","rrtype":1.5,"rdata":"x","time_first":1,"time_last":1}`, sentinel: ErrBadRRType, field: "rrtype"},
		{name: "negative type", in: `{"rrname":"a","rrtype":-1,"rdata":"x","time_first":1,"time_last":1}`, sentinel: ErrBadRRType, field: "rrtype"},

		{name: "A not an address", in: `{"rrname":"a","rrtype":"A","rdata":"192.0.2","time_first":1,"time_last":1}`, sentinel: ErrBadRData, field: "rdata", reason: "not an IPv4 address"},
		{name: "A with IPv6", in: `{"rrname":"a","rrtype":"A","rdata":["192.0.2.1","2001:db8::1"],"time_first":1,"time_last":1}`, sentinel: ErrBadRData, field: "rdata[1]", reason: "not an IPv4 address"},
		{name: "A with leading zeros", in: `{"rrname":"a","rrtype":"A","rdata":"192.000.2.1","time_first":1,"time_last":1}`, sentinel: ErrBadRData, field: "rdata"},
		{name: "AAAA with IPv4", in: `{"rrname":"a","rrtype":"AAAA","rdata":"192.0.2.1","time_first":1,"time_last":1}`, sentinel: ErrBadRData, field: "rdata", reason: "not an IPv6 address"},
		{name: "AAAA with zone", in: `{"rrname":"a","rrtype":"AAAA","rdata":"fe80::1%eth0","time_first":1,"time_last":1}`, sentinel: ErrBadRData, field: "rdata"},
		{name: "empty rdata array", in: `{"rrname":"a","rrtype":"A","rdata":[],"time_first":1,"time_last":1}`, sentinel: ErrBadRData, field: "rdata", reason: "empty array"},
		{name: "empty rdata string", in: `{"rrname":"a","rrtype":"TXT","rdata":"","time_first":1,"time_last":1}`, sentinel: ErrBadRData, field: "rdata", reason: "empty string"},

		{name: "empty sensor_id", in: `{` + base + `,"sensor_id":""}`, sentinel: ErrBadField, field: "sensor_id", reason: "empty"},
		{name: "control character in sensor_id", in: `{` + base + `,"sensor_id":"a\u0000b"}`, sentinel: ErrBadField, field: "sensor_id", reason: "control character"},
		{name: "long sensor_id", in: `{` + base + `,"sensor_id":"` + strings.Repeat("s", 257) + `"}`, sentinel: ErrBadField, field: "sensor_id", reason: "longer than 256"},
		{name: "empty origin", in: `{` + base + `,"origin":""}`, sentinel: ErrBadField, field: "origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse accepted it: %s", r.AppendJSON(nil))
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("error %q does not wrap %v", err, tt.sentinel)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not a *cof.Error", err)
			}
			if tt.field != "" && e.Field != tt.field {
				t.Errorf("field = %q, want %q (error %q)", e.Field, tt.field, err)
			}
			if !strings.Contains(e.Reason, tt.reason) {
				t.Errorf("reason %q does not contain %q", e.Reason, tt.reason)
			}
			if !r.Equal(&Record{}) {
				t.Errorf("rejected record not left zero: %+v", r)
			}
		})
	}
}

func TestParseLineLimit(t *testing.T) {
	p, err := NewParser(WithMaxLineBytes(100))
	if err != nil {
		t.Fatal(err)
	}
	var r Record
	line := []byte(`{` + base + `,"x":"` + strings.Repeat("a", 100) + `"}`)
	err = p.Parse(line, &r)
	if !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("got %v, want ErrLineTooLong", err)
	}
	if !strings.Contains(err.Error(), "exceeds the limit of 100") {
		t.Errorf("error %q does not state the limit", err)
	}
	if _, err := NewParser(WithMaxLineBytes(1)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("WithMaxLineBytes(1): got %v, want ErrInvalidOption", err)
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Line: 7, Field: "rrname", Reason: "empty label", Err: ErrBadName}
	if got, want := e.Error(), "line 7: rrname: empty label"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := e.Detail(), "rrname: empty label"; got != want {
		t.Errorf("Detail() = %q, want %q", got, want)
	}
	e = &Error{Reason: "empty line", Err: ErrSyntax}
	if got, want := e.Error(), "empty line"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestParserReuse checks that records from one Parser stay intact while it
// parses more: they share no bytes with the Parser's buffers.
func TestParserReuse(t *testing.T) {
	var p Parser
	var recs []Record
	for i, line := range []string{
		`{"rrname":"one.example","rrtype":"A","rdata":["192.0.2.1","192.0.2.2"],"time_first":1,"time_last":2,"x":1}`,
		`{"rrname":"two.example","rrtype":"AAAA","rdata":"2001:DB8::2","time_first":3,"time_last":4,"y":[2]}`,
		`{"rrname":"three.example","rrtype":"TXT","rdata":["\"a\"","\"b\"","\"c\""],"time_first":5,"time_last":6}`,
	} {
		var r Record
		buf := []byte(line)
		if err := p.Parse(buf, &r); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		for j := range buf {
			buf[j] = 'X' // the record must not alias its input
		}
		recs = append(recs, r)
	}
	recs[0].RData = append(recs[0].RData, "192.0.2.3") // must not clobber recs[1]
	want := []string{
		`{"rrname":"one.example","rrtype":"A","rdata":["192.0.2.1","192.0.2.2","192.0.2.3"],"time_first":1,"time_last":2,"x":1}`,
		`{"rrname":"two.example","rrtype":"AAAA","rdata":["2001:db8::2"],"time_first":3,"time_last":4,"y":[2]}`,
		`{"rrname":"three.example","rrtype":"TXT","rdata":["\"a\"","\"b\"","\"c\""],"time_first":5,"time_last":6}`,
	}
	for i := range recs {
		if got := string(recs[i].AppendJSON(nil)); got != want[i] {
			t.Errorf("record %d\n got: %s\nwant: %s", i, got, want[i])
		}
	}
}

func TestTypeString(t *testing.T) {
	tests := []struct {
		typ  Type
		want string
	}{
		{TypeA, "A"}, {TypeAAAA, "AAAA"}, {TypeSOA, "SOA"}, {65, "HTTPS"}, {64, "SVCB"},
		{257, "CAA"}, {65280, "TYPE65280"}, {0, "TYPE0"}, {65535, "TYPE65535"},
	}
	for _, tt := range tests {
		if got := tt.typ.String(); got != tt.want {
			t.Errorf("Type(%d).String() = %q, want %q", tt.typ, got, tt.want)
		}
		if tt.typ == 0 {
			continue
		}
		back, ok := ParseType(tt.want)
		if !ok || back != tt.typ {
			t.Errorf("ParseType(%q) = %d, %v; want %d", tt.want, back, ok, tt.typ)
		}
	}
	for _, bad := range []string{"", "TYPE", "TYPE0", "TYPE012", "TYPE65536", "NONE", "RESERVED", "A A", "TYPE-1"} {
		if typ, ok := ParseType(bad); ok {
			t.Errorf("ParseType(%q) = %d, want rejection", bad, typ)
		}
	}
}

// TestAddrs: the parser keeps the addresses it validated, one per rdata,
// in their canonical form; Addr reads them, or parses when they are not
// known.
func TestAddrs(t *testing.T) {
	r, err := Parse([]byte(`{"rrname":"a.example","rrtype":"AAAA","rdata":["2001:DB8::0:1","::ffff:192.0.2.1"],"time_first":1,"time_last":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Addrs) != 2 || r.Addrs[0].String() != r.RData[0] || r.RData[0] != "2001:db8::1" || r.Addrs[1].String() != r.RData[1] {
		t.Errorf("rdata %v, addrs %v", r.RData, r.Addrs)
	}
	c, err := Parse([]byte(`{"rrname":"a.example","rrtype":"CNAME","rdata":"b.example","time_first":1,"time_last":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addrs != nil {
		t.Errorf("CNAME with addrs %v", c.Addrs)
	}
	if _, ok := c.Addr(0); ok {
		t.Error("a name read as an address")
	}
	byHand := Record{RRType: TypeA, RData: []string{"192.0.2.9"}}
	if a, ok := byHand.Addr(0); !ok || a.String() != "192.0.2.9" {
		t.Errorf("record built by hand: %v %v", a, ok)
	}
}

func TestAppendName(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		bad      bool
	}{
		{in: "WWW.Example.COM.", want: "www.example.com"},
		{in: ".", want: "."},
		{in: "a\\.b.example", want: "a\\.b.example"},
		{in: "bücher.example", want: "xn--bcher-kva.example"},
		{in: "a..b", bad: true},
		{in: "", bad: true},
	} {
		got, err := AppendName([]byte("x:"), []byte(tt.in))
		if tt.bad {
			if !errors.Is(err, ErrBadName) || string(got) != "x:" {
				t.Errorf("AppendName(%q) = %q, %v; want ErrBadName and dst unchanged", tt.in, got, err)
			}
			continue
		}
		if err != nil || string(got) != "x:"+tt.want {
			t.Errorf("AppendName(%q) = %q, %v; want %q", tt.in, got, err, "x:"+tt.want)
		}
	}
}
