// Package accounts holds what makes an exchange safe between
// organisations: the NATS accounts, users and permissions generated from
// the registry, in which the NATS server (not only the switch) keeps each
// organisation to its own data, and the names (inbox prefixes, the API
// prefix) that sensors and peers must use under them.
//
// It renders text and imports no NATS client; of cofswitch it imports only
// config (the registry's types) and routing (subjects and tokens).
//
// The model: one account per identity (each sensor, each peer), named for
// its organisation, plus EXCHANGE (the streams and the switch) and SYS.
// Identities do not share accounts, even within an organisation, because
// what an account imports is reachable by more than its users'
// permissions: a request's reply subject is free (a sensor could have a
// publish ack planted on a sibling's input; a peer could have its feed
// replayed onto a sensor input), and a leaf-node connection is not held to
// the permissions on $JS.ACK (one peer's leaf could fetch and ack a
// sibling peer's feed). With one identity per account, the only subjects
// reachable are that identity's own. Organisations see nothing of EXCHANGE but what it
// exports to them alone: to a sensor's account, the service cof.in.<sensor>
// (publish with JetStream acks) and the API of its two consumers on its
// own dead letters (see sensorServices); to a peer's account, the consumer API of
// the durable consumers provisioned on its stream PEER_<peer> (fetch, info,
// ack; under APIPrefix), and that stream's info and direct get (so that it
// can read its own feed without taking from its consumers), its control
// subject cof.ctl.peer.<peer> (requests about its own subscriptions, see
// peerControlService), and nothing that creates or lists. Within its account each user
// may publish only its own subjects and read only its own inbox prefix.
package accounts

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
)

// Account names.
const (
	ExchangeAccount = "EXCHANGE"
	SystemAccount   = "SYS"
	orgPrefix       = "ORG:"
)

// SensorAccount is the account of one sensor. Escaped tokens never hold
// ':', so the name is unambiguous.
func SensorAccount(org, id string) string {
	return orgPrefix + routing.EscapeToken(org) + ":sensor:" + routing.EscapeToken(id)
}

// PeerAccount is the account of one peer.
func PeerAccount(org, id string) string {
	return orgPrefix + routing.EscapeToken(org) + ":peer:" + routing.EscapeToken(id)
}

// accountLimits bound what one identity can hold on the exchange's
// server: a handful of connections, its subscriptions, one leaf node.
const accountLimits = "limits { max_connections: 16, max_subscriptions: 256, max_leafnodes: 1 }"

// SensorInbox and PeerInbox are the inbox prefixes each identity must use
// (nats.CustomInboxPrefix); its permissions allow no other.
func SensorInbox(id string) string { return "_INBOX.s." + routing.EscapeToken(id) }

// PeerInbox: see SensorInbox.
func PeerInbox(id string) string { return "_INBOX.p." + routing.EscapeToken(id) }

// APIPrefix is where a peer's account sees the exchange's JetStream API
// (jetstream.NewWithAPIPrefix): the server answers $JS.API in every
// account itself, so an import under that name would never reach
// EXCHANGE.
const APIPrefix = "JS.EXCHANGE.API"

// service is one exported subject and its name in the importing account.
// A fetch answers with many messages, so its export must allow a stream of
// responses: the default (one response) would silently drop all but the
// first message of every batch.
type service struct {
	remote, local string
	stream        bool
}

// peerServices are the parts of the consumer API a peer may use for one of
// its consumers: fetch, info and ack.
func peerServices(peer, consumer string) []service {
	return consumerServices(routing.PeerStream(peer), consumer)
}

// sensorServices are the parts of the consumer API a sensor may use to
// read its own dead letters: fetch, info and ack of its consumer on
// COF_DLQ, which the switch filters to the sensor's subject; and to list
// them, fetch, info and reset (rewind) of its view consumer, filtered
// alike and acking nothing. A reset moves only that consumer, and only
// within the sensor's own subject.
func sensorServices(sensor string) []service {
	svcs := consumerServices(routing.DLQStream, routing.DLQConsumer(sensor))
	view := routing.DLQStream + "." + routing.DLQViewConsumer(sensor)
	for _, api := range []string{"CONSUMER.MSG.NEXT.", "CONSUMER.INFO.", "CONSUMER.RESET."} {
		svcs = append(svcs, service{"$JS.API." + api + view, APIPrefix + "." + api + view, api == "CONSUMER.MSG.NEXT."})
	}
	return svcs
}

