package gen_test

import (
	"fmt"
	"time"

	"github.com/cofswitch/cofswitch/gen"
)

func Example() {
	g, err := gen.New(gen.Options{Seed: 42, Names: 1000, Sensors: []string{"resolver-1"},
		Now: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s", g.AppendLines(nil, 4))
	// Output:
	// {"rrname":"intranet.suel66.com","rrtype":"A","rdata":["192.168.23.36"],"time_first":1793563305,"time_last":1795736357,"count":617,"bailiwick":"suel66.com","sensor_id":"resolver-1"}
	// {"rrname":"m.anbegori6.fr","rrtype":"CNAME","rdata":["dara.azureedge.net."],"time_first":1793969001,"time_last":1795734781,"count":7254,"bailiwick":"anbegori6.fr","sensor_id":"resolver-1"}
	// {"rrname":"login.suel66.com","rrtype":"AAAA","rdata":["2a00:4e2f:f860::572f"],"time_first":1794890218,"time_last":1795734611,"count":442,"bailiwick":"suel66.com","sensor_id":"resolver-1"}
	// {"rrname":"maorbe4.org","rrtype":"NS","rdata":["ns1.maorbe4.org.","ns2.maorbe4.org."],"time_first":1794593645,"time_last":1795734167,"count":32376,"bailiwick":"org","sensor_id":"resolver-1"}
}
