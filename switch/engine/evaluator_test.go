package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/switch/engine"
)

// TestEvaluatorRefusesUnregisteredSensor: an archived batch of a sensor
// the configuration no longer has gives a backfill nothing, even for a
// peer whose subscription pattern would match its id; a registered one's
// is switched.
func TestEvaluatorRefusesUnregisteredSensor(t *testing.T) {
	cfg, err := config.Parse("c.yaml", []byte(`
sensors: [{id: s1}]
peers:
  - {id: late, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	tab, pols, err := cfg.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	ev, err := engine.NewEvaluator(tab, pols)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	body := records("e-", 3, "")
	if got, err := ev.Evaluate(context.Background(), "removed", 7, body, "", "late"); !errors.Is(err, engine.ErrUnknownSensor) || len(got.Outputs) != 0 {
		t.Errorf("removed sensor: %+v, %v; want nothing and ErrUnknownSensor", got, err)
	}
	got, err := ev.Evaluate(context.Background(), "s1", 8, body, "", "late")
	if err != nil || len(got.Outputs) != 1 || got.Outputs[0].Records != 3 {
		t.Errorf("registered sensor: %+v, %v; want its 3 records", got, err)
	}
}