// consumerServices are fetch, info and ack of one durable consumer.
func consumerServices(stream, consumer string) []service {
	next := "CONSUMER.MSG.NEXT." + stream + "." + consumer
	info := "CONSUMER.INFO." + stream + "." + consumer
	ack := "$JS.ACK." + stream + "." + consumer + ".>"
	return []service{
		{"$JS.API." + next, APIPrefix + "." + next, true},
		{"$JS.API." + info, APIPrefix + "." + info, false},
		{ack, ack, false},
	}
}

// peerFeedServices are the parts of the stream API a peer may use to read
// its own stream without a consumer (cofswitch tail): the stream's info
// (first and last sequence) and direct get, one message per request. The
// last-by-subject form of direct get ($JS.API.DIRECT.GET.<stream>.<subject>)
// is not exported: get-next-by-subject needs only the plain subject.
func peerFeedServices(peer string) []service {
	stream := routing.PeerStream(peer)
	info := "STREAM.INFO." + stream
	get := "DIRECT.GET." + stream
	return []service{
		{"$JS.API." + info, APIPrefix + "." + info, false},
		{"$JS.API." + get, APIPrefix + "." + get, false},
	}
}

// peerControlService is the subject on which a peer asks the switch about
// its own subscriptions (see switch/selfservice): exported to the peer's
// account alone, so that a request on it can only come from that peer;
// the reply reaches the peer's inbox through the import.
func peerControlService(peer string) service {
	subj := routing.ControlSubject(peer)
	return service{remote: subj, local: subj}
}

// ServerOptions is what the generated configuration needs besides the
// registry.
type ServerOptions struct {
	Version   string // the configuration's version, written in the header
	Listen    string // host:port
	StoreDir  string // JetStream store; "" for a config meant for an existing cluster
	SwitchKey string // public nkey of the switch's user in EXCHANGE
	Name      string // server name
	TLS       *TLSFiles
	Monitor   string   // host:port of the monitoring endpoints (/healthz, /varz); "" for none
	Cluster   *Cluster // routes to the other servers of a cluster; nil for a lone server
}

// Cluster is the route listener of one server of a cluster and the routes
// to the others. Routes carry every account's messages, so they are
// authenticated: each server admits routes that present User and
// Password, and presents them to the others.
type Cluster struct {
	Name           string   // the cluster's name, the same on every server
	Listen         string   // host:port of this server's route listener
	Routes         []string // host:port of every server's route listener (its own is ignored by the server)
	User, Password string
}

// TLSFiles enables TLS on the client listener; with CA set, clients must
// present certificates it signed (mutual TLS).
type TLSFiles struct {
	Cert, Key, CA string
}

