package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nkeys"
	"go.yaml.in/yaml/v3"

	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
)

// validate checks what the YAML types cannot: ids, references, ranges.
// Each error carries the path of the value at fault.
func (c *Config) validate() []*Error {
	var errs []*Error
	bad := func(path, format string, a ...any) {
		errs = append(errs, &Error{Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	c.validateNATS(bad)
	c.validateStreams(bad)
	c.validateSwitch(bad)
	c.validateSensors(bad)
	c.validatePeers(bad)
	c.validateOrganisations(bad)
	c.validateCeilings(bad)
	c.validateArchive(bad)
	c.validateCrossOrg(bad)
	for name, spec := range c.Policies {
		if spec == nil {
			bad("policies."+name, "empty policy (write {} for one that delivers everything)")
			c.Policies[name] = &policy.Spec{}
		}
	}
	return errs
}

// validateNATS checks the server's and the client's settings.
func (c *Config) validateNATS(bad func(string, string, ...any)) {
	if _, _, err := net.SplitHostPort(c.NATS.Listen); err != nil {
		bad("nats.listen", "%q is not host:port", c.NATS.Listen)
	}
	if m := c.NATS.Monitor; m != "" {
		if host, _, err := net.SplitHostPort(m); err != nil {
			bad("nats.monitor", "%q is not host:port", m)
		} else if !isLoopback(host) {
			bad("nats.monitor", "%s is beyond loopback: the monitoring endpoints show every organisation's connections and streams, without authentication", m)
		}
	}
	if (c.NATS.TLS.Cert == "") != (c.NATS.TLS.Key == "") {
		bad("nats.tls", "cert and key go together")
	}
	if st := c.NATS.ServerTLS; (st.Cert == "") != (st.Key == "") || (st.CA != "" && st.Cert == "") {
		bad("nats.server_tls", "cert and key go together, and ca (mutual TLS) needs them")
	}
	if c.NATS.Creds != "" && c.NATS.NKey != "" {
		bad("nats", "give creds or nkey, not both")
	}
	switch c.NATS.Auth {
	case AuthNKeys, AuthJWT:
	case AuthNone:
		if host, _, err := net.SplitHostPort(c.NATS.Listen); err == nil && !isLoopback(host) {
			bad("nats.auth", "none is refused on a non-loopback listener (%s): anyone could read every feed", c.NATS.Listen)
		}
	default:
		bad("nats.auth", "%q is not nkeys, jwt or none", c.NATS.Auth)
	}
}

// validateStreams checks the streams' limits.
func (c *Config) validateStreams(bad func(string, string, ...any)) {
	if r := c.Streams.Replicas; r < 1 || r > 5 {
		bad("streams.replicas", "%d is not in 1..5", r)
	}
	c.Streams.In.check("streams.in", bad)
	c.Streams.DLQ.check("streams.dlq", bad)
	c.Streams.Peers.check("streams.peers", bad)
	c.Streams.Hold.check("streams.hold", bad)
	if h := c.Streams.Hold; h.Discard != "new" || h.MaxAge != 0 || h.MaxMsgsPerSubject != 0 {
		bad("streams.hold", "must discard new, without max_age or max_msgs_per_subject: held records may not be evicted")
	}
	c.Streams.Seen.check("streams.seen", bad)
	if s := c.Streams.Seen; s.Discard != "old" || s.MaxAge != 0 || s.MaxMsgsPerSubject != 0 {
		bad("streams.seen", "must discard old, without max_age (the longest threshold window) or max_msgs_per_subject")
	}
}

// validateSwitch checks the switch's settings, and that every attempt of
// a batch falls inside the duplicate window.
func (c *Config) validateSwitch(bad func(string, string, ...any)) {
	if c.Switch.Workers < 1 || c.Switch.Workers > 1024 {
		bad("switch.workers", "%d is not in 1..1024", c.Switch.Workers)
	}
	if c.Switch.MaxAckPending < 1 {
		bad("switch.max_ack_pending", "must be positive")
	}
	if c.Switch.MaxAttempts < 1 || c.Switch.MaxAttempts > 100 {
		bad("switch.max_attempts", "%d is not in 1..100", c.Switch.MaxAttempts)
	}
	if d := time.Duration(c.Switch.AckWait); d < time.Second {
		bad("switch.ack_wait", "%v is below 1s", d)
	}
	if d := time.Duration(c.Switch.PublishTimeout); d < 100*time.Millisecond {
		bad("switch.publish_timeout", "%v is below 100ms", d)
	}
	switch c.Switch.OutputEncoding {
	case "s2", "zstd", "none", "input":
	default:
		bad("switch.output_encoding", "%q is not s2, zstd, none or input", c.Switch.OutputEncoding)
	}
	// Every attempt of a batch must fall inside the duplicate window, or a
	// retry could deliver outputs a second time.
	span := time.Duration(c.Switch.AckWait) + time.Duration(c.Switch.MaxAttempts)*(time.Duration(c.Switch.PublishTimeout)+maxBackoff)
	if w := time.Duration(c.Streams.DuplicateWindow); w < span {
		bad("streams.duplicate_window", "%v is shorter than the %v a batch may be retried for (ack_wait + max_attempts x (publish_timeout + 30s)): retries could duplicate deliveries", w, span)
	}
}

// checkOrg refuses organisation names that could share an account with
// another identity: a leading '_' is reserved for the accounts of
// identities without an organisation.
func checkOrg(path, org string, bad func(string, string, ...any)) {
	if org == "" {
		return
	}
	if strings.HasPrefix(org, "_") {
		bad(path, "%q: names starting with '_' are reserved", org)
		return
	}
	if err := routing.ValidateID("organisation", org, false); err != nil {
		bad(path, "%v", err)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (l StreamLimits) check(path string, bad func(string, string, ...any)) {
	if l.Discard != "old" && l.Discard != "new" {
		bad(path+".discard", "%q is not old or new", l.Discard)
	}
	if l.MaxMsgs < 0 {
		bad(path+".max_msgs", "must not be negative")
	}
	if l.MaxMsgsPerSubject < 0 {
		bad(path+".max_msgs_per_subject", "must not be negative")
	}
}

// lineOf finds the line of the value at path (a.b[2].c) in a YAML
// document, or of the nearest enclosing value that exists.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, part := range strings.Split(path, ".") {
		key, idx := part, -1
		if k, rest, ok := strings.Cut(part, "["); ok {
			key = k
			idx, _ = strconv.Atoi(strings.TrimSuffix(rest, "]"))
		}
		keyNode, next := mapValue(n, key)
		if next == nil {
			return line
		}
		n, line = next, keyNode.Line
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n, line = n.Content[idx], n.Content[idx].Line
		}
	}
	return line
}

// mapValue returns the key and value nodes of key in a mapping.
func mapValue(n *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

// validateSensors checks the sensors' ids, keys, limits and relays, and
// that no sensor's dead letters can evict another's.
func (c *Config) validateSensors(bad func(string, string, ...any)) {
	sensors := map[string]bool{}
	for i, s := range c.Sensors {
		p := "sensors[" + strconv.Itoa(i) + "]"
		if err := routing.ValidateID("sensor", s.ID, false); err != nil {
			bad(p+".id", "%v", err)
		} else if sensors[s.ID] {
			bad(p+".id", "sensor %q is defined twice", s.ID)
		}
		sensors[s.ID] = true
		checkOrg(p+".organisation", s.Organisation, bad)
		if s.NKey != "" && !nkeys.IsValidPublicUserKey(s.NKey) {
			bad(p+".nkey", "not a public user nkey (U..., see 'cofswitch creds')")
		}
		if s.RequireSignature && s.NKey == "" {
			bad(p+".require_signature", "needs the sensor's nkey: its signatures are verified against it")
		}
		s.Stream.check(p+".stream", bad)
		if s.Rate < 0 {
			bad(p+".rate", "must not be negative")
		}
		for j, r := range s.Relays {
			if err := routing.ValidateID("relayed sensor", r, false); err != nil {
				bad(p+".relays["+strconv.Itoa(j)+"]", "%v", err)
			}
		}
	}
	if n := c.Switch.MaxBatchesPerSensor; n < 0 || n > c.Switch.Workers {
		bad("switch.max_batches_per_sensor", "%d is not in 0..workers (%d)", n, c.Switch.Workers)
	}
	if c.Switch.SensorRate < 0 {
		bad("switch.sensor_rate", "must not be negative")
	}
	// No sensor's dead letters may evict another's: the DLQ's byte limit,
	// if any, must hold every sensor's share.
	if d := c.Streams.DLQ; d.MaxBytes > 0 {
		if d.MaxMsgsPerSubject <= 0 {
			bad("streams.dlq.max_msgs_per_subject", "must be set with streams.dlq.max_bytes, or one sensor's dead letters could evict another's")
		} else if need := int64(len(c.Sensors)) * d.MaxMsgsPerSubject * MaxMessageBytes; int64(d.MaxBytes) < need {
			bad("streams.dlq.max_bytes", "%d bytes cannot hold every sensor's share (%d sensors x %d messages x 1 MiB = %d): one sensor's dead letters could evict another's; raise it or leave it unset",
				int64(d.MaxBytes), len(c.Sensors), d.MaxMsgsPerSubject, need)
		}
	}
}

// validatePeers checks the peers' ids, keys, consumers, limits and
// subscriptions.
func (c *Config) validatePeers(bad func(string, string, ...any)) {
	peers := map[string]bool{}
	for i, pe := range c.Peers {
		p := "peers[" + strconv.Itoa(i) + "]"
		if err := routing.ValidateID("peer", pe.ID, true); err != nil {
			bad(p+".id", "%v", err)
		} else if peers[pe.ID] {
			bad(p+".id", "peer %q is defined twice", pe.ID)
		}
		peers[pe.ID] = true
		checkOrg(p+".organisation", pe.Organisation, bad)
		if pe.NKey != "" && !nkeys.IsValidPublicUserKey(pe.NKey) {
			bad(p+".nkey", "not a public user nkey (U..., see 'cofswitch creds')")
		}
		for j, cn := range pe.Consumers {
			if err := routing.ValidateID("consumer", cn, true); err != nil {
				bad(p+".consumers["+strconv.Itoa(j)+"]", "%v", err)
			}
		}
		pe.Stream.check(p+".stream", bad)
		if len(pe.Subscriptions) == 0 {
			bad(p+".subscriptions", "peer %q subscribes to nothing", pe.ID)
		}
		for j, sub := range pe.Subscriptions {
			sp := p + ".subscriptions[" + strconv.Itoa(j) + "]"
			if len(sub.Sensors) == 0 {
				bad(sp+".sensors", "no sensors (use [\"*\"] for all)")
			}
			for k, pat := range sub.Sensors {
				if pat == "" {
					bad(sp+".sensors["+strconv.Itoa(k)+"]", "empty pattern")
				}
			}
			spec, known := c.Policies[sub.Policy]
			if !known && sub.Policy != PassPolicy {
				bad(sp+".policy", "unknown policy %q (define it under policies, or use the built-in %q)", sub.Policy, PassPolicy)
			}
			tlp, err := policy.ParseTLP(sub.TLP)
			if err != nil {
				bad(sp+".tlp", "%v", err)
			}
			if c.Switch.RequireTLP && tlp == "" && (spec == nil || spec.TLP == "") {
				bad(sp+".tlp", "no TLP label (switch.require_tlp is set): label the subscription or its policy")
			}
		}
	}
}
