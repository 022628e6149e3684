package db

import (
	"slices"
	"testing"

	"github.com/cofswitch/cofswitch/cof"
)

func mustRecord(t *testing.T, line string) *cof.Record {
	t.Helper()
	r, err := cof.Parse([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestMerge(t *testing.T) {
	a := FromRecord(mustRecord(t, `{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.2","192.0.2.1","192.0.2.1"],"time_first":100,"time_last":200,"count":3,"sensor_id":"s2","bailiwick":"com"}`))
	b := FromRecord(mustRecord(t, `{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1","192.0.2.2"],"time_first":50,"time_last":150,"sensor_id":"s1","bailiwick":"example.com"}`))
	c := FromRecord(mustRecord(t, `{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1","192.0.2.2"],"zone_time_first":10,"zone_time_last":20,"count":2,"sensor_id":"s2"}`))
	if a.Key() != b.Key() || a.Key() != c.Key() {
		t.Fatal("the same rrset in any rdata order must have one key")
	}
	a.Merge(b)
	a.Merge(c)
	if a.TimeFirst != 10 || a.TimeLast != 200 || a.Count != 6 || a.Bailiwick != "example.com" ||
		!slices.Equal(a.Sensors, []string{"s1", "s2"}) || !a.HasZoneTimes || a.ZoneTimeFirst != 10 || a.ZoneTimeLast != 20 ||
		!slices.Equal(a.RData, []string{"192.0.2.1", "192.0.2.2"}) {
		t.Errorf("merged %+v", a)
	}
	d := FromRecord(mustRecord(t, `{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}`))
	if d.Key() == a.Key() {
		t.Error("a different rdata set shares the key")
	}
	if got := reverseName("www.example.com"); got != "com.example.www" {
		t.Errorf("reverseName = %q", got)
	}
}