// ServerConfig renders a nats-server configuration that enforces the
// exchange's isolation for a registry of sensors and peers. Sensors and
// peers without an nkey get no user. The same text configures the embedded
// server and is what 'cofswitch nats-config' prints for an existing
// deployment.
func ServerConfig(sensors []config.Sensor, peers []config.Peer, o ServerOptions) (string, error) {
	if o.SwitchKey == "" {
		return "", fmt.Errorf("accounts: the switch needs an nkey")
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	writeHead(&b, o)
	w("system_account: %s\n", SystemAccount)
	w("accounts {\n")
	w("  %s {}\n", SystemAccount)

	orgs := map[string]*orgAccount{}
	var exports []string
	for _, id := range Plan(sensors, peers, false) {
		a := &orgAccount{}
		orgs[id.Account] = a
		allowed := grant(a, id.Account, id.Services, &exports)
		a.users = append(a.users, user(id.NKey, allowed, id.Inbox+".>"))
	}
	w("  %s {\n    jetstream: enabled\n", ExchangeAccount)
	w("    users: [ { nkey: %s } ]\n", q(o.SwitchKey))
	w("    exports: [\n")
	for _, e := range exports {
		w("      %s\n", e)
	}
	w("    ]\n  }\n")
	writeOrgAccounts(&b, orgs)
	w("}\n")
	return b.String(), nil
}

// writeOrgAccounts renders the identities' accounts, by name.
func writeOrgAccounts(b *strings.Builder, orgs map[string]*orgAccount) {
	for _, n := range slices.Sorted(maps.Keys(orgs)) {
		a := orgs[n]
		fmt.Fprintf(b, "  %s {\n    %s\n    users: [\n", q(n), accountLimits)
		for _, u := range a.users {
			fmt.Fprintf(b, "      %s\n", u)
		}
		b.WriteString("    ]\n    imports: [\n")
		for _, i := range a.imports {
			fmt.Fprintf(b, "      %s\n", i)
		}
		b.WriteString("    ]\n  }\n")
	}
}

// TLSConfig renders the tls block of a server configuration, or "".
func TLSConfig(t *TLSFiles) string {
	if t == nil || t.Cert == "" {
		return ""
	}
	s := fmt.Sprintf("tls {\n  cert_file: %s\n  key_file: %s\n", q(t.Cert), q(t.Key))
	if t.CA != "" {
		s += fmt.Sprintf("  ca_file: %s\n  verify: true\n", q(t.CA))
	}
	return s + "}\n"
}

// clusterConfig renders the cluster block of a server configuration, or "".
func clusterConfig(c *Cluster) string {
	if c == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cluster {\n  name: %s\n  listen: %s\n", q(c.Name), q(c.Listen))
	fmt.Fprintf(&b, "  authorization { user: %s, password: %s }\n", q(c.User), q(c.Password))
	b.WriteString("  routes: [\n")
	for _, r := range c.Routes {
		u := url.URL{Scheme: "nats-route", User: url.UserPassword(c.User, c.Password), Host: r}
		fmt.Fprintf(&b, "    %s\n", q(u.String()))
	}
	b.WriteString("  ]\n")
	// The route password crosses the network in the clear without TLS:
	// fine on a network of the exchange's own (a compose network), not
	// between data centres.
	b.WriteString("  # Beyond a network of your own, give the routes mutual TLS:\n")
	b.WriteString("  # tls { cert_file: \"route.pem\", key_file: \"route-key.pem\", ca_file: \"route-ca.pem\", verify: true }\n")
	b.WriteString("}\n")
	return b.String()
}

// grant exports svcs of EXCHANGE to the account acc alone, imports them
// into a, and returns the local subjects its user may publish to.
func grant(a *orgAccount, acc string, svcs []service, exports *[]string) []string {
	var allowed []string
	for _, svc := range svcs {
		rt := ""
		if svc.stream {
			rt = ", response_type: stream"
		}
		*exports = append(*exports, fmt.Sprintf("{ service: %s, accounts: [%s]%s }", q(svc.remote), q(acc), rt))
		a.imports = append(a.imports, fmt.Sprintf("{ service: { account: %s, subject: %s }, to: %s }", ExchangeAccount, q(svc.remote), q(svc.local)))
		allowed = append(allowed, svc.local)
	}
	return allowed
}

type orgAccount struct {
	users, imports []string
}

// orgOf is the organisation part of an account name.
func orgOf(org string) string {
	if org != "" {
		return org
	}
	return "_"
}

// user renders an nkey user allowed to publish pubs and subscribe to its
// inbox only. Responses to requests it makes need no extra grant.
func user(nkey string, pubs []string, inbox string) string {
	quoted := make([]string, len(pubs))
	for i, p := range pubs {
		quoted[i] = q(p)
	}
	return fmt.Sprintf("{ nkey: %s, permissions: { publish: { allow: [%s] }, subscribe: { allow: [%s] } } }",
		q(nkey), strings.Join(quoted, ", "), q(inbox))
}

// q quotes a string for the server's configuration format, which accepts
// JSON-style double-quoted strings.
func q(s string) string { return strconv.Quote(s) }

// writeHead renders what both modes' configurations share: the header,
// the listeners, JetStream, TLS and the cluster.
func writeHead(b *strings.Builder, o ServerOptions) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("# Generated by cofswitch from configuration version %s. Do not edit:\n", o.Version)
	if o.Cluster != nil {
		w("# regenerate with 'cofswitch cluster-init', or replace the accounts\n")
		w("# block with what 'cofswitch nats-config' prints for a new registry.\n")
	} else {
		w("# regenerate with 'cofswitch nats-config'.\n")
	}
	if o.Name != "" {
		w("server_name: %s\n", q(o.Name))
	}
	if o.Listen != "" {
		w("listen: %s\n", q(o.Listen))
	}
	if o.Monitor != "" {
		w("http: %s\n", q(o.Monitor))
	}
	b.WriteString(clusterConfig(o.Cluster))
	if o.StoreDir != "" {
		w("jetstream { store_dir: %s }\n", q(o.StoreDir))
	} else {
		w("jetstream {}\n")
	}
	b.WriteString(TLSConfig(o.TLS))
}
