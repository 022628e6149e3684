package accounts_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/config"
)

// BenchmarkClaims renders operator mode for a registry of 1,000 sensors
// and 10 peers of 10 organisations: what a reload re-signs.
func BenchmarkClaims(b *testing.B) {
	var y strings.Builder
	y.WriteString("nats: {auth: jwt}\nsensors:\n")
	for i := range 1000 {
		fmt.Fprintf(&y, "  - {id: s%d, organisation: org%d}\n", i, i%10)
	}
	y.WriteString("peers:\n")
	for i := range 10 {
		fmt.Fprintf(&y, "  - {id: p%d, organisation: org%d, subscriptions: [{sensors: [\"*\"], policy: pass, tlp: CLEAR}]}\n", i, i)
	}
	y.WriteString("organisations:\n")
	for i := range 10 {
		kp, _ := nkeys.CreateAccount()
		pub, _ := kp.PublicKey()
		fmt.Fprintf(&y, "  org%d: {signing_keys: [%s]}\n", i, pub)
	}
	cfg, err := config.Parse("b.yaml", []byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	op, _ := accounts.NewOperator()
	plan := accounts.Plan(cfg.Sensors, cfg.Peers, true)
	var size int
	for b.Loop() {
		c, err := op.Claims(plan, accounts.ClaimsOptions{SigningKeys: cfg.SigningKeysOf})
		if err != nil {
			b.Fatal(err)
		}
		size = 0
		for _, t := range c.Accounts {
			size += len(t)
		}
	}
	b.ReportMetric(float64(size), "jwt-bytes")
}
