package publish_test

import (
	"context"
	"fmt"
	"log"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/sensor/publish"
)

// A partner's program feeding the exchange as sensor s1, with the seed
// 'cofswitch creds --sensor s1' wrote: batches are sent as they fill, and
// Close waits for every ack.
func Example() {
	refusals := &publish.Refusals{}
	nc, err := bus.Connect("nats://exchange.example.net:4222", "my-sensor", &bus.Auth{NKey: "s1.nk"}, nil,
		publish.ConnectOptions("s1", refusals)...)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	p, err := publish.New(nc, js, publish.Options{Sensor: "s1", Encoding: cof.Zstd, Refusals: refusals})
	if err != nil {
		log.Fatal(err)
	}
	p.Add([]byte(`{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":1700000000,"time_last":1700000000}`))
	res := p.Close(context.Background())
	fmt.Println(res.Records, "records stored;", res.Failed, "batches failed")
}
