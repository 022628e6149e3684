package policy

import (
	"fmt"
	"strings"
	"testing"
)

// TestExplainChanges: Explain says field by field what each transform
// changed, with plain values: lists joined, times in RFC 3339, dropped
// fields marked.
func TestExplainChanges(t *testing.T) {
	line := `{"rrname":"www.example.com","rrtype":"A","rdata":["93.184.216.34","93.184.216.35"],"time_first":1277353744,"time_last":1381590607,"count":97167,"bailiwick":"example.com","sensor_id":"org-a-s1"}`
	for _, tt := range []struct {
		name string
		spec TransformSpec
		want string
	}{
		{name: "none", want: ""},
		{name: "truncate_ip", spec: TransformSpec{TruncateIP: &TruncateSpec{IPv4: 24}},
			want: "rdata 93.184.216.34,93.184.216.35 -> 93.184.216.0 (truncate_ip)"},
		{name: "coarsen_time", spec: TransformSpec{CoarsenTime: "1h"},
			want: "time_first 2010-06-24T04:29:04Z -> 2010-06-24T04:00:00Z (coarsen_time); time_last 2013-10-12T15:10:07Z -> 2013-10-12T16:00:00Z (coarsen_time)"},
		{name: "drop_fields", spec: TransformSpec{DropFields: []string{"bailiwick", "count"}},
			want: "bailiwick dropped (drop_fields); count dropped (drop_fields)"},
		{name: "set_fields", spec: TransformSpec{SetFields: map[string]string{"origin": "cert-xy"}},
			want: "origin added: cert-xy (set_fields)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCompile(t, &Spec{Transforms: tt.spec})
			e := c.Explain(rec(t, line))
			var parts []string
			for _, ch := range e.Changes {
				switch {
				case ch.Dropped:
					parts = append(parts, fmt.Sprintf("%s dropped (%s)", ch.Field, ch.Transform))
				case ch.Added:
					parts = append(parts, fmt.Sprintf("%s added: %s (%s)", ch.Field, ch.After, ch.Transform))
				default:
					parts = append(parts, fmt.Sprintf("%s %s -> %s (%s)", ch.Field, ch.Before, ch.After, ch.Transform))
				}
			}
			if got := strings.Join(parts, "; "); got != tt.want {
				t.Errorf("changes:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
